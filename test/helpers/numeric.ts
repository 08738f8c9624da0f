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

/** Bit-exact comparison of f32 values (so -0 and 0 differ), reporting the first difference. */
export function expectSameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const a = new Float32Array(Array.from(actual));
  const e = new Float32Array(Array.from(expected));
  const ab = new Uint32Array(a.buffer);
  const eb = new Uint32Array(e.buffer);
  for (let i = 0; i < eb.length; i++) {
    if (ab[i] !== eb[i]) expect.fail(`${what}: element ${i} is ${a[i]}, expected ${e[i]}`);
  }
}

/** The spacing of f32 values at |x| (the subnormal spacing at 0). */
export function f32Ulp(x: number): number {
  const a = Math.abs(Math.fround(x));
  return a < 2 ** -126 ? 2 ** -149 : 2 ** (Math.floor(Math.log2(a)) - 23);
}

/** Largest |actual - expected| in f32 ulps of expected. */
export function worstUlps(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / f32Ulp(expected[i]!));
  return worst;
}

/**
 * How a result is held to its reference: elementwise tolerances (expectClose), a bound on the
 * normalized squared error (expectNormalizedClose), a bound on the error in f32 ulps of the
 * reference (worstUlps), 'exact' (toEqual on the numbers) or 'bits' (the same f32 bit patterns).
 */
export type Check = Tolerance | { normalizedError: number } | { ulps: number } | 'exact' | 'bits';

/**
 * The tolerance rule for reductions (docs/architecture.md, "Kernels and their tests"): where each
 * output element sums at most 256 terms, rtol 1e-4 and atol 1e-5 elementwise; beyond, a normalized
 * squared error of at most 1e-7.
 */
export function reductionCheck(terms: number): Check {
  return terms <= 256 ? { rtol: 1e-4, atol: 1e-5 } : { normalizedError: 1e-7 };
}

/** Holds `actual` to `expected` as `check` says (elementwise rtol 1e-4, atol 1e-5 by default). */
export function expectMatches(actual: ArrayLike<number>, expected: ArrayLike<number>, check: Check = {}, what = 'values'): void {
  if (check === 'exact') {
    expect(Array.from(actual), what).toEqual(Array.from(expected));
  } else if (check === 'bits') {
    expectSameBits(actual, expected, what);
  } else if ('normalizedError' in check) {
    expectNormalizedClose(actual, expected, check.normalizedError, what);
  } else if ('ulps' in check) {
    expect(actual.length, `${what}: length`).toBe(expected.length);
    expect(worstUlps(actual, expected), `${what}: error in f32 ulps`).toBeLessThanOrEqual(check.ulps);
  } else {
    expectClose(actual, expected, check, what);
  }
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
