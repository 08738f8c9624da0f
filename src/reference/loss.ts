/**
 * CPU references for src/ops/loss.ts (float64). Logits are [rows, cols] row-major; `scale`
 * defaults to 1 / rows and multiplies the gradient, as in the ops.
 */
import { logSoftmax, logSumExp } from './softmax.js';

type Values = ArrayLike<number>;

export interface LossValues {
  loss: Float64Array;
  grad: Float64Array;
}

/**
 * Cross-entropy of softmax(logits / tau) at each row's label, and its gradient
 * (softmax - onehot) * scale / tau. A label outside [0, cols) gives NaN, as the kernel does.
 */
export function crossEntropy(logits: Values, labels: Values, cols: number, { scale, temperature = 1 }: { scale?: number; temperature?: number } = {}): LossValues {
  const rows = labels.length;
  const s = scale ?? 1 / rows;
  const logP = logSoftmax(logits, cols, temperature);
  const loss = new Float64Array(rows);
  const grad = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const label = labels[r]!;
    const valid = Number.isInteger(label) && label >= 0 && label < cols;
    loss[r] = valid ? -logP[r * cols + label]! : NaN;
    for (let j = 0; j < cols; j++) {
      const p = Math.exp(logP[r * cols + j]!);
      grad[r * cols + j] = valid ? ((p - (j === label ? 1 : 0)) * s) / temperature : NaN;
    }
  }
  return { loss, grad };
}

/**
 * Bhattacharyya divergence D_B(pi, q) = -log sum_k sqrt(pi_k q_k), pi = softmax(v / tau), q
 * given as log q, and its gradient with respect to v: (pi - r) / (2 tau) * scale, with
 * r_k = sqrt(pi_k q_k) / sum_k sqrt(pi_k q_k). Written in log space, as the kernel is, so that a
 * tiny pi_k or q_k never becomes log(0) (docs/algorithm.md, "The local objective").
 */
export function bhattacharyya(v: Values, logQ: Values, cols: number, { tau = 1, scale }: { tau?: number; scale?: number } = {}): LossValues {
  const rows = v.length / cols;
  const s = scale ?? 1 / rows;
  const logPi = logSoftmax(v, cols, tau);
  const loss = new Float64Array(rows);
  const grad = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const halfLogProducts = Float64Array.from({ length: cols }, (_, k) => 0.5 * (logPi[r * cols + k]! + logQ[r * cols + k]!));
    const logCoefficient = logSumExp(halfLogProducts);
    loss[r] = -logCoefficient;
    for (let j = 0; j < cols; j++) {
      const pi = Math.exp(logPi[r * cols + j]!);
      const rj = Math.exp(halfLogProducts[j]! - logCoefficient);
      grad[r * cols + j] = ((pi - rj) / (2 * tau)) * s;
    }
  }
  return { loss, grad };
}

/** SLL's class-mode local loss: cross-entropy and Bhattacharyya on the same pi, summed gradients. */
export function sllClassLoss(
  v: Values,
  labels: Values,
  logQ: Values,
  cols: number,
  { tau = 1, scale }: { tau?: number; scale?: number } = {},
): { likelihood: Float64Array; alignment: Float64Array; grad: Float64Array; logPi: Float64Array } {
  const likelihood = crossEntropy(v, labels, cols, { scale, temperature: tau });
  const alignment = bhattacharyya(v, logQ, cols, { tau, scale });
  return {
    likelihood: likelihood.loss,
    alignment: alignment.loss,
    grad: likelihood.grad.map((g, i) => g + alignment.grad[i]!),
    logPi: logSoftmax(v, cols, tau),
  };
}
