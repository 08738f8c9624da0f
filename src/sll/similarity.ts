/**
 * PredSim's similarity matching (src/sll/predsim.ts has the whole loss): the cosine-similarity
 * matrix S of the rows of r, matched to that of the one-hot labels, and the rule that gives
 * dL/dr. As the authors' code (`anokland/local-loss`, train.py, similarity_matrix) computes it:
 *
 *   S(x): c = x - rowmean(x),  x^ = c / (||c|| + 1e-8),  S = x^ x^T      [B, B]
 *   L = beta mean_{i,j} (S(r) - S(Y))^2
 *
 * By hand (S and the target T are symmetric, so dL/dx^ = 2 dS x^):
 *   dS  = 2 beta (S - T) / B^2
 *   dx^ = 2 dS x^
 *   dc  = (dx^ - x^ (x^ . dx^) (n + eps) / n) / (n + eps)      per row, n = ||c||
 *   dr  = dc - rowmean(dc)
 */
import type { Tensor } from '../gpu/tensor.js';
import { affine, div, mul, scale, sqrt, square, sub } from '../ops/elementwise.js';
import { matmul } from '../ops/matmul.js';
import { mean, sum } from '../ops/reduce.js';

/** The authors' guard against a row of zero spread in S(x). */
const NORM_EPS = 1e-8;

/** What S(x) leaves for the derivative rule: x^ and ||c|| (eps is added where it is used), per row. */
interface Similarity {
  matrix: Tensor;
  unit: Tensor;
  norm: Tensor;
}

/**
 * dL/dr of beta mean((S(r) - S(targets))^2), r [B, d], targets [B, K] (the one-hot labels),
 * in the caller's scope; nothing else it makes outlives it.
 */
export function similarityMatchingGradient(r: Tensor, targets: Tensor, beta: number): Tensor {
  const batch = r.shape[0]!;
  // A scope of its own: the [B, d] and [B, B] temporaries are freed before the caller goes on.
  return r.device.scope(() => {
    const s = similarity(r);
    const difference = sub(s.matrix, similarity(targets).matrix, 'scratch');
    const dS = scale(difference, (2 * beta) / Math.max(batch * batch, 1), 'scratch');
    const dUnit = scale(matmul(dS, s.unit, { category: 'scratch' }), 2, 'scratch');
    return unitBackward(s, dUnit);
  });
}

/** A column view [B, 1] of a per-row vector [B], to broadcast over a row's features. */
function column(v: Tensor): Tensor {
  return v.reshape([v.shape[0]!, 1]);
}

/** S(x) of the rows of x [B, d], with what its derivative rule needs. Call it in a scope. */
function similarity(x: Tensor): Similarity {
  const c = sub(x, column(mean(x, [1], { category: 'scratch' })), 'scratch');
  const norm = column(sqrt(sum(square(c, 'scratch'), [1], { category: 'scratch' }), 'scratch'));
  const unit = div(c, affine(norm, 1, NORM_EPS, 'scratch'), 'scratch');
  return { matrix: matmul(unit, unit, { transposeB: true, category: 'scratch' }), unit, norm };
}

/**
 * dL/dx of S's row normalisation and centring, from dL/dx^. The factor (n + eps) / n is taken
 * with n + 1e-30 below it: a row of zero spread has x^ = 0, so its term is 0 whatever the factor,
 * and the tiny guard keeps that 0 from becoming 0 * Infinity. Call it in a scope.
 */
function unitBackward(s: Similarity, dUnit: Tensor): Tensor {
  const shifted = affine(s.norm, 1, NORM_EPS, 'scratch');
  const along = column(sum(mul(s.unit, dUnit, 'scratch'), [1], { category: 'scratch' }));
  const factor = mul(along, div(shifted, affine(s.norm, 1, 1e-30, 'scratch'), 'scratch'), 'scratch');
  const dc = div(sub(dUnit, mul(s.unit, factor, 'scratch'), 'scratch'), shifted, 'scratch');
  return sub(dc, column(mean(dc, [1], { category: 'scratch' })), 'scratch');
}
