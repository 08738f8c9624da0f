/**
 * A trainer replays its recorded step (TrainerConfig.replay, src/gpu/recording.ts) once two
 * steps in a row on the same inputs encoded the same work: the weights, the optimizer state and
 * the logged metrics are bitwise those of the same run with every step encoded by the rule's
 * code, for every rule and model, dropout and Forward-Forward's negative labels included.
 */
import { describe, expect, it } from 'vitest';
import { fit } from '../src/sll/fit.js';
import { buildModel, defaultObjective, methodModelProblem, type ModelSpec } from '../src/sll/spec.js';
import { Trainer, type Method, type StepMetrics } from '../src/sll/trainer.js';
import { testDevice } from './helpers/device.js';
import { CLASSES, MODELS, SHAPE, syntheticSplit } from './helpers/smallModels.js';

const device = await testDevice();

/** 2 epochs of 4 batches of 16: every parameter's and optimizer state's bits, the metrics, and the steps replayed. */
async function train(kind: keyof typeof MODELS, method: Method, replay: boolean, dropout = 0, blockDropout = 0) {
  const spec = { ...MODELS[kind], ...(method === 'drtp' && kind === 'mlp' ? { activation: 'tanh' } : {}), ...(blockDropout > 0 ? { dropout: blockDropout } : {}) } as ModelSpec;
  const model = buildModel(device, spec, { inputShape: SHAPE, classes: CLASSES }, 5);
  const objective = { ...defaultObjective(kind, CLASSES), dropout };
  const trainer = new Trainer(device, model, { method, optimizer: { kind: 'adam', lr: 3e-3 }, objective: () => objective, seed: 7, metricsEvery: 3, replay });
  try {
    const metrics: StepMetrics[] = [];
    await fit(trainer, syntheticSplit(64, 3), SHAPE, { epochs: 2, batchSize: 16, seed: 7, onProgress: ({ metrics: m }) => void metrics.push(m) });
    const bits: number[][] = [];
    for (const entry of trainer.parameterEntries()) {
      for (const t of [entry.value, ...trainer.optimizerOf(entry.unit).stateOf(entry.value)]) bits.push(Array.from(new Uint32Array(((await t.read()) as Float32Array).slice().buffer)));
    }
    return { bits, metrics: metrics.map((m) => m.units), replayed: trainer.replayedSteps, steps: trainer.step };
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

const cases: Array<[keyof typeof MODELS, Method]> = [
  ['mlp', 'sll'], ['mlp', 'backprop'], ['mlp', 'dgl'], ['mlp', 'predsim'], ['mlp', 'drtp'], ['mlp', 'dfa'],
  ['cnn', 'sll'], ['cnn', 'backprop'], ['cnn', 'dgl'],
  ['vit', 'sll'], ['vit', 'backprop'],
];

describe('a trainer replays its recorded step', () => {
  it.each(cases)('%s %s: bitwise the run without replay, most steps replayed', async (kind, method) => {
    expect(methodModelProblem(method, kind)).toBeUndefined();
    const [encoded, replayed] = [await train(kind, method, false), await train(kind, method, true)];
    expect(encoded.replayed).toBe(0);
    // Steps 1 and 2 record (step 1 makes the optimizer state), step 2 repeats step 1's work only
    // if nothing was made; from step 3 on every step replays.
    expect(replayed.replayed).toBeGreaterThanOrEqual(replayed.steps - 3);
    expect(replayed.bits).toEqual(encoded.bits);
    expect(replayed.metrics).toEqual(encoded.metrics);
  });

  // Dropout draws fresh masks every step: a replay draws them at the streams' positions and moves
  // the streams on (src/gpu/recording.ts), so the masks are the ones the encoded run draws.
  it.each([
    ['SLL with dropout on its projections', 'sll', 0.2, 0],
    ['SLL with dropout between blocks', 'sll', 0, 0.2],
    ['PredSim with dropout between blocks', 'predsim', 0, 0.2],
    ['backprop with dropout between blocks', 'backprop', 0, 0.2],
  ] as const)('%s: replays, bitwise the run without replay', async (_, method, dropout, blockDropout) => {
    const [encoded, replayed] = [await train('mlp', method, false, dropout, blockDropout), await train('mlp', method, true, dropout, blockDropout)];
    expect(replayed.replayed).toBeGreaterThanOrEqual(replayed.steps - 3);
    expect(replayed.bits).toEqual(encoded.bits);
    expect(replayed.metrics).toEqual(encoded.metrics);
  });

  // Forward-Forward draws its negative labels at each step on the GPU: a replay draws them at
  // the step it replays (shaders/negatives.wgsl, LabelEmbedding.negatives).
  it('forward-forward: replays, its negatives drawn at each replayed step, bitwise the run without replay', async () => {
    const [encoded, replayed] = [await train('mlp', 'ff', false), await train('mlp', 'ff', true)];
    expect(replayed.replayed).toBeGreaterThanOrEqual(replayed.steps - 3);
    expect(replayed.bits).toEqual(encoded.bits);
    expect(replayed.metrics).toEqual(encoded.metrics);
  });

  it.skipIf(!device.hasTimestamps)('steps taken while a profile runs are encoded and profiled, and replay resumes after it, bitwise the same', async () => {
    const split = syntheticSplit(16, 3);
    const images = device.tensor(split.images, [16, ...SHAPE]);
    const labels = device.tensor(split.labels, [16], 'i32');
    const run = async (replay: boolean) => {
      const model = buildModel(device, MODELS.mlp, { inputShape: SHAPE, classes: CLASSES }, 5);
      const trainer = new Trainer(device, model, { method: 'sll', optimizer: { kind: 'adam', lr: 3e-3 }, seed: 7, replay });
      try {
        for (let i = 0; i < 4; i++) trainer.trainStep(images, labels);
        const replayedBefore = trainer.replayedSteps;
        device.startProfiling();
        for (let i = 0; i < 2; i++) trainer.trainStep(images, labels);
        const profile = await device.stopProfiling();
        const replayedDuring = trainer.replayedSteps - replayedBefore;
        for (let i = 0; i < 2; i++) trainer.trainStep(images, labels);
        const weights = await Promise.all(trainer.parameterEntries().map(async (e) => Array.from(new Uint32Array(((await e.value.read()) as Float32Array).slice().buffer))));
        return { replayedBefore, replayedDuring, replayedAfter: trainer.replayedSteps - replayedBefore - replayedDuring, dispatches: profile.reduce((n, k) => n + k.dispatches, 0), weights };
      } finally {
        trainer.dispose();
        model.dispose();
      }
    };
    try {
      const [encoded, replayed] = [await run(false), await run(true)];
      expect(replayed.replayedBefore).toBeGreaterThan(0);
      expect(replayed.replayedDuring).toBe(0);
      expect(replayed.dispatches).toBe(encoded.dispatches);
      expect(replayed.dispatches).toBeGreaterThan(0);
      expect(replayed.replayedAfter).toBe(2);
      expect(replayed.weights).toEqual(encoded.weights);
    } finally {
      images.dispose();
      labels.dispose();
    }
  });

  it('refuses a replay setting that is not a boolean', () => {
    const model = buildModel(device, MODELS.mlp, { inputShape: SHAPE, classes: CLASSES }, 5);
    try {
      expect(() => new Trainer(device, model, { method: 'sll', optimizer: { kind: 'adam', lr: 1e-3 }, seed: 0, replay: 'yes' as never })).toThrow(/^Trainer: replay must be true or false, got "yes"$/);
    } finally {
      model.dispose();
    }
  });
});
