/**
 * Multi-head scaled dot-product attention (f32) and its derivative rule (shaders/attention.wgsl).
 *
 * q is [B, H, Tq, D]; k and v are [B, H, Tk, D]; D is at most 128. The forward pass uses an
 * online softmax and never stores the Tq x Tk score matrix; it returns the per-row log-sum-exp,
 * from which the backward pass recomputes the probabilities. Shapes are checked before anything
 * is encoded.
 */
import type { Device } from '../gpu/device.js';
import { LimitError, ShapeError } from '../gpu/errors.js';
import type { MemoryCategory } from '../gpu/bufferPool.js';
import { formatShape, shapesEqual } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { ATTENTION_OPTIONS, checkAttentionOperands, resolveAttentionScale, type AttentionDims } from './attentionOperands.js';
import { withDense } from '../gpu/strided.js';
import { elementWorkgroups, isSoftwareAdapter } from '../gpu/workgroups.js';
import { matmulVariantUnavailable } from './matmul.js';
import { checkOptions, requireDevice, requireDtype, requireSameDevice } from './checks.js';

export { MAX_ATTENTION_HEAD_DIM } from './attentionOperands.js';

/** Per-thread array sizes the shader offers (its `//#variant d4` ... `d128` blocks). */
const HEAD_DIM_VARIANTS = [4, 8, 16, 32, 64, 128] as const;

/** Rows per workgroup: enough to share a staged tile widely, small enough for short sequences. */
const ROWS_PER_WORKGROUP = 64;

/** Upper bound on rows per workgroup-memory tile (more only lengthens the staging loop). */
const MAX_TILE_ROWS = 32;

export interface AttentionOptions {
  /** Multiplies Q K^T before the softmax; defaults to 1 / sqrt(D). */
  scale?: number;
  /** Memory category of the outputs (default 'activation'). */
  category?: MemoryCategory;
}

export interface AttentionResult {
  /** softmax(Q K^T * scale) V, [B, H, Tq, D]. */
  out: Tensor;
  /** log sum_j exp(s_ij) per query row, [B, H, Tq]: what the backward pass needs. */
  logSumExp: Tensor;
}

export interface AttentionGradients {
  dq: Tensor;
  dk: Tensor;
  dv: Tensor;
}


/**
 * Two ways to the same attention: 'fused', this file's kernels (online softmax, nothing of size
 * Tq x Tk stored, the probabilities recomputed in the backward pass), and 'matmul'
 * (attentionMatmul.ts: S = Q K^T, softmax and P V from the general kernels, P kept for the
 * backward pass).
 */
export type AttentionKernel = 'fused' | 'matmul';

/**
 * 'matmul' on a CPU adapter that runs the subgroup matmul, which beats the fused kernels' one
 * thread per row there: forward and backward at a ViT's shape (B 128, H 4, T 49, D 16) took
 * 113-121 ms against 181-190 ms on lavapipe (bench/experiments/profile-step.mjs showed attention
 * at 40% of a ViT step). Without that variant the general matmuls lose badly on such small
 * products: on SwiftShader (subgroups of 4) the same forward and backward took 4,054 ms by
 * matmul and 600 ms fused. The rule is keyed to the subgroup matmul, not to an adapter's name:
 * any software adapter without it takes the fused kernels (measured on SwiftShader only).
 * 'fused' elsewhere: it stores nothing of size Tq x Tk.
 */
export function chooseAttentionKernel(device: Device): AttentionKernel {
  requireDevice('chooseAttentionKernel', device);
  return isSoftwareAdapter(device) && matmulVariantUnavailable(device, 'subgroup') === undefined ? 'matmul' : 'fused';
}

/**
 * Tq x Tk x D products the kernels do: the forward computes S = Q K^T and P V; the backward
 * recomputes S and dO V^T in both gathers and adds dS K (query pass), P^T dO and dS^T Q (key pass).
 */
const FORWARD_PRODUCTS = 2;
const BACKWARD_PRODUCTS = 7;

/** FLOPs of one Tq x Tk x D product over every (batch, head): 2 per multiply-add. */
function productFlops(dims: AttentionDims): number {
  return 2 * dims.batch * dims.heads * dims.queryLength * dims.keyLength * dims.headDim;
}

/** Kernel settings for one head dim on one device: variant, rows per workgroup, tile rows. */
function kernelSettings(device: Device, headDim: number): { variant: string; overrides: { WG: number; TILE_ROWS: number } } {
  const size = HEAD_DIM_VARIANTS.find((n) => n >= headDim)!;
  const limits = device.limits;
  const rows = Math.min(ROWS_PER_WORKGROUP, limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
  // Workgroup memory per tile row in the largest user (the dK/dV pass): two vec4 rows of the
  // head dim, plus two f32 (the row's log-sum-exp and delta).
  const bytesPerTileRow = 2 * (size / 4) * 16 + 8;
  const tileRows = Math.max(1, Math.min(MAX_TILE_ROWS, Math.floor(limits.maxComputeWorkgroupStorageSize / bytesPerTileRow)));
  return { variant: `d${size}`, overrides: { WG: rows, TILE_ROWS: tileRows } };
}

/**
 * Workgroups for one-thread-per-row kernels: x over rows in blocks of `rows`, y over the
 * (batch, head) pairs, folded into z past the per-dimension limit (the shader unfolds it).
 */
function rowGrid(op: string, device: Device, rowCount: number, batchHeads: number, rows: number): [number, number, number] {
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.ceil(rowCount / rows);
  const y = Math.min(batchHeads, max);
  const z = y === 0 ? 1 : Math.ceil(batchHeads / y);
  if (x > max || z > max) {
    throw new LimitError(`${op}: ${rowCount} rows x ${batchHeads} heads need a grid [${x}, ${y}, ${z}] beyond ${max} workgroups per dimension`);
  }
  return [x, y, z];
}

function uniformsOf(dims: AttentionDims, scale: number) {
  return {
    batchHeads: dims.batch * dims.heads,
    queryLength: dims.queryLength,
    keyLength: dims.keyLength,
    headDim: dims.headDim,
    scale,
  };
}

/**
 * O = softmax(Q K^T * scale) V per (batch, head), with scale defaulting to 1 / sqrt(D), and the
 * per-row log-sum-exp L. Tq and Tk may differ. No mask is applied.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): AttentionResult {
  const op = 'attention';
  const device = requireSameDevice(op, { q, k, v });
  checkOptions(op, options, ATTENTION_OPTIONS);
  const dims = checkAttentionOperands(op, q, k, v);
  const scale = resolveAttentionScale(op, options.scale, dims.headDim);
  const category = options.category ?? 'activation';
  const { variant, overrides } = kernelSettings(device, dims.headDim);
  const grid = rowGrid(op, device, dims.queryLength, dims.batch * dims.heads, overrides.WG);
  return withDense([q, k, v], (denseQ, denseK, denseV) => {
    const out = device.empty(q.shape, 'f32', category);
    const logSumExp = device.empty([dims.batch, dims.heads, dims.queryLength], 'f32', category);
    const kernel = device.kernel({ file: 'attention', entry: 'attentionForward', variant: [variant], overrides });
    device.dispatch(kernel, { q: denseQ, k: denseK, v: denseV, out, logSumExp }, uniformsOf(dims, scale), grid);
    device.flopCount += FORWARD_PRODUCTS * productFlops(dims);
    return { out, logSumExp };
  });
}

/**
 * Gradients of a loss through `attention`, given dL/dO and the forward's inputs and outputs
 * (out and logSumExp). The probabilities are recomputed from q, k and logSumExp; no score
 * matrix is stored. Pass the same scale as the forward.
 */
export function attentionBackward(
  dOut: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  logSumExp: Tensor,
  options: AttentionOptions = {},
): AttentionGradients {
  const op = 'attentionBackward';
  const device = requireSameDevice(op, { dOut, q, k, v, out, logSumExp });
  checkOptions(op, options, ATTENTION_OPTIONS);
  const dims = checkAttentionOperands(op, q, k, v);
  for (const [name, t] of [['dOut', dOut], ['out', out], ['logSumExp', logSumExp]] as const) requireDtype(op, name, t, ['f32']);
  for (const [name, t] of [['dOut', dOut], ['out', out]] as const) {
    if (!shapesEqual(t.shape, q.shape)) {
      throw new ShapeError(`${op}: ${name} ${formatShape(t.shape)} and q ${formatShape(q.shape)} must have the same shape`);
    }
  }
  const rowShape = [dims.batch, dims.heads, dims.queryLength];
  if (!shapesEqual(logSumExp.shape, rowShape)) {
    throw new ShapeError(`${op}: logSumExp ${formatShape(logSumExp.shape)} must be ${formatShape(rowShape)} for q ${formatShape(q.shape)}`);
  }
  const scale = resolveAttentionScale(op, options.scale, dims.headDim);
  const category = options.category ?? 'activation';
  const { variant, overrides } = kernelSettings(device, dims.headDim);
  const batchHeads = dims.batch * dims.heads;
  const queryGrid = rowGrid(op, device, dims.queryLength, batchHeads, overrides.WG);
  const keyGrid = rowGrid(op, device, dims.keyLength, batchHeads, overrides.WG);
  const uniforms = uniformsOf(dims, scale);

  return withDense([dOut, q, k, v, out, logSumExp], (denseDOut, denseQ, denseK, denseV, forwardOut, forwardLogSumExp) => {
    const rowDelta = device.empty(rowShape, 'f32', 'scratch');
    try {
      const deltaKernel = device.kernel({ file: 'attention', entry: 'attentionRowDelta', variant: [variant], overrides: { WG: overrides.WG } });
      device.dispatch(
        deltaKernel,
        { dOut: denseDOut, forwardOut, rowDeltaOut: rowDelta },
        uniforms,
        elementWorkgroups(batchHeads * dims.queryLength, overrides.WG),
      );
      const dq = device.empty(q.shape, 'f32', category);
      const queryKernel = device.kernel({ file: 'attention', entry: 'attentionBackwardQuery', variant: [variant], overrides });
      device.dispatch(queryKernel, { q: denseQ, k: denseK, v: denseV, dOut: denseDOut, forwardLogSumExp, rowDelta, dq }, uniforms, queryGrid);
      const dk = device.empty(k.shape, 'f32', category);
      const dv = device.empty(v.shape, 'f32', category);
      const keyValueKernel = device.kernel({ file: 'attention', entry: 'attentionBackwardKeyValue', variant: [variant], overrides });
      device.dispatch(keyValueKernel, { q: denseQ, k: denseK, v: denseV, dOut: denseDOut, forwardLogSumExp, rowDelta, dk, dv }, uniforms, keyGrid);
      device.flopCount += BACKWARD_PRODUCTS * productFlops(dims);
      return { dq, dk, dv };
    } finally {
      // Safe before submit: a released buffer goes only to later GPU work, in queue order.
      rowDelta.dispose();
    }
  });
}
