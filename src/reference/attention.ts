/**
 * CPU reference for src/ops/attention.ts (float64): the plain formulation that stores the whole
 * score matrix, S = Q K^T * scale, P = softmax(S), O = P V, for each (batch, head).
 *
 * Layouts: q is [B, H, Tq, D], k and v are [B, H, Tk, D], row-major.
 */

export interface AttentionShape {
  batch: number;
  heads: number;
  queryLength: number;
  keyLength: number;
  headDim: number;
}

type Values = ArrayLike<number>;

/** The softmax probabilities P [Tq, Tk] of one (batch, head), and each row's log-sum-exp. */
function probabilities(q: Values, k: Values, shape: AttentionShape, scale: number, head: number): { p: Float64Array; logSumExp: Float64Array } {
  const { queryLength: tq, keyLength: tk, headDim: d } = shape;
  const qBase = head * tq * d;
  const kBase = head * tk * d;
  const p = new Float64Array(tq * tk);
  const logSumExp = new Float64Array(tq);
  for (let i = 0; i < tq; i++) {
    for (let j = 0; j < tk; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += q[qBase + i * d + c]! * k[kBase + j * d + c]!;
      p[i * tk + j] = s * scale;
    }
    // Subtract the row max before exponentiating so that large scores do not overflow.
    let max = -Infinity;
    for (let j = 0; j < tk; j++) max = Math.max(max, p[i * tk + j]!);
    let sum = 0;
    for (let j = 0; j < tk; j++) sum += Math.exp(p[i * tk + j]! - max);
    for (let j = 0; j < tk; j++) p[i * tk + j] = Math.exp(p[i * tk + j]! - max) / sum;
    logSumExp[i] = max + Math.log(sum);
  }
  return { p, logSumExp };
}

/** O = softmax(Q K^T * scale) V and L_i = log sum_j exp(s_ij); scale defaults to 1 / sqrt(D). */
export function attention(
  q: Values,
  k: Values,
  v: Values,
  shape: AttentionShape,
  scale = 1 / Math.sqrt(shape.headDim),
): { out: Float64Array; logSumExp: Float64Array } {
  const { batch, heads, queryLength: tq, keyLength: tk, headDim: d } = shape;
  const out = new Float64Array(batch * heads * tq * d);
  const logSumExp = new Float64Array(batch * heads * tq);
  for (let head = 0; head < batch * heads; head++) {
    const { p, logSumExp: rowLse } = probabilities(q, k, shape, scale, head);
    logSumExp.set(rowLse, head * tq);
    for (let i = 0; i < tq; i++) {
      for (let c = 0; c < d; c++) {
        let sum = 0;
        for (let j = 0; j < tk; j++) sum += p[i * tk + j]! * v[head * tk * d + j * d + c]!;
        out[head * tq * d + i * d + c] = sum;
      }
    }
  }
  return { out, logSumExp };
}

/**
 * Gradients of a loss through O = softmax(S) V, S = Q K^T * scale, given dL/dO:
 *   dV = P^T dO,   dP = dO V^T,
 *   dS_ij = P_ij (dP_ij - sum_k P_ik dP_ik)   (the softmax Jacobian applied row by row),
 *   dQ = scale * dS K,   dK = scale * dS^T Q.
 */
export function attentionBackward(
  dOut: Values,
  q: Values,
  k: Values,
  v: Values,
  shape: AttentionShape,
  scale = 1 / Math.sqrt(shape.headDim),
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { batch, heads, queryLength: tq, keyLength: tk, headDim: d } = shape;
  const dq = new Float64Array(batch * heads * tq * d);
  const dk = new Float64Array(batch * heads * tk * d);
  const dv = new Float64Array(batch * heads * tk * d);
  for (let head = 0; head < batch * heads; head++) {
    const { p } = probabilities(q, k, shape, scale, head);
    const qBase = head * tq * d;
    const kBase = head * tk * d;
    const dScore = new Float64Array(tq * tk);
    for (let i = 0; i < tq; i++) {
      const dp = new Float64Array(tk);
      let rowTerm = 0;
      for (let j = 0; j < tk; j++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += dOut[qBase + i * d + c]! * v[kBase + j * d + c]!;
        dp[j] = s;
        rowTerm += p[i * tk + j]! * s;
      }
      for (let j = 0; j < tk; j++) dScore[i * tk + j] = p[i * tk + j]! * (dp[j]! - rowTerm);
    }
    for (let j = 0; j < tk; j++) {
      for (let c = 0; c < d; c++) {
        let gv = 0;
        let gk = 0;
        for (let i = 0; i < tq; i++) {
          gv += p[i * tk + j]! * dOut[qBase + i * d + c]!;
          gk += dScore[i * tk + j]! * q[qBase + i * d + c]!;
        }
        dv[kBase + j * d + c] = gv;
        dk[kBase + j * d + c] = scale * gk;
      }
    }
    for (let i = 0; i < tq; i++) {
      for (let c = 0; c < d; c++) {
        let gq = 0;
        for (let j = 0; j < tk; j++) gq += dScore[i * tk + j]! * k[kBase + j * d + c]!;
        dq[qBase + i * d + c] = scale * gq;
      }
    }
  }
  return { dq, dk, dv };
}
