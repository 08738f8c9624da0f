/** Every op family; one file per family, each with its shape checks and dispatch. */
export * from './copy.js';
export * from './elementwise.js';
export * from './softmax.js';
export * from './loss.js';
export * from './layernorm.js';
export * from './reduce.js';
export * from './random.js';
export * from './optim.js';
export * from './attention.js';
export * from './attentionMatmul.js';
export * from './conv.js';
export { spatialPair, windowPositions, type SpatialPair, type WindowGeometry } from './geometry.js';
export * from './pool2d.js';
export * from './matmul.js';
export * from './choices.js';
export {
  adoptKernelTuning,
  checkKernelTuning,
  describeKernelTuning,
  kernelTuningOf,
  layoutsOf,
  matmulShapeClass,
  sameKernelTuning,
  useKernelTuning,
  MATMUL_SHAPE_CLASSES,
  type KernelTuning,
  type MatmulShapeClass,
} from './tuningTable.js';
export * from './tune.js';
