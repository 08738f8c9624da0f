import { describe, expect, it } from 'vitest';
import { ShapeError, type Tensor } from '../src/index.js';
import { attention, attentionBackward, type AttentionGradients, type AttentionKernel } from '../src/ops/attention.js';
import { attentionByMatmul, attentionByMatmulBackward } from '../src/ops/attentionMatmul.js';
import * as reference from '../src/reference/attention.js';
import type { AttentionShape } from '../src/reference/attention.js';
import { testDevice } from './helpers/device.js';
import { dot, expectClose, finiteDifferenceGradient, lossWeights, reductionCheck, uniform } from './helpers/numeric.js';
import { disposeAll, expectOp, runOp, within } from './helpers/ops.js';

const device = await testDevice();

function shapeOf(batch: number, heads: number, queryLength: number, keyLength: number, headDim: number): AttentionShape {
  return { batch, heads, queryLength, keyLength, headDim };
}

function inputs(s: AttentionShape, seed: number, amplitude = 1) {
  const qn = s.batch * s.heads * s.queryLength * s.headDim;
  const kn = s.batch * s.heads * s.keyLength * s.headDim;
  return {
    q: uniform(qn, seed, -amplitude, amplitude),
    k: uniform(kn, seed + 1, -amplitude, amplitude),
    v: uniform(kn, seed + 2),
  };
}

/** q, k and v with their shapes, as operands of expectOp. */
function operands(s: AttentionShape, data: ReturnType<typeof inputs>) {
  return [
    [data.q, [s.batch, s.heads, s.queryLength, s.headDim]],
    [data.k, [s.batch, s.heads, s.keyLength, s.headDim]],
    [data.v, [s.batch, s.heads, s.keyLength, s.headDim]],
  ] as const;
}

function upload(s: AttentionShape, data: ReturnType<typeof inputs>) {
  const [q, k, v] = operands(s, data).map(([values, shape]) => device.tensor(values, shape));
  return { q: q!, k: k!, v: v! };
}

/** The fused forward, then its backward from the saved log-sum-exp. */
function fusedForwardBackward(q: Tensor, k: Tensor, v: Tensor, dOut: Tensor, scale?: number) {
  const forward = attention(q, k, v, { scale });
  return { ...forward, ...attentionBackward(dOut, q, k, v, forward.out, forward.logSumExp, { scale }) };
}

async function checkForward(s: AttentionShape, seed: number, scale?: number): Promise<void> {
  const data = inputs(s, seed);
  const expected = reference.attention(data.q, data.k, data.v, s, scale);
  const run = (q: Tensor, k: Tensor, v: Tensor) => attention(q, k, v, scale === undefined ? {} : { scale });
  const { out, logSumExp } = await expectOp(device, run, operands(s, data), { out: within(expected.out, reductionCheck(s.keyLength)), logSumExp: expected.logSumExp }, { rtol: 1e-4, atol: 1e-5 });
  expect(out.shape).toEqual([s.batch, s.heads, s.queryLength, s.headDim]);
  expect(logSumExp.shape).toEqual([s.batch, s.heads, s.queryLength]);
}

/** Output and dQ, dK, dV of either attention kernel against the reference. */
async function checkGradients(kernel: AttentionKernel, s: AttentionShape, seed: number, scale?: number): Promise<void> {
  const data = inputs(s, seed);
  const dOutData = uniform(s.batch * s.heads * s.queryLength * s.headDim, seed + 1);
  const byMatmul = (q: Tensor, k: Tensor, v: Tensor, dOut: Tensor) => {
    const forward = attentionByMatmul(q, k, v, { scale });
    expect(forward.probabilities.shape).toEqual([s.batch, s.heads, s.queryLength, s.keyLength]);
    return { ...forward, ...attentionByMatmulBackward(dOut, q, k, v, forward.probabilities, { scale }) };
  };
  const fused = (q: Tensor, k: Tensor, v: Tensor, dOut: Tensor) => fusedForwardBackward(q, k, v, dOut, scale);
  const run: (...t: Tensor[]) => { out: Tensor } & AttentionGradients = kernel === 'fused' ? fused : byMatmul;
  const expected = reference.attentionBackward(dOutData, data.q, data.k, data.v, s, scale);
  // out and dq sum over the keys, dk and dv over the queries.
  const [byKeys, byQueries] = [reductionCheck(s.keyLength), reductionCheck(s.queryLength)];
  await expectOp(device, run, [...operands(s, data), [dOutData, [s.batch, s.heads, s.queryLength, s.headDim]]], {
    out: within(reference.attention(data.q, data.k, data.v, s, scale).out, byKeys),
    dq: within(expected.dq, byKeys),
    dk: within(expected.dk, byQueries),
    dv: within(expected.dv, byQueries),
  });
}

describe('attention forward', () => {
  const lengths = [1, 3, 17, 63, 65, 129];
  const headDims = [1, 3, 8, 16, 64];
  it.each(lengths.flatMap((n) => headDims.map((d) => [n, d] as const)))('matches the reference at T = %i, D = %i', async (n, d) => {
    await checkForward(shapeOf(1, 1, n, n, d), 100 * n + d);
  });

  it.each([
    [3, 1, 17, 8],
    [1, 5, 65, 3],
    [3, 3, 63, 16],
    [2, 3, 129, 64],
  ])('matches the reference with B = %i, H = %i, T = %i (D = %i)', async (b, h, n, d) => {
    await checkForward(shapeOf(b, h, n, n, d), 7 * b + h);
  });

  it.each([
    [17, 65, 8],
    [65, 3, 16],
    [1, 129, 3],
  ])('handles Tq = %i different from Tk = %i (D = %i)', async (tq, tk, d) => {
    await checkForward(shapeOf(3, 1, tq, tk, d), tq + tk);
  });

  it('covers the largest head dim (D = 128) and a custom scale', async () => {
    await checkForward(shapeOf(1, 3, 33, 33, 128), 5);
    await checkForward(shapeOf(1, 1, 17, 17, 8), 6, 0.7);
  });

  it('accepts strided views (heads permuted out of [B, T, H, D])', async () => {
    const s = shapeOf(2, 3, 17, 17, 8);
    const data = inputs(s, 9);
    // The same values laid out [B, T, H, D], as a projection produces them.
    const toBthd = (x: Float32Array) => {
      const y = new Float32Array(x.length);
      for (let b = 0; b < s.batch; b++)
        for (let h = 0; h < s.heads; h++)
          for (let t = 0; t < s.queryLength; t++)
            for (let d = 0; d < s.headDim; d++) {
              y[((b * s.queryLength + t) * s.heads + h) * s.headDim + d] = x[((b * s.heads + h) * s.queryLength + t) * s.headDim + d]!;
            }
      return y;
    };
    const base = [s.batch, s.queryLength, s.heads, s.headDim];
    const stored = [toBthd(data.q), toBthd(data.k), toBthd(data.v)].map((x) => device.tensor(x, base));
    const views = stored.map((t) => t.permute([0, 2, 1, 3]));
    expect(views[0]!.isContiguous).toBe(false);
    const { out, logSumExp } = attention(views[0]!, views[1]!, views[2]!);
    const expected = reference.attention(data.q, data.k, data.v, s);
    expectClose(await out.read(), expected.out, { rtol: 1e-4, atol: 1e-5 }, 'out');
    disposeAll(...stored, ...views, out, logSumExp);
  });

  it('handles zero query rows and zero batches', async () => {
    for (const [b, h, tq] of [[1, 1, 0], [0, 2, 5]] as const) {
      const empty = [new Float32Array(0), [b, h, tq, 8]] as const;
      const { out, dk, dv } = await runOp(device, (q, k, dOut) => fusedForwardBackward(q, k, k, dOut), [empty, [uniform(b * h * 3 * 8, 3), [b, h, 3, 8]], empty]);
      expect(out.shape).toEqual([b, h, tq, 8]);
      expect(out.values.length).toBe(0);
      // No query attends to any key, so the key and value gradients are exactly zero.
      expect(Array.from(dk.values).every((x) => x === 0)).toBe(true);
      expect(Array.from(dv.values).every((x) => x === 0)).toBe(true);
    }
  });

  it('stays finite and exact at T = 1024 with scores past 90 (online softmax)', async () => {
    const s = shapeOf(1, 1, 1024, 1024, 4);
    // Entries up to 8 give scores up to 4 * 64 / sqrt(4) = 128.
    const data = inputs(s, 77, 8);
    const expected = reference.attention(data.q, data.k, data.v, s);
    let maxScore = 0;
    for (let i = 0; i < s.queryLength; i++) {
      for (let j = 0; j < s.keyLength; j++) {
        let score = 0;
        for (let d = 0; d < s.headDim; d++) score += data.q[i * s.headDim + d]! * data.k[j * s.headDim + d]!;
        maxScore = Math.max(maxScore, score / Math.sqrt(s.headDim));
      }
    }
    // ln(f32 max) is 88.7: past it, exp(score) overflows without the running max.
    expect(maxScore).toBeGreaterThan(90);
    const { out } = await expectOp(device, (q, k, v) => attention(q, k, v), operands(s, data), {
      out: within(expected.out, { normalizedError: 1e-7 }),
      logSumExp: within(expected.logSumExp, { rtol: 1e-5, atol: 1e-5 }),
    });
    expect(out.values.every(Number.isFinite)).toBe(true);
  });
});

describe('attention derivative rule', () => {
  it.each([
    [1, 1, 3, 3, 2],
    [2, 1, 2, 4, 3],
    [1, 3, 4, 1, 5],
  ])('the reference rule matches central differences (B = %i, H = %i, Tq = %i, Tk = %i, D = %i)', (b, h, tq, tk, d) => {
    const s = shapeOf(b, h, tq, tk, d);
    const data = inputs(s, 40 + tq, 1.5);
    const q = Float64Array.from(data.q);
    const k = Float64Array.from(data.k);
    const v = Float64Array.from(data.v);
    const scale = 0.8;
    const w = lossWeights(b * h * tq * d, 41);
    const loss = (qq: Float64Array, kk: Float64Array, vv: Float64Array) => dot(reference.attention(qq, kk, vv, s, scale).out, w);
    const analytic = reference.attentionBackward(w, q, k, v, s, scale);
    expectClose(analytic.dq, finiteDifferenceGradient((x) => loss(x, k, v), q), { rtol: 1e-6, atol: 1e-8 }, 'dq');
    expectClose(analytic.dk, finiteDifferenceGradient((x) => loss(q, x, v), k), { rtol: 1e-6, atol: 1e-8 }, 'dk');
    expectClose(analytic.dv, finiteDifferenceGradient((x) => loss(q, k, x), v), { rtol: 1e-6, atol: 1e-8 }, 'dv');
  });

  // Both kernels on the same shapes: the fused ones (GPUs) and the matmul path (CPU adapters).
  const shapes = [
    [1, 1, 1, 1, 1],
    [1, 1, 17, 17, 3],
    [3, 1, 65, 65, 8],
    [1, 3, 63, 129, 16],
    [2, 4, 49, 49, 16],
    [1, 1, 129, 17, 64],
    [1, 1, 300, 300, 8],
  ] as const;
  it.each((['fused', 'matmul'] as const).flatMap((kernel) => shapes.map((c) => [kernel, ...c] as const)))(
    'the %s GPU rule matches the reference (B = %i, H = %i, Tq = %i, Tk = %i, D = %i)',
    async (kernel, b, h, tq, tk, d) => {
      await checkGradients(kernel, shapeOf(b, h, tq, tk, d), 50 + tq + d);
    },
  );

  it.each(['fused', 'matmul'] as const)('the %s rule passes the scale through to the output and all three gradients', async (kernel) => {
    await checkGradients(kernel, shapeOf(1, 2, 9, 11, 5), 60, 1.3);
  });
});

describe("attention by matmul (the 'matmul' kernel choice)", () => {
  it('refuses a scale that is not positive (the softmax runs at temperature 1 / scale), before any dispatch', () => {
    const t = upload(shapeOf(1, 1, 3, 3, 2), inputs(shapeOf(1, 1, 3, 3, 2), 81));
    const before = device.dispatchCount;
    expect(() => attentionByMatmul(t.q, t.k, t.v, { scale: -0.5 })).toThrow(/attentionByMatmul: scale must be positive .* got -0.5/);
    expect(device.dispatchCount).toBe(before);
    disposeAll(t.q, t.k, t.v);
  });

  it('names a probabilities tensor of the wrong shape', () => {
    const t = upload(shapeOf(1, 2, 3, 5, 4), inputs(shapeOf(1, 2, 3, 5, 4), 80));
    const dOut = device.zeros([1, 2, 3, 4]);
    const wrong = device.zeros([1, 2, 5, 3]);
    expect(() => attentionByMatmulBackward(dOut, t.q, t.k, t.v, wrong)).toThrow(/probabilities \[1, 2, 5, 3\] must be \[1, 2, 3, 5\]/);
    disposeAll(t.q, t.k, t.v, dOut, wrong);
  });
});

describe('attention bad input', () => {
  it('throws ShapeError naming the op and the shapes, before any dispatch', () => {
    const q = device.zeros([2, 3, 5, 8]);
    const k = device.zeros([2, 3, 7, 8]);
    const v = device.zeros([2, 3, 7, 8]);
    const vShort = device.zeros([2, 3, 6, 8]);
    const kWide = device.zeros([2, 3, 7, 4]);
    const kHeads = device.zeros([2, 4, 7, 8]);
    const rank3 = device.zeros([3, 5, 8]);
    const wide = device.zeros([1, 1, 2, 129]);
    const noKeys = device.zeros([2, 3, 0, 8]);
    const ints = device.zeros([2, 3, 5, 8], 'i32');
    const lse = device.zeros([2, 3, 5]);
    const lseLong = device.zeros([2, 3, 7]);
    const before = device.dispatchCount;
    const cases: Array<[() => unknown, RegExp]> = [
      [() => attention(q, k, vShort), /attention: k \[2, 3, 7, 8\] and v \[2, 3, 6, 8\] must have the same shape/],
      [() => attention(q, kWide, kWide), /attention: q \[2, 3, 5, 8\] and k \[2, 3, 7, 4\]: head dims 8 and 4 differ/],
      [() => attention(q, kHeads, kHeads), /attention: q \[2, 3, 5, 8\] and k \[2, 4, 7, 8\]: batch and heads/],
      [() => attention(rank3, k, v), /attention: q must have rank 4, got shape \[3, 5, 8\]/],
      [() => attention(wide, wide, wide), /attention: q \[1, 1, 2, 129\]: head dim 129 is outside the supported 1\.\.128/],
      [() => attention(q, noKeys, noKeys), /attention: k \[2, 3, 0, 8\] has no keys/],
      [() => attention(ints, k, v), /attention: q has dtype i32 \(shape \[2, 3, 5, 8\]\)/],
      [() => attentionBackward(k, q, k, v, q, lse), /attentionBackward: dOut \[2, 3, 7, 8\] and q \[2, 3, 5, 8\] must have the same shape/],
      [() => attentionBackward(q, q, k, v, k, lse), /attentionBackward: out \[2, 3, 7, 8\] and q \[2, 3, 5, 8\] must have the same shape/],
      [() => attentionBackward(q, q, k, v, q, lseLong), /attentionBackward: logSumExp \[2, 3, 7\] must be \[2, 3, 5\] for q \[2, 3, 5, 8\]/],
      [() => attentionBackward(q, q, kWide, kWide, q, lse), /attentionBackward: q \[2, 3, 5, 8\] and k \[2, 3, 7, 4\]: head dims 8 and 4 differ/],
    ];
    for (const [call, message] of cases) {
      expect(call).toThrow(ShapeError);
      expect(call).toThrow(message);
    }
    // A scale that is not a finite number is an option out of range, as in every op (checkOptions).
    expect(() => attention(q, k, v, { scale: Number.NaN })).toThrow(RangeError);
    expect(() => attention(q, k, v, { scale: Number.NaN })).toThrow(/^attention: scale must be a finite number, got NaN$/);
    expect(device.dispatchCount).toBe(before);
    disposeAll(q, k, v, vShort, kWide, kHeads, rank3, wide, noKeys, ints, lse, lseLong);
  });
});
