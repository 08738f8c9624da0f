/**
 * CPU reference of the GPU random fills. The stream is the engine's own contract
 * (src/random/philox.ts): its float64 evaluation there is what the kernels are held to, so the
 * reference re-exports it rather than keeping a second copy.
 */
export * from '../random/philox.js';
