/** Operand checks shared by the op families: every check runs before anything is encoded, and names the op and operand. */
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

/** [B, K] f32 logits with K >= 1. */
export function requireLogits(op: string, name: string, t: Tensor): { rows: number; cols: number } {
  t.assertAlive(op);
  if (t.dtype !== 'f32') throw new ShapeError(`${op}: ${name} ${formatShape(t.shape)} has dtype ${t.dtype}; expected f32`);
  if (t.rank !== 2 || t.shape[1] === 0) {
    throw new ShapeError(`${op}: ${name} must be [batch, classes] with at least one class, got ${formatShape(t.shape)}`);
  }
  return { rows: t.shape[0]!, cols: t.shape[1]! };
}

/** i32 labels, one per row of the logits. */
export function requireLabels(op: string, labels: Tensor, logitsName: string, logits: Tensor): void {
  labels.assertAlive(op);
  if (labels.dtype !== 'i32') {
    throw new ShapeError(`${op}: labels ${formatShape(labels.shape)} have dtype ${labels.dtype}; expected i32 class indices, one per row of ${logitsName} ${formatShape(logits.shape)}`);
  }
  if (labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new ShapeError(`${op}: labels ${formatShape(labels.shape)} and ${logitsName} ${formatShape(logits.shape)}: expected labels of shape [${logits.shape[0]}], one class index per row`);
  }
}

/** 1 / tau, after checking tau is a positive finite number. */
export function inverseTemperature(op: string, tau: number | undefined): number {
  const t = tau ?? 1;
  if (!(t > 0) || !Number.isFinite(t)) throw new RangeError(`${op}: temperature must be a positive finite number, got ${t}`);
  return 1 / t;
}
