import { describe, expect, it } from 'vitest';
import { featureMap, featureWidth } from '../src/sll/features.js';
import { classModeObjective, latentModeObjective, LocalObjective, orthogonalRows, type LocalObjectiveConfig } from '../src/sll/index.js';
import { testDevice } from './helpers/device.js';
import { dot, expectClose, finiteDifferenceGradient, uniform } from './helpers/numeric.js';

const device = await testDevice();

/** The local loss in float64 (docs/algorithm.md, "The local objective"): mean over the batch of L_like + L_align. */
function referenceLoss(u: Float64Array, batch: number, d: number, R: Float64Array, config: LocalObjectiveConfig, classes: number, labels: number[], logQ: Float64Array | undefined, head?: { C: Float64Array; c: Float64Array }): number {
  const d0 = config.d0;
  let total = 0;
  for (let b = 0; b < batch; b++) {
    const v = new Float64Array(d0);
    for (let j = 0; j < d0; j++) for (let k = 0; k < d; k++) v[j]! += u[b * d + k]! * R[j * d + k]!;
    const logPi = logSoftmax(v.map((x) => x / config.tau));
    let like: number;
    if (config.mode === 'class') {
      like = -logPi[labels[b]!]!;
    } else {
      const z = new Float64Array(classes);
      for (let c = 0; c < classes; c++) {
        z[c] = head!.c[c]!;
        for (let j = 0; j < d0; j++) z[c]! += v[j]! * head!.C[c * d0 + j]!;
      }
      like = -logSoftmax(z)[labels[b]!]!;
    }
    let align = 0;
    if (logQ && config.alignment) {
      const terms = logPi.map((lp, j) => (lp + logQ[b * d0 + j]!) / 2);
      const m = Math.max(...terms);
      align = -(m + Math.log(terms.reduce((s, t) => s + Math.exp(t - m), 0)));
    }
    total += config.likelihoodWeight * like + config.alignmentWeight * align;
  }
  return total / batch;
}

function logSoftmax(x: Float64Array): Float64Array {
  const m = Math.max(...x);
  const lse = m + Math.log(x.reduce((s, v) => s + Math.exp(v - m), 0));
  return x.map((v) => v - lse);
}

async function checkObjective(config: LocalObjectiveConfig, classes: number, batch: number, d: number, withQ: boolean) {
  const objective = new LocalObjective(device, { config, classes, features: d, projectionSeed: [5, 1], headSeed: [5, 2], dropoutSeed: [5, 3], label: 'block 1' });
  const uData = uniform(batch * d, 3, -2, 2);
  const labels = Array.from({ length: batch }, (_, i) => (i * 7) % classes);
  const logQData = withQ ? Float64Array.from({ length: batch * config.d0 }, (_, i) => Math.sin(i) * 2) : undefined;
  // Normalize each row of log q to a log-distribution.
  if (logQData) for (let b = 0; b < batch; b++) logQData.set(logSoftmax(logQData.slice(b * config.d0, (b + 1) * config.d0)), b * config.d0);
  const R = Float64Array.from(await objective.projection.read());
  const head = objective.headWeight ? { C: Float64Array.from(await objective.headWeight.read()), c: Float64Array.from(await objective.headBias!.read()) } : undefined;

  const u = device.tensor(uData, [batch, d]);
  const y = device.tensor(labels, [batch], 'i32');
  const logQ = logQData ? device.tensor(Float32Array.from(logQData), [batch, config.d0]) : undefined;
  const result = objective.compute(u, y, logQ, true);
  const f = (p: Float64Array) => referenceLoss(p, batch, d, R, config, classes, labels, logQData, head);
  const loss = Array.from(await result.likelihood.read()).reduce((s, v) => s + v, 0) * config.likelihoodWeight + (result.alignment ? Array.from(await result.alignment.read()).reduce((s, v) => s + v, 0) * config.alignmentWeight : 0);
  expect(loss / batch).toBeCloseTo(f(Float64Array.from(uData)), 4);
  expectClose(await result.gradFeatures!.read(), finiteDifferenceGradient(f, uData), { rtol: 1e-3, atol: 1e-5 }, 'dL/du');
  if (head) {
    const dC = finiteDifferenceGradient((C) => referenceLoss(Float64Array.from(uData), batch, d, R, config, classes, labels, logQData, { C, c: head.c }), head.C);
    const dc = finiteDifferenceGradient((c) => referenceLoss(Float64Array.from(uData), batch, d, R, config, classes, labels, logQData, { C: head.C, c }), head.c);
    expectClose(await result.headGradients[0]!.read(), dC, { rtol: 1e-3, atol: 1e-5 }, 'dL/dC');
    expectClose(await result.headGradients[1]!.read(), dc, { rtol: 1e-3, atol: 1e-5 }, 'dL/dc');
  }
  for (const t of [u, y, logQ, result.likelihood, result.alignment, result.logPi, result.logits, result.gradFeatures, ...result.headGradients]) t?.dispose();
  objective.dispose();
}

describe('the local objective and its analytic gradient', () => {
  it.each([
    ['class mode with alignment (fused kernel)', classModeObjective(4), true],
    ['class mode without q (block without a previous posterior)', classModeObjective(4), false],
    ['class mode, tau 2, weighted terms', classModeObjective(4, { tau: 2, likelihoodWeight: 0.5, alignmentWeight: 2 }), true],
    ['class mode, JL scaling, Rademacher', classModeObjective(4, { scaling: 'jl', projection: 'rademacher' }), true],
    ['class mode, orthogonal projection rows', classModeObjective(4, { projection: 'orthogonal' }), true],
    ['latent mode d0 6, tau 2', latentModeObjective({ d0: 6 }), true],
    ['latent mode without alignment', latentModeObjective({ d0: 5, alignment: false }), true],
  ] as const)('%s: dL/du (and the head) match finite differences', async (_, config, withQ) => {
    await checkObjective(config, 4, 3, 7, withQ);
  });

  it('dropout masks only the projection input, reproducibly, and scales by 1 / (1 - p)', async () => {
    const config = classModeObjective(3, { dropout: 0.5, alignment: false });
    const make = () => new LocalObjective(device, { config, classes: 3, features: 64, projectionSeed: [1, 1], headSeed: [1, 2], dropoutSeed: [1, 3], label: 'b' });
    const a = make();
    const b = make();
    const u = device.tensor(uniform(2 * 64, 1), [2, 64]);
    const y = device.tensor([0, 1], [2], 'i32');
    const ra = a.compute(u, y, undefined, true);
    const rb = b.compute(u, y, undefined, true);
    expect(Array.from(await ra.logits.read())).toEqual(Array.from(await rb.logits.read()));
    // The gradient is zero exactly where the mask dropped a feature: about half.
    const g = await ra.gradFeatures!.read();
    const zeros = g.filter((v) => v === 0).length;
    expect(zeros).toBeGreaterThan(32);
    expect(zeros).toBeLessThan(96);
    expect(a.dropoutOffset).toBeGreaterThan(0);
    const evaluation = a.compute(u, y, undefined, false);
    expect(evaluation.gradFeatures).toBeUndefined();
    for (const t of [u, y, ra.likelihood, ra.logPi, ra.logits, ra.gradFeatures, rb.likelihood, rb.logPi, rb.logits, rb.gradFeatures, evaluation.likelihood, evaluation.logPi, evaluation.logits]) t?.dispose();
    a.dispose();
    b.dispose();
  });

  it('orthogonal projections have orthogonal rows of the Gaussian rows\' mean norm, and refuse d0 > d', () => {
    const rows = orthogonalRows(5, 40, 1 / Math.sqrt(40), [3, 4]);
    for (let a = 0; a < 5; a++) {
      for (let b = 0; b < 5; b++) {
        let dot = 0;
        for (let k = 0; k < 40; k++) dot += rows[a * 40 + k]! * rows[b * 40 + k]!;
        expect(dot).toBeCloseTo(a === b ? 1 : 0, 5);
      }
    }
    expect(() => orthogonalRows(41, 40, 1, [3, 4])).toThrow(/41 orthogonal rows do not fit in 40 dimensions/);
  });

  it('rejects class mode with d0 != K, naming the block', () => {
    expect(() => new LocalObjective(device, { config: classModeObjective(4, { d0: 5 }), classes: 4, features: 3, projectionSeed: [1, 1], headSeed: [1, 2], dropoutSeed: [1, 3], label: 'block 2' })).toThrow(
      /block 2: class mode needs d0 = number of classes \(4\), got d0 = 5/,
    );
  });
});

describe('phi and phi^T', () => {
  // phi is linear, so phi^T is right exactly when <phi(h), du> = <h, phi^T(du)> for any h and du.
  it.each([
    ['identity', [3, 17]],
    ['flatten', [2, 3, 4, 5]],
    ['gap', [2, 3, 4, 5]],
    ['mean-token', [3, 7, 5]],
    ['cls-token', [3, 7, 5]],
  ] as const)('%s on %j: the backward rule is the transpose of the forward one', async (kind, shape) => {
    const hData = uniform(shape.reduce((a, b) => a * b, 1), 11);
    const h = device.tensor(hData, [...shape]);
    const phi = featureMap(kind);
    const u = phi.forward(h, { training: true });
    expect(u.shape).toEqual([shape[0], featureWidth(kind, shape)]);
    const duData = uniform(u.size, 12);
    const du = device.tensor(duData, u.shape);
    const dh = phi.backward(du, { inputGradient: true }).input!;
    expect(dh.shape).toEqual([...shape]);
    const lhs = dot(Float64Array.from(await u.read()), Float64Array.from(duData, Math.fround));
    const rhs = dot(Float64Array.from(hData, Math.fround), Float64Array.from(await dh.read()));
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-5 * (1 + Math.abs(lhs)));
    for (const t of [h, u, du, dh]) t.dispose();
  });
});
