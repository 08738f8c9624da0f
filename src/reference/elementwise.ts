/** CPU references for src/ops/elementwise.ts (float64). */
import { broadcastShapes, broadcastStrides, contiguousStrides, sizeOf, type Shape } from '../gpu/shape.js';

type Values = ArrayLike<number>;

/** op(a, b) with NumPy broadcasting; returns the values in the broadcast shape. */
export function broadcastBinary(a: Values, aShape: Shape, b: Values, bShape: Shape, op: (x: number, y: number) => number): Float64Array {
  const shape = broadcastShapes(aShape, bShape);
  if (!shape) throw new Error(`reference: shapes [${aShape.join(', ')}] and [${bShape.join(', ')}] do not broadcast`);
  const aStrides = broadcastStrides(aShape, contiguousStrides(aShape), shape);
  const bStrides = broadcastStrides(bShape, contiguousStrides(bShape), shape);
  const out = new Float64Array(sizeOf(shape));
  for (let i = 0; i < out.length; i++) {
    let rest = i;
    let ia = 0;
    let ib = 0;
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      const coord = rest % shape[axis]!;
      rest = Math.floor(rest / shape[axis]!);
      ia += coord * aStrides[axis]!;
      ib += coord * bStrides[axis]!;
    }
    out[i] = op(a[ia]!, b[ib]!);
  }
  return out;
}

export function map(x: Values, f: (v: number) => number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]!);
  return out;
}

/**
 * erf to about 1e-13: its Taylor series for |x| < 3, and erfc's continued fraction beyond
 * (where the series would cancel badly).
 */
export function erf(x: number): number {
  const z = Math.abs(x);
  let result: number;
  if (z < 3) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 200; n++) {
      term *= (-z * z) / n;
      const contribution = term / (2 * n + 1);
      sum += contribution;
      if (Math.abs(contribution) < 1e-17 * Math.abs(sum)) break;
    }
    result = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    result = 1 - erfcLarge(z);
  }
  return x < 0 ? -result : result;
}

/** erfc(z) for z >= 3 by its continued fraction, evaluated from the tail. */
function erfcLarge(z: number): number {
  let fraction = 0;
  for (let k = 60; k >= 1; k--) fraction = k / 2 / (z + fraction);
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + fraction);
}

/** Standard normal CDF. */
export function normalCdf(x: number): number {
  return x < -3 * Math.SQRT2 ? 0.5 * erfcLarge(-x / Math.SQRT2) : 0.5 * (1 + erf(x / Math.SQRT2));
}

export function relu(x: Values): Float64Array {
  return map(x, (v) => Math.max(v, 0));
}

export function gelu(x: Values): Float64Array {
  return map(x, (v) => v * normalCdf(v));
}

export function reluBackward(dy: Values, x: Values): Float64Array {
  return map(x, (v) => v).map((v, i) => (v > 0 ? dy[i]! : 0));
}

/** gelu'(x) = Phi(x) + x phi(x). */
export function geluBackward(dy: Values, x: Values): Float64Array {
  return map(x, (v) => v).map((v, i) => dy[i]! * (normalCdf(v) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI)));
}

export function tanh(x: Values): Float64Array {
  return Float64Array.from(x, (v) => Math.tanh(v));
}

/** tanh'(x) = 1 - tanh(x)^2, from the forward output y. */
export function tanhBackward(dy: Values, y: Values): Float64Array {
  return Float64Array.from(dy, (g, i) => g * (1 - y[i]! * y[i]!));
}

/** LeakyReLU: x for x > 0, else slope * x. */
export function leakyRelu(x: Values, slope: number): Float64Array {
  return map(x, (v) => (v > 0 ? v : slope * v));
}

/** leaky'(x) = 1 for x > 0, else the slope. */
export function leakyReluBackward(dy: Values, x: Values, slope: number): Float64Array {
  return Float64Array.from(dy, (g, i) => (x[i]! > 0 ? g : slope * g));
}
