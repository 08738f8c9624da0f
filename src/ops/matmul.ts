/**
 * Batched matrix products with in-place transposes and a fused bias + activation epilogue.
 *
 *   matmul(a, b)                              [..., M, K] x [..., K, N] -> [..., M, N]
 *   matmul(a, b, { transposeB: true })        a W^T, with W stored [N, K] (a linear layer)
 *   matmul(dy, x, { transposeA: true })       dy^T x (a weight gradient)
 *
 * A side with one batch (or no batch dimensions) is shared by every batch of the other. A
 * transpose is never copied: the kernels read the stored layout, and a `t.transpose()` view of
 * a dense tensor is recognised from its strides and becomes a transpose flag.
 *
 * The kernel shape is chosen per adapter (chooseMatmulVariant): lavapipe pays for loads, not
 * FLOPs, and gets a subgroup kernel; real GPUs get workgroup-memory tiles (cut into K slices
 * when few output tiles face a long K: `splitK`); thin products get the skinny kernel, which
 * splits K across one workgroup's threads; anything else can run on the plain one. SwiftShader
 * gets the blocked kernel (register blocks, no workgroup memory; docs/architecture.md,
 * "Adapters and kernel choice"). Every variant computes the same thing and is tested against
 * src/reference/matmul.ts.
 */
import type { Device } from '../gpu/device.js';
import { LimitError, ShapeError } from '../gpu/errors.js';
import type { MemoryCategory } from '../gpu/bufferPool.js';
import { broadcastShapes, contiguousStrides, formatShape, sizeOf } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { copy } from './copy.js';
import { sumPartials } from './reduce.js';
import { isSoftwareAdapter } from '../gpu/workgroups.js';
import { checkOptions, checkValue, requireDevice, requireDtype, requireSameDevice, type OptionTable } from './checks.js';
import { MATMUL_VARIANTS, THIN_SIDE, type MatmulVariant } from './matmulVariants.js';
import { matmulShapeClass, tunedMatmulVariant } from './tuningTable.js';

export type MatmulActivation = 'none' | 'relu' | 'gelu';
export { MATMUL_VARIANTS, type MatmulVariant } from './matmulVariants.js';

export interface MatmulOptions {
  /** Use a^T: `a` is [..., K, M]. */
  transposeA?: boolean;
  /** Use b^T: `b` is [..., N, K]. */
  transposeB?: boolean;
  /** [N], added to every row of the product before the activation. */
  bias?: Tensor;
  activation?: MatmulActivation;
  /** Memory category of the result (default 'activation'). */
  category?: MemoryCategory;
  /** Force a kernel variant (tests, benchmarks); by default chooseMatmulVariant decides. */
  variant?: MatmulVariant;
  /**
   * Tiled kernel: cut K into about this many slices, each computed by its own workgroups into a
   * partial product, then add the partials (one batch, no bias, no activation). Default: chosen
   * so that a product with few output tiles and a long K still fills a GPU (tiledKChunk); 1
   * turns it off. For tests and tuning.
   */
  splitK?: number;
}

const ACTIVATIONS: Record<MatmulActivation, number> = { none: 0, relu: 1, gelu: 2 };

const MATMUL_OPTIONS: OptionTable = {
  transposeA: 'boolean',
  transposeB: 'boolean',
  bias: 'tensor',
  activation: ['none', 'relu', 'gelu'],
  category: 'category',
  variant: MATMUL_VARIANTS,
  splitK: 'integer',
};

/** Output tile sizes, as in shaders/matmul.wgsl. */
const SUBGROUP_ROWS = 16;
const SUBGROUP_COLUMNS = 32;
const TILE = 64;
/** Threads along each side of a blocked workgroup, each BLOCKED_ROWS x 4 outputs. */
const BLOCKED_WG = 8;
const BLOCKED_ROWS = 4;
const SKINNY_ROWS = 4;
const SKINNY_COLUMNS = 16;
/**
 * Split-K of the tiled kernel on GPUs: slices of K until about this many workgroups run (a few
 * per compute unit of a large GPU), each slice at least MIN_K_CHUNK deep.
 */
const SPLIT_K_WORKGROUPS = 512;
const MIN_K_CHUNK = 128;

/** Why `variant` cannot run on this device, or undefined when it can. */
export function matmulVariantUnavailable(device: Device, variant: MatmulVariant): string | undefined {
  requireDevice('matmulVariantUnavailable', device);
  checkValue('matmulVariantUnavailable', 'variant', variant, MATMUL_VARIANTS);
  const limits = device.limits;
  switch (variant) {
    case 'subgroup':
      if (!device.hasSubgroups) return "the device has no 'subgroups' feature";
      // The kernel is one 8-lane subgroup per workgroup and broadcasts from lanes 0..7.
      if (device.subgroupSize !== 8) return `the subgroup size is ${describeSubgroupSize(device)}, the kernel needs exactly 8`;
      return undefined;
    case 'tiled':
      if (limits.maxComputeInvocationsPerWorkgroup < 256) return `maxComputeInvocationsPerWorkgroup is ${limits.maxComputeInvocationsPerWorkgroup}, the kernel needs 256`;
      if (limits.maxComputeWorkgroupStorageSize < 2 * 8 * TILE * 4) return `maxComputeWorkgroupStorageSize is ${limits.maxComputeWorkgroupStorageSize}`;
      return undefined;
    case 'blocked':
    case 'skinny':
    case 'plain':
      return undefined;
  }
}

function describeSubgroupSize(device: Device): string {
  const { subgroupMinSize, subgroupMaxSize } = device.report;
  return subgroupMinSize === subgroupMaxSize ? String(subgroupMinSize) : `${subgroupMinSize}..${subgroupMaxSize}`;
}

/**
 * The kernel variant for an M x K times K x N product on this device: the one the kernel tuning
 * in force chooses for its shape class (src/ops/tuningTable.ts), if it runs here; otherwise
 * these rules. On software adapters: the subgroup kernel where it runs (8-lane subgroups:
 * lavapipe as Dawn exposes it on x86-64); on the others (SwiftShader, measured; lavapipe
 * without 8-lane subgroups, not) the blocked kernel, except tiles for a long K against few
 * outputs (shape class 'longK': K at least 8 times the longer side). In Chromium on
 * SwiftShader, ms, tiled / blocked / plain: a 128 x 784 x 1000 layer 138 / 123 / 487, its
 * weight gradient (K = 128) 402 / 126 / 526, a 128 x 1000 x 10 head 12.1 / 4.2 / 9.6 and its
 * input gradient (K = 10) 52.7 / 4.0 / 11.9, a 512 cube 263 / 182 / 853; but 128 x 3136 x 256
 * 89 / 114 / 587 and 64 x 6272 x 192 82 / 86 / 373. On GPUs: the skinny kernel (K split
 * within a workgroup) for thin products, else workgroup-memory tiles where the limits allow
 * them, else the plain kernel.
 */
export function chooseMatmulVariant(device: Device, m: number, n: number, k: number): MatmulVariant {
  requireDevice('chooseMatmulVariant', device);
  for (const [name, value] of [['m', m], ['n', n], ['k', k]] as const) checkValue('chooseMatmulVariant', name, value, 'integer');
  const tuned = tunedMatmulVariant(device, m, n, k);
  if (tuned !== undefined && matmulVariantUnavailable(device, tuned) === undefined) return tuned;
  return ruleVariant(device, m, n, k);
}

/** What chooseMatmulVariant's rules give without a kernel tuning (what a tune measures against). */
export function builtInMatmulVariant(device: Device, m: number, n: number, k: number): MatmulVariant {
  requireDevice('builtInMatmulVariant', device);
  for (const [name, value] of [['m', m], ['n', n], ['k', k]] as const) checkValue('builtInMatmulVariant', name, value, 'integer');
  return ruleVariant(device, m, n, k);
}

/** The rules themselves, on arguments already checked (every matmul asks: no second check). */
function ruleVariant(device: Device, m: number, n: number, k: number): MatmulVariant {
  if (isSoftwareAdapter(device)) {
    if (!matmulVariantUnavailable(device, 'subgroup')) return 'subgroup';
    return matmulShapeClass(m, n, k) === 'longK' && !matmulVariantUnavailable(device, 'tiled') ? 'tiled' : 'blocked';
  }
  const thin = Math.min(m, n) <= THIN_SIDE && Math.max(m, n) * k >= 4096;
  if (thin) return 'skinny';
  if (!matmulVariantUnavailable(device, 'tiled')) return 'tiled';
  return 'plain';
}

/** An operand as the kernels read it: a dense buffer and whether it holds the transpose. */
interface Operand {
  /** Bound from element 0: dense, or the transpose view of a dense tensor. */
  tensor: Tensor;
  /** True when the logical matrix is the transpose of the stored one. */
  transposed: boolean;
  /** A copy made here (disposed after encoding). */
  temporary: boolean;
}

/**
 * A view that is the last-two-axes transpose of a dense tensor (what `t.transpose()` returns)
 * is bound as its storage with the transpose flag flipped, instead of being copied.
 */
function isTransposedDense(t: Tensor): boolean {
  if (t.offset !== 0 || t.rank < 2) return false;
  const swapped = [...t.shape];
  [swapped[t.rank - 2], swapped[t.rank - 1]] = [t.shape[t.rank - 1]!, t.shape[t.rank - 2]!];
  const dense = contiguousStrides(swapped);
  [dense[t.rank - 2], dense[t.rank - 1]] = [dense[t.rank - 1]!, dense[t.rank - 2]!];
  return t.shape.every((d, i) => d === 1 || t.strides[i] === dense[i]);
}

function toOperand(t: Tensor, transpose: boolean): Operand {
  if (t.isContiguous) return { tensor: t, transposed: transpose, temporary: false };
  if (isTransposedDense(t)) return { tensor: t, transposed: !transpose, temporary: false };
  return { tensor: copy(t, 'scratch'), transposed: transpose, temporary: true };
}

function describeOperand(name: string, t: Tensor, transpose: boolean): string {
  return `${name} ${formatShape(t.shape)}${transpose ? ` (transpose${name.toUpperCase()})` : ''}`;
}

/** The checked dimensions of a product, before anything is encoded. */
interface Plan {
  m: number;
  n: number;
  k: number;
  outShape: number[];
  batches: number;
  aShared: boolean;
  bShared: boolean;
}

function plan(a: Tensor, b: Tensor, options: MatmulOptions): Plan {
  const { transposeA = false, transposeB = false, bias } = options;
  requireDtype('matmul', 'a', a, ['f32']);
  requireDtype('matmul', 'b', b, ['f32']);
  // Written only when a check fails: every product passes here, so the text is not built for nothing.
  const both = () => `${describeOperand('a', a, transposeA)} and ${describeOperand('b', b, transposeB)}`;
  if (a.rank < 2 || b.rank < 2) throw new ShapeError(`matmul: ${both()}: both operands need rank >= 2`);
  const m = a.shape[a.rank - (transposeA ? 1 : 2)]!;
  const kA = a.shape[a.rank - (transposeA ? 2 : 1)]!;
  const kB = b.shape[b.rank - (transposeB ? 1 : 2)]!;
  const n = b.shape[b.rank - (transposeB ? 2 : 1)]!;
  if (kA !== kB) throw new ShapeError(`matmul: ${both()}: inner dimensions ${kA} and ${kB} differ`);
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batchShape = broadcastShapes(aBatch, bBatch);
  const aBatches = sizeOf(aBatch);
  const bBatches = sizeOf(bBatch);
  const batches = batchShape ? sizeOf(batchShape) : 0;
  // A shared side (one batch) is read at stride 0; otherwise both must have every batch.
  if (!batchShape || (aBatches !== 1 && aBatches !== batches) || (bBatches !== 1 && bBatches !== batches)) {
    throw new ShapeError(`matmul: ${both()}: batch dimensions ${formatShape(aBatch)} and ${formatShape(bBatch)} must match, or one side must have a single batch`);
  }
  if (bias) {
    requireDtype('matmul', 'bias', bias, ['f32']);
    if (bias.rank !== 1 || bias.shape[0] !== n) {
      throw new ShapeError(`matmul: bias ${formatShape(bias.shape)} must be [${n}] for ${both()} (one value per output column)`);
    }
  }
  if (options.activation !== undefined && !Object.hasOwn(ACTIVATIONS, options.activation)) {
    throw new ShapeError(`matmul: unknown activation '${String(options.activation)}' (use none, relu or gelu)`);
  }
  return { m, n, k: kA, outShape: [...batchShape, m, n], batches, aShared: aBatches === 1, bShared: bBatches === 1 };
}

/**
 * act(a b + bias) over batches, with a and/or b used transposed. Shapes and dtypes are checked
 * before anything is encoded (ShapeError naming both operands).
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const device = requireSameDevice('matmul', { a, b });
  checkOptions('matmul', options, MATMUL_OPTIONS);
  if (options.bias) requireSameDevice('matmul', { a, bias: options.bias });
  const p = plan(a, b, options);
  const variant = options.variant ?? chooseMatmulVariant(device, p.m, p.n, p.k);
  const unavailable = matmulVariantUnavailable(device, variant);
  if (unavailable) throw new LimitError(`matmul: the '${variant}' kernel cannot run here: ${unavailable}`);
  const maxBatches = device.limits.maxComputeWorkgroupsPerDimension;
  if (p.batches > maxBatches) throw new LimitError(`matmul: ${p.batches} batches exceed maxComputeWorkgroupsPerDimension (${maxBatches})`);

  const category = options.category ?? 'activation';
  const kChunk = tiledKChunk(device, variant, p, options);
  // With split-K, the kernel writes one partial product per slice of K, added up below.
  const slices = kChunk > 0 ? Math.ceil(p.k / kChunk) : 1;
  if (slices > maxBatches) throw new LimitError(`matmul: ${slices} slices of K exceed maxComputeWorkgroupsPerDimension (${maxBatches})`);
  const out = slices > 1 ? device.empty([slices, p.m, p.n], 'f32', 'scratch') : device.empty(p.outShape, 'f32', category);
  if (out.size === 0) return out;
  const temporaries: Tensor[] = [];
  try {
    const opA = toOperand(a, options.transposeA ?? false);
    if (opA.temporary) temporaries.push(opA.tensor);
    const opB = toOperand(b, options.transposeB ?? false);
    if (opB.temporary) temporaries.push(opB.tensor);
    let bias = options.bias;
    if (bias && !bias.isContiguous) {
      bias = copy(bias, 'scratch');
      temporaries.push(bias);
    }
    encode(device, variant, p, opA, opB, bias, options.activation ?? 'none', out, kChunk);
    device.flopCount += 2 * p.batches * p.m * p.n * p.k;
  } catch (error) {
    out.dispose();
    throw error;
  } finally {
    for (const t of temporaries) t.dispose();
  }
  if (slices === 1) return out;
  try {
    return sumPartials(out, p.outShape, category);
  } finally {
    out.dispose();
  }
}

/** Depth of the tiled kernel's slices of K (a multiple of its TILE_K), or 0 for no split-K. */
function tiledKChunk(device: Device, variant: MatmulVariant, p: Plan, options: MatmulOptions): number {
  const requested = options.splitK;
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 1)) {
    throw new ShapeError(`matmul: splitK must be a positive integer, got ${requested}`);
  }
  const splittable = p.batches === 1 && options.bias === undefined && (options.activation ?? 'none') === 'none';
  if (requested !== undefined && requested > 1) {
    if (variant !== 'tiled') throw new ShapeError(`matmul: splitK applies to the tiled kernel, not '${variant}'`);
    if (!splittable) throw new ShapeError(`matmul: splitK needs a single batch, no bias and no activation (got ${p.batches} batches${options.bias ? ', a bias' : ''}${options.activation && options.activation !== 'none' ? `, ${options.activation}` : ''})`);
  }
  if (variant !== 'tiled' || !splittable || p.m * p.n === 0) return 0;
  let slices = requested;
  if (slices === undefined) {
    if (isSoftwareAdapter(device)) return 0;
    const tiles = Math.ceil(p.m / TILE) * Math.ceil(p.n / TILE);
    slices = Math.min(Math.ceil(SPLIT_K_WORKGROUPS / tiles), Math.floor(p.k / MIN_K_CHUNK));
  }
  if (slices <= 1) return 0;
  const depth = tiledDepth(device);
  const kChunk = Math.ceil(p.k / slices / depth) * depth;
  return kChunk < p.k ? kChunk : 0;
}

/** TILE_K of the tiled kernel: two TILE_K x 64 float tiles in workgroup memory, as deep as the limit allows, up to 32. */
function tiledDepth(device: Device): number {
  const bytes = device.limits.maxComputeWorkgroupStorageSize;
  return bytes >= 2 * 32 * TILE * 4 ? 32 : bytes >= 2 * 16 * TILE * 4 ? 16 : 8;
}

/**
 * Whether a kernel computes out^T = b^T a^T instead, writing it back transposed: when the small
 * side of a thin product would otherwise leave most of a tile's columns (subgroup) or rows
 * (skinny) idle.
 */
function swapsRoles(variant: MatmulVariant, m: number, n: number): boolean {
  if (variant === 'subgroup') return n < SUBGROUP_COLUMNS && m > n;
  if (variant === 'skinny') return m < n && m <= THIN_SIDE;
  // A thread's 4 columns lie BLOCKED_WG apart: a thin N idles most of them, a thin M only a block's last rows.
  if (variant === 'blocked') return n < 4 * BLOCKED_WG && m > n;
  return false;
}

function encode(device: Device, variant: MatmulVariant, p: Plan, opA: Operand, opB: Operand, bias: Tensor | undefined, activation: MatmulActivation, out: Tensor, kChunk: number): void {
  const swap = swapsRoles(variant, p.m, p.n);
  const [first, second] = swap ? [opB, opA] : [opA, opB];
  const m = swap ? p.n : p.m;
  const n = swap ? p.m : p.n;
  const k = p.k;
  // (x^T)^T = x: as the first operand, b^T is b read with the opposite flag, and so on.
  const transposeA = swap ? !opB.transposed : opA.transposed;
  const transposeB = swap ? !opA.transposed : opB.transposed;
  const firstShared = swap ? p.bShared : p.aShared;
  const secondShared = swap ? p.aShared : p.bShared;
  const uniforms = {
    M: m,
    N: n,
    K: k,
    aBatchStride: firstShared ? 0 : m * k,
    bBatchStride: secondShared ? 0 : k * n,
    outBatchStride: p.m * p.n,
    outRowStride: swap ? 1 : p.n,
    outColStride: swap ? p.n : 1,
    biasAlongRows: swap ? 1 : 0,
    kChunk,
  };
  const overrides: Record<string, number> = {
    TRANSPOSE_A: Number(transposeA),
    TRANSPOSE_B: Number(transposeB),
    HAS_BIAS: Number(bias !== undefined),
    ACTIVATION: ACTIVATIONS[activation],
  };
  const limits = device.limits;
  // `bias` is declared by every entry; without one, `a` stands in and is never read.
  const biasBinding = bias ?? first.tensor;
  const ceil = (x: number, y: number) => Math.ceil(x / y);
  switch (variant) {
    case 'subgroup': {
      // vec4 reads need 16-byte aligned rows: the stored row length (K for a, or M when
      // transposed; N for b, or K when transposed) must be a multiple of 4.
      const kernel = device.kernel({
        file: 'matmul',
        entry: 'matmulSubgroup',
        variant: ['subgroups'],
        overrides: { ...overrides, A_VEC4: Number((transposeA ? m : k) % 4 === 0), B_VEC4: Number((transposeB ? k : n) % 4 === 0) },
      });
      // Each operand is bound twice, as f32 and as vec4; the kernel reads one of the two. The
      // vec4 view is bound whole (pooled buffers hold at least 256 bytes), because a tensor is
      // bound at its exact size (so arrayLength means its length) and one smaller than a vec4
      // would fail validation even where it is not read.
      const bindings = { a: first.tensor, aVec: first.tensor.buffer, b: second.tensor, bVec: second.tensor.buffer, bias: biasBinding, out };
      device.dispatch(kernel, bindings, uniforms, [ceil(n, SUBGROUP_COLUMNS), ceil(m, SUBGROUP_ROWS), p.batches]);
      return;
    }
    case 'tiled': {
      const split = kChunk > 0;
      const kernel = device.kernel({ file: 'matmul', entry: 'matmulTiled', variant: ['portable'], overrides: { ...overrides, TILE_K: tiledDepth(device), SPLIT_K: Number(split) } });
      device.dispatch(kernel, { a: first.tensor, b: second.tensor, bias: biasBinding, out }, uniforms, [ceil(n, TILE), ceil(m, TILE), split ? ceil(k, kChunk) : p.batches]);
      return;
    }
    case 'skinny': {
      const kernel = device.kernel({ file: 'matmul', entry: 'matmulSkinny', variant: ['portable'], overrides: { ...overrides, SKINNY_WG: skinnyWorkgroup(device) } });
      device.dispatch(kernel, { a: first.tensor, b: second.tensor, bias: biasBinding, out }, uniforms, [ceil(n, SKINNY_COLUMNS), ceil(m, SKINNY_ROWS), p.batches]);
      return;
    }
    case 'blocked': {
      const kernel = device.kernel({ file: 'matmul', entry: 'matmulBlocked', variant: ['portable'], overrides: { ...overrides, BLOCKED_WG_X: BLOCKED_WG, BLOCKED_WG_Y: BLOCKED_WG } });
      device.dispatch(kernel, { a: first.tensor, b: second.tensor, bias: biasBinding, out }, uniforms, [ceil(n, 4 * BLOCKED_WG), ceil(m, BLOCKED_ROWS * BLOCKED_WG), p.batches]);
      return;
    }
    case 'plain': {
      const [x, y] = limits.maxComputeInvocationsPerWorkgroup >= 256 ? [16, 16] : [16, 8];
      const kernel = device.kernel({ file: 'matmul', entry: 'matmulPlain', variant: ['portable'], overrides: { ...overrides, PLAIN_WG_X: x, PLAIN_WG_Y: y } });
      device.dispatch(kernel, { a: first.tensor, b: second.tensor, bias: biasBinding, out }, uniforms, [ceil(n, x), ceil(m, y), p.batches]);
      return;
    }
  }
}

/** Threads per skinny workgroup: a power of two whose partial sums fit in workgroup memory. */
function skinnyWorkgroup(device: Device): number {
  const bytesPerThread = SKINNY_ROWS * SKINNY_COLUMNS * 4;
  let wg = 64;
  while (wg > 1 && (wg > device.limits.maxComputeInvocationsPerWorkgroup || wg * bytesPerThread > device.limits.maxComputeWorkgroupStorageSize)) wg /= 2;
  return wg;
}
