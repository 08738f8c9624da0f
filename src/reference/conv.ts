/**
 * CPU references for src/ops/conv.ts (float64, direct loops). Layout: activations NCHW,
 * weights [Cout, Cin, kH, kW] as PyTorch. Each derivative rule is written as the sum it is,
 * not as a transposed convolution, so it can be read against the forward rule.
 */
import { sizeOf, type Shape } from '../gpu/shape.js';

type Values = ArrayLike<number>;

export interface Conv2dReferenceOptions {
  /** [strideY, strideX] */
  stride?: readonly [number, number];
  /** [padY, padX]: zeros added on both sides. */
  padding?: readonly [number, number];
}

/** [N, Cout, Ho, Wo] of a convolution of x [N, Cin, H, W] with w [Cout, Cin, kH, kW]. */
export function conv2dOutputShape(xShape: Shape, wShape: Shape, options: Conv2dReferenceOptions = {}): [number, number, number, number] {
  const [sy, sx] = options.stride ?? [1, 1];
  const [py, px] = options.padding ?? [0, 0];
  const [n, , h, w] = xShape as [number, number, number, number];
  const [cout, , kh, kw] = wShape as [number, number, number, number];
  return [n, cout, Math.floor((h + 2 * py - kh) / sy) + 1, Math.floor((w + 2 * px - kw) / sx) + 1];
}

/**
 * Calls visit(xIndex, wTapIndex, yIndex) for every (input element, weight, output element)
 * triple that the forward sum y[n, co, oh, ow] += w[co, ci, kh, kw] * x[n, ci, ih, iw]
 * multiplies, skipping taps that land in the zero padding. All four rules below are this one
 * loop with a different accumulation.
 */
function forEachTap(xShape: Shape, wShape: Shape, options: Conv2dReferenceOptions, visit: (xi: number, wi: number, yi: number) => void): void {
  const [sy, sx] = options.stride ?? [1, 1];
  const [py, px] = options.padding ?? [0, 0];
  const [batch, cin, h, w] = xShape as [number, number, number, number];
  const [cout, , kh, kw] = wShape as [number, number, number, number];
  const [, , ho, wo] = conv2dOutputShape(xShape, wShape, options);
  for (let n = 0; n < batch; n++) {
    for (let co = 0; co < cout; co++) {
      for (let oh = 0; oh < ho; oh++) {
        for (let ow = 0; ow < wo; ow++) {
          const yi = ((n * cout + co) * ho + oh) * wo + ow;
          for (let ci = 0; ci < cin; ci++) {
            for (let i = 0; i < kh; i++) {
              const ih = oh * sy - py + i;
              if (ih < 0 || ih >= h) continue;
              for (let j = 0; j < kw; j++) {
                const iw = ow * sx - px + j;
                if (iw < 0 || iw >= w) continue;
                visit(((n * cin + ci) * h + ih) * w + iw, ((co * cin + ci) * kh + i) * kw + j, yi);
              }
            }
          }
        }
      }
    }
  }
}

/** y = conv2d(x, w) + bias, optionally followed by relu. */
export function conv2d(
  x: Values,
  xShape: Shape,
  w: Values,
  wShape: Shape,
  options: Conv2dReferenceOptions & { bias?: Values; activation?: 'none' | 'relu' } = {},
): Float64Array {
  const yShape = conv2dOutputShape(xShape, wShape, options);
  const y = new Float64Array(sizeOf(yShape));
  forEachTap(xShape, wShape, options, (xi, wi, yi) => {
    y[yi] = y[yi]! + x[xi]! * w[wi]!;
  });
  const [, cout, ho, wo] = yShape;
  if (options.bias) {
    for (let i = 0; i < y.length; i++) y[i] = y[i]! + options.bias[Math.floor(i / (ho * wo)) % cout]!;
  }
  if (options.activation === 'relu') for (let i = 0; i < y.length; i++) y[i] = Math.max(y[i]!, 0);
  return y;
}

/** dL/dx[n, ci, ih, iw] = sum over the outputs it feeds of w[co, ci, kh, kw] * dy[n, co, oh, ow]. */
export function conv2dBackwardInput(dy: Values, w: Values, xShape: Shape, wShape: Shape, options: Conv2dReferenceOptions = {}): Float64Array {
  const dx = new Float64Array(sizeOf(xShape));
  forEachTap(xShape, wShape, options, (xi, wi, yi) => {
    dx[xi] = dx[xi]! + w[wi]! * dy[yi]!;
  });
  return dx;
}

/** dL/dw[co, ci, kh, kw] = sum over n, oh, ow of x[n, ci, ih, iw] * dy[n, co, oh, ow]. */
export function conv2dBackwardWeight(dy: Values, x: Values, xShape: Shape, wShape: Shape, options: Conv2dReferenceOptions = {}): Float64Array {
  const dw = new Float64Array(sizeOf(wShape));
  forEachTap(xShape, wShape, options, (xi, wi, yi) => {
    dw[wi] = dw[wi]! + x[xi]! * dy[yi]!;
  });
  return dw;
}

/** dL/dbias[co] = sum over n, oh, ow of dy[n, co, oh, ow]. */
export function conv2dBackwardBias(dy: Values, dyShape: Shape): Float64Array {
  const [batch, cout, ho, wo] = dyShape as [number, number, number, number];
  const db = new Float64Array(cout);
  for (let n = 0; n < batch; n++) {
    for (let co = 0; co < cout; co++) {
      for (let p = 0; p < ho * wo; p++) db[co] = db[co]! + dy[(n * cout + co) * ho * wo + p]!;
    }
  }
  return db;
}
