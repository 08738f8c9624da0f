// What the kernel families and the suite (bench/kernels/suite.mjs) share, not a family itself:
// seeded input data, the median of a run's timings, and a rate from an amount of work and a time.
// Host-neutral and free of the library: it runs in Node and in the benchmark's browser page.

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values) {
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** `n` values in [-1, 1), the same for the same `seed` (a linear congruential generator). */
export function randomData(n, seed) {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Work per millisecond in G/s: GFLOPS from FLOPs, GB/s from bytes. */
export const perSecond = (amount, ms) => amount / (ms * 1e6);
