/**
 * CPU references for src/ops/pool2d.ts (float64, direct loops). Activations are NCHW.
 * Max pooling ignores padded positions (PyTorch pads with -inf); average pooling counts them
 * (count_include_pad = true, PyTorch's default), so every window divides by kH * kW.
 */
import { sizeOf, type Shape } from '../gpu/shape.js';

type Values = ArrayLike<number>;

export interface Pool2dReferenceOptions {
  /** [kH, kW] */
  kernel: readonly [number, number];
  /** [strideY, strideX]; defaults to the kernel, as PyTorch. */
  stride?: readonly [number, number];
  /** [padY, padX] */
  padding?: readonly [number, number];
}

/** [N, C, Ho, Wo] of pooling x [N, C, H, W]. */
export function pool2dOutputShape(xShape: Shape, options: Pool2dReferenceOptions): [number, number, number, number] {
  const [kh, kw] = options.kernel;
  const [sy, sx] = options.stride ?? options.kernel;
  const [py, px] = options.padding ?? [0, 0];
  const [n, c, h, w] = xShape as [number, number, number, number];
  return [n, c, Math.floor((h + 2 * py - kh) / sy) + 1, Math.floor((w + 2 * px - kw) / sx) + 1];
}

/**
 * Calls visit(yIndex, xIndices) for every output element with the input indices of its window
 * that are inside the input, in row-major window order.
 */
function forEachWindow(xShape: Shape, options: Pool2dReferenceOptions, visit: (yi: number, window: number[]) => void): void {
  const [kh, kw] = options.kernel;
  const [sy, sx] = options.stride ?? options.kernel;
  const [py, px] = options.padding ?? [0, 0];
  const [batch, channels, h, w] = xShape as [number, number, number, number];
  const [, , ho, wo] = pool2dOutputShape(xShape, options);
  for (let plane = 0; plane < batch * channels; plane++) {
    for (let oh = 0; oh < ho; oh++) {
      for (let ow = 0; ow < wo; ow++) {
        const window: number[] = [];
        for (let i = 0; i < kh; i++) {
          const ih = oh * sy - py + i;
          if (ih < 0 || ih >= h) continue;
          for (let j = 0; j < kw; j++) {
            const iw = ow * sx - px + j;
            if (iw >= 0 && iw < w) window.push((plane * h + ih) * w + iw);
          }
        }
        visit((plane * ho + oh) * wo + ow, window);
      }
    }
  }
}

/** The first index of the window holding its largest value (strictly greater replaces). */
function firstArgmax(x: Values, window: readonly number[]): number {
  let best = window[0]!;
  for (const i of window) if (x[i]! > x[best]!) best = i;
  return best;
}

export function maxPool2d(x: Values, xShape: Shape, options: Pool2dReferenceOptions): Float64Array {
  const y = new Float64Array(sizeOf(pool2dOutputShape(xShape, options)));
  forEachWindow(xShape, options, (yi, window) => {
    y[yi] = x[firstArgmax(x, window)]!;
  });
  return y;
}

/** Each window's gradient goes to its first maximum; ties send nothing to the later maxima. */
export function maxPool2dBackward(dy: Values, x: Values, xShape: Shape, options: Pool2dReferenceOptions): Float64Array {
  const dx = new Float64Array(sizeOf(xShape));
  forEachWindow(xShape, options, (yi, window) => {
    const i = firstArgmax(x, window);
    dx[i] = dx[i]! + dy[yi]!;
  });
  return dx;
}

export function avgPool2d(x: Values, xShape: Shape, options: Pool2dReferenceOptions): Float64Array {
  const [kh, kw] = options.kernel;
  const y = new Float64Array(sizeOf(pool2dOutputShape(xShape, options)));
  forEachWindow(xShape, options, (yi, window) => {
    let sum = 0;
    for (const i of window) sum += x[i]!;
    y[yi] = sum / (kh * kw);
  });
  return y;
}

/** Each input element receives dy / (kH * kW) from every window that contains it. */
export function avgPool2dBackward(dy: Values, xShape: Shape, options: Pool2dReferenceOptions): Float64Array {
  const [kh, kw] = options.kernel;
  const dx = new Float64Array(sizeOf(xShape));
  forEachWindow(xShape, options, (yi, window) => {
    for (const i of window) dx[i] = dx[i]! + dy[yi]! / (kh * kw);
  });
  return dx;
}

/** [N, C, H, W] -> [N, C]: the mean of each plane. */
export function globalAvgPool(x: Values, xShape: Shape): Float64Array {
  const [n, c, h, w] = xShape as [number, number, number, number];
  const y = new Float64Array(n * c);
  for (let plane = 0; plane < n * c; plane++) {
    let sum = 0;
    for (let p = 0; p < h * w; p++) sum += x[plane * h * w + p]!;
    y[plane] = sum / (h * w);
  }
  return y;
}

export function globalAvgPoolBackward(dy: Values, xShape: Shape): Float64Array {
  const [, , h, w] = xShape as [number, number, number, number];
  const dx = new Float64Array(sizeOf(xShape));
  for (let i = 0; i < dx.length; i++) dx[i] = dy[Math.floor(i / (h * w))]! / (h * w);
  return dx;
}

/**
 * Adaptive average pooling of x [N, C, H, W] to [N, C, oh, ow] (PyTorch's F.adaptive_avg_pool2d):
 * cell (a, b) averages rows [floor(a H / oh), ceil((a + 1) H / oh)) and the same for columns.
 */
export function adaptiveAvgPool2d(x: Values, xShape: Shape, [oh, ow]: readonly [number, number]): Float64Array {
  const [n, c, h, w] = xShape as [number, number, number, number];
  const y = new Float64Array(n * c * oh * ow);
  for (let plane = 0; plane < n * c; plane++) {
    for (let a = 0; a < oh; a++) {
      const y0 = Math.floor((a * h) / oh);
      const y1 = Math.ceil(((a + 1) * h) / oh);
      for (let b = 0; b < ow; b++) {
        const x0 = Math.floor((b * w) / ow);
        const x1 = Math.ceil(((b + 1) * w) / ow);
        let sum = 0;
        for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) sum += x[plane * h * w + yy * w + xx]!;
        y[plane * oh * ow + a * ow + b] = sum / ((y1 - y0) * (x1 - x0));
      }
    }
  }
  return y;
}
