import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';
import { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable } from './scripts/chromium.mjs';

/**
 * Two hosts, one count: every test file runs in Node (on Dawn), and the kernel, layer and
 * gradient-check tests run again in headless Chromium (WebGPU on SwiftShader) through vitest's
 * browser mode, driven by Playwright over Debian's Chromium (never a downloaded browser). The
 * kernel and layer tests also run a third time in Node with the GPU kernel layouts forced
 * (SLL_KERNELS=gpu: shared-memory tiles, split-K, workgroup trees, fused attention), so that a
 * machine without a GPU still holds every variant to its reference.
 * Where Chromium is absent the browser project is skipped with a one-line notice; with
 * SLL_REQUIRE_BROWSER=1 (CI) that is an error.
 */
const haveChromium = chromiumAvailable();
if (!haveChromium) console.log(`[sll-webgpu tests] no Chromium at ${CHROMIUM}: the browser project is skipped (set CHROMIUM to its path)`);

/** What runs in the browser too: the kernels against their references, and the layers' gradient checks. */
const BROWSER_TESTS = [
  'elementwise', 'softmax', 'loss', 'layernorm', 'reduce', 'matmul', 'conv', 'pool2d', 'attention', 'copy', 'optim', 'random',
  'nn-dense', 'nn-conv', 'nn-transformer', 'sll-objective', 'dgl', 'drtp', 'dfa', 'predsim', 'model-shape', 'nn-batchnorm', 'nn-adaptive-pool', 'forward-forward', 'recording',
].map((name) => `test/${name}.test.ts`);

/** What runs again in Node with the GPU layouts: the kernels and the layers built on them. */
const GPU_LAYOUT_TESTS = [
  'elementwise', 'softmax', 'loss', 'layernorm', 'reduce', 'matmul', 'conv', 'pool2d', 'attention', 'copy', 'optim', 'random',
  'nn-dense', 'nn-conv', 'nn-transformer', 'nn-batchnorm', 'nn-adaptive-pool', 'recording',
].map((name) => `test/${name}.test.ts`);

const node: TestProjectInlineConfiguration = {
  extends: true,
  test: {
    name: 'node',
    include: ['test/**/*.test.ts'],
    // dawn.node is a native addon: run test files in child processes, not worker threads.
    pool: 'forks',
    globalSetup: ['test/setup/printAdapter.ts'],
    // Tests run with fixed kernel choices, whatever `sll tune` saved on this machine.
    env: { SLL_TUNING: 'off' },
  },
};

const gpuLayouts: TestProjectInlineConfiguration = {
  extends: true,
  test: {
    name: 'gpu-layouts',
    include: GPU_LAYOUT_TESTS,
    pool: 'forks',
    env: { SLL_KERNELS: 'gpu', SLL_TUNING: 'off' },
  },
};

// Loaded only when the browser project runs (a machine without Chromium needs none of it).
const { playwright } = haveChromium ? await import('@vitest/browser-playwright') : { playwright: undefined };

const browser = (): TestProjectInlineConfiguration => ({
  extends: true,
  test: {
    name: 'browser',
    include: BROWSER_TESTS,
    browser: {
      enabled: true,
      headless: true,
      screenshotFailures: false,
      provider: playwright!({
        launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS },
      }),
      instances: [{ browser: 'chromium' }],
    },
  },
});

export default defineConfig({
  test: {
    // Two cores on CI and lavapipe runs its own threads: two files at a time is the sweet spot.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    projects: haveChromium ? [node, gpuLayouts, browser()] : [node, gpuLayouts],
  },
});
