/** Layers: each with its forward rule and hand-written backward rule side by side. */
export * from './layer.js';
export * from './init.js';
export * from './linear.js';
export * from './activation.js';
export * from './sequential.js';
export * from './conv.js';
export * from './pool.js';
export * from './flatten.js';
