/**
 * How a kernel's threads are laid out on the device it runs on: workgroup sizes within the
 * device's limits, and the shapes that suit a CPU adapter (lavapipe, SwiftShader) rather than
 * a GPU. Runtime knowledge that every op family shares.
 */
/**
 * What the layout depends on: the device's limits and what its adapter is. Structural, so that
 * this file needs nothing of the Device that uses it.
 */
export interface LayoutTarget {
  readonly limits: Pick<GPUSupportedLimits, 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupSizeX'>;
  readonly report: { readonly isFallbackAdapter: boolean; readonly architecture: string; readonly device: string; readonly description: string };
  /** Layouts forced whatever the adapter is (OpenDeviceOptions.kernels); absent: chosen by the adapter. */
  readonly kernelLayouts?: KernelLayouts;
}

/**
 * Which family of kernel shapes a device runs: 'software' (lavapipe's and SwiftShader's: runs of
 * elements per thread, one SIMD width per row, subgroup-broadcast matmuls) or 'gpu' (workgroup
 * trees, shared-memory tiles, split-K, fused attention). A device takes the family of its
 * adapter unless told otherwise; forcing 'gpu' on a CPU adapter is how the test suite runs the
 * GPU kernels without a GPU (SLL_KERNELS=gpu, .ci/run).
 */
export type KernelLayouts = 'gpu' | 'software';
export const KERNEL_LAYOUTS: readonly KernelLayouts[] = ['gpu', 'software'];

/** Workgroup count for one thread per element. */
export function elementWorkgroups(count: number, workgroupSize: number): number {
  return Math.ceil(count / workgroupSize);
}

/** Bounds for the workgroup of a one-workgroup-per-row kernel. */
const MAX_ROW_WORKGROUP = 256;
const MIN_ROW_WORKGROUP = 32;

/** Row workgroup on a CPU adapter: one SIMD width of lavapipe (its subgroup size). */
const SOFTWARE_ROW_WORKGROUP = 8;

/**
 * Threads for a kernel that gives each row one workgroup (softmax, losses, layer norm): on a
 * GPU, treeWorkgroupSize. On a CPU adapter every row gets one SIMD width: lavapipe runs a larger
 * workgroup as several SIMD groups and switches between them at every barrier of the tree,
 * which made a layer norm of 6272 rows of 64 take 113 ms with 64 threads and 19 ms with 8
 * (softmax: 55 and 21 ms).
 */
export function rowWorkgroupSize(device: LayoutTarget, rowLength: number): number {
  return isSoftwareAdapter(device) ? SOFTWARE_ROW_WORKGROUP : treeWorkgroupSize(device, rowLength);
}

/**
 * Workgroup size and grid for `count` items of which each thread takes `run` consecutive ones:
 * `softwareRun` on CPU adapters, where a thread's fixed cost outweighs a cheap item, and 1 on
 * GPUs, where neighbouring threads should read neighbouring words. The kernel gets `run` as an
 * override.
 */
export function runLayout(device: LayoutTarget, count: number, softwareRun: number): { run: number; wg: number; workgroups: number } {
  const run = isSoftwareAdapter(device) ? softwareRun : 1;
  const wg = columnWorkgroupSize(device);
  return { run, wg, workgroups: elementWorkgroups(Math.ceil(count / run), wg) };
}

/** Rows up to this long get a thread each on CPU adapters (see rowLayout). */
const SHORT_ROW_LIMIT = 1024;
/** Threads (rows) per workgroup in thread-per-row mode: no barriers, so any multiple of the SIMD width. */
const THREAD_PER_ROW_WORKGROUP = 64;

/**
 * Threads, mode and workgroup count of a row kernel that includes shaders/lib/rowReduce.wgsl.
 * On a CPU adapter, rows up to SHORT_ROW_LIMIT get one thread each (THREAD_PER_ROW) when there
 * are at least a workgroup's worth of them: the tree's barriers cost more than a short row's
 * arithmetic there. Softmax on lavapipe, tree (8 threads a row) against thread per row, ms:
 * [25088, 49] 29-34 / 9-10 (a ViT's attention), [6272, 64] 6-8 / 1.5-2.2 (its layer norms),
 * [128, 1000] 0.68 / 0.52; but [4, 5000] 0.16 / 0.58. Otherwise one workgroup per row of
 * rowWorkgroupSize threads.
 */
export function rowLayout(device: LayoutTarget, rows: number, cols: number): { overrides: { WG: number; THREAD_PER_ROW: number }; workgroups: number } {
  if (isSoftwareAdapter(device) && cols <= SHORT_ROW_LIMIT && rows >= THREAD_PER_ROW_WORKGROUP) {
    return { overrides: { WG: THREAD_PER_ROW_WORKGROUP, THREAD_PER_ROW: 1 }, workgroups: Math.ceil(rows / THREAD_PER_ROW_WORKGROUP) };
  }
  return { overrides: { WG: rowWorkgroupSize(device, cols), THREAD_PER_ROW: 0 }, workgroups: rows };
}

/**
 * Threads of a workgroup that folds one run with an in-workgroup tree: a power of two (the tree
 * halves it), no larger than the run needs, and within the device's limits. Short runs get
 * small workgroups: a tree step costs a barrier. (The chunked sums use it on every adapter:
 * their chunk length is a multiple of it.)
 */
export function treeWorkgroupSize(device: LayoutTarget, length: number): number {
  const limit = Math.min(MAX_ROW_WORKGROUP, device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX);
  const cap = 2 ** Math.floor(Math.log2(limit));
  const wanted = 2 ** Math.ceil(Math.log2(Math.max(length, 1)));
  return Math.min(cap, Math.max(MIN_ROW_WORKGROUP, wanted));
}

/**
 * Threads per workgroup for one-thread-per-output kernels: 256, or less where the device allows
 * less (compatibility-mode devices may allow 128).
 */
export function columnWorkgroupSize(device: LayoutTarget): number {
  return Math.min(256, device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX);
}

/**
 * Whether the device runs the software layouts: on a CPU implementation of WebGPU (lavapipe,
 * SwiftShader) loads and not FLOPs cost, so the kernels pick subgroup-broadcast shapes there and
 * workgroup-memory tiles on real GPUs. A device opened with forced layouts takes those.
 */
export function isSoftwareAdapter(device: LayoutTarget): boolean {
  if (device.kernelLayouts) return device.kernelLayouts === 'software';
  return isCpuAdapter(device.report);
}

/** Whether the adapter itself is a CPU implementation of WebGPU. */
function isCpuAdapter(r: LayoutTarget['report']): boolean {
  return r.isFallbackAdapter || r.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(`${r.device} ${r.description}`);
}
