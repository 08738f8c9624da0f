/**
 * The operand checks both attention implementations share (attention.ts, attentionMatmul.ts).
 * Internal: not re-exported from src/ops/index.ts.
 */
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { requireDtype, requireRank, type OptionTable } from './checks.js';

/** The options of every attention op (AttentionOptions). */
export const ATTENTION_OPTIONS: OptionTable = { scale: 'number', category: 'category' };

/** The largest head dim the fused kernels hold in per-thread arrays. */
export const MAX_ATTENTION_HEAD_DIM = 128;

export interface AttentionDims {
  batch: number;
  heads: number;
  queryLength: number;
  keyLength: number;
  headDim: number;
}

/** Checks q, k, v (ranks, dtypes, matching dims) and returns the dims. */
export function checkAttentionOperands(op: string, q: Tensor, k: Tensor, v: Tensor): AttentionDims {
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    requireDtype(op, name, t, ['f32']);
    requireRank(op, name, t, 4);
  }
  if (!shapesEqual(k.shape, v.shape)) {
    throw new ShapeError(`${op}: k ${formatShape(k.shape)} and v ${formatShape(v.shape)} must have the same shape [B, H, Tk, D]`);
  }
  const [batch, heads, queryLength, headDim] = q.shape as [number, number, number, number];
  const [kBatch, kHeads, keyLength, kHeadDim] = k.shape as [number, number, number, number];
  if (batch !== kBatch || heads !== kHeads) {
    throw new ShapeError(
      `${op}: q ${formatShape(q.shape)} and k ${formatShape(k.shape)}: batch and heads [${batch}, ${heads}] and [${kBatch}, ${kHeads}] differ`,
    );
  }
  if (headDim !== kHeadDim) {
    throw new ShapeError(`${op}: q ${formatShape(q.shape)} and k ${formatShape(k.shape)}: head dims ${headDim} and ${kHeadDim} differ`);
  }
  if (headDim < 1 || headDim > MAX_ATTENTION_HEAD_DIM) {
    throw new ShapeError(`${op}: q ${formatShape(q.shape)}: head dim ${headDim} is outside the supported 1..${MAX_ATTENTION_HEAD_DIM}`);
  }
  if (keyLength < 1) {
    throw new ShapeError(`${op}: k ${formatShape(k.shape)} has no keys; the softmax over keys needs at least one`);
  }
  return { batch, heads, queryLength, keyLength, headDim };
}

/** The scale of Q K^T: as given, or 1 / sqrt(D); finite either way. */
export function resolveAttentionScale(op: string, scale: number | undefined, headDim: number): number {
  const resolved = scale ?? 1 / Math.sqrt(headDim);
  if (!Number.isFinite(resolved)) throw new ShapeError(`${op}: scale ${scale} is not a finite number`);
  return resolved;
}
