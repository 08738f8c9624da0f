/** Checks and helpers shared by the op families: every check runs before anything is encoded. */
import type { Device } from '../gpu/device.js';
import type { DType } from '../gpu/dtype.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';

export function requireDtype(op: string, name: string, t: Tensor, allowed: readonly DType[]): void {
  t.assertAlive(op);
  if (!allowed.includes(t.dtype)) {
    throw new ShapeError(`${op}: ${name} has dtype ${t.dtype} (shape ${formatShape(t.shape)}); expected ${allowed.join(' or ')}`);
  }
}

export function requireRank(op: string, name: string, t: Tensor, rank: number | readonly number[]): void {
  const ranks = typeof rank === 'number' ? [rank] : rank;
  if (!ranks.includes(t.rank)) {
    throw new ShapeError(`${op}: ${name} must have rank ${ranks.join(' or ')}, got shape ${formatShape(t.shape)}`);
  }
}

export function requireSameShape(op: string, names: [string, string], a: Tensor, b: Tensor): void {
  if (!shapesEqual(a.shape, b.shape)) {
    throw new ShapeError(`${op}: ${names[0]} ${formatShape(a.shape)} and ${names[1]} ${formatShape(b.shape)} must have the same shape`);
  }
}

export function requireSameDevice(op: string, tensors: readonly Tensor[]): Device {
  const device = tensors[0]!.device;
  for (const t of tensors) {
    t.assertAlive(op);
    if (t.device !== device) throw new ShapeError(`${op}: operands live on different devices`);
  }
  return device;
}

/** Workgroup count for one thread per element. */
export function elementWorkgroups(count: number, workgroupSize: number): number {
  return Math.ceil(count / workgroupSize);
}

/**
 * Runs `fn` with dense versions of the given tensors, disposing of any copy it had to make.
 * Kernels bind whole buffers from element 0, so views are copied first (as scratch).
 */
export function withDense<R>(tensors: readonly Tensor[], fn: (...dense: Tensor[]) => R, densify: (t: Tensor) => Tensor): R {
  const dense = tensors.map((t) => (t.isContiguous ? t : densify(t)));
  try {
    return fn(...dense);
  } finally {
    dense.forEach((d, i) => {
      if (d !== tensors[i]) d.dispose();
    });
  }
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
export function rowWorkgroupSize(device: Device, rowLength: number): number {
  return isSoftwareAdapter(device) ? SOFTWARE_ROW_WORKGROUP : treeWorkgroupSize(device, rowLength);
}

/**
 * Workgroup size and grid for `count` items of which each thread takes `run` consecutive ones:
 * `softwareRun` on CPU adapters, where a thread's fixed cost outweighs a cheap item, and 1 on
 * GPUs, where neighbouring threads should read neighbouring words. The kernel gets `run` as an
 * override.
 */
export function runLayout(device: Device, count: number, softwareRun: number): { run: number; wg: number; workgroups: number } {
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
export function rowLayout(device: Device, rows: number, cols: number): { overrides: { WG: number; THREAD_PER_ROW: number }; workgroups: number } {
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
export function treeWorkgroupSize(device: Device, length: number): number {
  const limit = Math.min(MAX_ROW_WORKGROUP, device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX);
  const cap = 2 ** Math.floor(Math.log2(limit));
  const wanted = 2 ** Math.ceil(Math.log2(Math.max(length, 1)));
  return Math.min(cap, Math.max(MIN_ROW_WORKGROUP, wanted));
}

/**
 * Threads per workgroup for one-thread-per-output kernels: 256, or less where the device allows
 * less (compatibility-mode devices may allow 128).
 */
export function columnWorkgroupSize(device: Device): number {
  return Math.min(256, device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX);
}

/** 1 / tau, after checking tau is a positive finite number. */
export function inverseTemperature(op: string, tau: number | undefined): number {
  const t = tau ?? 1;
  if (!(t > 0) || !Number.isFinite(t)) throw new RangeError(`${op}: temperature must be a positive finite number, got ${t}`);
  return 1 / t;
}

/**
 * A CPU implementation of WebGPU (lavapipe, SwiftShader), where loads and not FLOPs cost: the
 * kernels pick subgroup-broadcast shapes there and workgroup-memory tiles on real GPUs.
 */
export function isSoftwareAdapter(device: Device): boolean {
  const r = device.report;
  return r.isFallbackAdapter || r.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(`${r.device} ${r.description}`);
}

/** Positions a window of `kernel` takes along an axis of `size`, padded by `pad` each side, at `stride`. */
export function windowPositions(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}
