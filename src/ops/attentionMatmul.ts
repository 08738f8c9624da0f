/**
 * Scaled dot-product attention from general kernels (the 'matmul' AttentionKernel), with its
 * derivative rule. Same inputs as `attention`, and the same scale as long as it is positive; it
 * keeps the probabilities instead of the log-sum-exp:
 *
 *   S = Q K^T                  [B, H, Tq, Tk]   batched matmul
 *   P = softmax(S * scale)     kept for the backward pass (Tk / D times the size of O)
 *   O = P V
 * Backward, given dO:
 *   dP = dO V^T,  dV = P^T dO
 *   dS = scale * P * (dP - rowsum(dP * P))       softmaxBackward at temperature 1 / scale
 *   dQ = dS K,    dK = dS^T Q
 */
import type { Tensor } from '../gpu/tensor.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual } from '../gpu/shape.js';
import type { AttentionGradients, AttentionOptions } from './attention.js';
import { ATTENTION_OPTIONS, checkAttentionOperands, resolveAttentionScale } from './attentionOperands.js';
import { matmul } from './matmul.js';
import { softmax, softmaxBackward } from './softmax.js';
import { checkOptions, checkValue, requireDtype, requireSameDevice } from './checks.js';

/** The scale, which must be positive here: the softmax runs at temperature 1 / scale. */
function positiveScale(op: string, scale: number | undefined, headDim: number): number {
  const resolved = resolveAttentionScale(op, scale, headDim);
  if (!(resolved > 0)) throw new RangeError(`${op}: scale must be positive (the softmax temperature is 1 / scale), got ${resolved}`);
  checkValue(op, 'scale', resolved, 'positive');
  // The softmax runs at temperature 1 / scale, an f32 uniform too.
  checkValue(op, '1 / scale', 1 / resolved, 'positive');
  return resolved;
}

export interface MatmulAttentionResult {
  /** softmax(Q K^T * scale) V, [B, H, Tq, D]. */
  out: Tensor;
  /** softmax(Q K^T * scale), [B, H, Tq, Tk]: what the backward pass needs. */
  probabilities: Tensor;
}

export function attentionByMatmul(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): MatmulAttentionResult {
  const op = 'attentionByMatmul';
  requireSameDevice(op, { q, k, v });
  checkOptions(op, options, ATTENTION_OPTIONS);
  const dims = checkAttentionOperands(op, q, k, v);
  const scale = positiveScale(op, options.scale, dims.headDim);
  const category = options.category ?? 'activation';
  return q.device.scope(() => {
    // The inner scope frees the scores before O is made: S and P are the two largest tensors.
    const probabilities = q.device.scope(() => softmax(matmul(q, k, { transposeB: true, category: 'scratch' }), { temperature: 1 / scale, category }));
    return { out: matmul(probabilities, v, { category }), probabilities };
  });
}

/** dq, dk, dv of `attentionByMatmul`, given dL/dO and the forward's probabilities. Pass the same scale. */
export function attentionByMatmulBackward(dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, probabilities: Tensor, options: AttentionOptions = {}): AttentionGradients {
  const op = 'attentionByMatmulBackward';
  requireSameDevice(op, { dOut, q, k, v, probabilities });
  checkOptions(op, options, ATTENTION_OPTIONS);
  const dims = checkAttentionOperands(op, q, k, v);
  requireDtype(op, 'dOut', dOut, ['f32']);
  requireDtype(op, 'probabilities', probabilities, ['f32']);
  if (!shapesEqual(dOut.shape, q.shape)) {
    throw new ShapeError(`${op}: dOut ${formatShape(dOut.shape)} and q ${formatShape(q.shape)} must have the same shape`);
  }
  const pShape = [dims.batch, dims.heads, dims.queryLength, dims.keyLength];
  if (!shapesEqual(probabilities.shape, pShape)) {
    throw new ShapeError(`${op}: probabilities ${formatShape(probabilities.shape)} must be ${formatShape(pShape)} for q ${formatShape(q.shape)} and k ${formatShape(k.shape)}`);
  }
  const scale = positiveScale(op, options.scale, dims.headDim);
  const category = options.category ?? 'activation';
  return q.device.scope(() => {
    // The inner scope frees dP before the three products; dS is freed when the outer one ends.
    const dScores = q.device.scope(() => softmaxBackward(matmul(dOut, v, { transposeB: true, category: 'scratch' }), probabilities, { temperature: 1 / scale, category: 'scratch' }));
    return {
      dq: matmul(dScores, k, { category }),
      dk: matmul(dScores, q, { transposeA: true, category }),
      dv: matmul(probabilities, dOut, { transposeA: true, category }),
    };
  });
}
