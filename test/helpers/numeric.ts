/** Deterministic random data and tolerance checks for kernel tests. */
import { expect } from 'vitest';

/** mulberry32: a small seeded generator, so every test input is reproducible. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [lo, hi). */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * next();
  return out;
}

/** Standard normal values (Box-Muller). */
export function normal(n: number, seed: number, scale = 1): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - next();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  }
  return out;
}

export interface Tolerance {
  rtol?: number;
  atol?: number;
}

/** Elementwise |a - e| <= atol + rtol |e|, reporting the worst element when it fails. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, { rtol = 1e-4, atol = 1e-5 }: Tolerance = {}, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (Number.isNaN(a) !== Number.isNaN(e) || excess > worstExcess || (Number.isNaN(excess) && !Number.isNaN(e))) {
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol}; ${expected.length} elements)`);
  }
}

/** sum (a - e)^2 / sum e^2: the check for long reductions, where elementwise tolerances do not scale. */
export function normalizedSquaredError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i]! - expected[i]!) ** 2;
    den += expected[i]! ** 2;
  }
  return den === 0 ? num : num / den;
}

export function expectNormalizedClose(actual: ArrayLike<number>, expected: ArrayLike<number>, limit = 1e-7, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const nse = normalizedSquaredError(actual, expected);
  expect(nse, `${what}: normalized squared error`).toBeLessThanOrEqual(limit);
}

/**
 * Central finite differences of a scalar function f at x, in float64: the independent check of
 * every analytic derivative rule.
 */
export function finiteDifferenceGradient(f: (x: Float64Array) => number, x: ArrayLike<number>, eps = 1e-6): Float64Array {
  const point = Float64Array.from(x);
  const grad = new Float64Array(point.length);
  for (let i = 0; i < point.length; i++) {
    const saved = point[i]!;
    point[i] = saved + eps;
    const up = f(point);
    point[i] = saved - eps;
    const down = f(point);
    point[i] = saved;
    grad[i] = (up - down) / (2 * eps);
  }
  return grad;
}

/** A fixed random direction for turning a tensor output into a scalar loss: L = sum(w * y). */
export function lossWeights(n: number, seed: number): Float64Array {
  return Float64Array.from(uniform(n, seed));
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
