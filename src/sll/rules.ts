/**
 * How each method trains, as the trainer reads it: one entry per method, so that adding a local
 * rule is an entry here and a file of its own (its LocalLoss), never a change to the trainer
 * (docs/algorithm.md, "Other local rules"). SLL is one entry among them.
 *
 * A step runs in one of three ways:
 *  - 'local': one forward sweep in which each block computes its rule's loss of its own output,
 *    steps, and lets its input go before the next block runs (SLL, DGL, DRTP, PredSim,
 *    Forward-Forward); the entry's `loss` makes each block's rule;
 *  - 'output-error': backprop's forward, then each block's own backward from the output error
 *    through a fixed matrix (DFA, the labelled extra whose memory grows with depth);
 *  - 'chain': backprop.
 * The flags say what the sweep does around a rule's loss: align each block with the one before
 * (SLL), meet a conv stage before its pooling (DRTP), write the labels into the images and
 * predict by trying each (Forward-Forward).
 */
import type { Device } from '../gpu/device.js';
import { domainSeed } from '../random/seeds.js';
import type { FeatureMapKind, LocalObjectiveConfig } from './config.js';
import { DglHead } from './dglHead.js';
import { DrtpSignal } from './drtp.js';
import { ForwardForwardLoss } from './forwardForward.js';
import type { LocalLoss } from './localLoss.js';
import type { BlockActivation } from './model.js';
import { LocalObjective } from './objective.js';
import { PredSimLoss } from './predsim.js';
import { PredSimConvLoss } from './predsimConv.js';
import { projectionSeed } from './projection.js';
import { METHODS, type Method, type PredSimSettings } from './trainingSettings.js';
import { describeValue } from '../gpu/dtype.js';

export interface BlockRuleContext {
  classes: number;
  /** Width of the features the rule reads (the block's, or its body's before pooling). */
  features: number;
  /** The block's phi and its output shape without the batch: a DGL head's net depends on them. */
  featureMap: FeatureMapKind;
  blockShape: readonly number[];
  /** The run's seed: each rule draws its own domain's key for block `block`. */
  seed: number;
  /** The block's index, from 0. */
  block: number;
  /** SLL's objective of this block (the other rules ignore it). */
  objective: LocalObjectiveConfig;
  predsim?: Partial<PredSimSettings>;
}

export interface MethodRule {
  /** How a step runs (see the file's header). */
  readonly step: 'local' | 'output-error' | 'chain';
  /** Block `context.block`'s rule ('local' methods). */
  readonly loss?: (device: Device, context: BlockRuleContext, label: string) => LocalLoss;
  /** Each block aligns with the block before it or a projection of its own input (SLL: alignment.ts). */
  readonly aligns?: true;
  /**
   * The rule's signal meets a conv stage at its activation before the pooling, where its authors
   * hook it (DRTP's conv blocks), rather than at the stage's output: the trainer runs the stage's
   * body and its pooling apart, and the rule's features are the body's output.
   */
  readonly readsBeforePooling?: true;
  /**
   * Labels are written into the images (positive and negative pairs) and each block's input is
   * length-normalised; prediction tries every label and the output classifier is not trained
   * (Forward-Forward: forwardForward.ts).
   */
  readonly labelsInInput?: true;
  /**
   * The MLP's and CNN's block activation by default under this method, where it is not ReLU, in
   * each case its authors' choice: DRTP's tanh, because its signal never shrinks and only a
   * bounded activation saturates under it (spec.ts, methodModelProblem); PredSim's LeakyReLU,
   * because its similarity loss drives ReLU units dead (docs/algorithm.md has the measurement).
   */
  readonly activation?: BlockActivation;
}

const RULES: Record<Method, MethodRule> = {
  sll: {
    step: 'local',
    aligns: true,
    loss: (device, c, label) =>
      new LocalObjective(device, {
        config: c.objective,
        classes: c.classes,
        features: c.features,
        projectionSeed: projectionSeed(c.seed, c.block + 1),
        headSeed: domainSeed(c.seed, 'latentHead', c.block),
        dropoutSeed: domainSeed(c.seed, 'dropout', c.block),
        label,
      }),
  },
  dgl: {
    step: 'local',
    loss: (device, c, label) => new DglHead(device, { classes: c.classes, features: c.features, featureMap: c.featureMap, blockShape: c.blockShape, seed: domainSeed(c.seed, 'auxiliaryHead', c.block), label }),
  },
  drtp: {
    step: 'local',
    readsBeforePooling: true,
    activation: 'tanh',
    loss: (device, c, label) => new DrtpSignal(device, { classes: c.classes, features: c.features, seed: domainSeed(c.seed, 'targetProjection', c.block), label }),
  },
  predsim: {
    step: 'local',
    activation: 'leaky-relu',
    // A conv stage's maps (its flattened output) take the authors' conv form; feature rows the linear one.
    loss: (device, c, label) => {
      const common = { classes: c.classes, seed: domainSeed(c.seed, 'auxiliaryHead', c.block), label, ...(c.predsim?.beta !== undefined ? { beta: c.predsim.beta } : {}) };
      return c.featureMap === 'flatten' && c.blockShape.length === 3
        ? new PredSimConvLoss(device, { ...common, blockShape: c.blockShape as [number, number, number] })
        : new PredSimLoss(device, { ...common, features: c.features });
    },
  },
  ff: {
    step: 'local',
    labelsInInput: true,
    loss: (device, c, label) => new ForwardForwardLoss(device, { features: c.features, label }),
  },
  dfa: { step: 'output-error' },
  backprop: { step: 'chain' },
};

/** Whether `method` names a training method (one of METHODS). */
export function isMethod(method: unknown): method is Method {
  return typeof method === 'string' && Object.hasOwn(RULES, method);
}

/** How `method` trains; an unknown method is a TypeError naming the known ones. */
export function methodRule(method: Method): MethodRule {
  if (!isMethod(method)) throw new TypeError(`method must be one of ${METHODS.join(', ')}, got ${describeValue(method)}`);
  return RULES[method];
}

/** The blocks' activation by default under `method`: ReLU but where its entry says otherwise. */
export function defaultActivation(method: Method): BlockActivation {
  return methodRule(method).activation ?? 'relu';
}
