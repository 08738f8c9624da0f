import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // dawn.node is a native addon: run test files in child processes, not worker threads.
    pool: 'forks',
    // Two cores on CI and lavapipe runs its own threads: two files at a time is the sweet spot.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    globalSetup: ['test/setup/printAdapter.ts'],
  },
});
