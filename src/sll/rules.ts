/**
 * The block rules other than SLL's, by method: what the trainer's per-block sweep calls for each
 * block. SLL's objective is built by the trainer itself (its alignment targets link blocks);
 * every rule here is a LocalLoss of the block alone, so adding one is a line below and a file of
 * its own, not a change to the trainer (docs/algorithm.md, "Other local rules").
 */
import type { Device } from '../gpu/device.js';
import { domainSeed } from '../random/seeds.js';
import { DglHead } from './dglHead.js';
import { DrtpSignal } from './drtp.js';
import { ForwardForwardLoss } from './forwardForward.js';
import type { FeatureMapKind } from './config.js';
import type { LocalLoss } from './localLoss.js';
import { PredSimLoss } from './predsim.js';
import { PredSimConvLoss } from './predsimConv.js';
import type { Method, PredSimSettings } from './trainingSettings.js';

export interface BlockRuleContext {
  classes: number;
  /** Width of the block's features. */
  features: number;
  /** The block's phi and its output shape without the batch: a DGL head's net depends on them. */
  featureMap: FeatureMapKind;
  blockShape: readonly number[];
  /** The run's seed: each rule draws its own domain's key for block `block`. */
  seed: number;
  /** The block's index, from 0. */
  block: number;
  predsim?: Partial<PredSimSettings>;
}

type BlockRuleMethod = Exclude<Method, 'sll' | 'backprop'>;

const RULES: Record<BlockRuleMethod, (device: Device, c: BlockRuleContext, label: string) => LocalLoss> = {
  dgl: (device, c, label) => new DglHead(device, { classes: c.classes, features: c.features, featureMap: c.featureMap, blockShape: c.blockShape, seed: domainSeed(c.seed, 'auxiliaryHead', c.block), label }),
  ff: (device, c, label) => new ForwardForwardLoss(device, { features: c.features, label }),
  drtp: (device, c, label) => new DrtpSignal(device, { classes: c.classes, features: c.features, seed: domainSeed(c.seed, 'targetProjection', c.block), label }),
  // A conv stage's maps (its flattened output) take the authors' conv form; feature rows the linear one.
  predsim: (device, c, label) => {
    const common = { classes: c.classes, seed: domainSeed(c.seed, 'auxiliaryHead', c.block), label, ...(c.predsim?.beta !== undefined ? { beta: c.predsim.beta } : {}) };
    return c.featureMap === 'flatten' && c.blockShape.length === 3
      ? new PredSimConvLoss(device, { ...common, blockShape: c.blockShape as [number, number, number] })
      : new PredSimLoss(device, { ...common, features: c.features });
  },
};

/**
 * Whether the method's signal meets a conv stage at its activation before the pooling, where
 * its authors hook it (DRTP's conv blocks), rather than at the stage's output: the trainer then
 * runs the stage's body and its pooling apart, and the rule's features are the body's output.
 */
export function readsBeforePooling(method: Method): boolean {
  return method === 'drtp';
}

/** Whether a method trains each block by a rule of this file. */
export function isBlockRuleMethod(method: Method): method is BlockRuleMethod {
  return Object.hasOwn(RULES, method);
}

/** Block `context.block`'s rule under `method`. */
export function blockRule(device: Device, method: BlockRuleMethod, context: BlockRuleContext): LocalLoss {
  return RULES[method](device, context, `block ${context.block + 1}`);
}
