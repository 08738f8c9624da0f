/**
 * Where every seeded stream of a run comes from: one module of named domains, so that no two
 * purposes can draw the same Philox key by accident and a reader sees them all at once.
 *
 * A run has one seed s (a u32). Each purpose p and index i get the 64-bit key
 *   [s, DOMAIN[p] + i]
 * whose high word tags the domain: the domains are 2^28 apart, so indices up to 2^28 never
 * collide across purposes. Layers derive keys for their sublayers from their own key (childSeed,
 * stageSeed), so a layer seeded anywhere draws the same numbers. Changing any of these changes
 * every trained weight: test/pinned-weights.test.ts holds them.
 */
import { philox4x32, seedWords, type Seed } from './philox.js';

export const SEED_DOMAINS = {
  /** Initial parameters of block i (the classifier is the block after the last; a ViT's patch embedding is 100). */
  layer: 0x10000000,
  /** Initial weights of block i's latent head (latent mode). */
  latentHead: 0x20000000,
  /** Dropout masks on block i's projection input. */
  dropout: 0x30000000,
  /** Initial weights of block i's learned auxiliary head (DGL). */
  auxiliaryHead: 0x40000000,
  /** Block i's fixed target projection B (DRTP). */
  targetProjection: 0x50000000,
  /** The wrong labels of Forward-Forward's negative data (index 0; drawn by step and row). */
  negativeLabels: 0x60000000,
  /**
   * Fixed projections: R_i of block i at index i + 1, R_0 of the raw input at 0, and the
   * input projection of a block i after a change of d0 at 1000 + i.
   */
  projection: 0x70000000,
  /** Dropout masks on what block i receives from block i - 1 (index i; the classifier's at index blocks): the MLP's block dropout. */
  blockDropout: 0x80000000,
  /** Block i's fixed feedback matrix B (DFA). */
  feedbackProjection: 0x90000000,
} as const;

export type SeedDomain = keyof typeof SEED_DOMAINS;

/** The key of purpose `domain`, index `index`, under the run seed `seed`. */
export function domainSeed(seed: number, domain: SeedDomain, index: number): [number, number] {
  return [seed >>> 0, (SEED_DOMAINS[domain] + index) >>> 0];
}

/**
 * A seed for the `index`-th sublayer of a layer seeded with `seed`: one Philox block of the
 * parent key at a counter no fill uses (word 3 = 0x5eed), so sublayers draw independent streams
 * and the same parent seed gives the same children everywhere.
 */
export function childSeed(seed: Seed, index: number): Seed {
  if (!Number.isInteger(index) || index < 0 || index >= 2 ** 32) throw new RangeError(`childSeed: index ${index} is not a u32`);
  const [a, b] = philox4x32([index, 0, 0, 0x5eed], seedWords(seed));
  return [a, b];
}

/**
 * The seed of layer `index` of a conv stage: the stage seed's high key word advanced by
 * (index + 1) golden-ratio steps (Philox's own Weyl constant), so the layers of one stage use
 * different keys, none equal to the stage seed itself.
 */
export function stageSeed(seed: Seed, index: number): [number, number] {
  const [lo, hi] = seedWords(seed);
  return [lo, (hi + Math.imul(index + 1, 0x9e3779b9)) >>> 0];
}
