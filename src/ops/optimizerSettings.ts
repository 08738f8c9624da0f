/**
 * The optimizers' settings, declared once: the training spec's `optimizer` section (what
 * `sll train --lr` and a config file set) and `createOptimizer` in the library resolve against
 * this same node, so a setting the command refuses is refused by the library too, with the same
 * words (an unknown kind, a rate that float32 cannot hold, a beta of 1). The config's types are
 * declared here too (optim.ts re-exports them), so that the two files do not import each other.
 */
import { boolean, number, resolveSetting, type Node, type Variants } from '../settings/schema.js';

/** The hyperparameters of an SGD step (src/ops/optim.ts). */
export interface SgdHyper {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** The hyperparameters of an Adam or AdamW step (src/ops/optim.ts). */
export interface AdamHyper {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** An optimizer for createOptimizer (src/ops/optim.ts), as the spec's `optimizer` section holds it. */
export type OptimizerConfig = ({ kind: 'sgd' } & SgdHyper) | ({ kind: 'adam' | 'adamw' } & AdamHyper);

const lr = () => number({ min: 0, exclusiveMin: true, default: 1e-3 });

const adamFields = (weightDecay: number) => ({
  lr: lr(),
  beta1: number({ min: 0, max: 1, exclusiveMax: true, default: 0.9 }),
  beta2: number({ min: 0, max: 1, exclusiveMax: true, default: 0.999 }),
  eps: number({ min: 0, default: 1e-8 }),
  weightDecay: number({ min: 0, default: weightDecay }),
});

/** adam, adamw (decoupled weight decay, default 1e-2) or sgd, each with PyTorch's defaults. */
export const OPTIMIZER_SETTINGS: Variants = {
  type: 'variants',
  key: 'kind',
  default: 'adam',
  variants: {
    adam: adamFields(0),
    adamw: adamFields(1e-2),
    sgd: {
      lr: lr(),
      momentum: number({ min: 0, default: 0 }),
      dampening: number({ default: 0 }),
      nesterov: boolean({ default: false }),
      weightDecay: number({ min: 0, default: 0 }),
    },
  },
};

/**
 * Rules between an optimizer's fields: PyTorch's Nesterov condition, and products the kernels
 * form that must stay finite in float32 (AdamW's decay factor is 1 - lr * weightDecay).
 * Returns [field, why] for the first rule broken.
 */
export function optimizerRuleBroken(o: OptimizerConfig): [string, string] | undefined {
  if (o.kind === 'sgd' && o.nesterov && (!(o.momentum! > 0) || o.dampening !== 0)) return ['nesterov', 'needs a momentum above 0 (--momentum) and no dampening (optimizer.dampening 0)'];
  const decay = o.lr * (o.weightDecay ?? 0);
  if (!Number.isFinite(Math.fround(decay))) return ['weightDecay', `(${o.weightDecay}) times the learning rate (${o.lr}) is ${Number(decay.toPrecision(3))}, which overflows float32`];
  return undefined;
}

/** A complete, checked optimizer config from a partial one; `where` names the caller in errors. */
export function resolveOptimizerConfig(config: unknown, where = 'optimizer'): OptimizerConfig {
  const resolved = resolveSetting(OPTIMIZER_SETTINGS as Node, config, '', where) as OptimizerConfig;
  const broken = optimizerRuleBroken(resolved);
  if (broken) throw new RangeError(`${where}: ${broken[0]} ${broken[1]}`);
  return resolved;
}
