/** CPU references of every kernel: plain TypeScript, float64 accumulation, written for clarity. */
export * from './elementwise.js';
export * from './layout.js';
export * from './cast.js';
export * from './softmax.js';
export * from './loss.js';
export * from './layernorm.js';
export * from './reduce.js';
export * from './random.js';
export * from './optim.js';
export * from './attention.js';
export * from './conv.js';
export * from './pool2d.js';
export * from './matmul.js';
