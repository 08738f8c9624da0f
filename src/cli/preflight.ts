/**
 * Before a run directory is made: the spec's model is checked against the images' shape (from the
 * spec alone, nothing built), then built once and one training step is taken on zeros at the
 * spec's batch size, so that a model that does not fit the images, or a tensor over
 * one of the device's limits, is a usage error naming the flag to change, not a failure after
 * the run has written its first files. The step's weights are thrown away and the memory
 * counters reset, so the run's own figures start clean; its compiled kernels stay cached.
 */
import type { Device } from '../gpu/device.js';
import { LimitError } from '../gpu/errors.js';
import { trainerConfigOf } from '../sll/runPlan.js';
import type { Model } from '../sll/model.js';
import { buildModel, modelShapeProblem, type TrainingSpec } from '../sll/spec.js';
import { Trainer } from '../sll/trainer.js';
import { UsageError } from './args.js';

/** What outgrows a device at batch 1: the flags that size the model. */
function modelFlags(spec: TrainingSpec, shape: readonly number[]): string {
  const m = spec.model;
  const d0 = spec.method === 'sll' && spec.objective.mode === 'latent' && shape.includes(spec.objective.d0) ? ['a smaller --d0'] : [];
  const own = m.kind === 'mlp' ? ['smaller --hidden widths'] : m.kind === 'cnn' ? ['fewer --channels', 'a smaller --fc'] : ['a larger --patch', 'a smaller --dim or --mlp-ratio'];
  return [...d0, ...own].join(', or ');
}

function limitAdvice(spec: TrainingSpec, error: LimitError, batchFits: number | undefined, where: string, resumedConfig: string | undefined): string {
  const t = error.tensor;
  const what = t ? `a tensor [${t.shape.join(', ')}] of ${t.bytes} bytes, over this device's ${t.limitName} of ${t.limit} bytes` : error.message;
  if (resumedConfig !== undefined) {
    // A resumed run keeps its settings: what can change is a new run made from them.
    const batch = batchFits !== undefined ? ` --batch ${batchFits}` : '';
    return `${where}: a training step at batch ${spec.batchSize} needs ${what}, so this device cannot continue the run as configured; start a new run from its settings${batchFits !== undefined ? ` with a batch that fits` : ` with a smaller model (${modelFlags(spec, t?.shape ?? [])})`}: sll train --config ${resumedConfig}${batch} --out NEW_DIR`;
  }
  if (batchFits !== undefined) {
    const vit = spec.model.kind === 'vit' ? `, or ${modelFlags(spec, t?.shape ?? [])}` : '';
    return `${where}: a training step at --batch ${spec.batchSize} needs ${what}: use a smaller --batch (${batchFits} fits)${vit}`;
  }
  return `${where}: the model needs ${what} even at batch 1: use ${modelFlags(spec, t?.shape ?? [])}`;
}

/** The model does not fit the images (a patch that does not divide them, too many pooling stages). */
class DoesNotFit extends Error {}

/**
 * Builds the model and takes one step on zeros at `batch`; returns undefined, or the LimitError
 * the build or the step hit. A model that cannot be built otherwise is a DoesNotFit.
 */
async function trial(device: Device, spec: TrainingSpec, inputShape: [number, number, number], classes: number, batch: number): Promise<LimitError | undefined> {
  let model: Model;
  try {
    model = buildModel(device, spec.model, { inputShape, classes }, spec.seed);
  } catch (error) {
    if (error instanceof LimitError) return error;
    throw new DoesNotFit((error as Error).message);
  }
  let trainer: Trainer | undefined;
  try {
    trainer = new Trainer(device, model, trainerConfigOf({ ...spec, batchSize: batch }, 1));
    const images = device.zeros([batch, ...inputShape], 'f32', 'activation');
    const labels = device.zeros([batch], 'i32', 'activation');
    try {
      trainer.trainStep(images, labels);
    } finally {
      images.dispose();
      labels.dispose();
    }
    await device.flush();
    return undefined;
  } catch (error) {
    if (error instanceof LimitError) return error;
    throw error;
  } finally {
    trainer?.dispose();
    model.dispose();
  }
}

/**
 * Throws a UsageError when the spec's model cannot be built on `inputShape` images or a step at
 * its batch size passes a device limit. `where` names the source of the settings in messages;
 * `resumedConfig`, a resumed run's config.json, which the advice then starts a new run from.
 */
export async function preflight(device: Device, spec: TrainingSpec, inputShape: [number, number, number], classes: number, where: string, resumedConfig?: string): Promise<void> {
  // The shapes first, from the spec alone: a model that does not fit the images is refused before anything is built.
  const misfit = modelShapeProblem(spec.model, inputShape);
  if (misfit) throw new UsageError(`${where} do not fit ${inputShape.join('x')} images: ${misfit.why}`, 'train');
  try {
    let hit: LimitError | undefined;
    try {
      hit = await trial(device, spec, inputShape, classes, spec.batchSize);
    } catch (error) {
      if (error instanceof DoesNotFit) throw new UsageError(`${where} do not fit ${inputShape.join('x')} images: ${error.message}`, 'train');
      throw error;
    }
    if (!hit) return;
    // Is it the batch or the model? A step at batch 1 tells. Then the batch that fits: the
    // tensor grows with the batch, so scale it down to the limit, and halve while a step says no.
    if ((await trial(device, spec, inputShape, classes, 1)) !== undefined) throw new UsageError(limitAdvice(spec, hit, undefined, where, resumedConfig), 'train');
    const t = hit.tensor;
    let fits = t ? Math.max(1, Math.min(spec.batchSize - 1, Math.floor((spec.batchSize * t.limit) / t.bytes))) : Math.floor(spec.batchSize / 2);
    while (fits > 1 && (await trial(device, spec, inputShape, classes, fits)) !== undefined) fits = Math.floor(fits / 2);
    throw new UsageError(limitAdvice(spec, hit, fits, where, resumedConfig), 'train');
  } finally {
    // The trials' buffers go before the run allocates its own (after their commands finish).
    await device.flush().catch(() => {});
    device.pool.trim();
    device.pool.resetPeaks();
  }
}
