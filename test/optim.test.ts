import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { adamStep, checkFinite, createOptimizer, sgdStep, type OptimizerConfig } from '../src/ops/optim.js';
import * as ref from '../src/reference/optim.js';
import { testDevice } from './helpers/device.js';
import { expectClose, uniform } from './helpers/numeric.js';
import { expectOp } from './helpers/ops.js';

const device = await testDevice();

const SIZES = [1, 3, 17, 65, 1000];
const STEPS = 5;
// f32 against float64 over a few steps. The atol is a few f32 ulps of the O(1) operands: a
// momentum buffer or moment that cancels to near zero keeps their absolute rounding error.
const TOLERANCE = { rtol: 1e-5, atol: 1e-6 };

/** expectClose after dividing element i by scale[i], so each element's atol follows its operands' size. */
function expectCloseScaled(actual: ArrayLike<number>, expected: ArrayLike<number>, scale: ArrayLike<number>, what: string): void {
  const divide = (values: ArrayLike<number>) => Float64Array.from(values, (x, i) => x / scale[i]!);
  expectClose(divide(actual), divide(expected), TOLERANCE, what);
}

/** The bit patterns of a tensor's f32 values (so NaN and -0 compare exactly). */
async function bitsOf(t: Tensor): Promise<number[]> {
  const values = await t.read();
  return Array.from(new Uint32Array(Float32Array.from(values).buffer));
}

describe('reference rules, by hand', () => {
  it('SGD: momentum buffer starts as the gradient, then blends with dampening; Nesterov looks ahead', () => {
    const options = { lr: 0.1, momentum: 0.9, dampening: 0.5, weightDecay: 0.01 };
    const first = ref.sgdStep([1], [2], undefined, { ...options, step: 1 });
    // g = 2 + 0.01 * 1 = 2.01; buf = g; p = 1 - 0.1 * 2.01.
    expect(first.momentumBuffer![0]).toBeCloseTo(2.01, 14);
    expect(first.param[0]).toBeCloseTo(0.799, 14);
    const second = ref.sgdStep(first.param, [1], first.momentumBuffer, { ...options, step: 2 });
    // g = 1 + 0.00799; buf = 0.9 * 2.01 + 0.5 * g.
    expect(second.momentumBuffer![0]).toBeCloseTo(0.9 * 2.01 + 0.5 * 1.00799, 14);
    expect(second.param[0]).toBeCloseTo(0.799 - 0.1 * (0.9 * 2.01 + 0.5 * 1.00799), 14);
    const nesterov = ref.sgdStep([1], [2], undefined, { lr: 0.1, momentum: 0.9, nesterov: true, step: 1 });
    // buf = 2; g = 2 + 0.9 * 2.
    expect(nesterov.param[0]).toBeCloseTo(1 - 0.1 * 3.8, 14);
    expect(ref.sgdStep([1], [2], undefined, { lr: 0.1, step: 1 }).momentumBuffer).toBeUndefined();
  });

  it('Adam: the first step moves each weight by lr * g / (|g| + eps); AdamW decays the weight first', () => {
    const lr = 0.01;
    const eps = 1e-8;
    const adam = ref.adamStep([0.5, -2], [0.3, -4], [0, 0], [0, 0], { lr, eps, step: 1 });
    expect(adam.param[0]).toBeCloseTo(0.5 - (lr * 0.3) / (0.3 + eps), 14);
    expect(adam.param[1]).toBeCloseTo(-2 + (lr * 4) / (4 + eps), 14);
    expect(adam.m[0]).toBeCloseTo(0.1 * 0.3, 15);
    expect(adam.v[1]).toBeCloseTo(0.001 * 16, 15);
    // Adam's L2 enters the gradient: g = 0.3 + 0.1 * 0.5.
    const l2 = ref.adamStep([0.5], [0.3], [0], [0], { lr, eps, weightDecay: 0.1, step: 1 });
    expect(l2.m[0]).toBeCloseTo(0.1 * 0.35, 15);
    // AdamW leaves the gradient alone and scales the weight by 1 - lr * wd.
    const adamw = ref.adamStep([0.5], [0.3], [0], [0], { lr, eps, weightDecay: 0.1, decoupled: true, step: 1 });
    expect(adamw.m[0]).toBeCloseTo(0.1 * 0.3, 15);
    expect(adamw.param[0]).toBeCloseTo(0.5 * (1 - lr * 0.1) - (lr * 0.3) / (0.3 + eps), 14);
  });

  it('flags NaN and both infinities, and nothing else', () => {
    expect(ref.hasNonFinite([0, -1, 3.4e38, 1e-45])).toBe(false);
    for (const bad of [Number.NaN, Infinity, -Infinity]) expect(ref.hasNonFinite([1, bad, 2])).toBe(true);
  });
});

type SgdCase = { lr: number; momentum?: number; dampening?: number; weightDecay?: number; nesterov?: boolean };
type AdamCase = { lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; decoupled?: boolean };

const SGD_CASES: Array<[string, SgdCase]> = [
  ['plain', { lr: 0.1 }],
  ['weight decay', { lr: 0.05, weightDecay: 0.01 }],
  ['momentum', { lr: 0.1, momentum: 0.9 }],
  ['momentum, dampening and weight decay', { lr: 0.1, momentum: 0.8, dampening: 0.3, weightDecay: 0.02 }],
  ['nesterov with weight decay', { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 }],
];

const ADAM_CASES: Array<[string, AdamCase]> = [
  ['Adam', { lr: 1e-2 }],
  ['Adam with L2 weight decay', { lr: 1e-2, weightDecay: 0.1, beta1: 0.8, beta2: 0.99 }],
  ['AdamW', { lr: 1e-2, weightDecay: 0.1, decoupled: true }],
  ['AdamW, large eps', { lr: 3e-3, weightDecay: 0.05, eps: 1e-3, decoupled: true }],
];

describe('GPU steps against the reference', () => {
  for (const [name, hyper] of SGD_CASES) {
    it.each(SIZES)(`SGD ${name}: ${STEPS} steps on %i elements`, async (n) => {
      let param: Float64Array = Float64Array.from(uniform(n, 1));
      let buffer: Float64Array | undefined;
      const tParam = device.tensor(param);
      const tBuffer = hyper.momentum ? device.zeros([n], 'f32', 'optimizer') : null;
      for (let step = 1; step <= STEPS; step++) {
        const grad = uniform(n, 100 + step);
        const tGrad = device.tensor(grad);
        sgdStep(tParam, tGrad, tBuffer, { ...hyper, step });
        ({ param, momentumBuffer: buffer } = ref.sgdStep(param, grad, buffer, { ...hyper, step }));
        tGrad.dispose();
      }
      expectClose(await tParam.read(), param, TOLERANCE, 'param');
      if (tBuffer) expectClose(await tBuffer.read(), buffer!, TOLERANCE, 'momentum buffer');
      tParam.dispose();
      tBuffer?.dispose();
    });
  }

  for (const [name, hyper] of ADAM_CASES) {
    it.each(SIZES)(`${name}: ${STEPS} steps on %i elements`, async (n) => {
      let param: Float64Array = Float64Array.from(uniform(n, 2));
      let m: Float64Array = new Float64Array(n);
      let v: Float64Array = new Float64Array(n);
      const tParam = device.tensor(param);
      const tm = device.zeros([n], 'f32', 'optimizer');
      const tv = device.zeros([n], 'f32', 'optimizer');
      // Gradients of mixed scale, so that eps and the bias corrections matter.
      const gradScale = Float64Array.from({ length: n }, (_, i) => 10 ** ((i % 5) - 3));
      for (let step = 1; step <= STEPS; step++) {
        const grad = uniform(n, 200 + step).map((g, i) => g * gradScale[i]!);
        const tGrad = device.tensor(grad);
        adamStep(tParam, tGrad, tm, tv, { ...hyper, step });
        ({ param, m, v } = ref.adamStep(param, grad, m, v, { ...hyper, step }));
        tGrad.dispose();
      }
      expectClose(await tParam.read(), param, TOLERANCE, 'param');
      expectCloseScaled(await tm.read(), m, gradScale, 'm');
      expectCloseScaled(await tv.read(), v, gradScale.map((s) => s * s), 'v');
      for (const t of [tParam, tm, tv]) t.dispose();
    });
  }

  it('takes a strided view as the gradient', async () => {
    const param = Float64Array.from(uniform(12, 3));
    const grad = uniform(12, 4);
    const tParam = device.tensor(param, [3, 4]);
    const tGrad = device.tensor(grad, [4, 3]);
    const view = tGrad.transpose();
    sgdStep(tParam, view, null, { lr: 0.5 });
    const transposed = Array.from({ length: 12 }, (_, i) => grad[(i % 4) * 3 + Math.floor(i / 4)]!);
    expectClose(await tParam.read(), ref.sgdStep(param, transposed, undefined, { lr: 0.5, step: 1 }).param, TOLERANCE);
    for (const t of [tParam, tGrad, view]) t.dispose();
  });
});

describe('optimizer objects', () => {
  const CONFIGS: OptimizerConfig[] = [
    { kind: 'sgd', lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3 },
    { kind: 'sgd', lr: 0.1 },
    { kind: 'adam', lr: 1e-2, weightDecay: 1e-2 },
    { kind: 'adamw', lr: 1e-2 },
  ];

  it.each(CONFIGS)('$kind over several parameters follows the reference, state in category optimizer', async (config) => {
    const shapes = [[1], [3, 17], [65], [10, 100]];
    const before = device.memory().live.optimizer;
    const params = shapes.map((s, k) => device.tensor(uniform(s.reduce((a, b) => a * b, 1), 10 + k), s, 'f32', 'parameter'));
    const expected: Float64Array[] = params.map((_, k) => Float64Array.from(uniform(params[k]!.size, 10 + k)));
    const states: Array<[Float64Array, Float64Array]> = params.map((p) => [new Float64Array(p.size), new Float64Array(p.size)]);
    const optimizer = createOptimizer(config);
    expect(optimizer.stateBytes).toBe(0);
    for (let step = 1; step <= 3; step++) {
      const grads = params.map((p, k) => uniform(p.size, 50 * step + k));
      const tGrads = grads.map((g, k) => device.tensor(g, params[k]!.shape));
      optimizer.step(params, tGrads);
      params.forEach((_, k) => {
        const [a, b] = states[k]!;
        if (config.kind === 'sgd') {
          const r = ref.sgdStep(expected[k]!, grads[k]!, a, { ...config, step });
          expected[k] = r.param;
          if (r.momentumBuffer) states[k]![0] = r.momentumBuffer;
        } else {
          const r = ref.adamStep(expected[k]!, grads[k]!, a, b, { ...config, weightDecay: config.weightDecay ?? (config.kind === 'adamw' ? 1e-2 : 0), decoupled: config.kind === 'adamw', step });
          expected[k] = r.param;
          states[k] = [r.m, r.v];
        }
      });
      tGrads.forEach((t) => t.dispose());
    }
    expect(optimizer.stepCount).toBe(3);
    for (const [k, p] of params.entries()) expectClose(await p.read(), expected[k]!, TOLERANCE, `param ${k}`);
    const slots = config.kind === 'sgd' ? ((config.momentum ?? 0) !== 0 ? 1 : 0) : 2;
    const paramBytes = params.reduce((sum, p) => sum + p.bytes, 0);
    expect(optimizer.stateBytes).toBe(slots * paramBytes);
    expect(device.memory().live.optimizer - before).toBe(slots * paramBytes);
    for (const [k, p] of params.entries()) {
      const state = optimizer.stateOf(p);
      expect(state.length).toBe(slots);
      for (const t of state) expect(t.category).toBe('optimizer');
      if (slots > 0) expectClose(await state[0]!.read(), states[k]![0], TOLERANCE, `state ${k}`);
    }
    optimizer.dispose();
    expect(device.memory().live.optimizer).toBe(before);
    params.forEach((p) => p.dispose());
  });

  it('AdamW defaults to weight decay 1e-2, as PyTorch', () => {
    expect(createOptimizer({ kind: 'adamw', lr: 1 }).config.weightDecay).toBe(1e-2);
    expect(createOptimizer({ kind: 'adam', lr: 1 }).config.weightDecay).toBe(0);
  });

  it('checks its config against the training spec\'s rules: kind, every number as float32 holds it', () => {
    expect(() => createOptimizer({ kind: 'rmsprop', lr: 1e-3 } as never)).toThrow(/Optimizer: kind must be one of adam, adamw, sgd, got "rmsprop"/);
    expect(() => createOptimizer({ kind: 'adam', lr: 1e-300 })).toThrow(/Optimizer: lr must be a number > 0 that float32 can hold, got 1e-300/);
    expect(() => createOptimizer({ kind: 'sgd', lr: 1e300 })).toThrow(/Optimizer: lr .* overflows float32/);
    expect(() => createOptimizer({ kind: 'adam', lr: 1e-3, beta2: 0.999999999 })).toThrow(/beta2 must be a number in \[0, 1\), got 0\.999999999, which is 1 in float32/);
    expect(() => createOptimizer({ kind: 'adam', lr: 1e-3, betas: [0.9, 0.99] } as never)).toThrow(/betas is not a known field/);
    expect(() => createOptimizer({ kind: 'sgd', lr: 1e-3, nesterov: true })).toThrow(/nesterov needs a momentum above 0/);
    expect(() => createOptimizer({ kind: 'adamw', lr: 1e30, weightDecay: 1e30 })).toThrow(/weightDecay .* overflows float32/);
  });
});

describe('vec4 lanes', () => {
  it('a step over a multiple of 4 elements (vec4 lanes) gives the same bits as over the same elements plus one (scalar lanes)', async () => {
    const n = 1028;
    const values = { p: uniform(n + 1, 21), g: uniform(n + 1, 22), m: uniform(n + 1, 23), v: uniform(n + 1, 24).map(Math.abs) };
    const run = async (size: number) => {
      const [p, g, m, v] = (['p', 'g', 'm', 'v'] as const).map((k) => device.tensor(values[k].subarray(0, size)));
      adamStep(p!, g!, m!, v!, { lr: 1e-3, step: 7, weightDecay: 0.01 });
      const out = [await p!.read(), await m!.read(), await v!.read()].map((a) => new Uint32Array(new Float32Array(a).buffer.slice(0, 4 * n)));
      for (const t of [p, g, m, v]) t!.dispose();
      return out;
    };
    const vec = await run(n);
    const scalar = await run(n + 1);
    vec.forEach((a, i) => expect(Array.from(a), ['param', 'm', 'v'][i]).toEqual(Array.from(scalar[i]!)));
  });
});

describe('non-finite guard', () => {
  it.each([Number.NaN, Infinity, -Infinity])('checkFinite raises the flag for %f anywhere in the tensor', async (bad) => {
    for (const n of [1, 65, 70_000]) {
      for (const at of [0, n - 1, Math.floor(n / 2)]) {
        const values = uniform(n, 5);
        values[at] = bad;
        // checkFinite raises the flag in place, so the flag is the result.
        const raise = (t: Tensor, flag: Tensor) => {
          checkFinite(t, flag);
          return flag;
        };
        await expectOp(device, raise, [[values, [n]], [[0], [1], 'u32']], [1], 'exact', { what: `n ${n}, bad value at ${at}` });
      }
    }
  });

  it('checkFinite leaves the flag alone for finite values (extremes included), and writes the index asked for', async () => {
    const values = Float32Array.from([3.4028234e38, -3.4028234e38, 1e-45, -0, 0, 1]);
    const t = device.tensor(values);
    const flag = device.zeros([4], 'u32');
    checkFinite(t, flag, { index: 2 });
    expect(Array.from(await flag.read())).toEqual([0, 0, 0, 0]);
    const bad = device.tensor([1, Number.NaN]);
    checkFinite(bad, flag, { index: 2 });
    expect(Array.from(await flag.read())).toEqual([0, 0, 1, 0]);
    for (const x of [t, flag, bad]) x.dispose();
  });

  it('checkFinite keeps the first mark a flag was raised with (the trainer records the first bad step so)', async () => {
    const good = device.tensor([1, 2, 3]);
    const bad = device.tensor(Float32Array.from({ length: 300 }, (_, i) => (i % 7 === 0 ? Number.NaN : i)));
    const flag = device.zeros([1], 'u32');
    checkFinite(good, flag, { mark: 3 });
    checkFinite(bad, flag, { mark: 4 });
    checkFinite(bad, flag, { mark: 5 });
    expect(Array.from(await flag.read())).toEqual([4]);
    expect(() => checkFinite(bad, flag, { mark: 0 })).toThrow(/mark must be an integer in \[1, 2\^32 - 1\], got 0/);
    for (const x of [good, bad, flag]) x.dispose();
  });

  it('checkFinite over a list: a NaN in any tensor, at either end of it, raises the flag in one dispatch per four tensors', async () => {
    // Sizes that straddle a CPU adapter's 64-element runs, so a run crossing two tensors would show.
    const sizes = [17, 1, 65, 64, 5, 0, 130];
    const tensors = sizes.map((n, i) => device.tensor(uniform(n, 20 + i), [n]));
    const flag = device.zeros([2], 'u32');
    const before = device.dispatchCount;
    checkFinite(tensors, flag, { index: 1 });
    // Six tensors that hold elements: two dispatches (four, then two); the empty one is skipped.
    expect(device.dispatchCount - before).toBe(2);
    expect(Array.from(await flag.read())).toEqual([0, 0]);
    for (const [i, n] of sizes.entries()) {
      for (const at of n === 0 ? [] : [0, n - 1]) {
        const values = uniform(n, 20 + i);
        values[at] = Number.NaN;
        const list = tensors.map((t, j) => (j === i ? device.tensor(values, [n]) : t));
        const one = device.zeros([2], 'u32');
        checkFinite(list, one, { index: 1, mark: 7 });
        expect(Array.from(await one.read()), `tensor ${i} (size ${n}), NaN at ${at}`).toEqual([0, 7]);
        list[i]!.dispose();
        one.dispose();
      }
    }
    checkFinite([], flag);
    expect(() => checkFinite([tensors[0]!, 5 as unknown as Tensor], flag)).toThrow(/checkFinite: operand tensor\[1\] must be a Tensor, got 5/);
    expect(Array.from(await flag.read())).toEqual([0, 0]);
    expect(() => checkFinite([tensors[0]!, flag], flag)).toThrow(/checkFinite: tensor\[1\] has dtype u32/);
    for (const x of [...tensors, flag]) x.dispose();
  });

  it('checkFinite reads a strided view', async () => {
    const values = uniform(12, 6);
    values[5] = Number.NaN;
    const t = device.tensor(values, [3, 4]);
    const view = t.transpose();
    const flag = device.zeros([1], 'u32');
    checkFinite(view, flag);
    expect(Array.from(await flag.read())).toEqual([1]);
    for (const x of [t, view, flag]) x.dispose();
  });

  it.each<OptimizerConfig>([
    { kind: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true },
    { kind: 'sgd', lr: 0.1 },
    { kind: 'adam', lr: 1e-2, weightDecay: 1e-2 },
    { kind: 'adamw', lr: 1e-2 },
  ])('$kind: a NaN gradient leaves params and state bit-identical; a finite one steps', async (config) => {
    const n = 65;
    const params = [device.tensor(uniform(n, 7), [n], 'f32', 'parameter'), device.tensor(uniform(17, 8), [17], 'f32', 'parameter')];
    const optimizer = createOptimizer(config);
    const flag = device.zeros([1], 'u32');
    const finiteGrads = () => [device.tensor(uniform(n, 9)), device.tensor(uniform(17, 10))];

    // A finite step first, so the state is nonzero.
    let grads = finiteGrads();
    for (const g of grads) checkFinite(g, flag);
    optimizer.step(params, grads, { skipIfFlagged: flag });
    expect(Array.from(await flag.read())).toEqual([0]);
    grads.forEach((g) => g.dispose());
    const snapshot = async () => Promise.all([...params, ...params.flatMap((p) => optimizer.stateOf(p))].map(bitsOf));
    const before = await snapshot();
    if (config.kind === 'sgd' && config.momentum) expect(before[2]!.some((b) => b !== 0)).toBe(true);

    // One NaN in the second parameter's gradient: nothing moves, in either parameter.
    const bad = uniform(17, 11);
    bad[16] = Number.NaN;
    grads = [device.tensor(uniform(n, 12)), device.tensor(bad)];
    for (const g of grads) checkFinite(g, flag);
    optimizer.step(params, grads, { skipIfFlagged: flag });
    expect(Array.from(await flag.read())).toEqual([1]);
    expect(await snapshot()).toEqual(before);
    grads.forEach((g) => g.dispose());

    // The same NaN step without the guard does poison the weights (the test can fail).
    grads = [device.tensor(uniform(n, 12)), device.tensor(bad)];
    optimizer.step(params, grads);
    const poisoned = await params[1]!.read();
    expect(Number.isNaN(poisoned[16])).toBe(true);
    grads.forEach((g) => g.dispose());
    for (const t of [...params, flag]) t.dispose();
    optimizer.dispose();
  });

  it('any raised element of a multi-element flag skips the step', async () => {
    const param = device.tensor(uniform(17, 13));
    const m = device.zeros([17], 'f32', 'optimizer');
    const v = device.zeros([17], 'f32', 'optimizer');
    const grad = device.tensor(uniform(17, 14));
    const flag = device.tensor([0, 0, 0, 7], [4], 'u32');
    const before = await bitsOf(param);
    adamStep(param, grad, m, v, { lr: 0.1, step: 1, skipIfFlagged: flag });
    sgdStep(param, grad, null, { lr: 0.1, skipIfFlagged: flag });
    expect(await bitsOf(param)).toEqual(before);
    expect((await m.read()).every((x) => x === 0)).toBe(true);
    for (const t of [param, m, v, grad, flag]) t.dispose();
  });
});

describe('bad input', () => {
  it('rejects mismatched shapes and dtypes, naming the op and both shapes, before any dispatch', () => {
    const param = device.zeros([3, 4]);
    const grad = device.zeros([4, 3]);
    const good = device.zeros([3, 4]);
    const labels = device.zeros([3, 4], 'i32');
    const fflag = device.zeros([1]);
    const before = device.dispatchCount;
    expect(() => sgdStep(param, grad, null, { lr: 0.1 })).toThrow(ShapeError);
    expect(() => sgdStep(param, grad, null, { lr: 0.1 })).toThrow(/sgdStep: param \[3, 4\] and grad \[4, 3\]/);
    expect(() => sgdStep(param, labels, null, { lr: 0.1 })).toThrow(/sgdStep: grad has dtype i32/);
    expect(() => sgdStep(param, good, null, { lr: 0.1, momentum: 0.9 })).toThrow(/needs a momentum buffer/);
    expect(() => sgdStep(param, good, grad, { lr: 0.1, momentum: 0.9 })).toThrow(/sgdStep: param \[3, 4\] and momentum buffer \[4, 3\]/);
    expect(() => adamStep(param, good, good, good, { lr: 0.1, step: 1 })).toThrow(/share storage/);
    expect(() => adamStep(param, good, grad, grad, { lr: 0.1, step: 1 })).toThrow(/adamStep: param \[3, 4\] and m \[4, 3\]/);
    expect(() => adamStep(param, good, good, good, { lr: 0.1, step: 0 })).toThrow(RangeError);
    expect(() => sgdStep(param, good, null, { lr: 0.1, skipIfFlagged: fflag })).toThrow(/flag has dtype f32/);
    expect(() => sgdStep(param, good, null, { lr: 0.1, nesterov: true })).toThrow(/Nesterov/);
    expect(() => checkFinite(param, fflag)).toThrow(/checkFinite: flag has dtype f32/);
    const view = grad.transpose();
    expect(() => sgdStep(view, good, null, { lr: 0.1 })).toThrow(/param .* must be contiguous/);
    expect(device.dispatchCount).toBe(before);
    for (const t of [param, grad, good, labels, fflag, view]) t.dispose();
  });

  it('an optimizer checks every pair before encoding or allocating anything', () => {
    const params = [device.zeros([5]), device.zeros([6])];
    const grads = [device.zeros([5]), device.zeros([7])];
    const optimizer = createOptimizer({ kind: 'adam', lr: 1e-3 });
    const before = device.dispatchCount;
    expect(() => optimizer.step(params, grads)).toThrow(/adam: param \[6\] and grad \[7\]/);
    expect(() => optimizer.step(params, grads.slice(0, 1))).toThrow(/2 params and 1 grads/);
    expect(device.dispatchCount).toBe(before);
    expect(optimizer.stateBytes).toBe(0);
    expect(optimizer.stepCount).toBe(0);
    expect(() => createOptimizer({ kind: 'adam', lr: 1e-3, beta1: 1 })).toThrow(/beta1 must be a number in \[0, 1\), got 1/);
    for (const t of [...params, ...grads]) t.dispose();
    optimizer.dispose();
  });
});

describe('step values (StepGuard.stepValues: the per-step scalars from a buffer, the uniforms the same every step)', () => {
  const configs: [string, OptimizerConfig][] = [
    ['SGD', { kind: 'sgd', lr: 0.1 }],
    ['SGD with momentum and Nesterov', { kind: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }],
    ['Adam with weight decay', { kind: 'adam', lr: 1e-2, weightDecay: 0.1 }],
    ['AdamW', { kind: 'adamw', lr: 1e-2, weightDecay: 0.1 }],
  ];
  it.each(configs)('%s: the same bits as from the uniforms, step after step with the rate changing', async (_, config) => {
    const n = 17;
    const [a, b] = [0, 1].map(() => device.tensor(uniform(n, 11), [n], 'f32', 'parameter'));
    const [viaUniforms, viaValues] = [createOptimizer(config), createOptimizer(config)];
    const words = new Uint32Array(5); // the values at 2, to show valuesAt is honoured
    const stepValues = device.zeros([words.length], 'u32');
    try {
      for (let step = 1; step <= 4; step++) {
        const grad = device.tensor(uniform(n, 100 + step), [n]);
        for (const o of [viaUniforms, viaValues]) o.lr = config.lr / step;
        viaValues.writeStepValues(words, 2);
        device.upload(stepValues, words);
        viaUniforms.step([a!], [grad]);
        viaValues.step([b!], [grad], { stepValues, valuesAt: 2 });
        expect(await bitsOf(b!), `step ${step}`).toEqual(await bitsOf(a!));
        grad.dispose();
      }
      // And the kernel reads them there: other values give other weights.
      const grad = device.tensor(uniform(n, 200), [n]);
      for (const o of [viaUniforms, viaValues]) o.lr = config.lr;
      viaValues.writeStepValues(words, 2);
      words[2] = new Uint32Array(new Float32Array([0.5]).buffer)[0]!;
      device.upload(stepValues, words);
      viaUniforms.step([a!], [grad]);
      viaValues.step([b!], [grad], { stepValues, valuesAt: 2 });
      expect(await bitsOf(b!)).not.toEqual(await bitsOf(a!));
      grad.dispose();
    } finally {
      for (const t of [a!, b!, stepValues]) t.dispose();
      viaUniforms.dispose();
      viaValues.dispose();
    }
  });

  it('checkFinite raises the flag to the mark the step values hold', async () => {
    const flag = device.zeros([1], 'u32');
    const stepValues = device.tensor(new Uint32Array([0, 0, 7]), [3], 'u32');
    const bad = device.tensor([1, Number.NaN]);
    checkFinite([bad], flag, { stepValues, valuesAt: 2 });
    expect(Array.from(await flag.read())).toEqual([7]);
    for (const t of [flag, stepValues, bad]) t.dispose();
  });

  it('refuses step values that are not a dense u32 tensor with room for the step, and valuesAt alone, naming them', () => {
    const p = device.tensor([1, 2, 3]);
    const g = device.tensor([1, 1, 1]);
    const [m, v] = [device.zeros([3]), device.zeros([3])];
    const small = device.zeros([4], 'u32');
    const floats = device.zeros([4]);
    try {
      expect(() => adamStep(p, g, m, v, { lr: 1, step: 1, stepValues: small, valuesAt: 2 })).toThrow(/^adamStep: valuesAt 2 leaves no room for 3 step values in stepValues \[4\]$/);
      expect(() => sgdStep(p, g, null, { lr: 1, stepValues: small, valuesAt: 3 })).toThrow(/^sgdStep: valuesAt 3 leaves no room for 2 step values in stepValues \[4\]$/);
      expect(() => adamStep(p, g, m, v, { lr: 1, step: 1, stepValues: floats })).toThrow(/adamStep: .*stepValues.*u32/);
      expect(() => checkFinite(g, small, { valuesAt: 0 })).toThrow(/^checkFinite: valuesAt 0 given without stepValues$/);
      expect(() => checkFinite(g, small, { stepValues: small })).toThrow(/^checkFinite: flag and stepValues share storage$/);
    } finally {
      for (const t of [p, g, m, v, small, floats]) t.dispose();
    }
  });
});
