/**
 * One training run with its directory: what `sll train` and `npm start` do, as a library call.
 *
 * The run writes config.json first, then a metrics line every `metricsEvery` steps, and after
 * every epoch a checkpoint (atomically) and the report. Stopping through `signal` (Ctrl-C in the
 * command) saves a checkpoint at the step reached; a non-finite gradient stops the run with the
 * unit and step named and leaves the last good checkpoint in place. `resume` continues from the
 * checkpoint with the run's own config and reaches the weights of an uninterrupted run bitwise
 * (same adapter): batch order and augmentation are functions of (seed, epoch, batch), and the
 * checkpoint holds the optimizer state, the step counters and the dropout streams' positions.
 *
 * A run either does what was asked or stops and says why. The directory is locked while the
 * run writes it. A divergence guard stops a run whose logged loss leaves the range it started
 * in (see DIVERGENCE_FACTOR_DEFAULT), with the last good checkpoint kept and named truthfully:
 * before the first epoch ends there is none. Any other failure is recorded as the run's status
 * before it is rethrown. Node only.
 */
import type { Dataset } from '../data/datasets.js';
import type { Device } from '../gpu/device.js';
import { renderReport, type ReportEpoch, type ReportTest } from '../report/html.js';
import { kernelTuningOf, useKernelTuning } from '../ops/tuningTable.js';
import { encodeCheckpoint, NonFiniteWeightsError, provenanceOf, readCheckpoint, restoreKernelTuning, restoreTrainer, resumeNotice } from '../sll/checkpoint.js';
import { evaluate, fit, positionOf, type Position, type Progress, type StepTick } from '../sll/fit.js';
import { planRun, resumeMismatch, scheduleOf } from '../sll/runPlan.js';
import { methodRule } from '../sll/rules.js';
import { learningRate } from '../sll/schedule.js';
import { buildModel, resolveTrainingSpec, type SpecContext, type TrainingSpec, type TrainingSpecInput } from '../sll/spec.js';
import { checkOption, TRAINING_FIELDS } from '../sll/trainingSettings.js';
import { NonFiniteError, Trainer, type UnitMetrics } from '../sll/trainer.js';
import { newRunRefusal, resumeRefusal, RunDirectory, type MetricsLine } from './directory.js';
import { DIVERGENCE_FACTOR_DEFAULT, DivergenceError, divergenceGuard } from './divergence.js';

export interface RunEvents {
  onStart?: (info: { title: string; adapter: string; stepsPerEpoch: number; start: Position; resumed: boolean; train: number; validation: number }) => void;
  /** After every step (nothing is read back for it): a progress bar's tick. */
  onStep?: (tick: StepTick & { epochs: number }) => void;
  onProgress?: (progress: Progress & { epochs: number }) => void;
  onEpoch?: (record: ReportEpoch) => void;
  onCheckpoint?: (path: string, position: Position) => void;
  onTest?: (test: ReportTest & { count: number }) => void;
  /** One-line notices for people, such as a resumed checkpoint's "carries no checksums". */
  onNotice?: (text: string) => void;
}

export interface RunOptions {
  /**
   * What to train: a whole spec or any part of one (the rest takes the defaults of
   * TRAINING_SPEC_SCHEMA, resolved against the dataset). Ignored when resuming: the
   * checkpoint's own spec is used, or for a run without a checkpoint its config.json's.
   */
  spec: TrainingSpecInput;
  dataset: Dataset;
  /** The run directory (created if needed, locked while the run writes it). */
  outDir?: string;
  /** Or the run directory already locked by the caller (the command locks it before loading data). */
  directory?: RunDirectory;
  /** See DIVERGENCE_FACTOR_DEFAULT; 0 turns the guard off. */
  divergenceFactor?: number;
  /**
   * Continue the run in `outDir` from its checkpoint, with the checkpoint's spec; a run that
   * stopped before its first checkpoint starts again from its beginning with its config.json.
   */
  resume?: boolean;
  /**
   * Resuming: the epochs to train in all, other than the run's own (a finished or stopped run
   * trained longer). With a constant schedule the run ends bitwise where a straight run of this
   * many epochs ends; a cosine schedule is recomputed over the new total (said in a notice).
   */
  epochs?: number;
  /** Aborting stops at the next step boundary and saves a checkpoint there. */
  signal?: AbortSignal;
  events?: RunEvents;
  classNames?: readonly string[];
}

export interface RunResult {
  status: 'finished' | 'stopped' | 'non-finite' | 'diverged';
  /** A sentence for people: 'finished', 'stopped at epoch 2, batch 17 (checkpoint saved)', ... */
  message: string;
  position: Position;
  test?: ReportTest & { count: number };
  dir: RunDirectory;
}

export async function runTraining(device: Device, options: RunOptions): Promise<RunResult> {
  const dir = options.directory ?? (options.outDir !== undefined ? new RunDirectory(options.outDir) : undefined);
  if (!dir) throw new TypeError('runTraining: give outDir (or a locked directory)');
  const factor = options.divergenceFactor;
  if (factor !== undefined && !(factor === 0 || factor > 1)) throw new RangeError(`runTraining: divergenceFactor must be 0 (no guard) or greater than 1, got ${factor}`);
  const release = dir.locked ? undefined : dir.lock((text) => options.events?.onNotice?.(text));
  // A resumed run may put its own kernel tuning in force; the device gets its own back after.
  const tuning = kernelTuningOf(device);
  try {
    return await runInDirectory(device, dir, options);
  } finally {
    useKernelTuning(device, tuning);
    release?.();
  }
}

async function runInDirectory(device: Device, dir: RunDirectory, options: RunOptions): Promise<RunResult> {
  const { dataset } = options;
  let spec: TrainingSpec;
  let checkpoint;
  const state = dir.state();
  const refusal = options.resume ? resumeRefusal(dir.dir, state) : newRunRefusal(dir.dir, state);
  if (refusal !== undefined) throw new Error(options.resume ? `${dir.dir}: ${refusal}` : refusal);
  const context = { classes: dataset.classes, trainCount: dataset.train.count, datasetName: dataset.name };
  /** A resumed run that stopped before its first checkpoint: it starts again from its beginning. */
  const restart = options.resume === true && state.kind === 'run-without-checkpoint';
  if (options.epochs !== undefined) checkOption(TRAINING_FIELDS.epochs, options.epochs, 'epochs', 'runTraining');
  if (options.resume && !restart) {
    const source = dir.path('checkpoint');
    checkpoint = await readCheckpoint(dir.readCheckpoint(), source);
    for (const notice of checkpoint.notices) options.events?.onNotice?.(notice);
    const tuningNotice = restoreKernelTuning(device, checkpoint.meta);
    if (tuningNotice) options.events?.onNotice?.(tuningNotice);
    // Bitwise continuation holds on the adapter and kernel choices the run was trained with.
    const differs = resumeNotice(checkpoint, device);
    if (differs) options.events?.onNotice?.(differs);
    spec = checkpoint.meta.spec;
    const mismatch = resumeMismatch(checkpoint.meta, dataset);
    if (mismatch) throw new Error(`${source}: ${mismatch}`);
  } else {
    if (restart) {
      spec = resolveTrainingSpec((dir.readJson('config') as { spec: unknown }).spec, context, dir.path('config'));
      options.events?.onNotice?.(`${dir.dir}: the run stopped before its first checkpoint: starting it again from its beginning with its config.json`);
    } else {
      spec = resolveTrainingSpec(options.spec, context);
    }
    if (spec.dataset.normalize === false && (dataset.mean !== 0 || dataset.std !== 1)) {
      throw new Error(`the spec says dataset.normalize false, but ${dataset.name} was standardized (mean ${dataset.mean}, std ${dataset.std})`);
    }
  }
  const { adapter, kernels } = provenanceOf(device);
  let plan = planRun(spec, dataset, options.classNames ? { classNames: options.classNames } : {});
  if (options.epochs !== undefined && options.epochs !== spec.epochs) {
    spec = retrain(spec, options.epochs, checkpoint?.meta.position, plan.stepsPerEpoch, context, (text) => options.events?.onNotice?.(text));
    plan = planRun(spec, dataset, options.classNames ? { classNames: options.classNames } : {});
    if (checkpoint) dir.writeJson('config', { ...(dir.readJson('config') as object), spec });
  }
  const { data, train, validation, stepsPerEpoch } = plan;

  const model = buildModel(device, spec.model, data, spec.seed);
  const trainer = new Trainer(device, model, plan.trainer);
  const title = `${model.name}, ${spec.method}, seed ${spec.seed}`;
  let lastStatus = 'running';
  const report = (test?: ReportTest) => {
    const lines = dir.readMetrics();
    dir.writeReport(
      renderReport({
        title,
        adapter,
        config: spec,
        epochs: lines.filter((l): l is Extract<MetricsLine, { kind: 'epoch' }> => l.kind === 'epoch'),
        steps: lines.filter((l): l is Extract<MetricsLine, { kind: 'step' }> => l.kind === 'step'),
        ...(test ? { test } : {}),
        status: lastStatus,
      }),
    );
  };
  const status = (text: string) => {
    lastStatus = text;
    dir.append({ kind: 'status', status: text, step: trainer.step, at: new Date().toISOString() });
  };
  /** Where the checkpoint on disk stands, if there is one. */
  let saved: Position | undefined = checkpoint?.meta.position;
  const save = async (position: Position) => {
    dir.writeCheckpoint(await encodeCheckpoint(trainer, { spec, data, position, adapter, kernels }));
    saved = position;
    options.events?.onCheckpoint?.(dir.path('checkpoint'), position);
  };
  const lastGood = () =>
    saved ? `the checkpoint on disk (epoch ${saved.epoch + 1}, batch ${saved.batch}) is the last good one` : 'no checkpoint was written yet (the first is written at the end of epoch 1)';

  try {
    let start: Position = { epoch: 0, batch: 0 };
    if (checkpoint) {
      restoreTrainer(trainer, checkpoint, dir.path('checkpoint'));
      start = checkpoint.meta.position;
      dir.truncateMetrics(trainer.step, start.epoch);
      status(`resumed at epoch ${start.epoch + 1}, batch ${start.batch}`);
    } else {
      dir.create();
      // A restart keeps the dead run's status lines (its history) and drops the rest.
      if (restart) dir.truncateMetrics(0, 0);
      dir.writeJson('config', { spec, data, adapter, kernels, created: new Date().toISOString() });
      status(restart ? 'started again from its beginning (it had stopped before its first checkpoint)' : 'started');
    }
    options.events?.onStart?.({ title, adapter, stepsPerEpoch, start, resumed: checkpoint !== undefined, train: train.count, validation: validation?.count ?? 0 });
    // Forward-Forward's block losses are goodness losses, not cross-entropies: only their first window bounds them.
    const guard = divergenceGuard(options.divergenceFactor ?? DIVERGENCE_FACTOR_DEFAULT, dataset.classes, dir.readMetrics().find((l) => l.kind === 'step')?.units, !methodRule(spec.method).labelsInInput);

    const { transformBatch } = plan;
    try {
      await fit(trainer, train, dataset.shape, {
        epochs: spec.epochs,
        batchSize: spec.batchSize,
        seed: spec.seed,
        start,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(validation ? { evaluateOn: validation } : {}),
        ...(transformBatch ? { transformBatch } : {}),
        onStep: (tick) => options.events?.onStep?.({ ...tick, epochs: spec.epochs }),
        onProgress: (p) => {
          dir.append({ kind: 'step', step: trainer.step, epoch: p.epoch + 1, samplesPerSecond: p.samplesPerSecond, units: p.metrics.units });
          options.events?.onProgress?.({ ...p, epochs: spec.epochs });
          guard(p.metrics.units, trainer.step);
        },
        onEpoch: async (r) => {
          const memory = device.memory();
          const record: ReportEpoch = {
            epoch: r.epoch + 1,
            seconds: r.seconds,
            samplesPerSecond: r.samplesPerSecond,
            train: { units: meanUnits(r.metrics) },
            ...(r.evaluation ? { validation: { accuracy: r.evaluation.accuracy, blockAccuracy: r.evaluation.blockAccuracy } } : {}),
            memory: { live: { ...memory.live }, peak: { ...memory.peak } },
          };
          dir.append({ kind: 'epoch', ...record });
          options.events?.onEpoch?.(record);
          await save({ epoch: r.epoch + 1, batch: 0 });
          report();
        },
      });
    } catch (error) {
      if (!(error instanceof NonFiniteError) && !(error instanceof DivergenceError) && !(error instanceof NonFiniteWeightsError)) throw error;
      status(`stopped: ${error.message}; ${lastGood()}`);
      report();
      return { status: error instanceof DivergenceError ? 'diverged' : 'non-finite', message: lastStatus, position: positionOf(trainer.step, stepsPerEpoch), dir };
    }

    const position = positionOf(trainer.step, stepsPerEpoch);
    if (trainer.step < stepsPerEpoch * spec.epochs) {
      await save(position);
      status(`stopped at epoch ${position.epoch + 1}, batch ${position.batch} (checkpoint saved; continue with --resume)`);
      report();
      return { status: 'stopped', message: lastStatus, position, dir };
    }

    const test = await testEvaluation(trainer, dataset, spec.batchSize);
    dir.append({ kind: 'test', ...test });
    options.events?.onTest?.(test);
    status('finished');
    report(test);
    return { status: 'finished', message: lastStatus, position, test, dir };
  } catch (error) {
    // Whatever else stopped the run (a full disk, a lost device) is its recorded status too.
    if (dir.has('metrics')) {
      try {
        status(`failed: ${(error as Error).message}; ${lastGood()}`);
        report();
      } catch {
        // The disk may be what failed; the error below is the one to report.
      }
    }
    throw error;
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

/**
 * The spec of a resumed run trained to `epochs` in all: checked as a new spec would be (a
 * warm-up as long as the run is refused), and refused when the run is already past that point.
 * A cosine schedule depends on the total, so the notice says what the rate does from here.
 */
function retrain(spec: TrainingSpec, epochs: number, position: Position | undefined, stepsPerEpoch: number, context: SpecContext, notice: (text: string) => void): TrainingSpec {
  const longer = resolveTrainingSpec({ ...spec, epochs }, context, 'epochs');
  const step = position ? position.epoch * stepsPerEpoch + position.batch : 0;
  if (step > epochs * stepsPerEpoch) {
    throw new RangeError(`epochs ${epochs}: the run has already trained ${position!.epoch} epochs${position!.batch > 0 ? ` and ${position!.batch} batches` : ''}; give more epochs than that`);
  }
  if (spec.schedule.kind === 'cosine' && step > 0) {
    const before = learningRate(spec.optimizer.lr, scheduleOf(spec.schedule, stepsPerEpoch, spec.epochs), step);
    const after = learningRate(spec.optimizer.lr, scheduleOf(longer.schedule, stepsPerEpoch, epochs), step);
    notice(`the cosine schedule is recomputed over ${epochs} epochs instead of ${spec.epochs}: from step ${step} on the rate follows the ${epochs}-epoch schedule (${after.toPrecision(3)} now, where the ${spec.epochs}-epoch one gave ${before.toPrecision(3)}); a straight ${epochs}-epoch run would have decayed differently before this point, so the result is not that run's`);
  } else if (step > 0) {
    notice(`training to ${epochs} epochs instead of ${spec.epochs}: with ${spec.schedule.kind === 'step' ? 'the same milestones' : 'a constant rate'} this ends where a straight ${epochs}-epoch run ends`);
  }
  return longer;
}

/** Mean of each unit's losses and training accuracy over an epoch's metric windows, weighted by samples. */
function meanUnits(windows: ReadonlyArray<{ samples: number; units: ReadonlyArray<UnitMetrics> }>) {
  const total = windows.reduce((n, w) => n + w.samples, 0) || 1;
  const names = windows[0]?.units.map((u) => u.name) ?? [];
  return names.map((name, i) => {
    let likelihood = 0;
    let accuracy = 0;
    let alignment: number | undefined;
    for (const w of windows) {
      const u = w.units[i]!;
      likelihood += (u.likelihood * w.samples) / total;
      accuracy += (u.accuracy * w.samples) / total;
      if (u.alignment !== undefined) alignment = (alignment ?? 0) + (u.alignment * w.samples) / total;
    }
    return { name, likelihood, ...(alignment !== undefined ? { alignment } : {}), accuracy };
  });
}

async function testEvaluation(trainer: Trainer, dataset: Dataset, batchSize: number): Promise<ReportTest & { count: number }> {
  const { accuracy, blockAccuracy, confusion, count } = await evaluate(trainer, dataset.test, dataset.shape, batchSize, { confusion: true });
  return { accuracy, blockAccuracy, ...(confusion ? { confusion } : {}), count };
}

