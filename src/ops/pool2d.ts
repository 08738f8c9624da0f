/**
 * Pooling over NCHW activations (f32): max and average pooling, global average pooling, and
 * their derivative rules (shaders/pool2d.wgsl). Shapes are checked before anything is encoded.
 *
 * As PyTorch: the stride defaults to the kernel; max pooling ignores padded taps and sends each
 * window's gradient to its first maximum (row-major window order); average pooling counts padded
 * taps as zeros (count_include_pad = true), so it always divides by kH * kW.
 */
import { ShapeError } from '../gpu/errors.js';
import type { MemoryCategory } from '../gpu/bufferPool.js';
import { formatShape, shapesEqual, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { withDense } from '../gpu/strided.js';
import { elementWorkgroups, isSoftwareAdapter } from '../gpu/workgroups.js';
import { checkOptions, checkValue, required, requireDtype, requireRank, requireSameDevice, requireShape, type OptionTable } from './checks.js';
import { spatialPair, windowGeometry, type SpatialPair, type WindowGeometry } from './geometry.js';

export interface Pool2dOptions {
  /** Window size, [kH, kW] or one value for both. */
  kernel: SpatialPair;
  /** Step between windows (default: the kernel). */
  stride?: SpatialPair;
  /** Padding on each side (default 0), at most half the kernel. */
  padding?: SpatialPair;
  category?: MemoryCategory;
}



const POOL_OPTIONS: OptionTable = { kernel: required('pair'), stride: 'pair', padding: 'pair', category: 'category' };

function poolGeometry(op: string, xShape: Shape, options: Pool2dOptions): WindowGeometry {
  checkOptions(op, options, POOL_OPTIONS);
  const [kernelHeight, kernelWidth] = spatialPair(op, 'kernel', options.kernel, 1);
  const [strideY, strideX] = spatialPair(op, 'stride', options.stride ?? [kernelHeight, kernelWidth], 1);
  const [padY, padX] = spatialPair(op, 'padding', options.padding ?? 0, 0);
  const [, , inHeight, inWidth] = xShape as [number, number, number, number];
  if (2 * padY > kernelHeight || 2 * padX > kernelWidth) {
    throw new ShapeError(`${op}: padding [${padY}, ${padX}] is more than half the kernel ${kernelHeight}x${kernelWidth} (x ${formatShape(xShape)})`);
  }
  if (kernelHeight > inHeight + 2 * padY || kernelWidth > inWidth + 2 * padX) {
    throw new ShapeError(
      `${op}: x ${formatShape(xShape)} and kernel [${kernelHeight}, ${kernelWidth}]: the kernel is larger than the padded input ` +
        `${inHeight + 2 * padY}x${inWidth + 2 * padX} (padding [${padY}, ${padX}])`,
    );
  }
  return windowGeometry(inHeight, inWidth, [kernelHeight, kernelWidth], [strideY, strideX], [padY, padX]);
}

/** [N, C, Ho, Wo] of pooling x [N, C, H, W]. */
export function pool2dOutputShape(xShape: Shape, options: Pool2dOptions): [number, number, number, number] {
  requireShape('pool2dOutputShape', 'xShape', xShape);
  const g = poolGeometry('pool2dOutputShape', xShape, options);
  return [xShape[0]!, xShape[1]!, g.outHeight, g.outWidth];
}

type PoolEntry =
  | 'maxPool2dForward'
  | 'maxPool2dForwardTiledRows'
  | 'maxPool2dBackward'
  | 'maxPool2dBackwardTiled'
  | 'maxPool2dBackwardTiledRows'
  | 'avgPool2dForward'
  | 'avgPool2dBackward'
  | 'globalAvgPoolForward'
  | 'globalAvgPoolBackward';

/** Encodes one pool2d kernel over `count` threads, writing `outShape` into `out`. */
function run(entry: PoolEntry, bindings: Record<string, Tensor>, outName: 'y' | 'dx', outShape: Shape, g: WindowGeometry, count: number, category: MemoryCategory): Tensor {
  // The tiled row kernels take their window as pipeline constants.
  const tile: Record<string, number> = entry.endsWith('TiledRows') ? { TILE_H: g.kernelHeight, TILE_W: g.kernelWidth } : {};
  const inputs = Object.values(bindings);
  const device = inputs[0]!.device;
  return withDense(inputs, (...dense) => {
    const out = device.empty(outShape, 'f32', category);
    const denseBindings: Record<string, Tensor> = { [outName]: out };
    Object.keys(bindings).forEach((name, i) => (denseBindings[name] = dense[i]!));
    if (count > 0) {
      const wg = Math.min(256, device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX);
      const kernel = device.kernel({ file: 'pool2d', entry, overrides: { WG: wg, ...tile } });
      device.dispatch(kernel, denseBindings, { count, ...g, _pad: 0 }, elementWorkgroups(count, wg));
    }
    return out;
  });
}

function checkInput(op: string, x: Tensor): void {
  requireDtype(op, 'x', x, ['f32']);
  requireRank(op, 'x', x, 4);
}

/** Checks dy [N, C, Ho, Wo] against the pooling of x [N, C, H, W]. */
function checkGradient(op: string, dy: Tensor, xShape: Shape, expected: Shape, xName: string): void {
  requireDtype(op, 'dy', dy, ['f32']);
  if (!shapesEqual(dy.shape, expected)) {
    throw new ShapeError(`${op}: dy ${formatShape(dy.shape)} and ${xName} ${formatShape(xShape)}: pooling gives ${formatShape(expected)}`);
  }
}

/** y[n, c, oh, ow] = max over the window of x [N, C, H, W]. */
export function maxPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  return poolForward('maxPool2d', x, options);
}

/** Whether the windows tile the input exactly: stride = kernel, no padding, sizes divisible. */
function tilesInput(g: WindowGeometry): boolean {
  return g.strideY === g.kernelHeight && g.strideX === g.kernelWidth && g.padY === 0 && g.padX === 0 && g.outHeight * g.kernelHeight === g.inHeight && g.outWidth * g.kernelWidth === g.inWidth;
}

/**
 * A pooling forward: one thread per output element of kernel `${op}Forward`, or for max pooling
 * with tiling windows on a CPU adapter one per output row (maxPool2dForwardTiledRows:
 * shaders/pool2d.wgsl says why).
 */
function poolForward(op: 'maxPool2d' | 'avgPool2d', x: Tensor, options: Pool2dOptions): Tensor {
  checkInput(op, x);
  const g = poolGeometry(op, x.shape, options);
  const outShape = [x.shape[0]!, x.shape[1]!, g.outHeight, g.outWidth];
  const category = options.category ?? 'activation';
  if (op === 'maxPool2d' && tilesInput(g) && isSoftwareAdapter(x.device)) {
    return run('maxPool2dForwardTiledRows', { x }, 'y', outShape, g, outShape[0]! * outShape[1]! * g.outHeight, category);
  }
  return run(`${op}Forward`, { x }, 'y', outShape, g, outShape.reduce((a, b) => a * b, 1), category);
}

/** dL/dx of maxPool2d: each window's dL/dy goes to the first maximum of that window in x. */
export function maxPool2dBackward(dy: Tensor, x: Tensor, options: Pool2dOptions): Tensor {
  const op = 'maxPool2dBackward';
  requireSameDevice(op, { dy, x });
  checkInput(op, x);
  const g = poolGeometry(op, x.shape, options);
  checkGradient(op, dy, x.shape, [x.shape[0]!, x.shape[1]!, g.outHeight, g.outWidth], 'x');
  const category = options.category ?? 'activation';
  // Windows that tile x exactly (the usual 2x2, stride 2): a thread per window scatters.
  const tiled = tilesInput(g);
  if (tiled && isSoftwareAdapter(x.device)) return run('maxPool2dBackwardTiledRows', { x, dy }, 'dx', x.shape, g, dy.size / Math.max(g.outWidth, 1), category);
  if (tiled) return run('maxPool2dBackwardTiled', { x, dy }, 'dx', x.shape, g, dy.size, category);
  return run('maxPool2dBackward', { x, dy }, 'dx', x.shape, g, x.size, category);
}

/** y[n, c, oh, ow] = mean over the window of x (padded taps count as zeros). */
export function avgPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  return poolForward('avgPool2d', x, options);
}

/** dL/dx [inputShape] of avgPool2d: every element gets dL/dy / (kH * kW) from each window containing it. */
export function avgPool2dBackward(dy: Tensor, inputShape: Shape, options: Pool2dOptions): Tensor {
  const op = 'avgPool2dBackward';
  requireDtype(op, 'dy', dy, ['f32']);
  requireShape(op, 'inputShape', inputShape);
  if (inputShape.length !== 4) throw new ShapeError(`${op}: inputShape must have rank 4, got ${formatShape(inputShape)} (dy ${formatShape(dy.shape)})`);
  const g = poolGeometry(op, inputShape, options);
  checkGradient(op, dy, inputShape, [inputShape[0]!, inputShape[1]!, g.outHeight, g.outWidth], 'inputShape');
  return run('avgPool2dBackward', { dy }, 'dx', inputShape, g, inputShape.reduce((a, b) => a * b, 1), options.category ?? 'activation');
}

const NO_WINDOW = { kernelHeight: 1, kernelWidth: 1, strideY: 1, strideX: 1, padY: 0, padX: 0 };

/** [N, C, H, W] -> [N, C]: the mean of each plane. */
export function globalAvgPool(x: Tensor, category: MemoryCategory = 'activation'): Tensor {
  const op = 'globalAvgPool';
  checkInput(op, x);
  checkValue(op, 'category', category, 'category');
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (h * w === 0) throw new ShapeError(`${op}: x ${formatShape(x.shape)} has empty planes`);
  const g = { inHeight: h, inWidth: w, outHeight: 1, outWidth: 1, ...NO_WINDOW };
  return run('globalAvgPoolForward', { x }, 'y', [n, c], g, n * c, category);
}

/** dL/dx [N, C, H, W] of globalAvgPool: dL/dy [N, C] / (H * W) on every element of each plane. */
export function globalAvgPoolBackward(dy: Tensor, inputShape: Shape, category: MemoryCategory = 'activation'): Tensor {
  const op = 'globalAvgPoolBackward';
  requireDtype(op, 'dy', dy, ['f32']);
  requireShape(op, 'inputShape', inputShape);
  checkValue(op, 'category', category, 'category');
  if (inputShape.length !== 4) throw new ShapeError(`${op}: inputShape must have rank 4, got ${formatShape(inputShape)} (dy ${formatShape(dy.shape)})`);
  const [n, c, h, w] = inputShape as [number, number, number, number];
  if (!shapesEqual(dy.shape, [n, c])) {
    throw new ShapeError(`${op}: dy ${formatShape(dy.shape)} and inputShape ${formatShape(inputShape)}: expected dy [${n}, ${c}]`);
  }
  const g = { inHeight: h, inWidth: w, outHeight: 1, outWidth: 1, ...NO_WINDOW };
  return run('globalAvgPoolBackward', { dy }, 'dx', inputShape, g, n * c * h * w, category);
}
