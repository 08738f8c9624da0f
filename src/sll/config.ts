/**
 * Every switch of the local objective is a field here, so that the ablations can turn each one
 * (docs/algorithm.md, "Switches").
 */

/** How a block's local likelihood is formed (docs/algorithm.md, "The local unit", step 5). */
export type LikelihoodMode = 'class' | 'latent';

/**
 * phi: how a block's output becomes the feature vector its projection reads. identity (an MLP
 * block), flatten or gap (global average pooling) for conv stages, mean-token or cls-token for
 * transformer blocks.
 */
export type FeatureMapKind = 'identity' | 'flatten' | 'gap' | 'mean-token' | 'cls-token';

export interface LocalObjectiveConfig {
  mode: LikelihoodMode;
  /** Projection width. In class mode it must equal the number of classes. */
  d0: number;
  /** Temperature of pi = softmax(v / tau). */
  tau: number;
  /** Multiplicative dropout on the projection's input (0 turns it off). */
  dropout: number;
  /** Align pi with the previous block's posterior (true), or drop the term (false). */
  alignment: boolean;
  /**
   * With alignment on: a block with no same-width block before it (block 1, or the first block
   * after a change of d0) aligns with a fixed projection of its own input (true: R_0 for block 1;
   * docs/algorithm.md, "Alignment targets"), or has no alignment term (false). Absent: true.
   */
  inputAlignment?: boolean;
  /** Entries of the fixed projection R: Gaussian, Rademacher (+-1), or orthogonal rows. */
  projection: 'gaussian' | 'rademacher' | 'orthogonal';
  /** fan-in: entries of variance 1/d_i (v has unit scale); jl: variance 1/d0. */
  scaling: 'fan-in' | 'jl';
  /** Weights of the two terms (the paper uses 1 and 1). */
  likelihoodWeight: number;
  alignmentWeight: number;
}

/**
 * The default recipe, in one place: class mode (d0 = K, tau 1) for MLP and ViT blocks, latent
 * mode (d0 512, tau 2) for CNN blocks, no dropout, alignment on (block 1 to a fixed projection
 * of its input), Gaussian projections at fan-in scale, both terms weighted 1 as in the paper.
 * The training spec's schema (spec.ts) takes its objective defaults from here.
 */
export const LOCAL_OBJECTIVE_DEFAULTS = {
  class: { tau: 1 },
  latent: { d0: 512, tau: 2 },
  dropout: 0,
  alignment: true,
  inputAlignment: true,
  projection: 'gaussian',
  scaling: 'fan-in',
  likelihoodWeight: 1,
  alignmentWeight: 1,
} as const;

const { class: _class, latent: _latent, ...SHARED_DEFAULTS } = LOCAL_OBJECTIVE_DEFAULTS;

/** The class-mode recipe (MLP and ViT blocks): d0 = the class count, tau 1. */
export function classModeObjective(classes: number, overrides: Partial<LocalObjectiveConfig> = {}): LocalObjectiveConfig {
  return { mode: 'class', d0: classes, ...SHARED_DEFAULTS, ...LOCAL_OBJECTIVE_DEFAULTS.class, ...overrides };
}

/** The latent-mode recipe (CNN blocks): d0 512, tau 2. */
export function latentModeObjective(overrides: Partial<LocalObjectiveConfig> = {}): LocalObjectiveConfig {
  return { mode: 'latent', ...SHARED_DEFAULTS, ...LOCAL_OBJECTIVE_DEFAULTS.latent, ...overrides };
}

export function checkObjectiveConfig(config: LocalObjectiveConfig, classes: number, where: string): void {
  const fail = (why: string) => {
    throw new RangeError(`${where}: ${why}`);
  };
  if (config.mode === 'class' && config.d0 !== classes) fail(`class mode needs d0 = number of classes (${classes}), got d0 = ${config.d0}`);
  if (!Number.isInteger(config.d0) || config.d0 < 1) fail(`d0 must be a positive integer, got ${config.d0}`);
  if (!(config.tau > 0) || !Number.isFinite(config.tau)) fail(`tau must be positive, got ${config.tau}`);
  if (!(config.dropout >= 0 && config.dropout < 1)) fail(`dropout p must be in [0, 1), got ${config.dropout}`);
  if (!(config.likelihoodWeight >= 0) || !(config.alignmentWeight >= 0)) fail('term weights must be >= 0');
  if (config.inputAlignment !== undefined && typeof config.inputAlignment !== 'boolean') fail(`inputAlignment must be true or false, got ${JSON.stringify(config.inputAlignment)}`);
}
