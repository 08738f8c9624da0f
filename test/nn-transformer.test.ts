import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import type { Shape } from '../src/gpu/shape.js';
import { MultiHeadSelfAttention } from '../src/nn/attention.js';
import { childSeed } from '../src/random/seeds.js';
import { Dropout } from '../src/nn/dropout.js';
import type { Layer } from '../src/nn/layer.js';
import { LayerNorm } from '../src/nn/norm.js';
import { PatchEmbedding, POSITION_EMBEDDING_STD } from '../src/nn/patch.js';
import { Sequential } from '../src/nn/sequential.js';
import { ClassToken, MeanTokens } from '../src/nn/tokens.js';
import { MLPBlock, TransformerBlock } from '../src/nn/transformer.js';
import * as reference from '../src/reference/index.js';
import { checkLayer } from './helpers/gradcheck.js';
import { testDevice } from './helpers/device.js';
import { expectClose, uniform } from './helpers/numeric.js';

const device = await testDevice();

// ------------------------------------------------------------------ float64 reference forwards

type Values = Float64Array;

/** x [rows, in] W^T + b. */
function linearRef(x: Values, w: Values, b: Values, inF: number, outF: number): Values {
  return reference.matmul(x, [x.length / inF, inF], w, [outF, inF], { transposeB: true, bias: b });
}

function layerNormRef(x: Values, gamma: Values, beta: Values, cols: number, eps = 1e-5): Values {
  return reference.layerNorm(x, gamma, beta, cols, eps).y;
}

/** x [N, T, C] through qkv, heads, attention, merge, proj; params [Wqkv, bqkv, Wo, bo]. */
function attentionRef(x: Values, [wqkv, bqkv, wo, bo]: Values[], n: number, t: number, dim: number, heads: number): Values {
  const d = dim / heads;
  const qkv = linearRef(x, wqkv!, bqkv!, dim, 3 * dim);
  const split = reference.permute(qkv, [n, t, 3, heads, d], [2, 0, 3, 1, 4]);
  const part = (s: number) => reference.slice(split, [3, n, heads, t, d], 0, s, s + 1);
  const { out } = reference.attention(part(0), part(1), part(2), { batch: n, heads, queryLength: t, keyLength: t, headDim: d });
  const merged = reference.permute(out, [n, heads, t, d], [0, 2, 1, 3]);
  return linearRef(merged, wo!, bo!, dim, dim);
}

function mlpRef(x: Values, [w1, b1, w2, b2]: Values[], dim: number, hidden: number): Values {
  return linearRef(reference.gelu(linearRef(x, w1!, b1!, dim, hidden)), w2!, b2!, hidden, dim);
}

function addRef(a: Values, b: Values): Values {
  return a.map((v, i) => v + b[i]!);
}

/** x1 = x + MHSA(LN1(x)); y = x1 + MLP(LN2(x1)); params in TransformerBlock.parameters() order. */
function blockRef(x: Values, p: Values[], n: number, t: number, dim: number, heads: number, hidden: number): Values {
  const [g1, be1, wqkv, bqkv, wo, bo, g2, be2, w1, b1, w2, b2] = p;
  const x1 = addRef(x, attentionRef(layerNormRef(x, g1!, be1!, dim), [wqkv!, bqkv!, wo!, bo!], n, t, dim, heads));
  return addRef(x1, mlpRef(layerNormRef(x1, g2!, be2!, dim), [w1!, b1!, w2!, b2!], dim, hidden));
}

/**
 * Patch embedding through the conv2d reference (kernel = stride = patch), so the layer's
 * patches-times-weight formulation is checked against the convolution it stands for.
 */
function patchRef(x: Values, [w, b, pos, cls]: Values[], n: number, c: number, h: number, wd: number, patch: number, dim: number): Values {
  const conv = reference.conv2d(x, [n, c, h, wd], w!, [dim, c, patch, patch], { stride: [patch, patch], bias: b });
  const tp = (h / patch) * (wd / patch);
  const z = reference.permute(conv, [n, dim, h / patch, wd / patch], [0, 2, 3, 1]); // [N, Tp, dim]
  const tokens = cls ? reference.concat([{ data: new Float64Array(n * dim).map((_, i) => cls[i % dim]!), shape: [n, 1, dim] }, { data: z, shape: [n, tp, dim] }], 1) : z;
  const t = tokens.length / n / dim;
  return tokens.map((v, i) => v + pos![i % (t * dim)]!);
}

// ------------------------------------------------------------------ shared checks

/**
 * Evaluation keeps nothing, and a training forward plus backward leaves the live activation
 * and scratch bytes where they were (with and without the input gradient).
 */
async function expectNoLeaks(layer: Layer, inputShape: Shape, input?: Float32Array): Promise<void> {
  const size = inputShape.reduce((a, b) => a * b, 1);
  const x = device.tensor(input ?? uniform(size, 5), inputShape);
  await device.flush();
  const live = () => {
    const m = device.memory().live;
    return { activation: m.activation, scratch: m.scratch };
  };
  const before = live();
  const y = layer.forward(x, { training: false });
  y.dispose();
  expect(live(), `${layer.name}: evaluation`).toEqual(before);
  for (const inputGradient of [false, true]) {
    const y2 = layer.forward(x);
    const dy = device.tensor(uniform(y2.size, 6), y2.shape);
    const grads = layer.backward(dy, { inputGradient });
    expect(grads.params.length).toBe(layer.parameters().length);
    expect(grads.input === undefined).toBe(!inputGradient);
    for (const g of grads.params) g.dispose();
    grads.input?.dispose();
    for (const t of [y2, dy]) t.dispose();
    expect(live(), `${layer.name}: training, inputGradient ${inputGradient}`).toEqual(before);
  }
  // A training forward without a backward is let go by release().
  layer.forward(x).dispose();
  layer.release();
  expect(live(), `${layer.name}: release`).toEqual(before);
  x.dispose();
}

/** forward(x of `shape`) throws a ShapeError matching `message`, before any dispatch. */
function expectRejects(layer: Layer, shape: Shape, message: RegExp): void {
  const x = device.zeros(shape);
  const dispatches = device.dispatchCount;
  expect(() => layer.forward(x)).toThrow(ShapeError);
  expect(() => layer.forward(x)).toThrow(message);
  expect(() => layer.outputShape(shape)).toThrow(message);
  expect(device.dispatchCount).toBe(dispatches);
  x.dispose();
}

// ------------------------------------------------------------------ LayerNorm

describe('LayerNorm', () => {
  it.each([
    [[3, 17]],
    [[1, 5]],
    [[2, 3, 7]],
  ])('%j: forward and gradients', async (shape) => {
    const cols = shape[shape.length - 1]!;
    const layer = new LayerNorm(device, cols);
    expect(layer.parameters().map((p) => p.name)).toEqual(['gamma', 'beta']);
    expect(Array.from(await layer.gamma.read())).toEqual(new Array(cols).fill(1));
    expect(Array.from(await layer.beta.read())).toEqual(new Array(cols).fill(0));
    await checkLayer(device, layer, shape, (x, [g, b]) => layerNormRef(x, g!, b!, cols));
    layer.dispose();
  });

  it('with eps 1e-3 and no input gradient', async () => {
    const layer = new LayerNorm(device, 9, { eps: 1e-3 });
    await checkLayer(device, layer, [5, 9], (x, [g, b]) => layerNormRef(x, g!, b!, 9, 1e-3), { inputRange: [-0.05, 0.05], inputGradient: false });
    layer.dispose();
  });
});

// ------------------------------------------------------------------ Dropout

describe('Dropout', () => {
  it('is x * m / (1 - p) with the counter-RNG mask at the stream offset, which moves on per forward', async () => {
    const p = 0.3;
    const layer = new Dropout(device, p, { seed: 99 });
    const n = 257;
    const xData = uniform(n, 3, 0.5, 1.5);
    const x = device.tensor(xData, [n]);
    for (const offset of [0, n]) {
      expect(layer.offset).toBe(offset);
      const y = layer.forward(x);
      const mask = reference.bernoulli(n, { seed: 99, offset, p: 1 - p });
      expectClose(await y.read(), Float64Array.from(xData, (v, i) => (v * mask[i]!) / (1 - p)), {}, `dropout at offset ${offset}`);
      layer.release();
      y.dispose();
    }
    // Resuming at a recorded offset reproduces the mask bit for bit.
    const again = new Dropout(device, p, { seed: 99 });
    again.offset = n;
    const y1 = again.forward(x);
    layer.offset = n;
    const y2 = layer.forward(x);
    expect(Array.from(await y1.read())).toEqual(Array.from(await y2.read()));
    expect(() => {
      again.offset = -1;
    }).toThrow(RangeError);
    for (const t of [x, y1, y2]) t.dispose();
    again.dispose();
    layer.dispose();
  });

  it('keeps a fraction 1 - p of the elements', async () => {
    const p = 0.25;
    const n = 20000;
    const layer = new Dropout(device, p, { seed: 5 });
    const x = device.tensor(new Float32Array(n).fill(1), [n]);
    const y = layer.forward(x, { training: true });
    const values = await y.read();
    const kept = Array.from(values).filter((v) => v !== 0).length;
    // Binomial(n, 1 - p): standard deviation sqrt(n p (1 - p)) ~ 61.
    expect(Math.abs(kept - n * (1 - p))).toBeLessThan(5 * Math.sqrt(n * p * (1 - p)));
    expect(values.every((v) => v === 0 || Math.abs(v - 1 / (1 - p)) < 1e-6)).toBe(true);
    layer.dispose();
    x.dispose();
    y.dispose();
  });

  it('its rule is the linear map of its (fixed) mask: gradients vs finite differences', async () => {
    const p = 0.4;
    const layer = new Dropout(device, p, { seed: 12 });
    const mask = reference.bernoulli(3 * 17, { seed: 12, offset: 0, p: 1 - p });
    await checkLayer(device, layer, [3, 17], (x) => x.map((v, i) => (v * mask[i]!) / (1 - p)));
    expect(layer.offset).toBe(3 * 17);
  });

  it('is the identity in evaluation and for p = 0, and the stream does not move in evaluation', async () => {
    const data = uniform(12, 8);
    const x = device.tensor(data, [3, 4]);
    const layer = new Dropout(device, 0.5, { seed: 1 });
    const y = layer.forward(x, { training: false });
    expect(Array.from(await y.read())).toEqual(Array.from(data));
    expect(layer.offset).toBe(0);
    y.dispose();
    await checkLayer(device, new Dropout(device, 0, { seed: 1 }), [3, 4], (v) => v);
    expect(() => new Dropout(device, 1, { seed: 1 })).toThrow(RangeError);
    x.dispose();
  });

  it('keeps no mask (it regenerates it) and releases everything', async () => {
    await expectNoLeaks(new Dropout(device, 0.5, { seed: 3 }), [4, 33]);
  });
});

// ------------------------------------------------------------------ token pooling

describe('MeanTokens and ClassToken', () => {
  it.each([
    [[3, 5, 7]],
    [[1, 1, 4]],
    [[2, 17, 3]],
  ])('%j: forward and gradients', async (shape) => {
    const [n, t, d] = shape as [number, number, number];
    await checkLayer(device, new MeanTokens(), shape, (x) => reference.mean(x, shape, [1]));
    await checkLayer(device, new ClassToken(), shape, (x) => reference.slice(x, shape, 1, 0, 1));
    expect(new MeanTokens().outputShape(shape)).toEqual([n, d]);
    expect(t).toBeGreaterThan(0);
  });

  it('keep nothing and release everything', async () => {
    await expectNoLeaks(new MeanTokens(), [3, 5, 7]);
    await expectNoLeaks(new ClassToken(), [3, 5, 7]);
  });
});

// ------------------------------------------------------------------ attention and MLP

describe('MultiHeadSelfAttention', () => {
  it.each([
    [1, 5, 8, 2, 'fused'],
    [3, 7, 6, 3, 'fused'],
    [2, 17, 4, 1, 'fused'],
    [1, 5, 8, 2, 'matmul'],
    [3, 7, 6, 3, 'matmul'],
    [2, 17, 4, 1, 'matmul'],
  ] as const)('N %i, T %i, dim %i, heads %i, %s kernel: forward and gradients', async (n, t, dim, heads, kernel) => {
    const layer = new MultiHeadSelfAttention(device, dim, heads, { seed: 21, kernel });
    expect(layer.parameters().map((p) => p.name)).toEqual(['qkv.weight', 'qkv.bias', 'proj.weight', 'proj.bias']);
    await checkLayer(device, layer, [n, t, dim], (x, p) => attentionRef(x, p, n, t, dim, heads), { inputRange: [-2, 2] });
    layer.dispose();
  });

  it.each(['fused', 'matmul'] as const)('%s kernel: skips dL/dx unless asked, and releases what it kept', async (kernel) => {
    const layer = new MultiHeadSelfAttention(device, 8, 2, { seed: 4, kernel });
    await checkLayer(device, layer, [3, 5, 8], (x, p) => attentionRef(x, p, 3, 5, 8, 2), { inputGradient: false });
    await expectNoLeaks(layer, [3, 5, 8]);
    layer.dispose();
  });

  it('draws its two projections from different child seeds, the same for the same seed', async () => {
    const a = new MultiHeadSelfAttention(device, 8, 2, { seed: 4 });
    const b = new MultiHeadSelfAttention(device, 8, 2, { seed: 4 });
    const wa = await a.qkv.weight.read();
    expect(Array.from(await b.qkv.weight.read())).toEqual(Array.from(wa));
    expect(Array.from((await a.proj.weight.read()).slice(0, 16))).not.toEqual(Array.from(wa.slice(0, 16)));
    expect(childSeed(4, 0)).not.toEqual(childSeed(4, 1));
    expect(childSeed(4, 0)).not.toEqual(childSeed(5, 0));
    a.dispose();
    b.dispose();
  });
});

describe('MLPBlock', () => {
  it.each([
    [[3, 5, 6], 17],
    [[1, 7], 3],
  ])('%j, hidden %i: forward and gradients', async (shape, hidden) => {
    const dim = shape[shape.length - 1]!;
    const layer = new MLPBlock(device, dim, hidden, { seed: 8 });
    expect(layer.parameters().map((p) => p.name)).toEqual(['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
    await checkLayer(device, layer, shape, (x, p) => mlpRef(x, p, dim, hidden), { inputRange: [-2, 2] });
    await expectNoLeaks(layer, shape);
    layer.dispose();
  });
});

// ------------------------------------------------------------------ TransformerBlock

describe('TransformerBlock', () => {
  it.each([1, 3])('dim 8, heads 2, T 5, N %i: forward and gradients', async (n) => {
    const block = new TransformerBlock(device, { dim: 8, heads: 2, mlpRatio: 4, seed: 31 });
    expect(block.parameters().map((p) => p.name)).toEqual([
      'norm1.gamma', 'norm1.beta',
      'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias',
      'norm2.gamma', 'norm2.beta',
      'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias',
    ]);
    await checkLayer(device, block, [n, 5, 8], (x, p) => blockRef(x, p, n, 5, 8, 2, 32), { inputRange: [-2, 2] });
    block.dispose();
  });

  it('odd sizes (dim 6, heads 3, T 7, mlpRatio 1.5) without the input gradient', async () => {
    const block = new TransformerBlock(device, { dim: 6, heads: 3, mlpRatio: 1.5, seed: 2 });
    await checkLayer(device, block, [3, 7, 6], (x, p) => blockRef(x, p, 3, 7, 6, 3, 9), { inputGradient: false });
    block.dispose();
  });

  it('keeps nothing in evaluation and releases what it kept', async () => {
    const block = new TransformerBlock(device, { dim: 8, heads: 2, seed: 1 });
    await expectNoLeaks(block, [3, 5, 8]);
    block.dispose();
  });
});

// ------------------------------------------------------------------ PatchEmbedding

describe('PatchEmbedding', () => {
  it.each([
    [1, false],
    [3, false],
    [1, true],
    [3, true],
  ])('1x8x8 image, patch 4, dim 6, N %i, class token %s: forward and gradients (against conv2d)', async (n, classToken) => {
    const layer = new PatchEmbedding(device, { imageSize: [8, 8], channels: 1, patch: 4, dim: 6, classToken, seed: 17 });
    expect(layer.parameters().map((p) => p.name)).toEqual(['weight', 'bias', 'position', ...(classToken ? ['classToken'] : [])]);
    expect(layer.outputShape([n, 1, 8, 8])).toEqual([n, classToken ? 5 : 4, 6]);
    await checkLayer(device, layer, [n, 1, 8, 8], (x, p) => patchRef(x, p, n, 1, 8, 8, 4, 6));
    layer.dispose();
  });

  it('several channels on a non-square image (3x4x6, patch 2, dim 5), no image gradient', async () => {
    const layer = new PatchEmbedding(device, { imageSize: [4, 6], channels: 3, patch: 2, dim: 5, classToken: true, seed: 3 });
    // A nonzero class token, so the forward check sees it.
    device.upload(layer.classToken!, uniform(5, 4));
    await checkLayer(device, layer, [3, 3, 4, 6], (x, p) => patchRef(x, p, 3, 3, 4, 6, 2, 5));
    await checkLayer(device, layer, [2, 3, 4, 6], (x, p) => patchRef(x, p, 2, 3, 4, 6, 2, 5), { inputGradient: false });
    layer.dispose();
  });

  it('initializes as PyTorch (Conv2d weights) and torchvision (position N(0, 0.02^2), class token 0)', async () => {
    const layer = new PatchEmbedding(device, { imageSize: [8, 8], channels: 2, patch: 4, dim: 6, classToken: true, seed: 9 });
    const fanIn = 2 * 4 * 4;
    const weightWords = 6 * fanIn;
    const expectedWeight = reference.uniform(weightWords, { seed: 9, low: -1 / Math.sqrt(fanIn), high: 1 / Math.sqrt(fanIn) });
    expectClose(await layer.weight.read(), expectedWeight, { rtol: 1e-6, atol: 1e-7 }, 'weight');
    const expectedPosition = reference.normal(5 * 6, { seed: 9, offset: weightWords + 6, std: POSITION_EMBEDDING_STD });
    expectClose(await layer.position.read(), expectedPosition, { rtol: 1e-5, atol: 1e-7 }, 'position');
    expect(Array.from(await layer.classToken!.read())).toEqual(new Array(6).fill(0));
    layer.dispose();
  });

  it('keeps only a view of the image and releases it', async () => {
    const layer = new PatchEmbedding(device, { imageSize: [8, 8], channels: 1, patch: 4, dim: 6, classToken: true, seed: 1 });
    await expectNoLeaks(layer, [3, 1, 8, 8]);
    layer.dispose();
  });
});

// ------------------------------------------------------------------ a small ViT, end to end

describe('a ViT-like Sequential', () => {
  it('PatchEmbedding, 2 TransformerBlocks, LayerNorm, MeanTokens: forward and gradients end to end', async () => {
    const [n, c, h, w, patch, dim, heads, ratio] = [2, 1, 8, 8, 4, 8, 2, 2];
    const hidden = dim * ratio;
    const vit = new Sequential([
      new PatchEmbedding(device, { imageSize: [h, w], channels: c, patch, dim, classToken: true, seed: 1 }),
      new TransformerBlock(device, { dim, heads, mlpRatio: ratio, seed: 2 }),
      new TransformerBlock(device, { dim, heads, mlpRatio: ratio, seed: 3 }),
      new LayerNorm(device, dim),
      new MeanTokens(),
    ]);
    expect(vit.outputShape([n, c, h, w])).toEqual([n, dim]);
    const t = (h / patch) * (w / patch) + 1;
    const ref = (x: Values, p: Values[]) => {
      let y = patchRef(x, p.slice(0, 4), n, c, h, w, patch, dim);
      y = blockRef(y, p.slice(4, 16), n, t, dim, heads, hidden);
      y = blockRef(y, p.slice(16, 28), n, t, dim, heads, hidden);
      y = layerNormRef(y, p[28]!, p[29]!, dim);
      return reference.mean(y, [n, t, dim], [1]);
    };
    await checkLayer(device, vit, [n, c, h, w], ref, { inputRange: [-2, 2] });
    await expectNoLeaks(vit, [n, c, h, w]);
    vit.dispose();
  });
});

// ------------------------------------------------------------------ bad input

describe('bad input', () => {
  it('each layer names itself and the shape, before any dispatch', () => {
    const norm = new LayerNorm(device, 8);
    expectRejects(norm, [2, 7], /layernorm 8: input \[2, 7\] must end in 8 features/);
    const attn = new MultiHeadSelfAttention(device, 8, 2, { seed: 1 });
    expectRejects(attn, [2, 8], /attention 8 x2: input \[2, 8\] must be tokens \[N, T, 8\]/);
    expectRejects(attn, [2, 5, 6], /attention 8 x2: input \[2, 5, 6\]/);
    const mlp = new MLPBlock(device, 8, 16, { seed: 1 });
    expectRejects(mlp, [2, 5, 7], /mlp 8->16->8: input \[2, 5, 7\] must end in 8 features/);
    const block = new TransformerBlock(device, { dim: 8, heads: 2, seed: 1 });
    expectRejects(block, [5, 8], /transformer 8 x2 mlp 32: input \[5, 8\] must be tokens/);
    const patch = new PatchEmbedding(device, { imageSize: [8, 8], channels: 1, patch: 4, dim: 6, seed: 1 });
    expectRejects(patch, [2, 3, 8, 8], /patch-embedding 1x8x8 \/4 -> 4x6: input \[2, 3, 8, 8\] must be images \[N, 1, 8, 8\]/);
    expectRejects(patch, [2, 1, 8, 4], /input \[2, 1, 8, 4\]/);
    expectRejects(patch, [64], /input \[64\]/);
    expectRejects(new MeanTokens(), [3, 4], /mean-tokens: input \[3, 4\] must be tokens \[N, T, D\]/);
    expectRejects(new ClassToken(), [3, 0, 4], /class-token: input \[3, 0, 4\]/);
    for (const l of [norm, attn, mlp, block, patch]) l.dispose();
  });

  it('a dy of the wrong shape is refused by backward, naming the layer and both shapes', () => {
    const cases: Array<[Layer, Shape, Shape, RegExp]> = [
      [new LayerNorm(device, 4), [2, 4], [2, 5], /layernorm 4: dy \[2, 5\] does not match the forward output \[2, 4\]/],
      [new Dropout(device, 0.5, { seed: 1 }), [2, 4], [4, 2], /dropout 0.5: dy \[4, 2\] does not match the forward output \[2, 4\]/],
      [new MultiHeadSelfAttention(device, 4, 2, { seed: 1 }), [1, 3, 4], [1, 4, 4], /attention 4 x2: dy \[1, 4, 4\] does not match .* \[1, 3, 4\]/],
      [new TransformerBlock(device, { dim: 4, heads: 2, seed: 1 }), [1, 3, 4], [3, 4], /transformer 4 x2 mlp 16: dy \[3, 4\] does not match .* \[1, 3, 4\]/],
      [new PatchEmbedding(device, { imageSize: [4, 4], channels: 1, patch: 2, dim: 3, seed: 1 }), [1, 1, 4, 4], [1, 3, 4], /patch-embedding .*: dy \[1, 3, 4\] does not match .* \[1, 4, 3\]/],
      [new MeanTokens(), [2, 3, 4], [2, 3], /mean-tokens: dy \[2, 3\] does not match the forward output \[2, 4\]/],
    ];
    for (const [layer, xShape, dyShape, message] of cases) {
      const x = device.zeros(xShape);
      const y = layer.forward(x);
      const dy = device.zeros(dyShape);
      const dispatches = device.dispatchCount;
      expect(() => layer.backward(dy, { inputGradient: true })).toThrow(message);
      expect(device.dispatchCount).toBe(dispatches);
      layer.dispose();
      for (const t of [x, y, dy]) t.dispose();
    }
  });

  it('constructor arguments that cannot work are refused', () => {
    expect(() => new MultiHeadSelfAttention(device, 8, 3, { seed: 1 })).toThrow(/dim 8 must be a positive multiple of heads 3/);
    expect(() => new PatchEmbedding(device, { imageSize: [8, 6], channels: 1, patch: 4, dim: 6, seed: 1 })).toThrow(/multiples of the patch/);
    expect(() => new LayerNorm(device, 0)).toThrow(RangeError);
  });
});
