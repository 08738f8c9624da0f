import { describe, expect, it } from 'vitest';
import type { Device } from '../src/gpu/device.js';
import { ShapeError } from '../src/gpu/errors.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { cnnStage, Conv2d } from '../src/nn/conv.js';
import { stageSeed } from '../src/random/seeds.js';
import { Flatten } from '../src/nn/flatten.js';
import type { Layer } from '../src/nn/layer.js';
import { AvgPool2d, GlobalAvgPool, MaxPool2d } from '../src/nn/pool2d.js';
import { Sequential } from '../src/nn/sequential.js';
import * as reference from '../src/reference/index.js';
import { checkLayer } from './helpers/gradcheck.js';
import { testDevice } from './helpers/device.js';
import { expectClose, uniform } from './helpers/numeric.js';

const device = await testDevice();

type Pair = [number, number];
const pair = (v: number | Pair): Pair => (typeof v === 'number' ? [v, v] : v);

/** The float64 forward of a Conv2d layer, from the reference conv2d. */
function convReference(layer: Conv2d, xShape: number[]) {
  return (x: Float64Array, [w, b]: Float64Array[]) =>
    reference.conv2d(x, xShape, w!, layer.weight.shape, { stride: layer.stride, padding: layer.padding, bias: b, activation: layer.activation });
}

/** [N, Cin, H, W, Cout, kernel, stride, padding] */
type ConvCase = [number, number, number, number, number, number | Pair, number | Pair, number | Pair];

describe('Conv2d', () => {
  // Channels off every register tile (1, 3, 5), batch 1 and 3, odd and square planes, kernels
  // 1 and 3 (and non-square), strides 1 and 2, padding 0 and 1.
  const CASES: ConvCase[] = [
    [1, 1, 5, 7, 3, 1, 1, 0],
    [3, 3, 6, 6, 5, 3, 2, 1],
    [3, 5, 5, 7, 1, 3, 1, 0],
    [1, 3, 5, 7, 5, 3, 2, 0],
    [3, 1, 6, 6, 3, [3, 1], [1, 2], [1, 0]],
  ];
  it.each(CASES)('x [%i, %i, %i, %i] -> %i channels, kernel %j, stride %j, padding %j: forward and gradients', async (n, cin, h, w, cout, k, stride, padding) => {
    const layer = new Conv2d(device, cin, cout, k, { stride, padding, seed: 7 });
    const xShape = [n, cin, h, w];
    await checkLayer(device, layer, xShape, convReference(layer, xShape));
    layer.dispose();
  });

  it('fuses relu, and its rule sends no gradient through inactive units', async () => {
    const layer = new Conv2d(device, 3, 5, 3, { padding: 1, activation: 'relu', seed: 3 });
    expect(layer.name).toBe('conv2d 3->5 3x3 p1 +relu');
    await checkLayer(device, layer, [3, 3, 5, 7], convReference(layer, [3, 3, 5, 7]), { seed: 11 });
    layer.dispose();
  });

  it('works without a bias', async () => {
    const layer = new Conv2d(device, 5, 3, 3, { stride: 2, bias: false, seed: 5 });
    expect(layer.parameters().map((p) => p.name)).toEqual(['weight']);
    await checkLayer(device, layer, [1, 5, 6, 6], convReference(layer, [1, 5, 6, 6]));
    layer.dispose();
  });

  it("skips dL/dx unless asked (SLL's saving at a block input), also with relu", async () => {
    const layer = new Conv2d(device, 3, 5, 3, { padding: 1, activation: 'relu', seed: 2 });
    const dispatchesOf = async (inputGradient: boolean) => {
      const x = device.tensor(uniform(3 * 36, 4), [1, 3, 6, 6]);
      const y = layer.forward(x);
      const dy = device.tensor(uniform(5 * 36, 5), y.shape);
      const before = device.dispatchCount;
      const grads = layer.backward(dy, { inputGradient });
      const count = device.dispatchCount - before;
      expect(grads.input === undefined).toBe(!inputGradient);
      grads.input?.dispose();
      for (const t of [...grads.params, x, y, dy]) t.dispose();
      return count;
    };
    expect(await dispatchesOf(false)).toBeLessThan(await dispatchesOf(true));
    await checkLayer(device, layer, [3, 3, 5, 7], convReference(layer, [3, 3, 5, 7]), { inputGradient: false, seed: 6 });
    layer.dispose();
  });

  it('accepts a strided view as input', async () => {
    const layer = new Conv2d(device, 3, 5, 3, { padding: 1, seed: 8 });
    const xShape = [3, 3, 5, 7];
    const data = uniform(3 * 3 * 5 * 7, 12);
    // Stored as [N, C, W, H], viewed as [N, C, H, W].
    const stored = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const [nc, rest] = [Math.floor(i / 35), i % 35];
      const [row, col] = [Math.floor(rest / 7), rest % 7];
      stored[nc * 35 + col * 5 + row] = data[i]!;
    }
    const base = device.tensor(stored, [3, 3, 7, 5]);
    const x = base.transpose(2, 3);
    expect(x.isContiguous).toBe(false);
    const params = await Promise.all(layer.parameters().map(async (p) => Float64Array.from(await p.value.read())));
    const y = layer.forward(x);
    expectClose(await y.read(), convReference(layer, xShape)(Float64Array.from(data), params), {}, 'forward of a view');
    const dy = device.tensor(new Float32Array(y.size).fill(1), y.shape);
    const grads = layer.backward(dy, { inputGradient: true });
    const dense = device.tensor(data, xShape);
    const y2 = layer.forward(dense);
    const grads2 = layer.backward(dy, { inputGradient: true });
    expectClose(await grads.params[0]!.read(), await grads2.params[0]!.read(), {}, 'dW of a view');
    expectClose(await grads.input!.read(), await grads2.input!.read(), {}, 'dx of a view');
    for (const t of [...grads.params, grads.input!, ...grads2.params, grads2.input!, base, x, y, dy, dense, y2]) t.dispose();
    layer.dispose();
  });

  it('initializes as PyTorch: U(-1/sqrt(Cin kH kW), 1/sqrt(Cin kH kW)), deterministic per seed', async () => {
    const a = new Conv2d(device, 16, 32, 3, { seed: 42 });
    const b = new Conv2d(device, 16, 32, 3, { seed: 42 });
    const c = new Conv2d(device, 16, 32, 3, { seed: 43 });
    const wa = await a.weight.read();
    expect(Array.from(await b.weight.read())).toEqual(Array.from(wa));
    expect(Array.from(await c.weight.read())).not.toEqual(Array.from(wa));
    const bound = 1 / Math.sqrt(16 * 9);
    let max = 0;
    let sumSq = 0;
    for (const v of wa) {
      max = Math.max(max, Math.abs(v));
      sumSq += v * v;
    }
    expect(max).toBeLessThanOrEqual(bound);
    expect(max).toBeGreaterThan(0.99 * bound);
    // U(-b, b) has variance b^2 / 3; the mean of x^2 has standard error sqrt(4/45/n) b^2.
    const standardError = Math.sqrt(4 / 45 / wa.length) * bound * bound;
    expect(Math.abs(sumSq / wa.length - (bound * bound) / 3)).toBeLessThan(5 * standardError);
    const biasMax = Math.max(...Array.from(await a.bias!.read(), Math.abs));
    expect(biasMax).toBeLessThanOrEqual(bound);
    expect(biasMax).toBeGreaterThan(0.5 * bound);
    for (const l of [a, b, c]) l.dispose();
  });
});

interface PoolCase {
  kernel: number | Pair;
  stride?: number | Pair;
  padding?: number | Pair;
}

/** The layer's options as the reference takes them (pairs; the stride defaults to the kernel). */
function poolReferenceOptions({ kernel, stride, padding = 0 }: PoolCase) {
  return { kernel: pair(kernel), stride: stride === undefined ? undefined : pair(stride), padding: pair(padding) };
}

describe('pooling and flatten', () => {
  // Inputs drawn from a fixed seed are all distinct, so no window has a tie for its maximum.
  it.each<[number[], PoolCase]>([
    [[3, 3, 6, 6], { kernel: 2 }],
    [[1, 5, 5, 7], { kernel: 3, stride: 2, padding: 1 }],
    [[3, 1, 5, 7], { kernel: [2, 3], stride: 1 }],
  ])('maxpool on x %j, %j', async (xShape, options) => {
    const layer = new MaxPool2d(options);
    await checkLayer(device, layer, xShape, (x) => reference.maxPool2d(x, xShape, poolReferenceOptions(options)));
  });

  it('maxpool sends a tied window gradient to its first maximum', async () => {
    const layer = new MaxPool2d({ kernel: 2 });
    const x = device.tensor(Float32Array.from([1, 2, 2, 0, 5, 5, 5, 5]), [1, 2, 2, 2]);
    const y = layer.forward(x);
    expect(Array.from(await y.read())).toEqual([2, 5]);
    const dy = device.tensor(Float32Array.from([3, 7]), [1, 2, 1, 1]);
    const { input } = layer.backward(dy, { inputGradient: true });
    expect(Array.from(await input!.read())).toEqual([0, 3, 0, 0, 7, 0, 0, 0]);
    for (const t of [x, y, dy, input!]) t.dispose();
  });

  it.each<[number[], PoolCase]>([
    [[3, 3, 5, 7], { kernel: 3, stride: 2, padding: 1 }],
    [[1, 5, 6, 6], { kernel: 2 }],
    [[3, 1, 5, 7], { kernel: 1, stride: 2 }],
  ])('avgpool on x %j, %j', async (xShape, options) => {
    const layer = new AvgPool2d(options);
    await checkLayer(device, layer, xShape, (x) => reference.avgPool2d(x, xShape, poolReferenceOptions(options)));
  });

  it.each([[[3, 5, 5, 7]], [[1, 1, 6, 6]], [[3, 3, 1, 1]]])('global average pool on x %j', async (xShape) => {
    const layer = new GlobalAvgPool();
    expect(layer.outputShape(xShape)).toEqual(xShape.slice(0, 2));
    await checkLayer(device, layer, xShape, (x) => reference.globalAvgPool(x, xShape));
  });

  it('flatten is a view forward and backward, and copies only a strided input', async () => {
    const layer = new Flatten();
    await checkLayer(device, layer, [3, 5, 2, 3], (x) => x);
    await checkLayer(device, layer, [1, 7], (x) => x);
    const base = device.tensor(Float32Array.from({ length: 24 }, (_, i) => i), [2, 4, 3]);
    const before = device.dispatchCount;
    const y = layer.forward(base);
    expect(device.dispatchCount).toBe(before);
    expect(y.storage).toBe(base.storage);
    const dy = device.tensor(new Float32Array(24).fill(1), [2, 12]);
    const { input } = layer.backward(dy, { inputGradient: true });
    expect(device.dispatchCount).toBe(before + 0);
    expect(input!.shape).toEqual([2, 4, 3]);
    const view = base.transpose(1, 2); // [2, 3, 4]
    const flat = layer.forward(view);
    expect(Array.from(await flat.read()).slice(0, 5)).toEqual([0, 3, 6, 9, 1]);
    layer.release();
    for (const t of [base, y, dy, input!, view, flat]) t.dispose();
  });
});

describe('cnnStage', () => {
  /** conv3x3 pad 1 + relu, repeated, then maxpool 2x2, in float64. */
  function stageReference(xShape: number[], channels: number, convs: number) {
    return (x: Float64Array, params: Float64Array[]) => {
      let shape = xShape;
      let current = x;
      for (let i = 0; i < convs; i++) {
        const wShape = [channels, shape[1]!, 3, 3];
        current = reference.conv2d(current, shape, params[2 * i]!, wShape, { padding: [1, 1], bias: params[2 * i + 1], activation: 'relu' });
        shape = [shape[0]!, channels, shape[2]!, shape[3]!];
      }
      return reference.maxPool2d(current, shape, { kernel: [2, 2] });
    };
  }

  it('builds conv3x3+relu layers and a 2x2 max pool, seeded from the stage seed', async () => {
    const stage = cnnStage(device, 3, 8, 3, { seed: 17 });
    expect(stage.layers.map((l) => l.name)).toEqual(['conv2d 3->8 3x3 p1 +relu', 'conv2d 8->8 3x3 p1 +relu', 'conv2d 8->8 3x3 p1 +relu', 'maxpool 2x2']);
    expect(stage.outputShape([2, 3, 7, 6])).toEqual([2, 8, 3, 3]);
    const again = cnnStage(device, 3, 8, 3, { seed: 17 });
    const other = cnnStage(device, 3, 8, 3, { seed: 18 });
    const weights = async (s: Sequential) => Promise.all(s.parameters().map(async (p) => Array.from(await p.value.read())));
    const [w, wAgain, wOther] = await Promise.all([weights(stage), weights(again), weights(other)]);
    expect(wAgain).toEqual(w);
    expect(wOther[0]).not.toEqual(w[0]);
    expect(w[2]).not.toEqual(w[4]); // two 8->8 convs of one stage draw different weights
    expect(stageSeed(17, 0)).not.toEqual(stageSeed(17, 1));
    expect(stageSeed(17, 0)).not.toEqual(stageSeed(18, 0));
    for (const s of [stage, again, other]) s.dispose();
  });

  it.each([
    [[3, 3, 6, 6], 5, 2, 9],
    [[1, 1, 5, 7], 3, 1, 4],
  ])('x %j -> %i channels, %i convs: forward and gradients as one block', async (xShape, channels, convs, seed) => {
    const stage = cnnStage(device, xShape[1]!, channels, convs, { seed });
    await checkLayer(device, stage, xShape, stageReference(xShape, channels, convs), { seed });
    stage.dispose();
  });
});

describe('memory and bad input', () => {
  const layers: [string, () => Layer, number[]][] = [
    ['conv2d with relu', () => new Conv2d(device, 3, 5, 3, { padding: 1, activation: 'relu', seed: 1 }), [3, 3, 6, 6]],
    ['maxpool', () => new MaxPool2d({ kernel: 2 }), [3, 3, 6, 6]],
    ['avgpool', () => new AvgPool2d({ kernel: 3, stride: 2, padding: 1 }), [3, 3, 5, 7]],
    ['global average pool', () => new GlobalAvgPool(), [3, 5, 5, 7]],
    ['flatten', () => new Flatten(), [3, 5, 5, 7]],
    ['cnn stage', () => cnnStage(device, 3, 5, 2, { seed: 1 }), [3, 3, 6, 6]],
  ];

  it.each(layers)('%s keeps nothing in evaluation mode and releases what it kept after backward', async (_, make, xShape) => {
    const layer = make();
    const x = device.tensor(uniform(xShape.reduce((a, b) => a * b, 1), 3), xShape);
    await device.flush();
    const before = device.memory().live.activation;
    const y = layer.forward(x, { training: false });
    y.dispose();
    expect(device.memory().live.activation).toBe(before);
    for (const inputGradient of [true, false]) {
      const y2 = layer.forward(x);
      const dy = device.tensor(new Float32Array(y2.size).fill(1), y2.shape);
      const grads = layer.backward(dy, { inputGradient });
      grads.input?.dispose();
      for (const t of [...grads.params, y2, dy]) t.dispose();
      expect(device.memory().live.activation).toBe(before);
    }
    expect(() => layer.backward(x)).toThrow(/backward without a training-mode forward/);
    x.dispose();
    layer.dispose();
  });

  it.each(layers.slice(1, 5))('%s does no work in backward without an input gradient', (_, make, xShape) => {
    const layer = make();
    const x = device.zeros(xShape);
    const y = layer.forward(x);
    const dy = device.zeros(y.shape);
    const before = device.dispatchCount;
    expect(layer.backward(dy, { inputGradient: false })).toEqual({ params: [] });
    expect(device.dispatchCount).toBe(before);
    for (const t of [x, y, dy]) t.dispose();
  });

  /** Expects `f` to throw a ShapeError matching `message` before any dispatch. */
  function expectShapeError(f: () => unknown, message: RegExp, on: Device = device): void {
    const before = on.dispatchCount;
    let thrown: unknown;
    try {
      f();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ShapeError);
    expect((thrown as Error).message).toMatch(message);
    expect(on.dispatchCount).toBe(before);
  }

  it('rejects inputs of the wrong shape, naming the layer and the shape', () => {
    const conv = new Conv2d(device, 3, 5, 3, { padding: 1, seed: 1 });
    const wrongChannels = device.zeros([2, 4, 6, 6]);
    const rank3 = device.zeros([3, 6, 6]);
    const tiny = device.zeros([1, 1, 2, 2]);
    const flat = device.zeros([6]);
    const bigKernel = new Conv2d(device, 1, 2, 5, { seed: 1 });
    const stage = cnnStage(device, 3, 4, 1, { seed: 1 });
    expectShapeError(() => conv.forward(wrongChannels), /conv2d 3->5 3x3 p1: input \[2, 4, 6, 6\] has 4 channels, expected 3/);
    expectShapeError(() => conv.forward(rank3), /conv2d 3->5 3x3 p1: input \[3, 6, 6\] must be \[N, C, H, W\]/);
    expectShapeError(() => bigKernel.forward(tiny), /conv2d 1->2 5x5: input \[1, 1, 2, 2\]: kernel 5x5 is larger than the padded input 2x2/);
    expectShapeError(() => new MaxPool2d({ kernel: 3 }).forward(tiny), /maxpool 3x3: input \[1, 1, 2, 2\]: window 3x3 is larger than the padded input 2x2/);
    expectShapeError(() => new AvgPool2d({ kernel: 2 }).forward(rank3), /avgpool 2x2: input \[3, 6, 6\] must be \[N, C, H, W\]/);
    expectShapeError(() => new GlobalAvgPool().forward(rank3), /globalavgpool: input \[3, 6, 6\] must be \[N, C, H, W\]/);
    expectShapeError(() => new Flatten().forward(flat), /flatten: input \[6\] must be \[N, \.\.\.\]/);
    expectShapeError(() => stage.forward(wrongChannels), /conv2d 3->4 3x3 p1 \+relu: input \[2, 4, 6, 6\] has 4 channels, expected 3/);
    expect(() => new MaxPool2d({ kernel: 2, padding: 2 })).toThrow(/maxpool: padding \[2, 2\] is more than half the kernel 2x2/);
    for (const t of [wrongChannels, rank3, tiny, flat]) t.dispose();
    for (const l of [conv, bigKernel, stage]) l.dispose();
  });

  it('rejects a gradient of the wrong shape, naming the layer and both shapes', () => {
    const x = device.zeros([1, 3, 6, 6]);
    const dy = device.zeros([1, 5, 6, 5]);
    const conv = new Conv2d(device, 3, 5, 3, { padding: 1, seed: 1 });
    const y = conv.forward(x);
    expectShapeError(() => conv.backward(dy, { inputGradient: true }), /conv2d 3->5 3x3 p1: dy \[1, 5, 6, 5\] does not match the forward output \[1, 5, 6, 6\]/);
    const pool = new MaxPool2d({ kernel: 2 });
    const pooled = pool.forward(x);
    expectShapeError(() => pool.backward(dy, { inputGradient: true }), /maxpool 2x2: dy \[1, 5, 6, 5\] does not match the forward output \[1, 3, 3, 3\]/);
    const flatten = new Flatten();
    const flat = flatten.forward(x);
    expectShapeError(() => flatten.backward(dy, { inputGradient: true }), /flatten: dy \[1, 5, 6, 5\] does not match the forward output \[1, 108\]/);
    // A wrong dy leaves what was kept in place (the caller may retry or release).
    for (const layer of [conv, pool, flatten] as Layer[]) layer.release();
    for (const t of [x, dy, y, pooled, flat] as Tensor[]) t.dispose();
    conv.dispose();
  });
});
