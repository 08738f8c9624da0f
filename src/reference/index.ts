/** CPU references of every kernel: plain TypeScript, float64 accumulation, written for clarity. */
export * from './elementwise.js';
export * from './layout.js';
