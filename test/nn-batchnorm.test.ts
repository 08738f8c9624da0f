/**
 * BatchNorm (src/nn/batchNorm.ts), PredSim's block normalisation: its training forward against a
 * float64 reference and its backward against central finite differences (gamma and beta made
 * non-trivial first), the running statistics against PyTorch's update rule, and evaluation mode
 * reading them.
 */
import { describe, expect, it } from 'vitest';
import { BatchNorm } from '../src/nn/batchNorm.js';
import { checkLayer } from './helpers/gradcheck.js';
import { testDevice } from './helpers/device.js';
import { expectClose, uniform } from './helpers/numeric.js';

const device = await testDevice();

/** Per column of x [n, f]: its mean and biased variance, in float64. */
function columnStats(x: ArrayLike<number>, n: number, f: number): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(f);
  const variance = new Float64Array(f);
  for (let j = 0; j < f; j++) {
    for (let i = 0; i < n; i++) mean[j]! += x[i * f + j]! / n;
    for (let i = 0; i < n; i++) variance[j]! += (x[i * f + j]! - mean[j]!) ** 2 / n;
  }
  return { mean, variance };
}

/** The training forward in float64: gamma (x - mean) / sqrt(var + eps) + beta, per column. */
function reference(x: Float64Array, gamma: Float64Array, beta: Float64Array, n: number, f: number, eps = 1e-5): Float64Array {
  const { mean, variance } = columnStats(x, n, f);
  return Float64Array.from(x, (v, k) => gamma[k % f]! * ((v - mean[k % f]!) / Math.sqrt(variance[k % f]! + eps)) + beta[k % f]!);
}

describe('BatchNorm', () => {
  it.each([
    [4, 3],
    [2, 5],
    [7, 1],
    [33, 6],
  ])('[%i, %i]: the training forward and the gradients of x, gamma and beta', async (n, f) => {
    const layer = new BatchNorm(device, f);
    expect(layer.parameters().map((p) => p.name)).toEqual(['gamma', 'beta']);
    device.upload(layer.gamma, uniform(f, 3, 0.5, 1.5));
    device.upload(layer.beta, uniform(f, 4, -1, 1));
    await checkLayer(device, layer, [n, f], (x, [g, b]) => reference(x, g!, b!, n, f), { inputRange: [-2, 2], rtol: 2e-3, atol: 2e-4 });
    layer.dispose();
  });

  it('moves its running statistics as PyTorch does (unbiased variance, momentum 0.1), and evaluation normalises with them', async () => {
    const [n, f] = [6, 4];
    const layer = new BatchNorm(device, f);
    const data = [uniform(n * f, 11, -3, 3), uniform(n * f, 12, 0, 5)];
    let runningMean = new Float64Array(f);
    let runningVar = new Float64Array(f).fill(1);
    for (const values of data) {
      const x = device.tensor(values, [n, f]);
      layer.forward(x).dispose();
      layer.release();
      x.dispose();
      const { mean, variance } = columnStats(values, n, f);
      runningMean = runningMean.map((m, j) => 0.9 * m + 0.1 * mean[j]!);
      runningVar = runningVar.map((v, j) => 0.9 * v + (0.1 * variance[j]! * n) / (n - 1));
    }
    expectClose(await layer.runningMean.read(), runningMean, { rtol: 1e-5, atol: 1e-6 }, 'running mean');
    expectClose(await layer.runningVar.read(), runningVar, { rtol: 1e-5, atol: 1e-6 }, 'running variance');
    const probe = uniform(3 * f, 13, -1, 1);
    const x = device.tensor(probe, [3, f]);
    const y = layer.forward(x, { training: false });
    const expected = Float64Array.from(probe, (v, k) => (v - runningMean[k % f]!) / Math.sqrt(runningVar[k % f]! + 1e-5));
    expectClose(await y.read(), expected, { rtol: 1e-5, atol: 1e-6 }, 'evaluation forward');
    // Evaluation keeps nothing and leaves the statistics as they were.
    expect(() => layer.backward(y)).toThrow();
    expectClose(await layer.runningMean.read(), runningMean, { rtol: 1e-5, atol: 1e-6 }, 'running mean after evaluation');
    for (const t of [x, y]) t.dispose();
    layer.dispose();
  });

  it('refuses a training batch of one row, an input of the wrong width, and a momentum above 1', () => {
    const layer = new BatchNorm(device, 3);
    const one = device.tensor(new Float32Array(3), [1, 3]);
    const wide = device.tensor(new Float32Array(8), [2, 4]);
    expect(() => layer.forward(one)).toThrow(/^batchnorm 3: a training batch needs at least 2 rows to have a variance, got 1/);
    expect(() => layer.forward(wide)).toThrow(/^batchnorm 3: input \[2, 4\] must be \[batch, 3\]/);
    expect(() => new BatchNorm(device, 3, { momentum: 1.5 })).toThrow(/^batchnorm: momentum must be in \[0, 1\], got 1\.5/);
    for (const t of [one, wide]) t.dispose();
    layer.dispose();
  });
});
