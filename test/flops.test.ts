/**
 * The device's FLOP counter: each product op adds 2 * its multiply-adds, and a training step's
 * count equals the closed form of what that method computes (SLL: no input gradients between
 * blocks, but a projection per block; backprop: every input gradient but the first block's).
 */
import { describe, expect, it } from 'vitest';
import { attention, attentionBackward } from '../src/ops/attention.js';
import { conv2d, conv2dBackwardInput, conv2dBackwardWeight } from '../src/ops/conv.js';
import { matmul } from '../src/ops/matmul.js';
import { latentModeObjective, mlp, cnn, Trainer, type Method } from '../src/sll/index.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { testDevice } from './helpers/device.js';
import { rng } from './helpers/numeric.js';

const device = await testDevice();
const next = rng(5);

function random(shape: number[]): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return device.tensor(Float32Array.from({ length: size }, () => next() - 0.5), shape);
}

/** FLOPs counted while `run` encodes work; disposes what it returns. */
function counted(run: () => Tensor | Tensor[] | void): number {
  const before = device.flopCount;
  const out = run();
  for (const t of out ? [out].flat() : []) t.dispose();
  return device.flopCount - before;
}

describe('flop counter', () => {
  it('counts a batched matmul with a shared operand, either way round', () => {
    const a = random([3, 17, 63]);
    const b = random([63, 5]);
    const bt = random([5, 63]);
    expect(counted(() => matmul(a, b))).toBe(2 * 3 * 17 * 5 * 63);
    expect(counted(() => matmul(a, bt, { transposeB: true }))).toBe(2 * 3 * 17 * 5 * 63);
    for (const t of [a, b, bt]) t.dispose();
  });

  it('counts each convolution pass as 2 N Cout Ho Wo Cin kH kW', () => {
    const x = random([2, 3, 7, 9]);
    const w = random([5, 3, 3, 3]);
    for (const [stride, padding] of [[1, 1], [2, 0]] as const) {
      const y = conv2d(x, w, { stride, padding });
      const [, , ho, wo] = y.shape as [number, number, number, number];
      const expected = 2 * 2 * 5 * ho * wo * 3 * 3 * 3;
      expect(counted(() => conv2d(x, w, { stride, padding }))).toBe(expected);
      expect(counted(() => conv2dBackwardInput(y, w, x.shape, { stride, padding }))).toBe(expected);
      expect(counted(() => conv2dBackwardWeight(y, x, w.shape, { stride, padding }))).toBe(expected);
      y.dispose();
    }
    x.dispose();
    w.dispose();
  });

  it('counts attention as 2 products forward and 7 backward (scores recomputed)', () => {
    const [b, h, tq, tk, d] = [2, 3, 5, 7, 4];
    const q = random([b, h, tq, d]);
    const k = random([b, h, tk, d]);
    const v = random([b, h, tk, d]);
    const product = 2 * b * h * tq * tk * d;
    let forward!: { out: Tensor; logSumExp: Tensor };
    expect(counted(() => void (forward = attention(q, k, v)))).toBe(2 * product);
    const dOut = random([b, h, tq, d]);
    expect(counted(() => {
      const g = attentionBackward(dOut, q, k, v, forward.out, forward.logSumExp);
      return [g.dq, g.dk, g.dv];
    })).toBe(7 * product);
    for (const t of [q, k, v, dOut, forward.out, forward.logSumExp]) t.dispose();
  });
});

describe('FLOPs of a training step', () => {
  async function stepFlops(method: Method, build: () => ReturnType<typeof mlp>, inputShape: number[], batch: number, objective?: Parameters<typeof latentModeObjective>[0]) {
    const model = build();
    const trainer = new Trainer(device, model, {
      method,
      optimizer: { kind: 'adam', lr: 1e-3 },
      seed: 0,
      objective: objective ? () => latentModeObjective(objective) : undefined,
    });
    const x = random([batch, ...inputShape]);
    const y = device.tensor(Int32Array.from({ length: batch }, (_, i) => i % model.classes), [batch], 'i32');
    try {
      return counted(() => trainer.trainStep(x, y));
    } finally {
      await device.flush();
      for (const t of [x, y]) t.dispose();
      trainer.dispose();
      model.dispose();
    }
  }

  it('MLP: backprop adds every input gradient but the first; SLL adds the projections instead', async () => {
    const [batch, input, classes] = [3, 17, 10];
    const hidden = [65, 63, 33];
    const widths = [input, ...hidden];
    const build = () => mlp(device, { inputShape: [input], hidden, classes, seed: 0 });
    let blocks = 0;
    let inputGradients = 0;
    let projections = 2 * batch * input * classes; // R_0 of the raw input: block 1's alignment target
    for (let i = 0; i < hidden.length; i++) {
      const product = 2 * batch * widths[i]! * widths[i + 1]!;
      blocks += 2 * product; // forward and weight gradient
      if (i > 0) inputGradients += product;
      projections += 2 * (2 * batch * widths[i + 1]! * classes); // v = u R^T and dL/du = dL/dv R
    }
    const head = 2 * batch * hidden.at(-1)! * classes;
    expect(await stepFlops('backprop', build, [input], batch)).toBe(blocks + inputGradients + 3 * head);
    expect(await stepFlops('sll', build, [input], batch)).toBe(blocks + projections + 2 * head);
  });

  it('CNN in latent mode: the flattened stage features feed a d0-wide projection and a latent head', async () => {
    const [batch, classes, d0] = [2, 10, 12];
    const build = () => cnn(device, { inputShape: [1, 8, 8], classes, seed: 0, channels: [3, 5], hidden: 7 });
    // Stage 1: conv 1->3 on 8x8 (pad 1), pool to 4x4. Stage 2: conv 3->5 on 4x4, pool to 2x2. fc 20->7.
    const conv1 = 2 * batch * 3 * 8 * 8 * 1 * 9;
    const conv2 = 2 * batch * 5 * 4 * 4 * 3 * 9;
    const fc = 2 * batch * 20 * 7;
    const head = 2 * batch * 7 * classes;
    const backprop = 2 * conv1 + 3 * conv2 + 3 * fc + 3 * head;
    expect(await stepFlops('backprop', build, [1, 8, 8], batch)).toBe(backprop);
    // Per block: v = u R^T and dL/du = dL/dv R over its features, plus the latent head's
    // z = v C^T, dC = dz^T v and dL/dv = dz C; block 1 also projects the raw input (64 wide).
    const features = [3 * 4 * 4, 5 * 2 * 2, 7];
    const local = features.reduce((n, f) => n + 2 * (2 * batch * f * d0) + 3 * (2 * batch * d0 * classes), 0);
    const sll = 2 * conv1 + 2 * conv2 + 2 * fc + local + 2 * batch * 64 * d0 + 2 * head;
    expect(await stepFlops('sll', build, [1, 8, 8], batch, { d0, tau: 2 })).toBe(sll);
  });
});
