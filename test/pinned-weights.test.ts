/**
 * Pinned weights: short seeded trainings of the MLP, the CNN and the ViT, with SLL and with
 * backprop, must end with exactly the weights and optimizer state they ended with when the pins
 * were taken. This is what lets the engine and the trainers be restructured without changing a
 * single number: a refactor that reorders a sum, drops a dropout stream or moves a seed fails
 * here, op for op.
 *
 * Bitwise equality holds only on the adapter the pins were taken on (see docs/reproducibility.md):
 * the pins are keyed by adapter. On an adapter with no pin, the weights' summaries (L1 and L2
 * norms, which do not depend on summation order to first order) are compared within a tolerance.
 * A pin may change only in a commit that explains the difference op by op. To print fresh pins:
 * SLL_PRINT_PINS=1 npx vitest run test/pinned-weights.test.ts
 */
import { describe, expect, it } from 'vitest';
import { fit } from '../src/sll/fit.js';
import { Predictor } from '../src/sll/predict.js';
import { buildModel, defaultObjective, methodModelProblem } from '../src/sll/spec.js';
import { METHODS } from '../src/sll/trainingSettings.js';
import { Trainer, type Method } from '../src/sll/trainer.js';
import { scheduleOf } from '../src/sll/runPlan.js';
import { describeAdapter } from '../src/gpu/open.js';
import { testDevice } from './helpers/device.js';
import { CLASSES, MODELS, SHAPE, syntheticSplit } from './helpers/smallModels.js';
import { readFileSync } from 'node:fs';

const device = await testDevice();

/** Trains 2 epochs of 6 batches of 16 with the run's own pieces (fit, schedule, objectives). */
async function finalState(kind: keyof typeof MODELS, method: Method) {
  const model = buildModel(device, MODELS[kind], { inputShape: SHAPE, classes: CLASSES }, 5);
  // Dropout on, so the dropout streams' positions are pinned too.
  const objective = { ...defaultObjective(kind, CLASSES), dropout: 0.1 };
  const trainer = new Trainer(device, model, {
    method,
    optimizer: { kind: 'adam', lr: 3e-3 },
    schedule: scheduleOf({ kind: 'cosine', warmupEpochs: 1, floor: 0 }, 6, 2),
    objective: () => objective,
    seed: 7,
    metricsEvery: 4,
  });
  try {
    await fit(trainer, syntheticSplit(), SHAPE, { epochs: 2, batchSize: 16, seed: 7 });
    const chunks: Uint8Array[] = [];
    let l1 = 0;
    let l2 = 0;
    for (const entry of trainer.parameterEntries()) {
      const optimizer = trainer.optimizerOf(entry.unit);
      for (const t of [entry.value, ...optimizer.stateOf(entry.value)]) {
        const values = (await t.read()) as Float32Array;
        chunks.push(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
        if (t === entry.value) for (const v of values) (l1 += Math.abs(v)), (l2 += v * v);
      }
    }
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let offset = 0;
    for (const c of chunks) (all.set(c, offset), (offset += c.length));
    const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', all));
    return { sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''), l1, l2: Math.sqrt(l2) };
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

type Pin = { sha256: string; l1: number; l2: number };
const pinTable = JSON.parse(readFileSync(new URL('./pins/weights.json', import.meta.url), 'utf8')) as { adapters: Record<string, Record<string, Pin>>; reference: string };
const adapterText = `${device.report.description} ${device.report.device} ${device.report.vendor}`.toLowerCase();
const adapterKey = Object.keys(pinTable.adapters).find((key) => adapterText.includes(key));

describe(`pinned weights after 12 seeded steps (${adapterKey ? `bitwise, pins of '${adapterKey}'` : `within 1e-3 of the '${pinTable.reference}' pins`}; ${describeAdapter(device.report)})`, () => {
  for (const kind of ['mlp', 'cnn', 'vit'] as const) {
    // Every method that trains the model (src/sll/spec.ts, methodModelProblem).
    for (const method of METHODS.filter((m) => !methodModelProblem(m, kind))) {
      it(`${kind} ${method}`, async () => {
        const state = await finalState(kind, method);
        if (process.env.SLL_PRINT_PINS) console.log(`"${kind}-${method}": ${JSON.stringify(state)},`);
        const pin = (adapterKey ? pinTable.adapters[adapterKey] : pinTable.adapters[pinTable.reference])![`${kind}-${method}`]!;
        if (adapterKey) {
          expect(state.sha256).toBe(pin.sha256);
        } else {
          expect(Math.abs(state.l1 - pin.l1) / pin.l1).toBeLessThan(1e-3);
          expect(Math.abs(state.l2 - pin.l2) / pin.l2).toBeLessThan(1e-3);
        }
      });
    }
  }
});

describe('a checkpoint written by the first checkpoint format', () => {
  // test/fixtures/checkpoint-format1.safetensors: a 1-block MLP on 2x2 images, 3 classes, after one
  // SLL step, saved before checksums existed. Its predictions were recorded when it was written.
  it('still loads, and predicts what it predicted then', async () => {
    const bytes = new Uint8Array(readFileSync(new URL('./fixtures/checkpoint-format1.safetensors', import.meta.url)));
    const predictor = await Predictor.fromCheckpoint(device, bytes, 'checkpoint-format1.safetensors');
    try {
      const { probabilities } = await predictor.predict(new Float32Array([0, 1, 0, 1, 1, 1, 0, 0]));
      const recorded = [0.3084644377231598, 0.397022008895874, 0.2945134937763214, 0.2562980651855469, 0.4708147346973419, 0.2728872299194336];
      recorded.forEach((p, i) => expect(probabilities[i]).toBeCloseTo(p, 6));
    } finally {
      predictor.dispose();
    }
  });
});
