/**
 * A model and its training as plain JSON: what `sll train` reads from flags or a config file,
 * what a run directory's config.json holds, and what a checkpoint carries in its metadata, so
 * that a checkpoint alone rebuilds the model it was saved from.
 *
 * TRAINING_SPEC_SCHEMA below is the one home of the spec's fields and their defaults: a config
 * file is resolved against it (unknown keys are errors, partial sections are completed), the
 * command's flags are mapped onto its paths, and `sll train --help` prints its defaults.
 */
import type { Device } from '../gpu/device.js';
import type { OptimizerConfig } from '../ops/optim.js';
import { checkObjectiveConfig, LOCAL_OBJECTIVE_DEFAULTS, type LocalObjectiveConfig } from './config.js';
import { cnn, mlp, BLOCK_ACTIVATIONS, vit, type BlockActivation, type Model } from './model.js';
import { defaultActivation } from './rules.js';
import { cnnStagesProblem, vitPatchProblem } from './modelShape.js';
import { DEFAULT_CROP_PAD } from '../data/augment.js';
import { boolean, integer, number, oneOf, positiveIntegers, resolveSection, SpecError, text, type DefaultScope, type Section } from '../settings/schema.js';
import { OPTIMIZER_SETTINGS, optimizerRuleBroken } from '../ops/optimizerSettings.js';
import { METHODS, PREDSIM_SECTION, scheduleSettings, TRAINING_FIELDS, type Method, type PredSimSettings } from './trainingSettings.js';

export type ModelSpec =
  | {
      kind: 'mlp';
      hidden: number[];
      /** Default relu, DRTP's tanh, PredSim's leaky-relu (the schema fills it). */ activation?: BlockActivation;
      /** Default false (the schema fills it). */ batchNorm?: boolean;
      /** Dropout on what each block passes on; default 0 (the schema fills it). */ dropout?: number;
    }
  | { kind: 'cnn'; channels: number[]; convsPerStage: number; hidden: number; stageFeatures: 'flatten' | 'gap'; /** Default relu, DRTP's tanh, PredSim's leaky-relu (the schema fills it). */ activation?: BlockActivation }
  | { kind: 'vit'; patch: number; dim: number; depth: number; heads: number; mlpRatio: number; pooling: 'mean-token' | 'cls-token' };

export type ModelKind = ModelSpec['kind'];
export const MODEL_KINDS: readonly ModelKind[] = ['mlp', 'cnn', 'vit'];

export interface DataShape {
  /** [C, H, W] of one example. */
  inputShape: [number, number, number];
  classes: number;
}

/** Builds the model a spec describes; `seed` sets the initial weights. */
export function buildModel(device: Device, spec: ModelSpec, data: DataShape, seed: number): Model {
  const { inputShape, classes } = data;
  switch (spec.kind) {
    case 'mlp':
      return mlp(device, { inputShape, classes, seed, hidden: spec.hidden, activation: spec.activation, batchNorm: spec.batchNorm, dropout: spec.dropout });
    case 'cnn':
      return cnn(device, { inputShape, classes, seed, channels: spec.channels, convsPerStage: spec.convsPerStage, hidden: spec.hidden, stageFeatures: spec.stageFeatures, activation: spec.activation });
    case 'vit':
      return vit(device, { inputShape, classes, seed, patch: spec.patch, dim: spec.dim, depth: spec.depth, heads: spec.heads, mlpRatio: spec.mlpRatio, pooling: spec.pooling });
    default:
      throw new RangeError(`unknown model kind '${String((spec as { kind: unknown }).kind)}'`);
  }
}

/** A schedule in epochs: constant, cosine after a warm-up, or step decay by gamma at the milestone epochs. */
export type ScheduleSpec = { kind: 'constant' } | { kind: 'cosine'; warmupEpochs: number; floor: number } | { kind: 'step'; milestones: number[]; gamma: number };

/** Everything that decides a training run's numbers (with the seed, the same file gives the same weights). */
export interface TrainingSpec {
  method: Method;
  model: ModelSpec;
  dataset: {
    name: string;
    /** Directory the dataset was read from (informative; `sll train --data-dir` overrides). */
    dir?: string;
    /** Examples held out from the end of the training split for validation. */
    validation: number;
    /** Random crop and horizontal flip on training batches. */
    augment: boolean;
    /** Padding of the random crop on each side (CIFAR's 4; PredSim's Fashion-MNIST recipe 2). */
    augmentPad: number;
    /** Train on the first N examples of the training part only (quick experiments); absent: all. */
    trainCount?: number;
    /** Standardize pixels with the training split's mean and std; false keeps them in [0, 1]. */
    normalize: boolean;
  };
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleSpec;
  /** PredSim's settings (resolved for every method, read by PredSim only). */
  predsim: PredSimSettings;
  /** Local objective of every block (SLL only; resolved for backprop too, and unused there). */
  objective: LocalObjectiveConfig;
  seed: number;
  /** Steps between reads of the losses (and between logged lines of metrics.jsonl). */
  metricsEvery: number;
}

type DeepPartial<T> = T extends readonly (infer E)[] ? readonly E[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** A spec as people write it: any part of one; TRAINING_SPEC_SCHEMA's defaults fill the rest. */
export type TrainingSpecInput = DeepPartial<TrainingSpec>;

/** What the defaults depend on: the dataset's class count and training-split size. */
export interface SpecContext {
  classes: number;
  /** Examples in the dataset's training split (before validation is held out); sets the validation default. */
  trainCount?: number;
  /** The dataset name when the spec does not give one. */
  datasetName?: string;
}

type Scope = DefaultScope<SpecContext>;
const modelKind = (s: Scope) => (s.root.model as { kind: ModelKind }).kind;
const objectiveMode = (s: Scope) => s.section.mode as 'class' | 'latent';

/** Validation held out by default: 5,000 examples, or a tenth of a small training split. */
export function defaultValidation(trainCount: number): number {
  return trainCount >= 20_000 ? 5000 : Math.round(trainCount / 10);
}

/** ReLU, or the method's own (DRTP's tanh, PredSim's LeakyReLU: rules.ts). */
const blockActivationDefault = (s: Scope) => defaultActivation(s.root.method as Method);

/** Every field of a training spec, with its check and its default. */
export const TRAINING_SPEC_SCHEMA: Section<SpecContext> = {
  type: 'section',
  fields: {
    method: TRAINING_FIELDS.method,
    model: {
      type: 'variants',
      key: 'kind',
      default: 'mlp',
      variants: {
        mlp: {
          hidden: positiveIntegers({ default: [1000, 1000, 1000] }),
          activation: oneOf(BLOCK_ACTIVATIONS, { default: blockActivationDefault, defaultText: 'relu (drtp: tanh, predsim: leaky-relu)' }),
          batchNorm: boolean({ default: false }),
          dropout: number({ min: 0, max: 1, exclusiveMax: true, default: 0 }),
        },
        cnn: {
          channels: positiveIntegers({ default: [32, 64] }),
          convsPerStage: integer({ default: 1 }),
          hidden: integer({ default: 256 }),
          stageFeatures: oneOf(['flatten', 'gap'], { default: 'flatten' }),
          activation: oneOf(BLOCK_ACTIVATIONS, { default: blockActivationDefault, defaultText: 'relu (drtp: tanh, predsim: leaky-relu)' }),
        },
        vit: {
          patch: integer({ default: 4 }),
          dim: integer({ default: 64 }),
          depth: integer({ default: 4 }),
          heads: integer({ default: 4 }),
          mlpRatio: number({ min: 0, exclusiveMin: true, default: 2 }),
          pooling: oneOf(['mean-token', 'cls-token'], { default: 'mean-token' }),
        },
      },
    },
    dataset: {
      type: 'section',
      fields: {
        name: text({ default: (s: Scope) => s.context.datasetName ?? 'digits', defaultText: 'digits' }),
        dir: text(),
        validation: integer({
          min: 0,
          default: (s: Scope) => {
            if (s.context.trainCount === undefined) throw 'must be given (the size of the training split is not known here)';
            return defaultValidation(s.context.trainCount);
          },
          defaultText: '5000, or 10% of small sets',
        }),
        augment: boolean({ default: (s: Scope) => (s.section.name as string).startsWith('cifar'), defaultText: 'on for CIFAR' }),
        augmentPad: integer({ min: 0, default: DEFAULT_CROP_PAD }),
        trainCount: integer(),
        normalize: boolean({ default: true }),
      },
    },
    epochs: TRAINING_FIELDS.epochs,
    batchSize: TRAINING_FIELDS.batchSize,
    optimizer: OPTIMIZER_SETTINGS,
    schedule: scheduleSettings({ warmupEpochs: number({ min: 0, default: 1 }) }),
    /** PredSim's settings: the other methods carry the defaults and never read them. */
    predsim: PREDSIM_SECTION,
    objective: {
      type: 'section',
      fields: {
        mode: oneOf(['class', 'latent'], { default: (s: Scope) => (modelKind(s) === 'cnn' ? 'latent' : 'class'), defaultText: 'class (CNN: latent)' }),
        d0: integer({ default: (s: Scope) => (objectiveMode(s) === 'class' ? s.context.classes : LOCAL_OBJECTIVE_DEFAULTS.latent.d0), defaultText: `K (latent: ${LOCAL_OBJECTIVE_DEFAULTS.latent.d0})` }),
        tau: number({ min: 0, exclusiveMin: true, default: (s: Scope) => LOCAL_OBJECTIVE_DEFAULTS[objectiveMode(s)].tau, defaultText: `${LOCAL_OBJECTIVE_DEFAULTS.class.tau} (latent: ${LOCAL_OBJECTIVE_DEFAULTS.latent.tau})` }),
        dropout: number({ min: 0, max: 1, exclusiveMax: true, default: LOCAL_OBJECTIVE_DEFAULTS.dropout }),
        alignment: boolean({ default: LOCAL_OBJECTIVE_DEFAULTS.alignment }),
        inputAlignment: boolean({ default: LOCAL_OBJECTIVE_DEFAULTS.inputAlignment }),
        projection: oneOf(['gaussian', 'rademacher', 'orthogonal'], { default: LOCAL_OBJECTIVE_DEFAULTS.projection }),
        scaling: oneOf(['fan-in', 'jl'], { default: LOCAL_OBJECTIVE_DEFAULTS.scaling }),
        likelihoodWeight: number({ min: 0, default: LOCAL_OBJECTIVE_DEFAULTS.likelihoodWeight }),
        alignmentWeight: number({ min: 0, default: LOCAL_OBJECTIVE_DEFAULTS.alignmentWeight }),
      },
    },
    seed: TRAINING_FIELDS.seed,
    metricsEvery: TRAINING_FIELDS.metricsEvery,
  },
};

/**
 * A complete, checked spec from a partial one (a config file, a run's config.json, a
 * checkpoint's metadata, flags): unknown fields are errors naming the nearest known field, and
 * whatever is absent takes its default. Errors are SpecErrors naming the field.
 */
export function resolveTrainingSpec(input: unknown, context: SpecContext, where = 'config'): TrainingSpec {
  const spec = resolveSection(TRAINING_SPEC_SCHEMA, input, context, where) as unknown as TrainingSpec;
  const m = spec.model;
  if (m.kind === 'vit' && m.dim % m.heads !== 0) throw new SpecError('model.dim', `(${m.dim}) must be a multiple of model.heads (${m.heads})`, where);
  const broken = optimizerRuleBroken(spec.optimizer);
  if (broken) throw new SpecError(`optimizer.${broken[0]}`, broken[1], where);
  // Settings that defeat each other: a warm-up as long as the run leaves no step at the base rate.
  const s = spec.schedule;
  if (s.kind === 'step') {
    if (s.milestones === undefined) throw new SpecError('schedule.milestones', 'must be given for a step schedule: the epochs at which the rate is multiplied by gamma (e.g. --milestones 100,150)', where);
    const unordered = s.milestones.findIndex((m, i) => i > 0 && m <= s.milestones[i - 1]!);
    if (unordered > 0) throw new SpecError('schedule.milestones', `must rise, got ${s.milestones[unordered]} after ${s.milestones[unordered - 1]}`, where);
    const late = s.milestones.find((m) => m >= spec.epochs);
    if (late !== undefined) throw new SpecError('schedule.milestones', `(${s.milestones.join(', ')}) must fall inside the run (epochs ${spec.epochs}): a milestone at epoch ${late} would never lower the rate`, where);
  }
  if (s.kind === 'cosine' && s.warmupEpochs >= spec.epochs) {
    throw new SpecError('schedule.warmupEpochs', `(${s.warmupEpochs}) must be shorter than the run (epochs ${spec.epochs}): a cosine schedule whose warm-up lasts the whole run never reaches its base rate nor decays (give a shorter warm-up, e.g. --warmup ${spec.epochs / 10}, or more epochs)`, where);
  }
  const unwritten = methodModelProblem(spec.method, m.kind);
  if (unwritten) throw new SpecError('method', `${unwritten}, so --model ${m.kind} takes --method ${orList(METHODS.filter((method) => !methodModelProblem(method, m.kind)))}`, where);
  // Forward-Forward's goodness is a ReLU block's: tanh keeps every sum of squares under its threshold
  // (the width), and batch norm would normalise positive and negative rows together.
  if (spec.method === 'ff' && m.kind === 'mlp' && m.activation !== undefined && m.activation !== 'relu') {
    throw new SpecError('model.activation', `must be relu with --method ff, got ${m.activation}: Forward-Forward's goodness, a block's sum of squares against its width, is a ReLU block's (a tanh block's never reaches that threshold)`, where);
  }
  if (spec.method === 'ff' && m.kind === 'mlp' && m.batchNorm) throw new SpecError('model.batchNorm', 'must be off with --method ff: batch norm would normalise its positive and negative images together, mixing what each block must tell apart', where);
  // A batch norm needs two rows to have a variance: the MLP's with --batch-norm, and those of DGL's auxiliary nets on a conv stage.
  const batchNorms = (m.kind === 'mlp' && m.batchNorm) || (spec.method === 'dgl' && m.kind === 'cnn' && m.stageFeatures === 'flatten');
  if (batchNorms && spec.batchSize < 2) throw new SpecError('batchSize', `must be at least 2 here (got ${spec.batchSize}): ${m.kind === 'mlp' ? "the MLP's blocks" : "DGL's auxiliary nets on the conv stages"} hold batch norms, which need two rows to have a variance`, where);
  // The local objective is SLL's alone: backprop and DGL carry the defaults and never read them.
  if (spec.method === 'sll') {
    if (spec.objective.mode === 'class' && spec.objective.d0 !== context.classes) {
      throw new SpecError('objective.d0', `must equal the number of classes (${context.classes}) in class mode, got ${spec.objective.d0}`, where);
    }
    checkObjectiveConfig(spec.objective, context.classes, `${where}: objective`);
  }
  return spec;
}

/** 'a, b or c'. */
function orList(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

/**
 * Why a method does not train a kind of model (yet), or undefined when it does; the command and
 * the lab both ask this (docs/algorithm.md, "Other local rules"). Every rule reads a block
 * through its phi, and DRTP's signal meets a conv stage at its activation before the pooling
 * (rules.ts, readsBeforePooling). DRTP needs a bounded activation where its signal arrives (its
 * default is tanh, as its authors': rules.ts): a signal that never shrinks pushes every sample along the
 * same direction (the bias gradients sum it over the batch), which tanh's saturation stops and
 * nothing in a pre-norm transformer block's residual output does. A 2-block ViT trained so stays
 * at chance (25% on 4 classes with Adam at 3e-3, 1e-3 and 3e-4; SGD diverges).
 */
export function methodModelProblem(method: Method, kind: ModelKind): string | undefined {
  if (method === 'ff' && kind !== 'mlp') return `ff trains MLP blocks only: Forward-Forward's goodness is defined on fully connected layers, whose input it normalises and whose first values carry the label (Hinton 2022)`;
  if (method === 'dfa' && kind !== 'mlp') return "dfa trains MLP blocks only: it is here as a labelled extra beside the local rules (its blocks wait for the output error, so its memory grows with depth as backprop's does)";
  if (method === 'drtp' && kind === 'vit') return "drtp trains MLP and CNN blocks only: a transformer block's residual output has no bounded activation for its never-shrinking signal to saturate, and a ViT trained so stays at chance";
  return undefined;
}

/**
 * What a model spec asks of [C, H, W] images that they do not give, from shapes alone (nothing is
 * built): the spec field at fault and why, or undefined.
 */
export function modelShapeProblem(model: ModelSpec, inputShape: readonly number[]): { path: string; why: string } | undefined {
  const why = model.kind === 'cnn' ? cnnStagesProblem(inputShape, model.channels.length) : model.kind === 'vit' ? vitPatchProblem(inputShape, model.patch) : undefined;
  return why === undefined ? undefined : { path: model.kind === 'cnn' ? 'model.channels' : 'model.patch', why };
}

/** The default model of a kind: MLP 3x1000; CNN conv32/conv64/fc256; ViT patch 4, dim 64, depth 4. */
export function defaultModelSpec(kind: ModelKind): ModelSpec {
  if (!MODEL_KINDS.includes(kind)) throw new RangeError(`unknown model '${String(kind)}' (use ${MODEL_KINDS.join(', ')})`);
  return resolveTrainingSpec({ model: { kind }, dataset: { validation: 0 } }, { classes: 10 }).model;
}

/** The default local objective of a model: class mode for the MLP and the ViT, latent 512 for the CNN. */
export function defaultObjective(kind: ModelKind, classes: number): LocalObjectiveConfig {
  return resolveTrainingSpec({ model: { kind }, dataset: { validation: 0 } }, { classes }).objective;
}

