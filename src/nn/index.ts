/** Layers: each with its forward rule and hand-written backward rule side by side. */
export * from './layer.js';
export * from './init.js';
export * from './linear.js';
export * from './activation.js';
export * from './sequential.js';
export * from './conv.js';
export * from './pool2d.js';
export * from './flatten.js';
export * from './norm.js';
export * from './batchNorm.js';
export * from './dropout.js';
export * from './tokens.js';
export * from './patch.js';
export * from './attention.js';
export * from './transformer.js';
export * from './adaptivePool.js';
export * from './channelSpread.js';
