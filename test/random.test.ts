import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import { bernoulli, normal, RandomStream, randomBits, uniform, wordsConsumed } from '../src/ops/random.js';
import * as ref from '../src/reference/random.js';
import { testDevice } from './helpers/device.js';
import { expectSameBits, worstUlps } from './helpers/numeric.js';
import { expectOp, runOp, within } from './helpers/ops.js';

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

const hex = (words: ArrayLike<number>) => Array.from(words, (w) => w.toString(16).padStart(8, '0')).join(' ');

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
      const fills = () => ({
        bits: randomBits(device, [n], { seed: SEED, offset }),
        uniform: uniform(device, [n], { seed: SEED, offset }),
        bernoulliF32: bernoulli(device, [n], { seed: SEED, offset, p: 0.3 }),
        bernoulliU32: bernoulli(device, [n], { seed: SEED, offset, p: 0.7, dtype: 'u32' }),
      });
      const expected = {
        bits: within(ref.randomBits(n, { seed: SEED, offset }), 'exact'),
        uniform: ref.uniform(n, { seed: SEED, offset }),
        bernoulliF32: ref.bernoulli(n, { seed: SEED, offset, p: 0.3 }),
        bernoulliU32: within(ref.bernoulli(n, { seed: SEED, offset, p: 0.7 }), 'exact'),
      };
      const { bernoulliU32 } = await expectOp(device, fills, [], expected, 'bits', { what: `n ${n} offset ${offset}` });
      expect(bernoulliU32.dtype).toBe('u32');
    }
  });

  it('fills a multi-dimensional shape in row-major stream order, and a shape with no elements', async () => {
    await expectOp(device, () => uniform(device, [3, 5, 7], { seed: 11, offset: 9 }), [], ref.uniform(105, { seed: 11, offset: 9 }), 'bits', { what: 'uniform [3, 5, 7]' });
    const before = device.dispatchCount;
    const empty = normal(device, [4, 0], { seed: 11 });
    expect(empty.size).toBe(0);
    expect(device.dispatchCount).toBe(before);
    empty.dispose();
  });

  it('bernoulli is exact at the edges of p: never at 0, always at 1, and at a p between grid points', async () => {
    const n = 4099;
    for (const p of [0, 1, 2 ** -24, 0.5 + 2 ** -30, 1 - 2 ** -25]) {
      await expectOp(device, () => bernoulli(device, [n], { seed: 3, offset: 1, p }), [], ref.bernoulli(n, { seed: 3, offset: 1, p }), 'bits', { what: `p = ${p}` });
    }
    const { none, all } = await runOp(device, () => ({ none: bernoulli(device, [n], { seed: 3, p: 0 }), all: bernoulli(device, [n], { seed: 3, p: 1 }) }));
    expect(Array.from(none.values).every((v) => v === 0)).toBe(true);
    expect(Array.from(all.values).every((v) => v === 1)).toBe(true);
  });

  it('uniform on [low, high) is the affine map of the unit fill, to f32 rounding', async () => {
    const n = 1000;
    const options = { seed: 5, offset: 3, low: -2.5, high: 7 };
    const { values } = await expectOp(device, () => uniform(device, [n], options), [], ref.uniform(n, options), { rtol: 2 ** -23, atol: 9.5 * 2 ** -24 });
    expect(Math.min(...values)).toBeGreaterThanOrEqual(-2.5);
    expect(Math.max(...values)).toBeLessThan(7);
  });

  it.each([...SIZES, 1 << 18])('normal agrees with the reference within a few ulp on %i elements', async (n) => {
    for (const offset of [0, 1, 2, 3, 4 * (2 ** 32 - 1) - 1]) {
      await expectOp(device, () => normal(device, [n], { seed: SEED, offset }), [], ref.normal(n, { seed: SEED, offset }), { ulps: NORMAL_ULPS }, { what: `n ${n} offset ${offset}` });
    }
  });

  it('normal applies mean and std', async () => {
    const n = 1000;
    const options = { seed: 8, offset: 6, mean: 3, std: 0.25 };
    // Plus the rounding of std * z and of mean + std * z.
    await expectOp(device, () => normal(device, [n], options), [], ref.normal(n, options), { ulps: NORMAL_ULPS + 1 });
  });
});

describe('determinism and stream continuation', () => {
  it('the same seed and offset give the same values on every run; another seed does not', async () => {
    const fill = (seed: number) => normal(device, [1000], { seed, offset: 7 });
    const { a, b, c } = await runOp(device, () => ({ a: fill(42), b: fill(42), c: fill(43) }));
    expectSameBits(b.values, a.values, 'second run');
    expect(a.values.some((v, i) => v !== c.values[i])).toBe(true);
  });

  it.each([
    ['bits', (offset: number, n: number) => randomBits(device, [n], { seed: 77, offset })],
    ['uniform', (offset: number, n: number) => uniform(device, [n], { seed: 77, offset })],
    ['bernoulli', (offset: number, n: number) => bernoulli(device, [n], { seed: 77, offset, p: 0.5 })],
    ['normal', (offset: number, n: number) => normal(device, [n], { seed: 77, offset })],
  ] as const)('%s: a fill at offset k continues the fill at offset 0', async (kind, fill) => {
    const read = async (offset: number, n: number) => (await runOp(device, () => fill(offset, n))).values;
    const whole = await read(0, 20);
    const first = await read(0, 10);
    const rest = await read(wordsConsumed(kind, 10), 10);
    expectSameBits(first, whole.slice(0, 10), 'first 10');
    expectSameBits(rest, whole.slice(10), 'last 10');
  });

  it('RandomStream advances its offset by the words each fill consumed', async () => {
    const stream = new RandomStream(device, 9, 3);
    const fills = () => ({ uniform: stream.uniform([10]), normal: stream.normal([2, 3]), bernoulli: stream.bernoulli([5], { p: 0.25 }) });
    const expected = {
      uniform: ref.uniform(10, { seed: 9, offset: 3 }),
      normal: within(ref.normal(6, { seed: 9, offset: 13 }), { ulps: NORMAL_ULPS }),
      bernoulli: ref.bernoulli(5, { seed: 9, offset: 25, p: 0.25 }),
    };
    await expectOp(device, fills, [], expected, 'bits');
    expect(stream.offset).toBe(3 + 10 + 12 + 5);
  });
});

describe('distributions', () => {
  const N = 1 << 20;

  it('normal: mean, variance and tails within sampling error', async () => {
    const z = (await runOp(device, () => normal(device, [N], { seed: 2024 }))).values;
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
    const { values } = await runOp(device, () => bernoulli(device, [N], { seed: 99, offset: 12345, p }));
    let ones = 0;
    for (const v of values) ones += v;
    expect(Math.abs(ones / N - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N));
  });

  it('uniform: mean and variance of U[0, 1) within sampling error', async () => {
    const u = (await runOp(device, () => uniform(device, [N], { seed: 5 }))).values;
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
