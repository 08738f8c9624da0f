/**
 * Layer norm over the last axis (f32) and its derivative rules (shaders/layernorm.wgsl).
 * The forward keeps each row's mean and reciprocal standard deviation for the backward.
 */
import { ShapeError } from '../gpu/errors.js';
import type { MemoryCategory } from '../gpu/bufferPool.js';
import { formatShape, shapesEqual } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { withDense } from '../gpu/strided.js';
import { columnWorkgroupSize, rowLayout } from '../gpu/workgroups.js';
import { checkOptions, checkValue, requireSameDevice, requireSameShape, type OptionTable } from './checks.js';


/** Shortest row chunk of the first dgamma/dbeta stage. */
const MIN_CHUNK_ROWS = 64;

export interface LayerNormOptions {
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  category?: MemoryCategory;
}

export interface LayerNormResult {
  y: Tensor;
  /** Per-row mean, [rows] (rows = product of all but the last dimension). */
  mean: Tensor;
  /** Per-row 1 / sqrt(var + eps), [rows]. */
  rstd: Tensor;
}

export interface LayerNormGradients {
  dx: Tensor;
  dgamma: Tensor;
  dbeta: Tensor;
}

const LAYER_NORM_OPTIONS: OptionTable = { eps: 'nonNegative', category: 'category' };

/** An f32 operand; it is already known to be a live Tensor (requireSameDevice). */
function requireF32(op: string, name: string, t: Tensor): void {
  if (t.dtype !== 'f32') throw new ShapeError(`${op}: ${name} ${formatShape(t.shape)} has dtype ${t.dtype}; expected f32`);
}

/** Rows and row length of x, and a check that gamma (and beta) have the row's length. */
function requireNormShapes(op: string, x: Tensor, params: Array<[string, Tensor]>): { rows: number; cols: number } {
  if (x.rank === 0 || x.shape[x.rank - 1] === 0) throw new ShapeError(`${op}: x ${formatShape(x.shape)} needs a non-empty last axis`);
  const cols = x.shape[x.rank - 1]!;
  for (const [name, t] of params) {
    if (!shapesEqual(t.shape, [cols])) {
      throw new ShapeError(`${op}: ${name} ${formatShape(t.shape)} and x ${formatShape(x.shape)}: ${name} must have shape [${cols}], the last dimension of x`);
    }
  }
  return { rows: x.size / cols, cols };
}

function uniformsFor(rows: number, cols: number, eps: number, chunkRows = 0, chunks = 0) {
  return { rows, cols, eps, chunkRows, chunks, _pad0: 0, _pad1: 0, _pad2: 0 };
}

/** y = (x - mean) / sqrt(var + eps) * gamma + beta over the last axis (biased variance). */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, options: LayerNormOptions = {}): LayerNormResult {
  const op = 'layerNorm';
  const device = requireSameDevice(op, { x, gamma, beta });
  checkOptions(op, options, LAYER_NORM_OPTIONS);
  for (const [name, t] of [['x', x], ['gamma', gamma], ['beta', beta]] as const) requireF32(op, name, t);
  const { rows, cols } = requireNormShapes(op, x, [['gamma', gamma], ['beta', beta]]);
  const eps = options.eps ?? 1e-5;
  const category = options.category ?? 'activation';
  const y = device.empty(x.shape, 'f32', category);
  const mean = device.empty([rows], 'f32', category);
  const rstd = device.empty([rows], 'f32', category);
  if (rows === 0) return { y, mean, rstd };
  withDense([x, gamma, beta], (dX, dGamma, dBeta) => {
    const layout = rowLayout(device, rows, cols);
    const kernel = device.kernel({ file: 'layernorm', entry: 'layerNormForward', overrides: layout.overrides });
    device.dispatch(kernel, { x: dX, gamma: dGamma, beta: dBeta, y, meanOut: mean, rstdOut: rstd }, uniformsFor(rows, cols, eps), layout.workgroups);
  });
  return { y, mean, rstd };
}

/**
 * Derivative rules of layerNorm, given dL/dy, the forward input x, the saved mean and rstd,
 * and gamma: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma;
 * dgamma = sum over rows of dy * xhat; dbeta = sum over rows of dy.
 */
export function layerNormBackward(dy: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, gamma: Tensor, category: MemoryCategory = 'activation'): LayerNormGradients {
  const op = 'layerNormBackward';
  const device = requireSameDevice(op, { dy, x, mean, rstd, gamma });
  checkValue(op, 'category', category, 'category');
  for (const [name, t] of [['dy', dy], ['x', x], ['mean', mean], ['rstd', rstd], ['gamma', gamma]] as const) requireF32(op, name, t);
  requireSameShape(op, ['dy', 'x'], dy, x);
  const { rows, cols } = requireNormShapes(op, x, [['gamma', gamma]]);
  for (const [name, t] of [['mean', mean], ['rstd', rstd]] as const) {
    if (!shapesEqual(t.shape, [rows])) {
      throw new ShapeError(`${op}: ${name} ${formatShape(t.shape)} and x ${formatShape(x.shape)}: ${name} must have shape [${rows}], one value per row`);
    }
  }
  const dx = device.empty(x.shape, 'f32', category);
  // With no rows the parameter gradients are empty sums: zeros. Otherwise the kernels write them.
  if (rows === 0) return { dx, dgamma: device.zeros([cols], 'f32', category), dbeta: device.zeros([cols], 'f32', category) };
  const dgamma = device.empty([cols], 'f32', category);
  const dbeta = device.empty([cols], 'f32', category);

  withDense([dy, x, mean, rstd, gamma], (dDy, dX, dMean, dRstd, dGamma) => {
    const layout = rowLayout(device, rows, cols);
    const rowKernel = device.kernel({ file: 'layernorm', entry: 'layerNormBackwardInput', overrides: layout.overrides });
    device.dispatch(rowKernel, { dy: dDy, x: dX, meanIn: dMean, rstdIn: dRstd, gamma: dGamma, dx }, uniformsFor(rows, cols, 0), layout.workgroups);

    // dgamma, dbeta: chunks of about sqrt(rows) rows, so both stages are short sequential sums.
    const chunkRows = Math.max(MIN_CHUNK_ROWS, Math.ceil(Math.sqrt(rows)), Math.ceil(rows / device.limits.maxComputeWorkgroupsPerDimension));
    const chunks = Math.ceil(rows / chunkRows);
    const workgroup = columnWorkgroupSize(device);
    const columnGroups = Math.ceil(cols / workgroup);
    const uniforms = uniformsFor(rows, cols, 0, chunkRows, chunks);
    const partialKernel = device.kernel({ file: 'layernorm', entry: 'layerNormBackwardParamsPartial', overrides: { COLUMN_WG: workgroup } });
    const inputs = { dy: dDy, x: dX, meanIn: dMean, rstdIn: dRstd };
    if (chunks === 1) {
      device.dispatch(partialKernel, { ...inputs, dgamma, dbeta }, uniforms, [columnGroups, 1, 1]);
      return;
    }
    const partialGamma = device.empty([chunks, cols], 'f32', 'scratch');
    const partialBeta = device.empty([chunks, cols], 'f32', 'scratch');
    try {
      device.dispatch(partialKernel, { ...inputs, dgamma: partialGamma, dbeta: partialBeta }, uniforms, [columnGroups, chunks, 1]);
      const finishKernel = device.kernel({ file: 'layernorm', entry: 'layerNormBackwardParamsFinish', overrides: { COLUMN_WG: workgroup } });
      device.dispatch(finishKernel, { partialGammaIn: partialGamma, partialBetaIn: partialBeta, dgamma, dbeta }, uniforms, [columnGroups, 1, 1]);
    } finally {
      partialGamma.dispose();
      partialBeta.dispose();
    }
  });
  return { dx, dgamma, dbeta };
}
