/**
 * Row-wise losses (f32) with their gradients fused into the same kernel: cross-entropy, the
 * Bhattacharyya divergence SLL uses as its alignment term, and SLL's class-mode local loss
 * (both terms at once). One workgroup per row (shaders/loss.wgsl).
 *
 * Labels out of range: a label outside [0, K) makes that row's loss (and gradient row) NaN,
 * so the trainer's periodic non-finite check reports it; no element is read at a bad label.
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import type { MemoryCategory } from '../gpu/bufferPool.js';
import { formatShape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { withDense } from '../gpu/strided.js';
import { rowWorkgroupSize } from '../gpu/workgroups.js';
import { checkOptions, inverseTemperature, requireLabels, requireLogits, requireSameDevice, requireSameShape, type OptionTable } from './checks.js';


/** A quiet NaN's bits, written for rows with an out-of-range label. */
const NAN_BITS = 0x7fc00000;

export interface LossResult {
  /** Per-row loss, [B]. */
  loss: Tensor;
  /** Gradient of scale * sum(loss) with respect to the logits, [B, K]. */
  grad: Tensor;
}

export interface CrossEntropyOptions {
  /** Multiplies the gradient; default 1 / B (the gradient of the batch-mean loss). */
  scale?: number;
  /** tau > 0: the loss is taken on softmax(logits / tau) (SLL's class mode). Default 1. */
  temperature?: number;
  category?: MemoryCategory;
}

export interface BhattacharyyaOptions {
  /** Temperature tau > 0 of pi = softmax(v / tau). Default 1. */
  tau?: number;
  /** Multiplies the gradient; default 1 / B. */
  scale?: number;
  category?: MemoryCategory;
}

export interface SllClassLossResult {
  /** Per-row cross-entropy -log pi[label], [B]. */
  likelihood: Tensor;
  /** Per-row Bhattacharyya divergence D_B(pi, q), [B]. */
  alignment: Tensor;
  /** Gradient of scale * sum(likelihood + alignment) with respect to v, [B, K]. */
  grad: Tensor;
  /** log pi, [B, K]: the next block's log q. */
  logPi: Tensor;
}

const CROSS_ENTROPY_OPTIONS: OptionTable = { scale: 'number', temperature: 'positive', category: 'category' };
const BHATTACHARYYA_OPTIONS: OptionTable = { tau: 'positive', scale: 'number', category: 'category' };

function gradientScale(op: string, scale: number | undefined, rows: number): number {
  const s = scale ?? 1 / Math.max(rows, 1);
  if (!Number.isFinite(s)) throw new RangeError(`${op}: scale must be a finite number, got ${s}`);
  return s;
}

function dispatchLoss(device: Device, entry: string, bindings: Record<string, Tensor>, rows: number, cols: number, invTau: number, scale: number): void {
  const kernel = device.kernel({ file: 'loss', entry, overrides: { WG: rowWorkgroupSize(device, cols) } });
  device.dispatch(kernel, bindings, { rows, cols, invTau, scale, nanBits: NAN_BITS, _pad0: 0, _pad1: 0, _pad2: 0 }, rows);
}

/**
 * Cross-entropy of softmax(logits / tau) against integer labels, stable through log-sum-exp.
 * loss[b] = -log softmax(logits[b] / tau)[labels[b]];
 * grad[b] = (softmax(logits[b] / tau) - onehot(labels[b])) * scale / tau.
 */
export function crossEntropy(logits: Tensor, labels: Tensor, options: CrossEntropyOptions = {}): LossResult {
  const op = 'crossEntropy';
  const device = requireSameDevice(op, { logits, labels });
  checkOptions(op, options, CROSS_ENTROPY_OPTIONS);
  const { rows, cols } = requireLogits(op, 'logits', logits);
  requireLabels(op, labels, 'logits', logits);
  const invTau = inverseTemperature(op, options.temperature);
  const scale = gradientScale(op, options.scale, rows);
  const category = options.category ?? 'activation';
  const loss = device.empty([rows], 'f32', category);
  const grad = device.empty([rows, cols], 'f32', category);
  if (rows > 0) {
    withDense([logits, labels], (dLogits, dLabels) => {
      dispatchLoss(device, 'crossEntropy', { logits: dLogits, labels: dLabels, loss, grad }, rows, cols, invTau, scale);
    });
  }
  return { loss, grad };
}

/**
 * Bhattacharyya divergence between pi = softmax(v / tau) and a constant q given as log q, row
 * by row, in log space: loss[b] = -log sum_k sqrt(pi_k q_k) = -logsumexp_k((log pi_k + log q_k) / 2);
 * grad[b] = (pi - r) / (2 tau) * scale with r_k = sqrt(pi_k q_k) / sum_k sqrt(pi_k q_k).
 */
export function bhattacharyya(v: Tensor, logQ: Tensor, options: BhattacharyyaOptions = {}): LossResult {
  const op = 'bhattacharyya';
  const device = requireSameDevice(op, { v, logQ });
  checkOptions(op, options, BHATTACHARYYA_OPTIONS);
  const { rows, cols } = requireLogits(op, 'v', v);
  if (logQ.dtype !== 'f32') throw new ShapeError(`${op}: logQ ${formatShape(logQ.shape)} has dtype ${logQ.dtype}; expected f32 like v ${formatShape(v.shape)}`);
  requireSameShape(op, ['logQ', 'v'], logQ, v);
  const invTau = inverseTemperature(op, options.tau, 'tau');
  const scale = gradientScale(op, options.scale, rows);
  const category = options.category ?? 'activation';
  const loss = device.empty([rows], 'f32', category);
  const grad = device.empty([rows, cols], 'f32', category);
  if (rows > 0) {
    withDense([v, logQ], (dV, dLogQ) => {
      dispatchLoss(device, 'bhattacharyya', { logits: dV, logQ: dLogQ, loss, grad }, rows, cols, invTau, scale);
    });
  }
  return { loss, grad };
}

/**
 * SLL's class-mode local loss in one kernel (d0 = K; docs/algorithm.md, "Analytic gradients"): with
 * pi = softmax(v / tau), likelihood = -log pi[label], alignment = D_B(pi, q), and
 * grad = ((pi - onehot(label)) / tau + (pi - r) / (2 tau)) * scale, plus log pi for the next
 * block. The same as crossEntropy(v, labels, { temperature: tau }) and bhattacharyya(v, logQ)
 * summed, without reading v three times.
 */
export function sllClassLoss(v: Tensor, labels: Tensor, logQ: Tensor, options: BhattacharyyaOptions = {}): SllClassLossResult {
  const op = 'sllClassLoss';
  const device = requireSameDevice(op, { v, labels, logQ });
  checkOptions(op, options, BHATTACHARYYA_OPTIONS);
  const { rows, cols } = requireLogits(op, 'v', v);
  requireLabels(op, labels, 'v', v);
  if (logQ.dtype !== 'f32') throw new ShapeError(`${op}: logQ ${formatShape(logQ.shape)} has dtype ${logQ.dtype}; expected f32 like v ${formatShape(v.shape)}`);
  requireSameShape(op, ['logQ', 'v'], logQ, v);
  const invTau = inverseTemperature(op, options.tau, 'tau');
  const scale = gradientScale(op, options.scale, rows);
  const category = options.category ?? 'activation';
  const likelihood = device.empty([rows], 'f32', category);
  const alignment = device.empty([rows], 'f32', category);
  const grad = device.empty([rows, cols], 'f32', category);
  const logPi = device.empty([rows, cols], 'f32', category);
  if (rows > 0) {
    withDense([v, labels, logQ], (dV, dLabels, dLogQ) => {
      dispatchLoss(device, 'sllClassLoss', { logits: dV, labels: dLabels, logQ: dLogQ, likelihood, alignment, grad, logPi }, rows, cols, invTau, scale);
    });
  }
  return { likelihood, alignment, grad, logPi };
}
