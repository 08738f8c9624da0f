/**
 * Every public op under misuse, enumerated from the ops index (a new op without a row in CASES
 * fails the first test): each tensor operand (or device, or shape) replaced in turn by undefined,
 * null, a number, a plain array, a Float32Array, an object and a disposed tensor must be refused
 * with an error naming the op and the operand, never "Cannot read properties of ...", before
 * anything is allocated; each option given values of the wrong type or outside f32 (a seeded
 * loop) must be refused naming the option; an unknown option names the nearest known one. Then
 * the layers' entry points, ops.cast's value conversions, and predictPixels' pixel forms.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DisposedError, nn, ops, reference, type Tensor } from '../src/index.js';
import { mlp } from '../src/sll/model.js';
import { Predictor } from '../src/sll/predict.js';
import { testDevice } from './helpers/device.js';

const device = await testDevice();

/** Lets a test pass what the types forbid, as a JavaScript caller could. */
const loose = (value: unknown) => value as never;

/**
 * Tensors shared by the cases (no case depends on their values; ops that update an operand in
 * place or need distinct buffers take distinct slots), made once, disposed after the file.
 */
const shared = new Map<string, Tensor>();
function t(shape: number[], dtype: 'f32' | 'i32' | 'u32' = 'f32', slot = 0): Tensor {
  const key = `${shape.join('x')} ${dtype} ${slot}`;
  let x = shared.get(key);
  if (!x) {
    const size = shape.reduce((a, b) => a * b, 1);
    x = device.tensor(Array.from({ length: size }, (_, i) => (dtype === 'f32' ? ((i * 7) % 5) / 5 - 0.3 : 0)), shape, dtype);
    shared.set(key, x);
  }
  return x;
}
afterAll(() => {
  for (const x of shared.values()) x.dispose();
});

function disposedTensor(): Tensor {
  const x = device.tensor([1, 2, 3]);
  x.dispose();
  return x;
}

/** What the pool says is live: a refused call must leave it as it was. */
function live(): { live: unknown; liveBuffers: number } {
  const { live: bytes, liveBuffers } = device.memory();
  return { live: bytes, liveBuffers };
}

/** Runs `run` and returns what it threw (failing the test when it throws nothing). */
function thrownBy(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  throw new Error('expected a throw, got none');
}

/** Disposes every tensor in an op's result (a tensor, an object or array of them, or nothing). */
function disposeResult(result: unknown, seen = new Set<unknown>()): void {
  // Walk each object once.
  if (seen.has(result)) return;
  seen.add(result);
  if (result instanceof Object && 'dispose' in result && typeof result.dispose === 'function' && 'shape' in result) (result as Tensor).dispose();
  else if (Array.isArray(result)) result.forEach((r) => disposeResult(r, seen));
  // Results are tensors, arrays or plain objects of them; a class instance (a stream, a device) is not walked into.
  else if (result && typeof result === 'object' && Object.getPrototypeOf(result) === Object.prototype) Object.values(result).forEach((r) => disposeResult(r, seen));
}

// ---------------------------------------------------------------- the op table

/** How each option of an op is checked (mirrors what the op's doc comment promises). */
type Kind = 'boolean' | 'number' | 'nonNegative' | 'positive' | 'integer' | 'tensor' | 'category' | 'pair' | 'seed' | 'enum';

interface OpCase {
  /** The op's name in its errors. */
  op: string;
  /** Valid arguments; the call with them must succeed. */
  args: () => unknown[];
  call: (...args: unknown[]) => unknown;
  /** Positional operands: [argument index, name, what it is]. */
  operands: Array<[number, string, 'tensor' | 'device' | 'shape']>;
  /** The options argument: its index, and each option's kind. */
  options?: { index: number; kinds: Record<string, Kind>; required?: string[] };
}

const fn = (f: (...args: never[]) => unknown) => f as (...args: unknown[]) => unknown;

/** One op: `names` lists the argument names of `args`, null where an argument is not an operand. */
function opCase(op: string, call: (...args: never[]) => unknown, args: () => unknown[], names: Array<string | null>, options?: OpCase['options']): [string, OpCase] {
  const operands = names.flatMap((name, i): OpCase['operands'] => {
    if (name === null) return [];
    return [[i, name, name === 'device' ? 'device' : /shape$/i.test(name) ? 'shape' : 'tensor']];
  });
  return [op, { op, call: fn(call), args, operands, options }];
}

const f23 = () => t([2, 3]);
const labels2 = () => t([2], 'i32');
const images = () => t([1, 1, 3, 3]);
const GEOMETRY = { stride: 'pair', padding: 'pair', kernel: 'enum' } as const;
const ATTENTION = { scale: 'number', category: 'category' } as const;
const SOFTMAX = { temperature: 'positive', category: 'category' } as const;
const POOL = { kernel: 'pair', stride: 'pair', padding: 'pair', category: 'category' } as const;
const q = () => t([1, 1, 2, 4]);

const binary = (name: 'add' | 'sub' | 'mul' | 'div' | 'maximum' | 'minimum') => opCase(name, ops[name], () => [f23(), t([3]), 'scratch'], ['a', 'b', null]);
const unary = (name: 'relu' | 'gelu' | 'exp' | 'log' | 'sqrt' | 'abs' | 'square' | 'tanh') => opCase(name, ops[name], () => [f23(), 'scratch'], ['x', null]);

const CASES = Object.fromEntries([
  opCase('contiguous', ops.contiguous, () => [f23()], ['t']),
  opCase('copy', ops.copy, () => [f23()], ['t']),
  opCase('copyInto', ops.copyInto, () => [t([2, 3], 'f32', 1), f23()], ['dst', 'src']),
  opCase('concat', (a: Tensor, b: Tensor) => ops.concat([a, b]), () => [f23(), f23()], ['tensors[0]', 'tensors[1]']),
  opCase('cast', ops.cast, () => [f23(), 'i32'], ['input', null]),
  opCase('gatherRows', ops.gatherRows, () => [f23(), labels2(), 'scratch'], ['table', 'index', null]),
  binary('add'),
  binary('sub'),
  binary('mul'),
  binary('div'),
  binary('maximum'),
  binary('minimum'),
  opCase('addInPlace', ops.addInPlace, () => [t([2, 3], 'f32', 1), f23(), 0.5], ['target', 'b', null]),
  opCase('affine', ops.affine, () => [f23(), 2, 1], ['x', null, null]),
  opCase('scale', ops.scale, () => [f23(), 2], ['x', null]),
  unary('relu'),
  unary('gelu'),
  unary('exp'),
  unary('log'),
  unary('sqrt'),
  unary('abs'),
  unary('square'),
  unary('tanh'),
  opCase('reluBackward', ops.reluBackward, () => [f23(), f23()], ['dy', 'x']),
  opCase('geluBackward', ops.geluBackward, () => [f23(), f23()], ['dy', 'x']),
  opCase('tanhBackward', ops.tanhBackward, () => [f23(), f23()], ['dy', 'y']),
  opCase('leakyRelu', ops.leakyRelu, () => [f23(), 0.01, 'scratch'], ['x', null, null]),
  opCase('leakyReluBackward', ops.leakyReluBackward, () => [f23(), f23(), 0.01], ['dy', 'x', null]),
  opCase('softmax', ops.softmax, () => [f23(), {}], ['x', null], { index: 1, kinds: SOFTMAX }),
  opCase('logSoftmax', ops.logSoftmax, () => [f23(), {}], ['x', null], { index: 1, kinds: SOFTMAX }),
  opCase('softmaxBackward', ops.softmaxBackward, () => [f23(), f23(), {}], ['dy', 'y', null], { index: 2, kinds: SOFTMAX }),
  opCase('logSoftmaxBackward', ops.logSoftmaxBackward, () => [f23(), f23(), {}], ['dy', 'y', null], { index: 2, kinds: SOFTMAX }),
  opCase('crossEntropy', ops.crossEntropy, () => [f23(), labels2(), {}], ['logits', 'labels', null], { index: 2, kinds: { scale: 'number', temperature: 'positive', category: 'category' } }),
  opCase('bhattacharyya', ops.bhattacharyya, () => [f23(), f23(), {}], ['v', 'logQ', null], { index: 2, kinds: { tau: 'positive', scale: 'number', category: 'category' } }),
  opCase('sllClassLoss', ops.sllClassLoss, () => [f23(), labels2(), f23(), {}], ['v', 'labels', 'logQ', null], { index: 3, kinds: { tau: 'positive', scale: 'number', category: 'category' } }),
  opCase('layerNorm', ops.layerNorm, () => [f23(), t([3]), t([3]), {}], ['x', 'gamma', 'beta', null], { index: 3, kinds: { eps: 'nonNegative', category: 'category' } }),
  opCase('layerNormBackward', ops.layerNormBackward, () => [f23(), f23(), t([2]), t([2]), t([3])], ['dy', 'x', 'mean', 'rstd', 'gamma']),
  opCase('sum', ops.sum, () => [f23(), [0], {}], ['x', null, null], { index: 2, kinds: { keepDims: 'boolean', category: 'category' } }),
  opCase('mean', ops.mean, () => [f23(), [0], {}], ['x', null, null], { index: 2, kinds: { keepDims: 'boolean', category: 'category' } }),
  opCase('sumAll', ops.sumAll, () => [f23()], ['x']),
  opCase('sumPartials', ops.sumPartials, () => [f23(), [3], 'scratch'], ['partials', 'shape', null]),
  opCase('argmax', ops.argmax, () => [f23()], ['x']),
  opCase('countCorrect', ops.countCorrect, () => [f23(), labels2(), t([1], 'u32')], ['logits', 'labels', 'into']),
  opCase('addWindowMetrics', ops.addWindowMetrics, () => [t([2], 'f32'), t([1], 'u32'), f23(), labels2(), t([2], 'f32', 1), t([2], 'f32', 2)], ['sums', 'correct', 'logits', 'labels', 'likelihood', null]),
  opCase('randomBits', ops.randomBits, () => [device, [4], { seed: 1 }], ['device', 'shape', null], { index: 2, kinds: { seed: 'seed', offset: 'integer', category: 'category' }, required: ['seed'] }),
  opCase('uniform', ops.uniform, () => [device, [4], { seed: 1 }], ['device', 'shape', null], {
    index: 2,
    kinds: { seed: 'seed', offset: 'integer', category: 'category', low: 'number', high: 'number' },
    required: ['seed'],
  }),
  opCase('normal', ops.normal, () => [device, [4], { seed: 1 }], ['device', 'shape', null], {
    index: 2,
    kinds: { seed: 'seed', offset: 'integer', category: 'category', mean: 'number', std: 'nonNegative' },
    required: ['seed'],
  }),
  opCase('bernoulli', ops.bernoulli, () => [device, [4], { seed: 1, p: 0.5 }], ['device', 'shape', null], {
    index: 2,
    kinds: { seed: 'seed', offset: 'integer', category: 'category', p: 'number', dtype: 'enum' },
    required: ['seed', 'p'],
  }),
  opCase('RandomStream', (d: never, seed: never) => new ops.RandomStream(d, seed), () => [device, 1], ['device', null]),
  opCase('checkFinite', ops.checkFinite, () => [f23(), t([1], 'u32'), {}], ['tensor', 'flag', null], { index: 2, kinds: { index: 'integer', mark: 'integer', stepValues: 'tensor', valuesAt: 'integer' } }),
  opCase('sgdStep', ops.sgdStep, () => [t([4]), t([4], 'f32', 1), t([4], 'f32', 2), { lr: 0.1, momentum: 0.9 }], ['param', 'grad', 'state', null], {
    index: 3,
    kinds: { lr: 'number', momentum: 'number', dampening: 'number', weightDecay: 'number', nesterov: 'boolean', step: 'integer', skipIfFlagged: 'tensor', stepValues: 'tensor', valuesAt: 'integer' },
    required: ['lr'],
  }),
  opCase('adamStep', ops.adamStep, () => [t([4]), t([4], 'f32', 1), t([4], 'f32', 2), t([4], 'f32', 3), { lr: 0.1, step: 1 }], ['param', 'grad', 'm', 'v', null], {
    index: 4,
    kinds: { lr: 'number', beta1: 'number', beta2: 'number', eps: 'number', weightDecay: 'number', decoupled: 'boolean', step: 'integer', skipIfFlagged: 'tensor', stepValues: 'tensor', valuesAt: 'integer' },
    required: ['lr', 'step'],
  }),
  opCase('attention', ops.attention, () => [q(), q(), q(), {}], ['q', 'k', 'v', null], { index: 3, kinds: ATTENTION }),
  opCase('attentionBackward', ops.attentionBackward, () => [q(), q(), q(), q(), q(), t([1, 1, 2]), {}], ['dOut', 'q', 'k', 'v', 'out', 'logSumExp', null], { index: 6, kinds: ATTENTION }),
  opCase('attentionByMatmul', ops.attentionByMatmul, () => [q(), q(), q(), {}], ['q', 'k', 'v', null], { index: 3, kinds: ATTENTION }),
  opCase('attentionByMatmulBackward', ops.attentionByMatmulBackward, () => [q(), q(), q(), q(), t([1, 1, 2, 2]), {}], ['dOut', 'q', 'k', 'v', 'probabilities', null], { index: 5, kinds: ATTENTION }),
  opCase('conv2d', ops.conv2d, () => [images(), t([2, 1, 2, 2]), {}], ['x', 'w', null], {
    index: 2,
    kinds: { ...GEOMETRY, bias: 'tensor', activation: 'enum', category: 'category' },
  }),
  opCase('conv2dBackwardInput', ops.conv2dBackwardInput, () => [t([1, 2, 2, 2]), t([2, 1, 2, 2]), [1, 1, 3, 3], {}], ['dy', 'w', 'inputShape', null], {
    index: 3,
    kinds: { ...GEOMETRY, category: 'category', batchChunk: 'integer' },
  }),
  opCase('conv2dBackwardWeight', ops.conv2dBackwardWeight, () => [t([1, 2, 2, 2]), images(), [2, 1, 2, 2], {}], ['dy', 'x', 'weightShape', null], {
    index: 3,
    kinds: { ...GEOMETRY, category: 'category', batchChunk: 'integer' },
  }),
  opCase('conv2dBackwardBias', ops.conv2dBackwardBias, () => [t([1, 2, 2, 2]), {}], ['dy', null], { index: 1, kinds: { category: 'category' } }),
  opCase('conv2dOutputShape', ops.conv2dOutputShape, () => [[1, 1, 3, 3], [2, 1, 2, 2], {}], ['xShape', 'wShape', null], { index: 2, kinds: GEOMETRY }),
  opCase('maxPool2d', ops.maxPool2d, () => [t([1, 1, 2, 2]), { kernel: 2 }], ['x', null], { index: 1, kinds: POOL, required: ['kernel'] }),
  opCase('maxPool2dBackward', ops.maxPool2dBackward, () => [t([1, 1, 1, 1]), t([1, 1, 2, 2]), { kernel: 2 }], ['dy', 'x', null], { index: 2, kinds: POOL, required: ['kernel'] }),
  opCase('avgPool2d', ops.avgPool2d, () => [t([1, 1, 2, 2]), { kernel: 2 }], ['x', null], { index: 1, kinds: POOL, required: ['kernel'] }),
  opCase('avgPool2dBackward', ops.avgPool2dBackward, () => [t([1, 1, 1, 1]), [1, 1, 2, 2], { kernel: 2 }], ['dy', 'inputShape', null], { index: 2, kinds: POOL, required: ['kernel'] }),
  opCase('pool2dOutputShape', ops.pool2dOutputShape, () => [[1, 1, 2, 2], { kernel: 2 }], ['xShape', null], { index: 1, kinds: POOL, required: ['kernel'] }),
  opCase('globalAvgPool', ops.globalAvgPool, () => [t([1, 1, 2, 2])], ['x']),
  opCase('globalAvgPoolBackward', ops.globalAvgPoolBackward, () => [t([1, 1]), [1, 1, 2, 2]], ['dy', 'inputShape']),
  opCase('matmul', ops.matmul, () => [f23(), t([3, 2]), {}], ['a', 'b', null], {
    index: 2,
    kinds: { transposeA: 'boolean', transposeB: 'boolean', bias: 'tensor', activation: 'enum', category: 'category', variant: 'enum', splitK: 'integer' },
  }),
  opCase('chooseAttentionKernel', ops.chooseAttentionKernel, () => [device], ['device']),
  opCase('convSubgroupUnavailable', ops.convSubgroupUnavailable, () => [device], ['device']),
  opCase('chooseConvKernel', ops.chooseConvKernel, () => [device, 16], ['device', null]),
  opCase('matmulVariantUnavailable', ops.matmulVariantUnavailable, () => [device, 'plain'], ['device', null]),
  opCase('chooseMatmulVariant', ops.chooseMatmulVariant, () => [device, 8, 8, 8], ['device', null, null, null]),
  opCase('kernelChoices', ops.kernelChoices, () => [device], ['device']),
  opCase('builtInMatmulVariant', ops.builtInMatmulVariant, () => [device, 8, 8, 8], ['device', null, null, null]),
  opCase('layoutsOf', ops.layoutsOf, () => [device], ['device']),
  opCase('kernelTuningOf', ops.kernelTuningOf, () => [device], ['device']),
  opCase('useKernelTuning', ops.useKernelTuning, () => [device, undefined], ['device', null]),
  opCase('adoptKernelTuning', ops.adoptKernelTuning, () => [device, 'an adapter', undefined, 'kept'], ['device', null, null, null]),
]) as Record<string, OpCase>;

/**
 * Exports of the ops index that are not ops on tensors or devices, and where each one's misuse
 * is covered instead. Every other export must have a row in CASES.
 */
const NOT_OPS: Record<string, string> = {
  spatialPair: 'arithmetic on numbers (its type check is tested below)',
  windowPositions: 'arithmetic on numbers',
  collapseAxes: 'arithmetic on stride lists',
  wordsConsumed: 'arithmetic on a shape',
  kernelChoiceDifferences: 'compares two plain records',
  WORDS_PER_ELEMENT: 'a constant',
  MAX_ATTENTION_HEAD_DIM: 'a constant',
  MATMUL_VARIANTS: 'a constant',
  CAST_DTYPES: 'a constant',
  STEP_VALUE_WORDS: 'a constant',
  Optimizer: 'its step() is tested below; its config belongs to the optimizer settings',
  createOptimizer: 'the optimizer settings resolve its config (test/optim.test.ts)',
  MATMUL_SHAPE_CLASSES: 'a constant',
  TUNING_SHAPES: 'a constant',
  QUICK_TUNING_SHAPES: 'a constant',
  matmulShapeClass: 'arithmetic on numbers',
  checkKernelTuning: 'checks a plain record (test/tuning.test.ts)',
  sameKernelTuning: 'compares two plain records',
  describeKernelTuning: 'formats a plain record',
  tuneKernels: 'asynchronous: its device and option checks reject its promise (test/tuning.test.ts)',
};

// ---------------------------------------------------------------- operands

/** What replaces an operand: each must be refused naming the op and the operand. */
const BAD_OPERANDS: Array<[string, () => unknown]> = [
  ['undefined', () => undefined],
  ['null', () => null],
  ['a number', () => 3],
  ['a plain array', () => [1, 2, 3]],
  ['a Float32Array', () => Float32Array.of(1, 2, 3)],
  ['an object', () => ({ shape: [3], dtype: 'f32' })],
  ['a disposed tensor', disposedTensor],
];

/** Shapes are arrays of numbers: everything else is refused. */
const BAD_SHAPES: Array<[string, () => unknown]> = [
  ['undefined', () => undefined],
  ['null', () => null],
  ['a number', () => 3],
  ['a string', () => '2x2'],
  ['an object', () => ({ length: 2 })],
  ['a Float32Array', () => Float32Array.of(2, 2)],
];

const cannotRead = /Cannot read properties|is not a function|is not iterable|Cannot convert/;

describe('every public op checks its operands before anything is encoded', () => {
  it('has a row for every export of the ops index, or says why it is not an op', () => {
    const missing = Object.keys(ops).filter((name) => !(name in CASES) && !(name in NOT_OPS));
    expect(missing, 'exports of src/ops/index.ts with no misuse case').toEqual([]);
    const stale = [...Object.keys(CASES), ...Object.keys(NOT_OPS)].filter((name) => !(name in ops));
    expect(stale).toEqual([]);
  });

  const rows = Object.values(CASES).flatMap((c) =>
    c.operands.flatMap(([index, name, what]) =>
      (what === 'shape' ? BAD_SHAPES : BAD_OPERANDS).map(([label, bad]) => ({ title: `${c.op}: ${name} = ${label}`, c, index, name, what, label, bad })),
    ),
  );

  it('runs every op with its valid arguments (so that each refusal below is the replaced operand)', () => {
    for (const c of Object.values(CASES)) {
      const args = c.args();
      const before = live();
      disposeResult(c.call(...args));
      expect(live(), c.op).toEqual(before);
    }
  });

  it.each(rows)('$title', ({ c, index, name, what, label, bad }) => {
    const args = c.args();
    args[index] = bad();
    const before = live();
    const error = thrownBy(() => c.call(...args));
    expect(error.message).not.toMatch(cannotRead);
    expect(error.message.startsWith(`${c.op}: `), error.message).toBe(true);
    if (what === 'shape') {
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toContain(name);
    } else if (c.op === 'sgdStep' && name === 'state' && (label === 'undefined' || label === 'null')) {
      // Optional in general: left out with a momentum, it is a ShapeError naming it.
      expect(error.message).toMatch(/^sgdStep: momentum 0\.9 needs a momentum buffer \(operand state\) of shape \[4\], got (undefined|null)$/);
    } else if (label === 'a disposed tensor' && what === 'tensor') {
      expect(error).toBeInstanceOf(DisposedError);
      expect(error.message).toMatch(new RegExp(`was used after dispose\\(\\) \\(operand ${name.replace(/[[\]]/g, '\\$&')}\\)$`));
    } else {
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toContain(`operand ${name} must be a ${what === 'device' ? 'Device' : 'Tensor'}, got `);
    }
    expect(live()).toEqual(before);
  });

  it('concat refuses a list that is not an array, naming it', () => {
    expect(() => ops.concat(loose(f23()))).toThrow(/^concat: tensors must be an array of Tensors, got a Tensor$/);
    expect(() => ops.concat(loose(undefined))).toThrow(/^concat: tensors must be an array of Tensors, got undefined$/);
  });

  it("an optimizer's step refuses params and grads that are not lists of live tensors", () => {
    const optimizer = ops.createOptimizer({ kind: 'sgd', lr: 0.1 });
    const [param, grad] = [t([4]), t([4], 'f32', 1)];
    expect(() => optimizer.step(loose(undefined), [grad])).toThrow(/^sgd: params must be an array of Tensors, got undefined$/);
    expect(() => optimizer.step([param], loose(grad))).toThrow(/^sgd: grads must be an array of Tensors, got a Tensor$/);
    expect(() => optimizer.step([param], [loose(Float32Array.of(1))])).toThrow(/^sgd: operand grads\[0\] must be a Tensor, got a Float32Array \(upload host values/);
    expect(() => optimizer.step([disposedTensor()], [grad])).toThrow(/^sgd: tensor \[3\] f32 was used after dispose\(\) \(operand params\[0\]\)$/);
    expect(() => optimizer.step([param], [grad], loose({ skipIfFlagged: 1 }))).toThrow(/^sgd: skipIfFlagged must be a Tensor, got 1$/);
    expect(() => optimizer.step([param], [grad], loose('flag'))).toThrow(/^sgd: options must be an object/);
    optimizer.dispose();
  });

  it('refuses scalar arguments of the wrong type or outside f32, naming them', () => {
    const x = f23();
    const cases: Array<[() => unknown, RegExp]> = [
      [() => ops.affine(x, loose('2')), /^affine: alpha must be a finite number, got '2'$/],
      [() => ops.affine(x, 2, NaN), /^affine: beta must be a finite number, got NaN$/],
      [() => ops.scale(x, 1e300), /^scale: alpha must be a finite number that float32 can hold, got 1e\+300, which overflows float32/],
      [() => ops.addInPlace(t([2, 3], 'f32', 1), x, Infinity), /^addInPlace: alpha must be a finite number, got Infinity$/],
      [() => ops.relu(x, loose('gpu')), /^relu: category must be a memory category \(one of parameter, .*\), got 'gpu'$/],
      [() => ops.add(x, x, loose(3)), /^add: category must be a memory category/],
      [() => ops.concat([x], 0.5), /^concat: axis must be an integer, got 0\.5$/],
      [() => ops.sum(x, loose('0')), /^sum: axes must be an axis \(a number\), a list of axes, or undefined for all, got '0'$/],
      [() => ops.sum(x, loose([0, '1'])), /^sum: axes must be/],
      [() => ops.argmax(x, loose('weights')), /^argmax: category must be a memory category/],
      [() => ops.copy(x, loose('gpu')), /^copy: memory category 'gpu' is not one of/],
      [() => ops.chooseMatmulVariant(device, 8, loose('8'), 8), /^chooseMatmulVariant: n must be an integer, got '8'$/],
      [() => ops.matmulVariantUnavailable(device, loose('fast')), /^matmulVariantUnavailable: variant must be one of 'subgroup', 'tiled', 'blocked', 'skinny', 'plain', got 'fast'$/],
      [() => ops.spatialPair('maxpool', 'kernel', loose(undefined), 1), /^maxpool: kernel must be a number or \[height, width\], got undefined$/],
      [() => ops.spatialPair('maxpool', 'stride', 2 ** 40, 1), /^maxpool: stride 1099511627776 must be integers >= 1 and at most 2147483647$/],
    ];
    for (const [run, error] of cases) {
      const e = thrownBy(run);
      expect(e.message).toMatch(error);
      expect(['TypeError', 'RangeError', 'ShapeError']).toContain(e.name);
    }
  });
});

// ---------------------------------------------------------------- options

/** A small seeded generator (mulberry32), so the random values are the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Values every kind refuses. */
const ALWAYS_WRONG: unknown[] = ['yes', NaN, Infinity, -Infinity, 1e300, {}, [], null, Float32Array.of(1), () => 1];

/** Further values each kind refuses (what is right for one kind may be wrong for another). */
const WRONG_FOR: Record<Kind, unknown[]> = {
  boolean: [1, 0, 'true'],
  number: [3.5e38, -1e39, '1', true],
  nonNegative: [-1, -1e-30, 3.5e38, true],
  positive: [-1, 0, 1e-40, 1e-45, 3.5e38, true],
  integer: [0.5, 2 ** 53, '1', true],
  tensor: [3, [1, 2], true, 'tensor'],
  category: ['Activation', 'gpu', 3, true],
  pair: [-1, 0.5, [1], [1, 2, 3], ['a', 'b'], true],
  seed: [-1, 0.5, [1], [-1, 0], 1n << 64n, true],
  enum: ['sigmoid', 'RELU', 3, true],
};

/** Random values a kind refuses: numbers far outside f32, tiny ones, fractions, strings. */
function randomWrong(kind: Kind, next: () => number): unknown {
  const sign = next() < 0.5 ? -1 : 1;
  switch (kind) {
    case 'number':
    case 'nonNegative':
      return sign * 10 ** (39 + Math.floor(next() * 268));
    case 'positive':
      return next() < 0.5 ? 10 ** -(39 + Math.floor(next() * 280)) : -(1 + next() * 100);
    case 'integer':
    case 'seed':
      return Math.floor(next() * 1000) + 0.25 + next() / 2;
    case 'pair':
      return [Math.floor(next() * 9) + 1, -1 - Math.floor(next() * 9)];
    default:
      return `x${Math.floor(next() * 1e6).toString(36)}`;
  }
}

describe('every op with options checks them against its table', () => {
  const withOptions = Object.values(CASES).filter((c) => c.options);
  const next = rng(18);
  const rows = withOptions.flatMap((c) =>
    Object.entries(c.options!.kinds).flatMap(([name, kind]) =>
      [...ALWAYS_WRONG, ...WRONG_FOR[kind], randomWrong(kind, next), randomWrong(kind, next), randomWrong(kind, next)]
        .map((value) => ({ c, name, kind, value })),
    ),
  );

  it(`refuses ${rows.length} wrong option values, each naming the op and the option`, () => {
    const before = live();
    for (const { c, name, kind, value } of rows) {
      const args = c.args();
      args[c.options!.index] = { ...(args[c.options!.index] as object), [name]: value };
      const error = thrownBy(() => c.call(...args));
      const what = `${c.op} { ${name}: ${typeof value === 'function' ? 'a function' : String(value)} } (${kind})`;
      expect(error.message, what).not.toMatch(cannotRead);
      expect(error.message.startsWith(`${c.op}: `), `${what}: ${error.message}`).toBe(true);
      expect(error.message, what).toMatch(new RegExp(`\\b${name}\\b`));
      expect(['TypeError', 'RangeError', 'ShapeError', 'DisposedError'], what).toContain(error.name);
      // A value of the wrong type is a TypeError; one of the right type outside the kind's range, a RangeError (or the op's own ShapeError).
      if (value === 'yes' || value === null || (typeof value === 'object' && !Array.isArray(value))) expect(error, what).toBeInstanceOf(TypeError);
    }
    expect(live()).toEqual(before);
  });

  it('names the expected type and what was given', () => {
    const [a, b] = [f23(), t([3, 2])];
    expect(() => ops.matmul(a, b, loose({ transposeB: 'yes' }))).toThrow(/^matmul: transposeB must be true or false, got 'yes'$/);
    expect(() => ops.matmul(a, b, loose({ activation: 'sigmoid' }))).toThrow(/^matmul: activation must be one of 'none', 'relu', 'gelu', got 'sigmoid'$/);
    expect(() => ops.matmul(a, b, loose({ bias: [1, 2] }))).toThrow(/^matmul: bias must be a Tensor, got an array of length 2 \(upload host values/);
    expect(() => ops.softmax(a, { temperature: 1e-40 })).toThrow(/^softmax: temperature must be a positive finite number that float32 can hold, got 1e-40, which is below float32's smallest normal number/);
    expect(() => ops.softmax(a, { temperature: 1e39 })).toThrow(/^softmax: temperature must be a positive finite number that float32 can hold, got 1e\+39, which overflows float32/);
    // A temperature f32 holds whose inverse it does not.
    expect(() => ops.softmax(a, { temperature: 1e38 })).toThrow(/^softmax: temperature 1e\+38 is too large: 1 \/ temperature = 1e-38 is below the smallest normal f32/);
    expect(() => ops.crossEntropy(a, labels2(), { scale: NaN })).toThrow(RangeError);
    expect(() => ops.layerNorm(a, t([3]), t([3]), { eps: -1e-5 })).toThrow(/^layerNorm: eps must be a non-negative finite number, got -0\.00001$/);
    expect(() => ops.uniform(device, [2], loose({ seed: 'abc' }))).toThrow(/^uniform: seed must be a seed/);
    expect(() => ops.uniform(device, [2], { seed: -3 })).toThrow(/^uniform: seed -3 is not a non-negative safe integer$/);
    expect(() => ops.normal(device, [2], { seed: 1, offset: -4 })).toThrow(/^normal: offset -4 must be a non-negative integer/);
    expect(() => ops.attentionByMatmul(q(), q(), q(), { scale: 1e-39 })).toThrow(/^attentionByMatmul: scale must be a finite number that float32 can hold, got 1e-39, which is below float32's smallest normal number/);
  });

  it.each(withOptions.map((c) => [c.op, c] as const))('%s: refuses options that are not an object, and unknown keys by their nearest known one', (_, c) => {
    const before = live();
    for (const wrong of ['relu', 3, [], true, null, f23()]) {
      const args = c.args();
      args[c.options!.index] = wrong;
      const error = thrownBy(() => c.call(...args));
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toMatch(new RegExp(`^${c.op}: options must be an object \\(with ${Object.keys(c.options!.kinds).join(', ')}\\), got `));
    }
    for (const name of Object.keys(c.options!.kinds)) {
      const args = c.args();
      const typo = `${name}s`;
      args[c.options!.index] = { ...(args[c.options!.index] as object), [typo]: 1 };
      const error = thrownBy(() => c.call(...args));
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toMatch(new RegExp(`^${c.op}: unknown option '${typo}' \\(did you mean '${name}'\\?\\); ${c.op} takes `));
    }
    for (const name of c.options!.required ?? []) {
      const args = c.args();
      const { [name]: _, ...rest } = args[c.options!.index] as Record<string, unknown>;
      args[c.options!.index] = rest;
      expect(() => c.call(...args)).toThrow(new RegExp(`^${c.op}: option ${name} is required \\(`));
    }
    expect(live()).toEqual(before);
  });
});

// ---------------------------------------------------------------- layers

describe('layers check what they are given', () => {
  const linear = new nn.Linear(device, 3, 2, { seed: 1 });
  const conv = new nn.Conv2d(device, 1, 2, 2, { seed: 1 });
  const sequential = new nn.Sequential([new nn.Linear(device, 3, 4, { seed: 2 }), new nn.ReLU(), new nn.Linear(device, 4, 2, { seed: 3 })]);
  afterAll(() => {
    for (const layer of [linear, conv, sequential]) layer.dispose();
  });
  const layers: Array<[nn.Layer, () => Tensor]> = [
    [linear, f23],
    [conv, images],
    [sequential, f23],
  ];

  it.each(layers.map(([layer, input]) => [layer.name, layer, input] as const))('%s: forward and backward refuse a non-tensor, a disposed one, and wrong options', (_, layer, input) => {
    const before = live();
    for (const [label, bad] of BAD_OPERANDS) {
      const error = thrownBy(() => layer.forward(loose(bad())));
      expect(error.message, label).not.toMatch(cannotRead);
      expect(error.message, label).toMatch(label === 'a disposed tensor' ? new RegExp(`^${escape(layer.name)}: tensor .* was used after dispose\\(\\) \\(operand x\\)$`) : new RegExp(`^${escape(layer.name)}: operand x must be a Tensor, got `));
    }
    expect(() => layer.forward(input(), loose({ training: 'yes' }))).toThrow(new RegExp(`^${escape(layer.name)}: training must be true or false, got 'yes'$`));
    expect(() => layer.forward(input(), loose({ trainng: true }))).toThrow(new RegExp(`^${escape(layer.name)}: unknown option 'trainng' \\(did you mean 'training'\\?\\)`));
    expect(() => layer.forward(input(), loose('eval'))).toThrow(new RegExp(`^${escape(layer.name)}: options must be an object`));
    expect(live()).toEqual(before);
    const y = layer.forward(input());
    for (const [label, bad] of BAD_OPERANDS) {
      const error = thrownBy(() => layer.backward(loose(bad())));
      expect(error.message, label).not.toMatch(cannotRead);
      expect(error.message, label).toMatch(new RegExp(`^${escape(layer.name)}: .*operand dy`));
    }
    expect(() => layer.backward(y, loose({ inputGradient: 1 }))).toThrow(new RegExp(`^${escape(layer.name)}: inputGradient must be true or false, got 1$`));
    layer.release();
    y.dispose();
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

// ---------------------------------------------------------------- cast

describe('cast converts values, never bits', () => {
  async function castOf(values: number[], from: 'f32' | 'i32' | 'u32', to: 'f32' | 'i32' | 'u32'): Promise<number[]> {
    const x = device.tensor(values, [values.length], from);
    const y = ops.cast(x, to);
    try {
      expect(y.dtype).toBe(to);
      return Array.from(await y.read());
    } finally {
      x.dispose();
      y.dispose();
    }
  }

  it('f32 -> i32 truncates toward zero and saturates (1.5 -> 1, 2.7 -> 2, not bit patterns); NaN -> 0', async () => {
    const values = [1.5, 2.7, -2.7, -0.5, 0, 1e10, -1e10, NaN, Infinity, -Infinity, 2147483520, -2147483648, 16777215];
    const want = [1, 2, -2, 0, 0, 2147483647, -2147483648, 0, 2147483647, -2147483648, 2147483520, -2147483648, 16777215];
    expect(values.map((v) => reference.castValue(Math.fround(v), 'f32', 'i32'))).toEqual(want);
    expect(await castOf(values, 'f32', 'i32')).toEqual(want);
  });

  it('f32 -> u32 truncates and saturates at 0 and 2^32 - 1', async () => {
    const values = [1.5, 2.7, -2.7, -0.5, 0, 4e9, 5e9, NaN, Infinity, -Infinity, 4294967040];
    const want = [1, 2, 0, 0, 0, 4000000000, 4294967295, 0, 4294967295, 0, 4294967040];
    expect(values.map((v) => reference.castValue(Math.fround(v), 'f32', 'u32'))).toEqual(want);
    expect(await castOf(values, 'f32', 'u32')).toEqual(want);
  });

  it('integers -> f32 are exact up to 2^24 and a neighbouring f32 beyond; i32 <-> u32 saturates', async () => {
    const ints = [0, 1, -7, 16777216, -16777216, -2147483648];
    expect(await castOf(ints, 'i32', 'f32')).toEqual(ints);
    const [big] = await castOf([2147483647], 'i32', 'f32');
    expect([2147483520, 2147483648]).toContain(big);
    expect(await castOf([0, 3, 16777216], 'u32', 'f32')).toEqual([0, 3, 16777216]);
    const [top] = await castOf([4294967295], 'u32', 'f32');
    expect([4294967040, 4294967296]).toContain(top);
    expect(await castOf([-5, 0, 7, 2147483647], 'i32', 'u32')).toEqual([0, 0, 7, 2147483647]);
    expect(await castOf([0, 7, 2147483647, 2147483648, 4294967295], 'u32', 'i32')).toEqual([0, 7, 2147483647, 2147483647, 2147483647]);
    expect(reference.cast([-5, 7], 'i32', 'u32')).toEqual(Float64Array.of(0, 7));
    expect(reference.cast([4294967295], 'u32', 'i32')).toEqual(Float64Array.of(2147483647));
  });

  it('goes through f32 between f16 and the integers', async () => {
    if (!device.hasF16) return;
    const half = ops.cast(device.tensor([1.5, -2.5, 2048, -0.75]), 'f16');
    const ints = ops.cast(half, 'i32');
    expect(Array.from(await ints.read())).toEqual([1, -2, 2048, 0]);
    const back = ops.cast(ints, 'f16');
    expect(back.dtype).toBe('f16');
    expect(Array.from(await back.read())).toEqual([1, -2, 2048, 0]);
    for (const x of [half, ints, back]) x.dispose();
  });

  it('refuses a dtype it cannot produce, naming the supported ones', () => {
    expect(() => ops.cast(f23(), loose('f64'))).toThrow(/^cast: dtype must be one of 'f32', 'f16', 'i32', 'u32', got 'f64'$/);
    expect(() => ops.cast(f23(), loose(undefined))).toThrow(TypeError);
  });
});

// ---------------------------------------------------------------- predictPixels

describe('predictPixels reads pixels in [0, 1], or bytes', () => {
  const model = mlp(device, { inputShape: [1, 2, 2], classes: 3, hidden: [4], seed: 1 });
  const predictor = new Predictor(device, model, { mean: 0.5, std: 0.25 });
  afterAll(() => model.dispose());

  it.each([
    ['a raw 0-255 value in a Float32Array', () => Float32Array.of(0, 0.5, 255, 1), /^predictPixels: image 0, value 2 \(index 2\) is 255, outside \[0, 1\]; pass pixels scaled to \[0, 1\], or bytes 0-255 as a Uint8Array/],
    ['a negative value in the second image', () => [0, 0, 0, 0, 0.2, -0.1, 0, 1], /^predictPixels: image 1, value 1 \(index 5\) is -0\.1, outside \[0, 1\]/],
    ['a value just above 1', () => [0, 1.01, 0, 0], /^predictPixels: image 0, value 1 \(index 1\) is 1\.01, outside/],
    ['a NaN pixel', () => [0, NaN, 0, 0], /^predictPixels: image 0, value 1 \(index 1\) is NaN/],
  ])('refuses %s, naming the first bad index and value, before uploading', async (_, pixels, error) => {
    const uploads = vi.spyOn(device, 'tensor');
    try {
      await expect(predictor.predictPixels(pixels())).rejects.toThrow(error);
      await expect(predictor.predictPixels(pixels())).rejects.toBeInstanceOf(RangeError);
      expect(uploads).not.toHaveBeenCalled();
    } finally {
      uploads.mockRestore();
    }
  });

  it('reads a Uint8Array (and a Uint8ClampedArray, as canvas ImageData gives) as bytes / 255', async () => {
    const bytes = Uint8Array.of(0, 128, 255, 64, 10, 200, 30, 90);
    const scaled = Float32Array.from(bytes, (b) => b / 255);
    const fromFloats = await predictor.predictPixels(scaled);
    const fromBytes = await predictor.predictPixels(bytes);
    const fromClamped = await predictor.predictPixels(new Uint8ClampedArray(bytes));
    expect(Array.from(fromBytes.probabilities)).toEqual(Array.from(fromFloats.probabilities));
    expect(Array.from(fromClamped.probabilities)).toEqual(Array.from(fromFloats.probabilities));
    expect(Array.from(fromBytes.classes)).toEqual(Array.from(fromFloats.classes));
    // The same as normalizing by hand, and not the bytes taken as [0, 1] values.
    const byHand = await predictor.predict(scaled.map((v) => (v - 0.5) / 0.25));
    expect(Array.from(fromBytes.probabilities)).toEqual(Array.from(byHand.probabilities));
    const raw = await predictor.predict(Float32Array.from(bytes, (b) => (b - 0.5) / 0.25));
    expect(Array.from(fromBytes.probabilities)).not.toEqual(Array.from(raw.probabilities));
    // predict takes normalized values: bytes given to it are refused with a pointer to predictPixels.
    await expect(predictor.predict(bytes)).rejects.toThrow(/^predict: images are a Uint8Array of raw 0-255 pixels.*use predictPixels/);
  });
});
