/**
 * 2-D convolution (f32, NCHW activations, [Cout, Cin, kH, kW] weights as PyTorch) and its
 * derivative rules: input, weight and bias gradients. The kernels (shaders/conv2d.wgsl) are
 * implicit GEMMs that read input windows on the fly (no im2col buffer). Their temporaries are a
 * packed copy of the weights (small; made per call, so an updated weight tensor is always seen)
 * and, for the weight gradient, a position-major copy of dy and, when the batch is split into
 * chunks, one partial sum per chunk ([chunks, Cout * taps], added by sumPartials). The subgroup
 * flavour's GEMM kernels also take a table of the taps (forward, input gradient; [taps, 4]) or
 * of the windows (weight gradient; [N * Ho * Wo, 4], at most an eighth of dy's packed copy).
 * Shapes are checked before anything is encoded.
 */
import type { Device } from '../gpu/device.js';
import { LimitError, ShapeError } from '../gpu/errors.js';
import { foldWorkgroups } from '../gpu/kernel.js';
import type { MemoryCategory } from '../gpu/bufferPool.js';
import { formatShape, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { sumPartials } from './reduce.js';
import { withDense } from '../gpu/strided.js';
import { elementWorkgroups, isSoftwareAdapter } from '../gpu/workgroups.js';
import { checkOptions, checkValue, requireDevice, requireDtype, requireRank, requireSameDevice, requireShape, type OptionTable } from './checks.js';
import { spatialPair, windowGeometry, type SpatialPair, type WindowGeometry } from './geometry.js';


export interface Conv2dGeometryOptions {
  /** Step between windows, [strideY, strideX] or one value for both (default 1). */
  stride?: SpatialPair;
  /** Zeros added on each side, [padY, padX] or one value for both (default 0). */
  padding?: SpatialPair;
  /** Force a kernel flavour (tests, benchmarks); by default chooseConvKernel decides. */
  kernel?: ConvKernel;
}

/**
 * 'subgroup': one 8-lane subgroup per workgroup, operands loaded once and handed round by
 * subgroupBroadcast (software adapters, where every load costs per lane): the forward, the
 * unit-stride input gradient and the weight gradient as GEMMs laid out as the subgroup matmul,
 * the strided input gradient with the packed weights broadcast; 'portable': any adapter.
 */
export type ConvKernel = 'subgroup' | 'portable';

export interface Conv2dOptions extends Conv2dGeometryOptions {
  /** [Cout], added to every output position. */
  bias?: Tensor;
  /** Fused epilogue (default 'none'). */
  activation?: 'none' | 'relu';
  category?: MemoryCategory;
}

export interface Conv2dGradientOptions extends Conv2dGeometryOptions {
  category?: MemoryCategory;
  /**
   * Weight gradient: images per chunk of its reduction over the batch (each chunk's partial sum
   * is computed by its own workgroups, then the partials are added). Default: chosen so that the
   * adapter gets enough workgroups (weightGradientBatchChunk). For tests and tuning.
   */
  batchChunk?: number;
}

const GEOMETRY_OPTIONS = { stride: 'pair', padding: 'pair', kernel: ['subgroup', 'portable'] } as const satisfies OptionTable;
const CONV_OPTIONS: OptionTable = { ...GEOMETRY_OPTIONS, bias: 'tensor', activation: ['none', 'relu'], category: 'category' };
const CONV_GRADIENT_OPTIONS: OptionTable = { ...GEOMETRY_OPTIONS, category: 'category', batchChunk: 'integer' };
const CONV_BIAS_OPTIONS: OptionTable = { category: 'category' };

/** Positions per thread in every conv kernel (TP in conv2d.wgsl). */
const POSITIONS_PER_THREAD = 4;
const WORKGROUP = 64;



/** A convolution's window geometry, with the batch and channel counts. */
interface ConvGeometry extends WindowGeometry {
  batch: number;
  inChannels: number;
  outChannels: number;
}

/**
 * The geometry of x [N, Cin, H, W] convolved with w [Cout, Cin, kH, kW]; throws ShapeError naming
 * both shapes when the channels differ or the kernel does not fit the padded input.
 */
function convGeometry(op: string, xShape: Shape, wShape: Shape, options: Conv2dGeometryOptions, names: [string, string] = ['x', 'w']): ConvGeometry {
  const [strideY, strideX] = spatialPair(op, 'stride', options.stride ?? 1, 1);
  const [padY, padX] = spatialPair(op, 'padding', options.padding ?? 0, 0);
  const [batch, inChannels, inHeight, inWidth] = xShape as [number, number, number, number];
  const [outChannels, wInChannels, kernelHeight, kernelWidth] = wShape as [number, number, number, number];
  const both = `${names[0]} ${formatShape(xShape)} and ${names[1]} ${formatShape(wShape)}`;
  if (inChannels !== wInChannels) {
    throw new ShapeError(`${op}: ${both}: input channels ${inChannels} and ${wInChannels} differ`);
  }
  if (kernelHeight < 1 || kernelWidth < 1) throw new ShapeError(`${op}: ${both}: the kernel is empty`);
  if (kernelHeight > inHeight + 2 * padY || kernelWidth > inWidth + 2 * padX) {
    throw new ShapeError(
      `${op}: ${both}: kernel ${kernelHeight}x${kernelWidth} is larger than the padded input ` +
        `${inHeight + 2 * padY}x${inWidth + 2 * padX} (padding [${padY}, ${padX}])`,
    );
  }
  return { batch, inChannels, outChannels, ...windowGeometry(inHeight, inWidth, [kernelHeight, kernelWidth], [strideY, strideX], [padY, padX]) };
}

/** [N, Cout, Ho, Wo] of conv2d(x, w, options). */
export function conv2dOutputShape(xShape: Shape, wShape: Shape, options: Conv2dGeometryOptions = {}): [number, number, number, number] {
  requireShape('conv2dOutputShape', 'xShape', xShape);
  requireShape('conv2dOutputShape', 'wShape', wShape);
  checkOptions('conv2dOutputShape', options, GEOMETRY_OPTIONS);
  const g = convGeometry('conv2dOutputShape', xShape, wShape, options);
  return [g.batch, g.outChannels, g.outHeight, g.outWidth];
}

function requireShapeRank(op: string, name: string, shape: Shape): void {
  requireShape(op, name, shape);
  if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new ShapeError(`${op}: ${name} must be a shape of rank 4, got ${formatShape(shape)}`);
  }
}

/** Packed row width in floats: the channels rounded up to whole register-tile blocks. */
function paddedChannels(channels: number, perThread: number): number {
  return Math.ceil(channels / perThread) * perThread;
}

/** Register tile by the number of channels a thread blocks over: the smallest that covers them, up to 16. */
function channelVariant(channels: number): { name: string; perThread: number } {
  if (channels <= 4) return { name: 'C4', perThread: 4 };
  if (channels <= 8) return { name: 'C8', perThread: 8 };
  return { name: 'C16', perThread: 16 };
}

/** Why the subgroup kernels cannot run here, or undefined when they can. */
export function convSubgroupUnavailable(device: Device): string | undefined {
  requireDevice('convSubgroupUnavailable', device);
  if (!device.hasSubgroups) return "the device has no 'subgroups' feature";
  // sharedChannels broadcasts from lanes 0..7 of a workgroup that is one subgroup.
  if (device.subgroupSize !== 8) return 'the subgroup size is not exactly 8';
  return undefined;
}

/**
 * The subgroup flavour on software adapters for more than 8 channels, else the portable one.
 * Measured on lavapipe, batch 64, 32 -> 64 channels, 14x14, 3x3, pad 1 (bench/kernels/kernels.mjs,
 * 2 full runs each): forward portable 7.2 / 7.9 GFLOPS, subgroup 12.7 / 12.7 (TF.js WebGPU 3.0 /
 * 3.1); input gradient 7.6 -> 11.5, weight gradient 8.4 -> 12.0 (one interleaved run). The
 * subgroup flavour's GEMM kernels then took the forward, the unit-stride input gradient and the
 * weight gradient further, with bitwise the same results (old against new build, interleaved,
 * wall time of a call and its read, batch 128, 32 -> 64 channels at 14x14): forward 76 -> 54 ms,
 * input gradient 85 -> 55 ms, weight gradient 67 -> 56 ms; conv1's (1 -> 32 at 28x28) weight
 * gradient 23-32 -> 15 ms.
 */
export function chooseConvKernel(device: Device, channels: number): ConvKernel {
  requireDevice('chooseConvKernel', device);
  checkValue('chooseConvKernel', 'channels', channels, 'integer');
  return channels > 8 && isSoftwareAdapter(device) && !convSubgroupUnavailable(device) ? 'subgroup' : 'portable';
}

/** The kernel flavour for a blocked channel count: the forced one (checked) or the chosen one. */
function convKernel(op: string, device: Device, channels: number, forced: ConvKernel | undefined): ConvKernel {
  if (forced === undefined) return chooseConvKernel(device, channels);
  if (forced === 'subgroup') {
    const why = convSubgroupUnavailable(device);
    if (why) throw new LimitError(`${op}: the 'subgroup' kernel cannot run here: ${why}`);
  }
  return forced;
}

/**
 * Variant, workgroup size and binding name of the packed operand for one kernel flavour: the
 * subgroup flavour always blocks 16 channels (fewer are zero-padded in the packed rows) and
 * reads the packed rows as floats.
 */
function flavour(kind: ConvKernel, channels: number, device: Device, count: number) {
  if (kind === 'subgroup') return { variant: { name: 'C16', perThread: 16 }, shader: 'subgroups', wg: 8, packedName: 'channelScalars' };
  return { variant: channelVariant(channels), shader: 'portable', wg: tileWorkgroupSize(device, count), packedName: 'channelRows' };
}

function workgroupSize(device: Device): number {
  return Math.min(WORKGROUP, device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX);
}

/**
 * Workgroup size for a conv kernel over `count` positions (or taps): the largest power of two up
 * to WORKGROUP whose tiles (POSITIONS_PER_THREAD * size slots) waste at most an eighth of the
 * work, since threads past the end still run the whole reduction on a repeated slot.
 */
function tileWorkgroupSize(device: Device, count: number): number {
  let size = workgroupSize(device);
  while (size > 8) {
    const slots = Math.ceil(count / (POSITIONS_PER_THREAD * size)) * POSITIONS_PER_THREAD * size;
    if (slots - count <= count / 8) break;
    size /= 2;
  }
  return size;
}

function uniformsOf(g: ConvGeometry, channelVec4s: number, positions: number, biasRow: number, batchChunk = g.batch): Record<string, number> {
  return { ...g, channelVec4s, positions, biasRow, batchChunk };
}

/**
 * Packs weights into rows of `colsPadded` floats (whole channel blocks of the register tile, so
 * no thread reads past a row): the forward packs (ci, kh, kw) rows of Cout columns plus a bias
 * row (zeros without a bias); the input gradient packs (co, kh, kw) rows of Cin columns (and a
 * row of zeros after them with `zeroBiasRow`, for the GEMM kernel, which always adds a bias row).
 */
function packWeights(
  device: Device,
  w: Tensor,
  g: ConvGeometry,
  layout: 'byOutput' | 'byInput',
  bias: Tensor | undefined,
  colsPadded: number,
  wg: number,
  zeroBiasRow = false,
): Tensor {
  const taps = g.kernelHeight * g.kernelWidth;
  const byOutput = layout === 'byOutput';
  const cols = byOutput ? g.outChannels : g.inChannels;
  const rows = (byOutput ? g.inChannels : g.outChannels) * taps;
  const packedRows = byOutput || zeroBiasRow ? rows + 1 : rows;
  const packed = device.empty([packedRows, colsPadded], 'f32', 'scratch');
  const params = {
    rows,
    cols,
    colsPadded,
    taps,
    colStride: byOutput ? g.inChannels * taps : taps,
    groupStride: byOutput ? taps : g.inChannels * taps,
    count: packedRows * colsPadded,
    biasRow: rows,
  };
  const overrides = { WG: wg };
  device.dispatch(device.kernel({ file: 'conv2d', entry: 'packWeights', variant: ['C4', 'portable'], overrides }), { w, packed }, params, elementWorkgroups(params.count, wg));
  if (bias) {
    device.dispatch(device.kernel({ file: 'conv2d', entry: 'packBias', variant: ['C4', 'portable'], overrides }), { bias, packed }, params, elementWorkgroups(cols, wg));
  }
  return packed;
}

/**
 * 2 * the multiply-adds of one convolution; the input and weight gradients do the same number
 * (the input gradient's stride > 1 kernel tests more taps than it uses, which is not counted).
 */
function convFlops(g: ConvGeometry): number {
  return 2 * g.batch * g.outChannels * g.outHeight * g.outWidth * g.inChannels * g.kernelHeight * g.kernelWidth;
}

/** Workgroups for `count` items, TP per thread: [tiles folded over x and z, blocks on y]. */
function tileGrid(device: Device, count: number, blocks: number, wg: number): [number, number, number] {
  const tiles = Math.ceil(count / (POSITIONS_PER_THREAD * wg));
  const [x, z] = foldWorkgroups(tiles, device.limits.maxComputeWorkgroupsPerDimension);
  return [x, blocks, z];
}

/**
 * y = act(conv2d(x, w) + bias): x [N, Cin, H, W], w [Cout, Cin, kH, kW], bias [Cout]
 * -> y [N, Cout, Ho, Wo] with Ho = floor((H + 2 padY - kH) / strideY) + 1 (likewise Wo).
 */
export function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  const device = requireSameDevice(op, { x, w });
  const { bias, activation = 'none', category = 'activation' } = checkOptions(op, options, CONV_OPTIONS);
  if (bias) requireSameDevice(op, { x, bias });
  requireDtype(op, 'x', x, ['f32']);
  requireDtype(op, 'w', w, ['f32']);
  requireRank(op, 'x', x, 4);
  requireRank(op, 'w', w, 4);
  const g = convGeometry(op, x.shape, w.shape, options);
  if (bias) {
    requireDtype(op, 'bias', bias, ['f32']);
    if (bias.rank !== 1 || bias.shape[0] !== g.outChannels) {
      throw new ShapeError(`${op}: bias ${formatShape(bias.shape)} does not match w ${formatShape(w.shape)} (expected [${g.outChannels}])`);
    }
  }
  if (activation !== 'none' && activation !== 'relu') throw new ShapeError(`${op}: unknown activation '${String(activation)}'`);
  const outShape = [g.batch, g.outChannels, g.outHeight, g.outWidth];
  const positions = g.batch * g.outHeight * g.outWidth;
  const kind = convKernel(op, device, g.outChannels, options.kernel);
  if (positions === 0 || g.outChannels === 0) return device.empty(outShape, 'f32', category);
  return withDense(bias ? [x, w, bias] : [x, w], (dx, dw, db) =>
    // The packed weights are this call's alone: the scope frees them.
    device.scope(() => {
    if (kind === 'subgroup') {
      const packed = packWeights(device, dw!, g, 'byOutput', db, gemmWidth(g.outChannels), workgroupSize(device));
      return convGemm(device, dx!, packed, g, outShape, { flipTaps: false, activation, category, flops: convFlops(g) });
    }
    const { variant, shader, wg, packedName } = flavour(kind, g.outChannels, device, positions);
    const width = paddedChannels(g.outChannels, variant.perThread);
    const packed = packWeights(device, dw!, g, 'byOutput', db, width, workgroupSize(device));
    const y = device.empty(outShape, 'f32', category);
    const kernel = device.kernel({
      file: 'conv2d',
      entry: 'conv2dForward',
      variant: [variant.name, shader],
      overrides: { WG: wg, PADDED: Number(g.padY > 0 || g.padX > 0), ACTIVATION: activation === 'relu' ? 1 : 0 },
    });
    const blocks = Math.ceil(g.outChannels / variant.perThread);
    device.dispatch(kernel, { x: dx!, [packedName]: packed, y }, uniformsOf(g, width / 4, positions, g.inChannels * g.kernelHeight * g.kernelWidth), tileGrid(device, positions, blocks, wg));
    device.flopCount += convFlops(g);
    return y;
  }));
}

/** Output channels per workgroup of the GEMM kernels: 8 lanes x a vec4 each. */
const GEMM_COLUMNS = 32;
/** Rows (positions, or the weight gradient's taps) per workgroup of the GEMM kernels (GEMM_ROWS in conv2d.wgsl). */
const GEMM_ROWS = 16;

/** Packed row width of the GEMM kernels: whole groups of GEMM_COLUMNS channels. */
function gemmWidth(channels: number): number {
  return Math.ceil(channels / GEMM_COLUMNS) * GEMM_COLUMNS;
}

/**
 * The subgroup flavour of conv2d and of the unit-stride input gradient: the product of the
 * windows of `source` and the packed weights (rows of gemmWidth(g.outChannels), a bias row after
 * the taps), laid out as the subgroup matmul (conv2d.wgsl, conv2dForwardGemm), after packTaps
 * has tabled the taps. `g` is a forward geometry: for the input gradient, that of dy convolved
 * into dx (flipTaps: its taps listed from the far corner, so each sum keeps the order of the
 * kernel it replaced).
 */
function convGemm(
  device: Device,
  source: Tensor,
  packed: Tensor,
  g: ConvGeometry,
  outShape: Shape,
  options: { flipTaps: boolean; activation: 'none' | 'relu'; category: MemoryCategory; flops: number },
): Tensor {
  const taps = g.inChannels * g.kernelHeight * g.kernelWidth;
  const positions = g.batch * g.outHeight * g.outWidth;
  const width = gemmWidth(g.outChannels);
  const packWg = workgroupSize(device);
  const uniforms = uniformsOf(g, width / 4, positions, taps);
  const table = device.empty([taps, 4], 'i32', 'scratch');
  const packTaps = device.kernel({ file: 'conv2d', entry: 'packTaps', variant: ['C16', 'subgroups'], overrides: { WG: packWg, FLIP_TAPS: Number(options.flipTaps) } });
  device.dispatch(packTaps, { tapTable: table }, uniforms, elementWorkgroups(taps, packWg));
  const y = device.empty(outShape, 'f32', options.category);
  const kernel = device.kernel({
    file: 'conv2d',
    entry: 'conv2dForwardGemm',
    variant: ['C16', 'subgroups'],
    overrides: { PADDED: Number(g.padY > 0 || g.padX > 0), ACTIVATION: options.activation === 'relu' ? 1 : 0 },
  });
  const [tilesY, tilesZ] = foldWorkgroups(Math.ceil(positions / GEMM_ROWS), device.limits.maxComputeWorkgroupsPerDimension);
  device.dispatch(kernel, { x: source, channelRows: packed, taps: table, y }, uniforms, [width / GEMM_COLUMNS, tilesY, tilesZ]);
  device.flopCount += options.flops;
  return y;
}

/** dL/dx [N, Cin, H, W] of y = conv2d(x, w), given dL/dy [N, Cout, Ho, Wo] and w. */
export function conv2dBackwardInput(dy: Tensor, w: Tensor, inputShape: Shape, options: Conv2dGradientOptions = {}): Tensor {
  const op = 'conv2dBackwardInput';
  const device = requireSameDevice(op, { dy, w });
  checkOptions(op, options, CONV_GRADIENT_OPTIONS);
  requireDtype(op, 'dy', dy, ['f32']);
  requireDtype(op, 'w', w, ['f32']);
  requireRank(op, 'dy', dy, 4);
  requireRank(op, 'w', w, 4);
  requireShapeRank(op, 'inputShape', inputShape);
  const g = convGeometry(op, inputShape, w.shape, options, ['inputShape', 'w']);
  const expected = [g.batch, g.outChannels, g.outHeight, g.outWidth];
  if (!expected.every((d, i) => d === dy.shape[i])) {
    throw new ShapeError(
      `${op}: dy ${formatShape(dy.shape)} and w ${formatShape(w.shape)}: a convolution of inputShape ${formatShape(inputShape)} gives ${formatShape(expected)}`,
    );
  }
  const category = options.category ?? 'activation';
  const positions = g.batch * g.inHeight * g.inWidth;
  const kind = convKernel(op, device, g.inChannels, options.kernel);
  if (positions === 0 || g.inChannels === 0) return device.empty(inputShape, 'f32', category);
  if (g.outChannels === 0 || g.outHeight * g.outWidth === 0) return device.zeros(inputShape, 'f32', category);
  return withDense([dy, w], (ddy, dw) =>
    device.scope(() => {
    // With unit strides, dx is dy convolved with the kernel turned round, padded by what the
    // forward padding leaves of the kernel; a padding wider than the kernel less one (legal:
    // 1x1 with padding 1) would leave a negative one, which the strided kernel below handles.
    if (kind === 'subgroup' && g.strideY === 1 && g.strideX === 1 && g.padY < g.kernelHeight && g.padX < g.kernelWidth) {
      const packed = packWeights(device, dw!, g, 'byInput', undefined, gemmWidth(g.inChannels), workgroupSize(device), true);
      const transposed: ConvGeometry = {
        ...g,
        inChannels: g.outChannels,
        inHeight: g.outHeight,
        inWidth: g.outWidth,
        outChannels: g.inChannels,
        outHeight: g.inHeight,
        outWidth: g.inWidth,
        padY: g.kernelHeight - 1 - g.padY,
        padX: g.kernelWidth - 1 - g.padX,
      };
      // Counted as the forward's multiply-adds, as the other kernels count it (convFlops).
      return convGemm(device, ddy!, packed, transposed, inputShape, { flipTaps: true, activation: 'none', category, flops: convFlops(g) });
    }
    const { variant, shader, wg, packedName } = flavour(kind, g.inChannels, device, positions);
    const width = paddedChannels(g.inChannels, variant.perThread);
    const packed = packWeights(device, dw!, g, 'byInput', undefined, width, workgroupSize(device));
    const dx = device.empty(inputShape, 'f32', category);
    const kernel = device.kernel({
      file: 'conv2d',
      entry: 'conv2dBackwardInput',
      variant: [variant.name, shader],
      overrides: { WG: wg, UNIT_STRIDE: Number(g.strideY === 1 && g.strideX === 1) },
    });
    const blocks = Math.ceil(g.inChannels / variant.perThread);
    device.dispatch(kernel, { dy: ddy!, [packedName]: packed, dx }, uniformsOf(g, width / 4, positions, 0), tileGrid(device, positions, blocks, wg));
    device.flopCount += convFlops(g);
    return dx;
  }));
}

// The weight gradient splits the batch into chunks until about this many workgroups run: enough
// to fill a GPU's cores several times over, and a few per core of a CPU adapter. A chunk keeps at
// least MIN_CHUNK_POSITIONS output positions, so its loop stays long next to the extra pass that
// adds the partials up.
const WEIGHT_GRADIENT_WORKGROUPS = { gpu: 1024, software: 8 };
const MIN_CHUNK_POSITIONS = 512;

/** Images per chunk of the weight gradient's reduction, for a grid of `workgroups` per chunk. */
function weightGradientBatchChunk(device: Device, g: ConvGeometry, workgroups: number): number {
  const target = isSoftwareAdapter(device) ? WEIGHT_GRADIENT_WORKGROUPS.software : WEIGHT_GRADIENT_WORKGROUPS.gpu;
  const plane = g.outHeight * g.outWidth;
  const maxChunks = Math.max(1, Math.min(g.batch, Math.floor((g.batch * plane) / MIN_CHUNK_POSITIONS), device.limits.maxComputeWorkgroupsPerDimension));
  const chunks = Math.min(maxChunks, Math.ceil(target / workgroups));
  return Math.ceil(g.batch / chunks);
}

/** dL/dw [Cout, Cin, kH, kW] of y = conv2d(x, w), given dL/dy [N, Cout, Ho, Wo] and x. */
export function conv2dBackwardWeight(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dGradientOptions = {}): Tensor {
  const op = 'conv2dBackwardWeight';
  const device = requireSameDevice(op, { dy, x });
  checkOptions(op, options, CONV_GRADIENT_OPTIONS);
  requireDtype(op, 'dy', dy, ['f32']);
  requireDtype(op, 'x', x, ['f32']);
  requireRank(op, 'dy', dy, 4);
  requireRank(op, 'x', x, 4);
  requireShapeRank(op, 'weightShape', weightShape);
  const g = convGeometry(op, x.shape, weightShape, options, ['x', 'weightShape']);
  const expected = [g.batch, g.outChannels, g.outHeight, g.outWidth];
  if (!expected.every((d, i) => d === dy.shape[i])) {
    throw new ShapeError(
      `${op}: dy ${formatShape(dy.shape)} and x ${formatShape(x.shape)}: a convolution with weightShape ${formatShape(weightShape)} gives ${formatShape(expected)}`,
    );
  }
  const category = options.category ?? 'activation';
  const tapCount = g.inChannels * g.kernelHeight * g.kernelWidth;
  const kind = convKernel(op, device, g.outChannels, options.kernel);
  if (tapCount === 0 || g.outChannels === 0) return device.empty(weightShape, 'f32', category);
  if (g.batch * g.outHeight * g.outWidth === 0) return device.zeros(weightShape, 'f32', category);
  // The packed gradient and the batch chunks' partial sums are this call's alone: the scope frees them.
  return withDense([dy, x], (ddy, dx) => device.scope(() => {
    const { variant, shader, wg, packedName } = flavour(kind, g.outChannels, device, tapCount);
    const positions = g.batch * g.outHeight * g.outWidth;
    const channelVec4s = paddedChannels(g.outChannels, variant.perThread) / 4;
    const tiles = Math.ceil(tapCount / (POSITIONS_PER_THREAD * wg));
    const blocks = Math.ceil(g.outChannels / variant.perThread);
    if (tiles > device.limits.maxComputeWorkgroupsPerDimension) {
      throw new LimitError(`${op}: weightShape ${formatShape(weightShape)} has ${tapCount} taps per output channel, more than ${device.limits.maxComputeWorkgroupsPerDimension} workgroups of ${POSITIONS_PER_THREAD * wg} can cover`);
    }
    // The subgroup flavour's GEMM kernel takes the chunks of the blocked kernel it replaced
    // (whose grid this is), so that its sums, and every record made before it, stay bitwise.
    const batchChunk = options.batchChunk ?? weightGradientBatchChunk(device, g, tiles * blocks);
    if (!Number.isInteger(batchChunk) || batchChunk < 1) throw new ShapeError(`${op}: batchChunk must be a positive integer, got ${batchChunk}`);
    const chunks = Math.ceil(g.batch / batchChunk);
    if (kind === 'subgroup') return conv2dBackwardWeightGemm(device, ddy!, dx!, g, weightShape, batchChunk, category);
    const uniforms = uniformsOf(g, channelVec4s, positions, 0, batchChunk);
    // dy repacked position-major ([N * Ho * Wo, Cout rounded up to whole blocks]), so that the
    // kernel reads 4 channels per load; a temporary the size of dy.
    const packed = device.empty([positions, channelVec4s * 4], 'f32', 'scratch');
    const packWg = workgroupSize(device);
    const pack = device.kernel({ file: 'conv2d', entry: 'packGradient', variant: ['C4', 'portable'], overrides: { WG: packWg } });
    device.dispatch(pack, { dy: ddy!, packed }, uniforms, elementWorkgroups(positions, packWg));
    const kernel = device.kernel({
      file: 'conv2d',
      entry: 'conv2dBackwardWeight',
      variant: [variant.name, shader],
      overrides: { WG: wg, PADDED: Number(g.padY > 0 || g.padX > 0) },
    });
    const grid: [number, number, number] = [tiles, blocks, chunks];
    device.flopCount += convFlops(g);
    if (chunks === 1) {
      const dw = device.empty(weightShape, 'f32', category);
      device.dispatch(kernel, { [packedName]: packed, x: dx!, dw }, uniforms, grid);
      return dw;
    }
    const partials = device.empty([chunks, g.outChannels * tapCount], 'f32', 'scratch');
    device.dispatch(kernel, { [packedName]: packed, x: dx!, dw: partials }, uniforms, grid);
    return sumPartials(partials, weightShape, category);
  }));
}

/**
 * conv2dBackwardWeight's subgroup flavour: the product of the input windows and dy packed
 * position-major, laid out as the subgroup matmul (conv2d.wgsl, conv2dBackwardWeightGemm), after
 * packPositions has tabled the windows; one partial per batch chunk, added by sumPartials.
 */
function conv2dBackwardWeightGemm(device: Device, dy: Tensor, x: Tensor, g: ConvGeometry, weightShape: Shape, batchChunk: number, category: MemoryCategory): Tensor {
  const taps = g.inChannels * g.kernelHeight * g.kernelWidth;
  const positions = g.batch * g.outHeight * g.outWidth;
  const width = gemmWidth(g.outChannels);
  const chunks = Math.ceil(g.batch / batchChunk);
  const tiles = Math.ceil(taps / GEMM_ROWS);
  if (tiles > device.limits.maxComputeWorkgroupsPerDimension) {
    throw new LimitError(`conv2dBackwardWeight: weightShape ${formatShape(weightShape)} has ${taps} taps per output channel, more than ${device.limits.maxComputeWorkgroupsPerDimension} workgroups of ${GEMM_ROWS} can cover`);
  }
  const uniforms = uniformsOf(g, width / 4, positions, 0, batchChunk);
  const packWg = workgroupSize(device);
  const packed = device.empty([positions, width], 'f32', 'scratch');
  device.dispatch(device.kernel({ file: 'conv2d', entry: 'packGradient', variant: ['C4', 'portable'], overrides: { WG: packWg } }), { dy, packed }, uniforms, elementWorkgroups(positions, packWg));
  const table = device.empty([positions, 4], 'i32', 'scratch');
  device.dispatch(device.kernel({ file: 'conv2d', entry: 'packPositions', variant: ['C16', 'subgroups'], overrides: { WG: packWg } }), { windowTable: table }, uniforms, elementWorkgroups(positions, packWg));
  const kernel = device.kernel({ file: 'conv2d', entry: 'conv2dBackwardWeightGemm', variant: ['C16', 'subgroups'], overrides: { PADDED: Number(g.padY > 0 || g.padX > 0) } });
  device.flopCount += convFlops(g);
  const grid: [number, number, number] = [width / GEMM_COLUMNS, tiles, chunks];
  if (chunks === 1) {
    const dw = device.empty(weightShape, 'f32', category);
    device.dispatch(kernel, { channelRows: packed, windows: table, x, dw }, uniforms, grid);
    return dw;
  }
  const partials = device.empty([chunks, g.outChannels * taps], 'f32', 'scratch');
  device.dispatch(kernel, { channelRows: packed, windows: table, x, dw: partials }, uniforms, grid);
  return sumPartials(partials, weightShape, category);
}

/** dL/dbias [Cout] = the sum of dL/dy [N, Cout, Ho, Wo] over N, Ho and Wo. */
export function conv2dBackwardBias(dy: Tensor, options: { category?: MemoryCategory } = {}): Tensor {
  const op = 'conv2dBackwardBias';
  requireDtype(op, 'dy', dy, ['f32']);
  checkOptions(op, options, CONV_BIAS_OPTIONS);
  requireRank(op, 'dy', dy, 4);
  const device = dy.device;
  const [batch, outChannels, outHeight, outWidth] = dy.shape as [number, number, number, number];
  const category = options.category ?? 'activation';
  if (outChannels === 0) return device.empty([0], 'f32', category);
  if (outChannels > device.limits.maxComputeWorkgroupsPerDimension) {
    throw new ShapeError(`${op}: dy ${formatShape(dy.shape)} has more channels than workgroups per dimension allow`);
  }
  return withDense([dy], (ddy) => {
    // The tree reduction needs a power-of-two workgroup.
    const wg = 2 ** Math.floor(Math.log2(workgroupSize(device)));
    const db = device.empty([outChannels], 'f32', category);
    const kernel = device.kernel({ file: 'conv2d', entry: 'conv2dBackwardBias', variant: ['C4', 'portable'], overrides: { WG: wg } });
    const g: ConvGeometry = {
      batch,
      inChannels: 0,
      inHeight: 0,
      inWidth: 0,
      outChannels,
      outHeight,
      outWidth,
      kernelHeight: 0,
      kernelWidth: 0,
      strideY: 1,
      strideX: 1,
      padY: 0,
      padX: 0,
    };
    device.dispatch(kernel, { dy: ddy!, dbias: db }, uniformsOf(g, 0, 0, 0), [outChannels, 1, 1]);
    return db;
  });
}
