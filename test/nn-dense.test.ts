import { describe, expect, it } from 'vitest';
import { Flatten, GELU, LeakyReLU, Linear, ReLU, Sequential, Tanh } from '../src/nn/index.js';
import * as reference from '../src/reference/index.js';
import { checkLayer } from './helpers/gradcheck.js';
import { testDevice } from './helpers/device.js';

const device = await testDevice();

/** x [rows, in] W^T + b, float64. */
function linearReference(x: Float64Array, [w, b]: Float64Array[], inF: number, outF: number, act: 'none' | 'relu' = 'none'): Float64Array {
  const rows = x.length / inF;
  return reference.matmul(x, [rows, inF], w!, [outF, inF], { transposeB: true, bias: b, activation: act });
}

describe('Linear', () => {
  it.each([
    [1, 3, 1],
    [3, 17, 5],
    [5, 4, 65],
    [2, 63, 3],
  ])('rows %i, %i -> %i: forward and gradients', async (rows, inF, outF) => {
    const layer = new Linear(device, inF, outF, { seed: 7 });
    await checkLayer(device, layer, [rows, inF], (x, p) => linearReference(x, p, inF, outF));
    layer.dispose();
  });

  it('fuses relu, and its rule sends no gradient through inactive units', async () => {
    const layer = new Linear(device, 9, 7, { seed: 3, activation: 'relu' });
    await checkLayer(device, layer, [4, 9], (x, p) => linearReference(x, p, 9, 7, 'relu'), { seed: 11 });
    layer.dispose();
  });

  it('handles leading batch dimensions and no bias', async () => {
    const layer = new Linear(device, 6, 4, { seed: 5, bias: false });
    expect(layer.parameters().map((p) => p.name)).toEqual(['weight']);
    await checkLayer(device, layer, [2, 3, 6], (x, p) => linearReference(x, p, 6, 4));
    layer.dispose();
  });

  it("skips dL/dx unless asked (SLL's saving at a block input)", async () => {
    const layer = new Linear(device, 5, 3, { seed: 1 });
    await checkLayer(device, layer, [2, 5], (x, p) => linearReference(x, p, 5, 3), { inputGradient: false });
    layer.dispose();
  });

  it('initializes as PyTorch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), deterministic per seed', async () => {
    const a = new Linear(device, 400, 50, { seed: 42 });
    const b = new Linear(device, 400, 50, { seed: 42 });
    const c = new Linear(device, 400, 50, { seed: 43 });
    const wa = await a.weight.read();
    expect(Array.from(await b.weight.read())).toEqual(Array.from(wa));
    expect(Array.from(await c.weight.read())).not.toEqual(Array.from(wa));
    const bound = 1 / Math.sqrt(400);
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
    for (const l of [a, b, c]) l.dispose();
  });

  it('rejects an input of the wrong width, naming the layer and the shape', () => {
    const layer = new Linear(device, 5, 3, { seed: 1 });
    const x = device.zeros([2, 4]);
    expect(() => layer.forward(x)).toThrow(/linear 5->3: input \[2, 4\] must end in 5 features/);
    x.dispose();
    layer.dispose();
  });

  it('keeps nothing in evaluation mode and releases what it kept after backward', async () => {
    const layer = new Linear(device, 32, 16, { seed: 2, activation: 'relu' });
    const x = device.tensor(new Float32Array(8 * 32).fill(0.1), [8, 32]);
    await device.flush();
    const before = device.memory().live.activation;
    const y = layer.forward(x, { training: false });
    y.dispose();
    expect(device.memory().live.activation).toBe(before);
    const y2 = layer.forward(x);
    const dy = device.tensor(new Float32Array(8 * 16).fill(1), [8, 16]);
    const grads = layer.backward(dy);
    for (const g of grads.params) g.dispose();
    for (const t of [y2, dy]) t.dispose();
    expect(device.memory().live.activation).toBe(before);
    x.dispose();
    layer.dispose();
  });
});

describe('activations and Sequential', () => {
  it('relu, gelu and tanh layers', async () => {
    const input = Float32Array.from({ length: 24 }, (_, i) => (i % 2 ? 1 : -1) * (0.1 + i / 10)); // away from the kink
    await checkLayer(device, new ReLU(), [4, 6], (x) => reference.relu(x), { input });
    await checkLayer(device, new GELU(), [4, 6], (x) => reference.gelu(x), { inputRange: [-3, 3] });
    await checkLayer(device, new Tanh(), [4, 6], (x) => reference.tanh(x), { inputRange: [-3, 3] });
    // A positive slope keeps the output, a negative one the input: both rules against finite differences.
    await checkLayer(device, new LeakyReLU(), [4, 6], (x) => reference.leakyRelu(x, 0.01), { input });
    await checkLayer(device, new LeakyReLU(-0.25), [4, 6], (x) => reference.leakyRelu(x, -0.25), { input });
  });

  it('chains the rules of its layers (an MLP block pair)', async () => {
    const l1 = new Linear(device, 6, 8, { seed: 1, activation: 'relu' });
    const l2 = new Linear(device, 8, 3, { seed: 2 });
    const net = new Sequential([l1, l2]);
    expect(net.parameters().map((p) => p.name)).toEqual(['0.weight', '0.bias', '1.weight', '1.bias']);
    await checkLayer(device, net, [5, 6], (x, [w1, b1, w2, b2]) => linearReference(linearReference(x, [w1!, b1!], 6, 8, 'relu'), [w2!, b2!], 8, 3), { seed: 4 });
    net.dispose();
  });

  it('without an input gradient, stops the chain at its first layer with parameters', async () => {
    const linear = new Linear(device, 12, 5, { seed: 3 });
    const net = new Sequential([new Flatten(), linear]);
    const x = device.tensor(Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)), [2, 3, 4]);
    const dy = device.tensor(Float32Array.from({ length: 10 }, (_, i) => Math.cos(i)), [2, 5]);
    const gradients = async (inputGradient: boolean) => {
      net.forward(x).dispose();
      const before = device.flopCount;
      const g = net.backward(dy, { inputGradient });
      const flops = device.flopCount - before;
      const params = await Promise.all(g.params.map((t) => t.read()));
      const input = g.input ? await g.input.read() : undefined;
      for (const t of [...g.params, ...(g.input ? [g.input] : [])]) t.dispose();
      return { flops, params, input };
    };
    const withInput = await gradients(true);
    const without = await gradients(false);
    expect(withInput.input?.length).toBe(24);
    expect(without.input).toBeUndefined();
    // The weight gradient only: the Linear skips its 2 * 2 * 12 * 5 FLOP input gradient.
    expect(without.flops).toBe(2 * 2 * 12 * 5);
    expect(withInput.flops).toBe(2 * without.flops);
    expect(without.params).toEqual(withInput.params);
    for (const t of [x, dy]) t.dispose();
    net.dispose();
  });
});
