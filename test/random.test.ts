import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import { bernoulli, normal, RandomStream, randomBits, uniform, wordsConsumed } from '../src/ops/random.js';
import * as ref from '../src/reference/random.js';
import { testDevice } from './helpers/device.js';
import { expectClose } from './helpers/numeric.js';

const device = await testDevice();

const SIZES = [1, 3, 17, 65, 1000];
// Aligned and misaligned offsets, one whose blocks carry from the low counter word into the
// high one (block 2^32 - 1 -> 2^32), and one far along the stream.
const OFFSETS = [0, 1, 2, 3, 5, 4 * (2 ** 32 - 1) - 3, 2 ** 40 + 7];
const SEED: ref.Seed = [0x9e3779b9, 0x7f4a7c15];

// Normals go through f32 polynomials for ln and cos (shaders/random.wgsl), so they are compared
// within a bound: NORMAL_ULPS f32 ulps of the exact (float64) value. Measured over 8 x 2^20
// standard normals: at most 4.20 ulp (5.9e-7 absolute) on lavapipe, 4.30 ulp (6.8e-7
// absolute) on an NVIDIA H200 (Vulkan, driver 580.159).
const NORMAL_ULPS = 6;

/** The spacing of f32 values at |x| (the subnormal spacing at 0). */
function f32Ulp(x: number): number {
  const a = Math.abs(Math.fround(x));
  return a < 2 ** -126 ? 2 ** -149 : 2 ** (Math.floor(Math.log2(a)) - 23);
}

/** Largest |actual - expected| in f32 ulps of expected. */
function worstUlps(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / f32Ulp(expected[i]!));
  return worst;
}

const hex = (words: ArrayLike<number>) => Array.from(words, (w) => w.toString(16).padStart(8, '0')).join(' ');

/** Bit-exact comparison of two arrays, reporting the first difference. */
function expectSameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const a = new Float32Array(Array.from(actual));
  const e = new Float32Array(Array.from(expected));
  const ab = new Uint32Array(a.buffer);
  const eb = new Uint32Array(e.buffer);
  for (let i = 0; i < eb.length; i++) {
    if (ab[i] !== eb[i]) expect.fail(`${what}: element ${i} is ${a[i]}, expected ${e[i]}`);
  }
}

describe('Philox4x32-10 reference', () => {
  // Random123 1.14, tests/kat_vectors, the three "philox4x32 10" lines: counter, key -> output.
  it.each([
    [[0, 0, 0, 0], [0, 0], '6627e8d5 e169c58d bc57ac4c 9b00dbd8'],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], '408f276d 41c83b0e a20bc7c6 6d5451fd'],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], 'd16cfe09 94fdcceb 5001e420 24126ea1'],
  ] as const)('matches the Random123 known-answer vector for counter %j key %j', (counter, key, expected) => {
    expect(hex(ref.philox4x32(counter, key))).toBe(expected);
  });

  it('mulhilo32 matches BigInt arithmetic', () => {
    const values = [0, 1, 0xffff, 0x10000, 0xffffffff, 0xd2511f53, 0xcd9e8d57, 0x80000000, 0x12345678, 0xdeadbeef];
    for (const a of values) {
      for (const b of values) {
        const product = BigInt(a) * BigInt(b);
        expect(ref.mulhilo32(a, b)).toEqual([Number(product >> 32n), Number(product & 0xffffffffn)]);
      }
    }
  });

  it('lays the stream out as documented: word w = component w mod 4 of block floor(w / 4)', () => {
    const words = ref.randomBits(8, { seed: 0, offset: 2 });
    const block0 = ref.philox4x32([0, 0, 0, 0], [0, 0]);
    const block1 = ref.philox4x32([1, 0, 0, 0], [0, 0]);
    expect(Array.from(words)).toEqual([...block0.slice(2), ...block1, ...ref.philox4x32([2, 0, 0, 0], [0, 0]).slice(0, 2)]);
    // Block 2^32 has counter (0, 1, 0, 0).
    expect(Array.from(ref.randomBits(4, { seed: 0, offset: 4 * 2 ** 32 }))).toEqual(ref.philox4x32([0, 1, 0, 0], [0, 0]));
  });

  it('takes a seed as a safe integer, [lo, hi] words or a bigint, the same key each way', () => {
    const fromNumber = ref.randomBits(5, { seed: 2 ** 33 + 5 });
    expect(ref.randomBits(5, { seed: [5, 2] })).toEqual(fromNumber);
    expect(ref.randomBits(5, { seed: 0x200000005n })).toEqual(fromNumber);
    expect(() => ref.seedWords(-1)).toThrow(RangeError);
    expect(() => ref.seedWords(1.5)).toThrow(RangeError);
    expect(() => ref.seedWords([2 ** 32, 0])).toThrow(RangeError);
    expect(() => ref.seedWords(1n << 64n)).toThrow(RangeError);
  });
});

describe('GPU fills against the reference', () => {
  it.each(SIZES)('randomBits, uniform and bernoulli are bit-exact on %i elements at every offset', async (n) => {
    for (const offset of OFFSETS) {
      const bits = randomBits(device, [n], { seed: SEED, offset });
      const unit = uniform(device, [n], { seed: SEED, offset });
      const mask = bernoulli(device, [n], { seed: SEED, offset, p: 0.3 });
      const maskBits = bernoulli(device, [n], { seed: SEED, offset, p: 0.7, dtype: 'u32' });
      const what = `n ${n} offset ${offset}`;
      expect(Array.from(await bits.read()), `bits, ${what}`).toEqual(Array.from(ref.randomBits(n, { seed: SEED, offset })));
      expectSameBits(await unit.read(), ref.uniform(n, { seed: SEED, offset }), `uniform, ${what}`);
      expectSameBits(await mask.read(), ref.bernoulli(n, { seed: SEED, offset, p: 0.3 }), `bernoulli f32, ${what}`);
      expect(maskBits.dtype).toBe('u32');
      expect(Array.from(await maskBits.read()), `bernoulli u32, ${what}`).toEqual(Array.from(ref.bernoulli(n, { seed: SEED, offset, p: 0.7 })));
      for (const t of [bits, unit, mask, maskBits]) t.dispose();
    }
  });

  it('fills a multi-dimensional shape in row-major stream order, and a shape with no elements', async () => {
    const t = uniform(device, [3, 5, 7], { seed: 11, offset: 9 });
    expectSameBits(await t.read(), ref.uniform(105, { seed: 11, offset: 9 }), 'uniform [3, 5, 7]');
    const before = device.dispatchCount;
    const empty = normal(device, [4, 0], { seed: 11 });
    expect(empty.size).toBe(0);
    expect(device.dispatchCount).toBe(before);
    t.dispose();
    empty.dispose();
  });

  it('bernoulli is exact at the edges of p: never at 0, always at 1, and at a p between grid points', async () => {
    const n = 4099;
    for (const p of [0, 1, 2 ** -24, 0.5 + 2 ** -30, 1 - 2 ** -25]) {
      const mask = bernoulli(device, [n], { seed: 3, offset: 1, p });
      expectSameBits(await mask.read(), ref.bernoulli(n, { seed: 3, offset: 1, p }), `p = ${p}`);
      mask.dispose();
    }
    const none = bernoulli(device, [n], { seed: 3, p: 0 });
    const all = bernoulli(device, [n], { seed: 3, p: 1 });
    expect(Array.from(await none.read()).every((v) => v === 0)).toBe(true);
    expect(Array.from(await all.read()).every((v) => v === 1)).toBe(true);
    none.dispose();
    all.dispose();
  });

  it('uniform on [low, high) is the affine map of the unit fill, to f32 rounding', async () => {
    const n = 1000;
    const t = uniform(device, [n], { seed: 5, offset: 3, low: -2.5, high: 7 });
    const values = await t.read();
    expectClose(values, ref.uniform(n, { seed: 5, offset: 3, low: -2.5, high: 7 }), { rtol: 2 ** -23, atol: 9.5 * 2 ** -24 });
    expect(Math.min(...values)).toBeGreaterThanOrEqual(-2.5);
    expect(Math.max(...values)).toBeLessThan(7);
    t.dispose();
  });

  it.each([...SIZES, 1 << 18])('normal agrees with the reference within a few ulp on %i elements', async (n) => {
    for (const offset of [0, 1, 2, 3, 4 * (2 ** 32 - 1) - 1]) {
      const t = normal(device, [n], { seed: SEED, offset });
      const gpu = await t.read();
      const expected = ref.normal(n, { seed: SEED, offset });
      expect(worstUlps(gpu, expected), `n ${n} offset ${offset}: error in f32 ulps`).toBeLessThanOrEqual(NORMAL_ULPS);
      t.dispose();
    }
  });

  it('normal applies mean and std', async () => {
    const n = 1000;
    const t = normal(device, [n], { seed: 8, offset: 6, mean: 3, std: 0.25 });
    // Plus the rounding of std * z and of mean + std * z.
    expect(worstUlps(await t.read(), ref.normal(n, { seed: 8, offset: 6, mean: 3, std: 0.25 }))).toBeLessThanOrEqual(NORMAL_ULPS + 1);
    t.dispose();
  });
});

describe('determinism and stream continuation', () => {
  it('the same seed and offset give the same values on every run; another seed does not', async () => {
    const a = normal(device, [1000], { seed: 42, offset: 7 });
    const b = normal(device, [1000], { seed: 42, offset: 7 });
    const c = normal(device, [1000], { seed: 43, offset: 7 });
    const [va, vb, vc] = [await a.read(), await b.read(), await c.read()];
    expectSameBits(vb, va, 'second run');
    expect(va.some((v, i) => v !== vc[i])).toBe(true);
    for (const t of [a, b, c]) t.dispose();
  });

  it.each([
    ['bits', (offset: number, n: number) => randomBits(device, [n], { seed: 77, offset })],
    ['uniform', (offset: number, n: number) => uniform(device, [n], { seed: 77, offset })],
    ['bernoulli', (offset: number, n: number) => bernoulli(device, [n], { seed: 77, offset, p: 0.5 })],
    ['normal', (offset: number, n: number) => normal(device, [n], { seed: 77, offset })],
  ] as const)('%s: a fill at offset k continues the fill at offset 0', async (kind, fill) => {
    const whole = await fill(0, 20).read();
    const first = await fill(0, 10).read();
    const rest = await fill(wordsConsumed(kind, 10), 10).read();
    expectSameBits(first, whole.slice(0, 10), 'first 10');
    expectSameBits(rest, whole.slice(10), 'last 10');
  });

  it('RandomStream advances its offset by the words each fill consumed', async () => {
    const stream = new RandomStream(device, 9, 3);
    const u = stream.uniform([10]);
    const z = stream.normal([2, 3]);
    const m = stream.bernoulli([5], { p: 0.25 });
    expect(stream.offset).toBe(3 + 10 + 12 + 5);
    expectSameBits(await u.read(), ref.uniform(10, { seed: 9, offset: 3 }), 'uniform');
    expect(worstUlps(await z.read(), ref.normal(6, { seed: 9, offset: 13 }))).toBeLessThanOrEqual(NORMAL_ULPS);
    expectSameBits(await m.read(), ref.bernoulli(5, { seed: 9, offset: 25, p: 0.25 }), 'bernoulli');
    for (const t of [u, z, m]) t.dispose();
  });
});

describe('distributions', () => {
  const N = 1 << 20;

  it('normal: mean, variance and tails within sampling error', async () => {
    const t = normal(device, [N], { seed: 2024 });
    const z = await t.read();
    t.dispose();
    let sum = 0;
    let sumSq = 0;
    let beyond2 = 0;
    let beyond3 = 0;
    let largest = 0;
    for (const v of z) {
      largest = Math.max(largest, Math.abs(v));
      sum += v;
      sumSq += v * v;
      if (Math.abs(v) > 2) beyond2++;
      if (Math.abs(v) > 3) beyond3++;
    }
    const mean = sum / N;
    const variance = sumSq / N - mean * mean;
    // Five standard errors: mean 1/sqrt(N), variance sqrt(2/N) for a normal.
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(N));
    expect(Math.abs(variance - 1)).toBeLessThan(5 * Math.sqrt(2 / N));
    for (const [count, p] of [[beyond2, 0.04550026], [beyond3, 0.0026998]] as const) {
      expect(Math.abs(count / N - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N));
    }
    // The cosine branch of Box-Muller on u1 >= 2^-24 cannot pass sqrt(48 ln 2).
    expect(largest).toBeLessThanOrEqual(Math.sqrt(48 * Math.LN2) + 1e-5);
  });

  it.each([0.01, 0.1, 0.5, 0.9])('bernoulli(%f): the fraction of ones is p within sampling error', async (p) => {
    const t = bernoulli(device, [N], { seed: 99, offset: 12345, p });
    const values = await t.read();
    t.dispose();
    let ones = 0;
    for (const v of values) ones += v;
    expect(Math.abs(ones / N - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N));
  });

  it('uniform: mean and variance of U[0, 1) within sampling error', async () => {
    const t = uniform(device, [N], { seed: 5 });
    const u = await t.read();
    t.dispose();
    let sum = 0;
    let sumSq = 0;
    for (const v of u) {
      sum += v;
      sumSq += v * v;
    }
    const mean = sum / N;
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / N));
    expect(Math.abs(sumSq / N - mean * mean - 1 / 12)).toBeLessThan(5 * Math.sqrt(1 / 180 / N));
  });
});

describe('bad input', () => {
  it('rejects bad shapes, seeds, offsets and probabilities before any dispatch', () => {
    const before = device.dispatchCount;
    expect(() => uniform(device, [2, -1], { seed: 1 })).toThrow(ShapeError);
    expect(() => uniform(device, [2, -1], { seed: 1 })).toThrow(/uniform: shape \[2, -1\]/);
    expect(() => normal(device, [2.5], { seed: 1 })).toThrow(/normal: shape \[2.5\]/);
    expect(() => randomBits(device, [4], { seed: -3 })).toThrow(RangeError);
    expect(() => randomBits(device, [4], { seed: 1, offset: 0.5 })).toThrow(RangeError);
    expect(() => bernoulli(device, [4], { seed: 1, p: 1.5 })).toThrow(/p = 1.5/);
    expect(() => bernoulli(device, [4], { seed: 1, p: Number.NaN })).toThrow(RangeError);
    expect(() => normal(device, [4], { seed: 1, std: Infinity })).toThrow(RangeError);
    expect(device.dispatchCount).toBe(before);
  });
});
