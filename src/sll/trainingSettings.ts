/**
 * The training loop's settings, declared once: the training spec (spec.ts) is made of these
 * nodes, and the library's Trainer, fit and schedules check their options against the same
 * nodes, so `new Trainer(..., { method: 'foo' })` or `fit(..., { epochs: NaN })` is refused with
 * the words `sll train` uses for the same mistake.
 */
import { integer, number, oneOf, positiveIntegers, resolveSetting, type Field, type Node, type Section, type Variants } from '../settings/schema.js';
import type { Schedule } from './schedule.js';

/**
 * How the blocks learn: SLL (a fixed random projection's likelihood per block), DGL (a learned
 * auxiliary head's cross-entropy per block), DRTP (the one-hot target through a fixed random
 * matrix per block), PredSim (a learned head's cross-entropy mixed with a similarity-matching
 * loss per block), Forward-Forward (each block's goodness high for its image with the right
 * label, low with a wrong one), or backprop (the output loss's gradient chained back through
 * every block).
 */
export type Method = 'sll' | 'dgl' | 'drtp' | 'predsim' | 'ff' | 'dfa' | 'backprop';
export const METHODS: readonly Method[] = ['sll', 'dgl', 'drtp', 'predsim', 'ff', 'dfa', 'backprop'];

/** The weight of PredSim's similarity term in the authors' experiments. */
export const PREDSIM_BETA_DEFAULT = 0.99;

/** PredSim's setting: beta, the weight of the similarity term (0: the prediction loss alone). */
export const PREDSIM_FIELDS = {
  beta: number({ min: 0, max: 1, default: PREDSIM_BETA_DEFAULT }),
} satisfies Record<string, Field>;

/** PredSim's settings as one section: the training spec's `predsim`, and the Trainer's option of that name. */
export const PREDSIM_SECTION: Section = { type: 'section', fields: PREDSIM_FIELDS };

export interface PredSimSettings {
  beta: number;
}

/**
 * Steps between metric reads, for the library and the command alike. A read waits for the GPU,
 * so it is the one sync point of a training loop; 50 keeps it rare enough not to stall a fast
 * GPU and frequent enough that a non-finite step is caught within a few seconds.
 */
export const METRICS_EVERY_DEFAULT = 50;

export const TRAINING_FIELDS = {
  method: oneOf(METHODS, { default: 'sll' }),
  epochs: integer({ default: 10 }),
  batchSize: integer({ default: 128 }),
  /** Seeds are u32 in the kernels' counter-based generator: larger or fractional ones would alias. */
  seed: integer({ min: 0, max: 0xffffffff, default: 0 }),
  metricsEvery: integer({ default: METRICS_EVERY_DEFAULT }),
} satisfies Record<string, Field>;

/**
 * A learning-rate schedule's settings: constant, cosine decay to `floor` (a fraction of the
 * base rate) after a linear warm-up whose length `cosine` gives, or step decay by `gamma` at each
 * of `milestones`: in epochs in the training spec, in steps for the Trainer.
 */
export function scheduleSettings(cosine: Record<string, Field>): Variants {
  return {
    type: 'variants',
    key: 'kind',
    default: 'constant',
    variants: {
      constant: {},
      cosine: { ...cosine, floor: number({ min: 0, max: 1, default: 0 }) },
      step: { milestones: positiveIntegers(), gamma: number({ min: 0, exclusiveMin: true, max: 1, default: 0.1 }) },
    },
  };
}

/** A schedule in steps, as the Trainer takes it (the spec's is in epochs: the run plan converts). */
const STEP_SCHEDULE = scheduleSettings({ warmupSteps: integer({ min: 0 }), totalSteps: integer() });

/** Checks one option of a library call against its node: `where` names the call ('Trainer'), `name` the option. */
export function checkOption<T>(node: Node, value: unknown, name: string, where: string): T {
  return resolveSetting(node, value, name, where) as T;
}

/** A checked step schedule: its kind, whole step counts, and a warm-up shorter than the run. */
export function checkSchedule(schedule: unknown, where: string): Schedule {
  const checked = checkOption<Schedule>(STEP_SCHEDULE, schedule, 'schedule', where);
  if (checked.kind === 'step') {
    if (checked.milestones === undefined) throw new RangeError(`${where}: schedule step needs milestones (the steps at which the rate is multiplied by gamma)`);
    const unordered = checked.milestones.findIndex((m, i) => i > 0 && m <= checked.milestones[i - 1]!);
    if (unordered > 0) throw new RangeError(`${where}: schedule.milestones must rise, got ${checked.milestones[unordered]} after ${checked.milestones[unordered - 1]}`);
  }
  if (checked.kind === 'cosine') {
    if (checked.warmupSteps === undefined || checked.totalSteps === undefined) throw new RangeError(`${where}: schedule cosine needs warmupSteps and totalSteps`);
    if (checked.warmupSteps >= checked.totalSteps) throw new RangeError(`${where}: schedule.warmupSteps (${checked.warmupSteps}) must be fewer than schedule.totalSteps (${checked.totalSteps}): the whole run would be warm-up`);
  }
  return checked;
}
