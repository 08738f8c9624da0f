/**
 * The engine's core: runs unchanged in Node and in a browser. Node users import from
 * `sll-webgpu` and get src/node.ts, which adds `openNodeDevice`.
 */
export { Device, WANTED_FEATURES, type AdapterReport, type FeatureLevel, type Binding, type UniformValues } from './gpu/device.js';
export { openDevice, describeAdapter, type GpuProvider, type OpenDeviceOptions } from './gpu/open.js';
export { openBrowserDevice } from './gpu/browser.js';
export { Tensor, Storage } from './gpu/tensor.js';
export { Recording } from './gpu/recording.js';
export { BufferPool, MEMORY_CATEGORIES, bucketCapacity, type MemoryCategory, type MemoryStats } from './gpu/bufferPool.js';
export { PROFILE_DISPATCHES_PER_SUBMIT, type KernelProfile } from './gpu/profiler.js';
export { Kernel, foldWorkgroups, type KernelSpec } from './gpu/kernel.js';
export { loadShader, selectVariant, registerShaderSource } from './gpu/shaderLibrary.js';
export { type DType, bytesPerElement, f16BitsToF32, f32ToF16Bits, roundToF16 } from './gpu/dtype.js';
export * from './gpu/errors.js';
export * from './gpu/shape.js';
export * as ops from './ops/index.js';
export * as reference from './reference/index.js';
export * as nn from './nn/index.js';
export * as sll from './sll/index.js';
export * as data from './data/index.js';
// The report's SVG charts, for pages that chart a run as report.html does.
export { lineChart, type ChartSeries } from './report/svg.js';
