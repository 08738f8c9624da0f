/**
 * The engine's random-number contract: the counter-based Philox stream that the GPU fills
 * (src/ops/random.ts, shaders/random.wgsl) produce bit for bit, and its evaluation on the CPU.
 * The hot path draws from it (initial weights, orthogonal projections), the float64 reference
 * (src/reference/random.ts) re-exports it, and the tests hold the kernels to it.
 *
 * The generator is Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy
 * as 1, 2, 3", SC 2011), with the constants of the Random123 distribution. It maps a 128-bit
 * counter and a 64-bit key to 128 random bits; nothing is stateful, so any element of any fill
 * can be computed on its own, on any adapter, and a random matrix can be regenerated instead of
 * stored.
 *
 * The stream (the contract the WGSL kernels meet bit for bit):
 *
 * - A fill is a function of `seed` (64 bits: the Philox key, as [lo, hi] u32 words, a safe
 *   integer, or a bigint) and `offset` (its position in the stream, counted in u32 words).
 * - Word w of the stream is component (w mod 4) of
 *     Philox4x32-10(key = (seedLo, seedHi), counter = (lo32(b), hi32(b), 0, 0)), b = floor(w / 4).
 * - randomBits, uniform and bernoulli: element i takes word (offset + i); a fill of n elements
 *   consumes n words.
 * - normal: element i takes words (offset + 2i) and (offset + 2i + 1); a fill of n elements
 *   consumes 2n words.
 * - uniform float from a word: (word >> 8) * 2^-24, in [0, 1). 24 bits is all an f32 holds in
 *   [0.5, 1), so every value is exact in f32 and GPU and CPU agree to the bit.
 * - uniform(low, high): low + (high - low) * u.
 * - bernoulli(p): 1 where u < p, else 0. Computed as (word >> 8) < ceil(p * 2^24), which is the
 *   same test on the 2^-24 grid and needs no rounding of p to f32.
 * - normal(mean, std): Box-Muller on u1 = ((word0 >> 8) + 1) * 2^-24 in (0, 1] (never 0, so the
 *   log is finite) and u2 = (word1 >> 8) * 2^-24 in [0, 1):
 *     z = sqrt(-2 ln u1) * cos(2 pi u2),   value = mean + std * z.
 *   (cos(2 pi u2) is evaluated with its quadrant split off exactly in turns: see cosTurns.)
 *   Only the cosine branch is used (one element per word pair), so |z| <= sqrt(48 ln 2) ~ 5.77.
 *   This file computes z in float64 with Math.log and Math.cos; the kernel evaluates ln and
 *   cos with its own f32 polynomials (WGSL's builtins are too loosely specified, see
 *   shaders/random.wgsl), within a few ulp of this value.
 */

/** A 64-bit seed: [lo, hi] u32 words, a non-negative safe integer, or a bigint below 2^64. */
export type Seed = number | bigint | readonly [number, number];

/** Philox4x32 multipliers and Weyl key increments (Random123, philox.h). */
export const PHILOX_M0 = 0xd2511f53;
export const PHILOX_M1 = 0xcd9e8d57;
export const PHILOX_W0 = 0x9e3779b9;
export const PHILOX_W1 = 0xbb67ae85;
export const PHILOX_ROUNDS = 10;

/** Words consumed per element by each fill (how far a caller advances its offset). */
export const WORDS_PER_ELEMENT = { bits: 1, uniform: 1, bernoulli: 1, normal: 2 } as const;
export type RandomKind = keyof typeof WORDS_PER_ELEMENT;

const TWO_POW_32 = 2 ** 32;
const TWO_POW_NEG_24 = 2 ** -24;

/** The seed as the two u32 words of the Philox key. Throws on anything that is not 64 bits. */
export function seedWords(seed: Seed): [number, number] {
  if (typeof seed === 'bigint') {
    if (seed < 0n || seed >= 1n << 64n) throw new RangeError(`random seed ${seed} is outside [0, 2^64)`);
    return [Number(seed & 0xffffffffn), Number(seed >> 32n)];
  }
  if (typeof seed === 'number') {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`random seed ${seed} is not a non-negative safe integer`);
    return [seed % TWO_POW_32, Math.floor(seed / TWO_POW_32)];
  }
  const [lo, hi] = seed;
  for (const w of [lo, hi]) {
    if (!Number.isInteger(w) || w < 0 || w >= TWO_POW_32) throw new RangeError(`random seed [${lo}, ${hi}]: ${w} is not a u32`);
  }
  return [lo, hi];
}

/** Checks a stream offset (in u32 words). */
export function checkOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`random offset ${offset} is not a non-negative safe integer`);
}

/** The high and low 32 bits of the 64-bit product a * b, from 16-bit halves (exact in doubles). */
export function mulhilo32(a: number, b: number): [hi: number, lo: number] {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  const middle = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const hi = (p11 + (p01 >>> 16) + (p10 >>> 16) + (middle >>> 16)) >>> 0;
  const lo = Math.imul(a, b) >>> 0;
  return [hi, lo];
}

/** Philox4x32-10 of one 128-bit counter under a 64-bit key (Random123's philox4x32_R(10, ...)). */
export function philox4x32(counter: readonly [number, number, number, number], key: readonly [number, number]): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter;
  let [k0, k1] = key;
  for (let round = 0; round < PHILOX_ROUNDS; round++) {
    if (round > 0) {
      k0 = (k0 + PHILOX_W0) >>> 0;
      k1 = (k1 + PHILOX_W1) >>> 0;
    }
    const [hi0, lo0] = mulhilo32(PHILOX_M0, c0);
    const [hi1, lo1] = mulhilo32(PHILOX_M1, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

/** `count` consecutive words of the stream, starting at word `offset`. */
export function randomBits(count: number, { seed, offset = 0 }: { seed: Seed; offset?: number }): Uint32Array {
  const key = seedWords(seed);
  checkOffset(offset);
  const out = new Uint32Array(count);
  let block = -1;
  let words: number[] = [];
  for (let i = 0; i < count; i++) {
    const w = offset + i;
    const b = Math.floor(w / 4);
    if (b !== block) {
      block = b;
      words = philox4x32([b % TWO_POW_32, Math.floor(b / TWO_POW_32), 0, 0], key);
    }
    out[i] = words[w % 4]!;
  }
  return out;
}

/** The uniform float in [0, 1) a word stands for (exact in f32). */
export function wordToUnit(word: number): number {
  return (word >>> 8) * TWO_POW_NEG_24;
}

/** Uniform values in [low, high): low + (high - low) * u. */
export function uniform(count: number, { seed, offset = 0, low = 0, high = 1 }: { seed: Seed; offset?: number; low?: number; high?: number }): Float64Array {
  const words = randomBits(count, { seed, offset });
  return Float64Array.from(words, (w) => low + (high - low) * wordToUnit(w));
}

/** The integer threshold t with  u < p  <=>  (word >> 8) < t,  for u on the 2^-24 grid. */
export function bernoulliThreshold(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`bernoulli: p = ${p} is outside [0, 1]`);
  return Math.ceil(p * 2 ** 24);
}

/** 1 with probability p (where u < p), else 0. */
export function bernoulli(count: number, { seed, offset = 0, p }: { seed: Seed; offset?: number; p: number }): Float64Array {
  const threshold = bernoulliThreshold(p);
  const words = randomBits(count, { seed, offset });
  return Float64Array.from(words, (w) => ((w >>> 8) < threshold ? 1 : 0));
}

/** Normal values by Box-Muller, two words per element (see the stream definition above). */
export function normal(count: number, { seed, offset = 0, mean = 0, std = 1 }: { seed: Seed; offset?: number; mean?: number; std?: number }): Float64Array {
  const words = randomBits(2 * count, { seed, offset });
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const u1 = ((words[2 * i]! >>> 8) + 1) * TWO_POW_NEG_24;
    const u2 = wordToUnit(words[2 * i + 1]!);
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u1)) * cosTurns(u2);
  }
  return out;
}

/**
 * cos(2 pi u), with the quadrant taken off in turns, where it is exact: so that cos at a
 * quarter turn is 0, where Math.cos(2 * Math.PI * 0.25) would give 6e-17.
 */
export function cosTurns(u: number): number {
  const quadrant = Math.round(4 * u);
  const angle = 2 * Math.PI * (u - quadrant / 4);
  switch (((quadrant % 4) + 4) % 4) {
    case 0:
      return Math.cos(angle);
    case 1:
      return -Math.sin(angle);
    case 2:
      return -Math.cos(angle);
    default:
      return Math.sin(angle);
  }
}
