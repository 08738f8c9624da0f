import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import { sizeOf } from '../src/gpu/shape.js';
import type { Tensor } from '../src/gpu/tensor.js';
import {
  chooseMatmulVariant,
  matmul,
  matmulVariantUnavailable,
  MATMUL_VARIANTS,
  type MatmulActivation,
  type MatmulVariant,
} from '../src/ops/matmul.js';
import { isSoftwareAdapter } from '../src/gpu/workgroups.js';
import { matmul as referenceMatmul, matmulShape } from '../src/reference/matmul.js';
import { dispatchesOf, testDevice } from './helpers/device.js';
import { expectClose, reductionCheck, uniform } from './helpers/numeric.js';
import { expectOp } from './helpers/ops.js';

const device = await testDevice();

it('runs on the kernel layouts SLL_KERNELS names (the gpu-layouts project forces the GPU ones)', () => {
  const forced = typeof process === 'undefined' ? undefined : process.env?.SLL_KERNELS;
  expect(device.kernelLayouts).toBe(forced === 'gpu' || forced === 'software' ? forced : undefined);
  if (forced === 'gpu') expect(isSoftwareAdapter(device)).toBe(false);
});

interface Case {
  aShape: number[];
  bShape: number[];
  transposeA?: boolean;
  transposeB?: boolean;
  bias?: boolean;
  activation?: MatmulActivation;
}

/** Inputs and reference results per case, shared by the variants (the reference is slow). */
const expectedByCase = new Map<string, { a: Float32Array; b: Float32Array; bias?: Float32Array; expected: Float64Array }>();

function inputsFor(c: Case, n: number) {
  const key = JSON.stringify(c);
  let entry = expectedByCase.get(key);
  if (!entry) {
    const seed = 1 + expectedByCase.size * 3;
    const a = uniform(sizeOf(c.aShape), seed);
    const b = uniform(sizeOf(c.bShape), seed + 1);
    const bias = c.bias ? uniform(n, seed + 2) : undefined;
    const { transposeA, transposeB, activation } = c;
    entry = { a, b, bias, expected: referenceMatmul(a, c.aShape, b, c.bShape, { transposeA, transposeB, bias, activation }) };
    expectedByCase.set(key, entry);
  }
  return entry;
}

/** Runs one product on the GPU with a forced variant and holds it against the reference. */
async function check(variant: MatmulVariant, c: Case, splitK?: number): Promise<void> {
  const { aShape, bShape, transposeA = false, transposeB = false, activation = 'none' } = c;
  const outShape = matmulShape(aShape, bShape, transposeA, transposeB);
  const n = outShape.at(-1)!;
  const k = aShape.at(transposeA ? -2 : -1)!;
  const { a, b, bias, expected } = inputsFor(c, n);
  const product = (ta: Tensor, tb: Tensor, tbias?: Tensor) => {
    const buffers = device.pool.stats().liveBuffers;
    const out = matmul(ta, tb, { transposeA, transposeB, bias: tbias, activation, variant, ...(splitK ? { splitK } : {}) });
    // Only the result stays alive: no partial products or copies left behind.
    expect(device.pool.stats().liveBuffers).toBe(buffers + 1);
    return out;
  };
  // fp32 tolerances: elementwise up to 256 terms per dot product, normalized beyond.
  const what = `${variant}${splitK ? `, splitK ${splitK}` : ''} ${JSON.stringify(c)}`;
  const out = await expectOp(device, product, [[a, aShape], [b, bShape], bias ? [bias, [n]] : undefined], expected, reductionCheck(k), { what });
  expect(out.shape).toEqual(outShape);
}

const shapes = (m: number, n: number, k: number): Case => ({ aShape: [m, k], bShape: [k, n] });

// Every variant runs the same cases; one the adapter cannot run is skipped, saying why.
describe.each(MATMUL_VARIANTS.map((variant) => ({ variant, unavailable: matmulVariantUnavailable(device, variant) })))(
  'matmul, $variant kernel',
  ({ variant, unavailable }) => {
    const test = unavailable ? it.skip : it;
    if (unavailable) it.skip(`skipped: ${unavailable}`, () => undefined);

    // M, N, K drawn from sizes that are not multiples of any tile, plus aligned ones that take
    // the subgroup kernel's vec4 path with interior and edge tiles.
    test.each([
      [1, 1, 1],
      [5, 7, 0],
      [3, 17, 63],
      [17, 3, 65],
      [63, 65, 127],
      [65, 127, 129],
      [129, 63, 17],
      [127, 129, 3],
      [1, 1000, 17],
      [1000, 1, 65],
      [48, 96, 64],
      [36, 68, 44],
      [100, 1000, 1000],
    ])('M=%i N=%i K=%i', async (m, n, k) => {
      await check(variant, shapes(m, n, k));
    });

    // Every transpose combination, on unaligned and vec4-aligned shapes; [36, 68, 45] has K
    // odd, which only transposeA without transposeB can read with vec4 loads.
    test.each([
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ])('transposeA=%s transposeB=%s', async (transposeA, transposeB) => {
      for (const [m, n, k] of [
        [17, 63, 65],
        [36, 68, 44],
        [36, 68, 45],
        [3, 129, 300],
      ] as const) {
        await check(variant, {
          aShape: transposeA ? [k, m] : [m, k],
          bShape: transposeB ? [n, k] : [k, n],
          transposeA,
          transposeB,
        });
      }
    });

    test.each([
      { aShape: [1, 17, 9], bShape: [1, 9, 33] },
      { aShape: [3, 17, 9], bShape: [3, 9, 33] },
      { aShape: [3, 36, 8], bShape: [8, 36] },
      { aShape: [20, 12], bShape: [5, 12, 40] },
      { aShape: [1, 20, 12], bShape: [5, 12, 40] },
      { aShape: [2, 3, 5, 7], bShape: [2, 3, 7, 4] },
      { aShape: [3, 12, 20], bShape: [3, 40, 12], transposeA: true, transposeB: true },
      // Few columns: kernels that compute the transposed product, with either side shared.
      { aShape: [3, 40, 12], bShape: [12, 5] },
      { aShape: [40, 12], bShape: [3, 12, 5] },
      { aShape: [3, 5, 12], bShape: [3, 12, 40] },
    ])('batches $aShape x $bShape', async (c) => {
      await check(variant, c);
    });

    test.each(['none', 'relu', 'gelu'] as const)('bias + %s epilogue', async (activation) => {
      await check(variant, { ...shapes(33, 65, 17), bias: true, activation });
      await check(variant, { aShape: [2, 64, 36], bShape: [64, 36], transposeB: true, bias: true, activation });
      // Thin products: the skinny kernel computes the transposed product for few rows, the
      // subgroup kernel for few columns, and the bias then runs along the computed rows.
      await check(variant, { ...shapes(3, 200, 100), bias: true, activation });
      await check(variant, { ...shapes(70, 10, 33), bias: true, activation });
      await check(variant, { aShape: [2, 300, 5], bShape: [300, 10], transposeA: true, bias: true, activation });
    });
  },
);

// The tiled kernel cut along K into slices whose partial products are added afterwards (what a
// GPU gets for few output tiles and a long K, such as a weight gradient over 6,272 token rows).
// Slices are whole K tiles (16 or 32 deep): slice counts that cut K exactly (128 = 2 x 64), that
// leave a ragged last slice, and more slices than K has tiles; both operand layouts; K from 63
// to 1000.
describe.skipIf(matmulVariantUnavailable(device, 'tiled'))('matmul, tiled kernel split along K', () => {
  const cases: Array<[Case, number]> = [
    [shapes(9, 70, 128), 2],
    [shapes(1, 1, 65), 2],
    [shapes(3, 17, 63), 3],
    [shapes(17, 65, 127), 4],
    [{ aShape: [300, 64], bShape: [300, 3], transposeA: true }, 7],
    [{ aShape: [1000, 65], bShape: [1000, 33], transposeA: true }, 5],
    [{ aShape: [1, 70, 129], bShape: [31, 129], transposeB: true }, 3],
    [shapes(5, 9, 65), 50],
  ];
  it.each(cases.map(([c, splitK]) => [`${JSON.stringify(c)}, splitK ${splitK}`, c, splitK] as const))('%s', async (_, c, splitK) => {
    expectSplitCostsADispatch(c, splitK);
    await check('tiled', c, splitK);
  });

  // The automatic choice (GPUs only; software adapters never split): a ViT weight gradient,
  // 64 x 192 outputs (3 tiles) over 6,272 token rows.
  it.skipIf(isSoftwareAdapter(device))('splits a long K with few output tiles by itself on a GPU', async () => {
    const c: Case = { aShape: [6272, 64], bShape: [6272, 192], transposeA: true };
    expectSplitCostsADispatch(c, undefined);
    await check('tiled', c);
  });

  /** The tiled product with `splitK` (undefined: the automatic choice) really splits: adding its
   * partial products costs at least one more dispatch than the unsplit product (splitK 1). */
  function expectSplitCostsADispatch(c: Case, splitK: number | undefined): void {
    const { a, b } = inputsFor(c, matmulShape(c.aShape, c.bShape, c.transposeA ?? false, c.transposeB ?? false).at(-1)!);
    const [ta, tb] = [device.tensor(a, c.aShape), device.tensor(b, c.bShape)];
    const options = { transposeA: c.transposeA ?? false, transposeB: c.transposeB ?? false, variant: 'tiled' as const };
    const unsplit = dispatchesOf(device, () => matmul(ta, tb, { ...options, splitK: 1 }));
    expect(dispatchesOf(device, () => matmul(ta, tb, { ...options, ...(splitK ? { splitK } : {}) }))).toBeGreaterThan(unsplit);
    for (const t of [ta, tb]) t.dispose();
  }

  it('refuses split-K where it does not apply, naming why', () => {
    const a = device.zeros([3, 64]);
    const b = device.zeros([64, 5]);
    const bias = device.zeros([5]);
    const batched = device.zeros([2, 3, 64]);
    const bad: Array<[() => Tensor, RegExp]> = [
      [() => matmul(a, b, { variant: 'tiled', splitK: 0 }), /matmul: splitK must be a positive integer, got 0/],
      [() => matmul(a, b, { variant: 'tiled', splitK: 2, bias }), /matmul: splitK needs a single batch, no bias and no activation \(got 1 batches, a bias\)/],
      [() => matmul(batched, b, { variant: 'tiled', splitK: 2 }), /matmul: splitK needs a single batch, no bias and no activation \(got 2 batches\)/],
      [() => matmul(a, b, { variant: 'plain', splitK: 2 }), /matmul: splitK applies to the tiled kernel, not 'plain'/],
    ];
    for (const [call, message] of bad) expect(call).toThrow(message);
    for (const t of [a, b, bias, batched]) t.dispose();
  });
});

describe('matmul', () => {
  it('reads a transpose() view in place, without a copy', async () => {
    const [m, n, k] = [17, 33, 20];
    const a = uniform(m * k, 101);
    const b = uniform(n * k, 102);
    const ta = device.tensor(a, [m, k]);
    const tbStored = device.tensor(b, [n, k]);
    const tb = tbStored.transpose(); // [k, n] view
    const before = device.dispatchCount;
    const out = matmul(ta, tb);
    expect(device.dispatchCount - before).toBe(1);
    expectClose(await out.read(), referenceMatmul(a, [m, k], b, [n, k], { transposeB: true }));
    // A flag on top of a view undoes it: (b^T)^T = b stored [n, k].
    const back = matmul(tb, ta, { transposeA: true, transposeB: true });
    expectClose(await back.read(), referenceMatmul(b, [n, k], a, [m, k], { transposeB: true }));
    for (const t of [ta, tbStored, tb, out, back]) t.dispose();
  });

  it('reads batched transpose views in place and copies other views', async () => {
    const a = uniform(3 * 12 * 7, 103);
    const b = uniform(3 * 5 * 12, 104);
    const ta = device.tensor(a, [3, 7, 12]);
    const tb = device.tensor(b, [3, 5, 12]);
    const aView = ta.transpose(); // [3, 12, 7]
    const bView = tb.transpose(); // [3, 12, 5]
    const before = device.dispatchCount;
    const out = matmul(aView, bView, { transposeA: true }); // a^T^T b^T = [3, 7, 5]
    expect(device.dispatchCount - before).toBe(1);
    expectClose(await out.read(), referenceMatmul(a, [3, 7, 12], b, [3, 5, 12], { transposeB: true }));
    // A slice is not a transpose: it is copied first (two dispatches) and still correct.
    const slice = ta.slice(2, 2, 9); // [3, 7, 7]
    const sliced = matmul(slice, aView.slice(1, 0, 7));
    const aSlice = Float64Array.from({ length: 3 * 7 * 7 }, (_, i) => a[Math.floor(i / 49) * 84 + (Math.floor(i / 7) % 7) * 12 + 2 + (i % 7)]!);
    const aTop = Float64Array.from({ length: 3 * 7 * 7 }, (_, i) => a[Math.floor(i / 49) * 84 + (i % 7) * 12 + (Math.floor(i / 7) % 7)]!);
    expectClose(await sliced.read(), referenceMatmul(aSlice, [3, 7, 7], aTop, [3, 7, 7]));
    for (const t of [ta, tb, aView, bView, out, slice, sliced]) t.dispose();
  });

  it('takes the same tensor on both sides (x x^T)', async () => {
    const x = uniform(20 * 36, 105);
    await expectOp(device, (tx) => matmul(tx, tx, { transposeB: true }), [[x, [20, 36]]], referenceMatmul(x, [20, 36], x, [20, 36], { transposeB: true }));
  });

  it('chooses a variant the device can run', () => {
    for (const [m, n, k] of [
      [1024, 1024, 1024],
      [256, 10, 1000],
      [1, 1, 1],
    ] as const) {
      expect(matmulVariantUnavailable(device, chooseMatmulVariant(device, m, n, k))).toBeUndefined();
    }
  });

  it('rejects bad operands before any dispatch, naming both shapes', () => {
    const a = device.zeros([3, 4]);
    const b = device.zeros([5, 6]);
    const labels = device.zeros([4, 6], 'i32');
    const w = device.zeros([4, 6]);
    const bias = device.zeros([5]);
    const batched = device.zeros([2, 3, 4]);
    const batched3 = device.zeros([3, 4, 6]);
    const vector = device.zeros([4]);
    const before = device.dispatchCount;
    const bad: Array<[() => Tensor, RegExp]> = [
      [() => matmul(a, b), /matmul: a \[3, 4\] and b \[5, 6\]: inner dimensions 4 and 5 differ/],
      [() => matmul(a, w, { transposeB: true }), /matmul: a \[3, 4\] and b \[4, 6\] \(transposeB\): inner dimensions 4 and 6 differ/],
      [() => matmul(a, labels), /matmul: b has dtype i32 \(shape \[4, 6\]\)/],
      [() => matmul(a, w, { bias }), /matmul: bias \[5\] must be \[6\] for a \[3, 4\] and b \[4, 6\]/],
      [() => matmul(batched, batched3), /matmul: a \[2, 3, 4\] and b \[3, 4, 6\]: batch dimensions \[2\] and \[3\]/],
      [() => matmul(vector, w), /matmul: a \[4\] and b \[4, 6\]: both operands need rank >= 2/],
    ];
    for (const [call, message] of bad) {
      expect(call).toThrow(ShapeError);
      expect(call).toThrow(message);
    }
    expect(device.dispatchCount).toBe(before);
    for (const t of [a, b, labels, w, bias, batched, batched3, vector]) t.dispose();
  });
});
