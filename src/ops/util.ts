/** Checks and helpers shared by the op families: every check runs before anything is encoded. */
import type { Device } from '../gpu/device.js';
import type { DType } from '../gpu/dtype.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';

/** Default workgroup size for one-thread-per-element kernels. */
export const ELEMENTWISE_WORKGROUP = 256;

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
export function elementWorkgroups(count: number, workgroupSize = ELEMENTWISE_WORKGROUP): number {
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
