/**
 * SLL's alignment targets (docs/algorithm.md, "Alignment targets"): the one thing that links
 * SLL's blocks. A block aligns its posterior with the previous block's when both have the same
 * d0; otherwise (block 1, or a change of d0) with softmax(R flatten(a) / tau) of a fixed
 * projection R of its own input, unless inputAlignment is off; or with nothing when alignment
 * is off. The other local rules have no such link, so only SLL's trainer makes one of these.
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { Flatten } from '../nn/flatten.js';
import { matmul } from '../ops/matmul.js';
import { logSoftmax } from '../ops/softmax.js';
import type { LocalObjectiveConfig } from './config.js';
import { featureWidth } from './features.js';
import type { Model } from './model.js';
import { createProjection, projectionSeed } from './projection.js';

export type AlignmentSource = 'input' | 'previous' | 'none';

/** What a block with `objective` aligns with, given the previous block's objective (none for block 1). */
export function alignmentSource(objective: LocalObjectiveConfig, previous: LocalObjectiveConfig | undefined): AlignmentSource {
  if (!objective.alignment) return 'none';
  if (previous && previous.d0 === objective.d0) return 'previous';
  return objective.inputAlignment === false ? 'none' : 'input';
}

export class AlignmentTargets {
  /** What each block aligns with, by block. */
  readonly sources: AlignmentSource[] = [];
  /** The fixed projection of its own input for each block whose source is 'input' (R_0 for block 1), by block. */
  private readonly projections = new Map<number, { matrix: Tensor; tau: number }>();
  /** Flattens a block's input for its projection (a view; keeps nothing). */
  private readonly flatten = new Flatten();

  /** `objectiveOf(i)` is block i's objective; `seed` the run's (R_0 and R of block i > 1 have seeds of their own). */
  constructor(device: Device, model: Model, objectiveOf: (block: number) => LocalObjectiveConfig, seed: number) {
    model.blocks.forEach((_, i) => {
      const objective = objectiveOf(i);
      const source = alignmentSource(objective, i > 0 ? objectiveOf(i - 1) : undefined);
      this.sources.push(source);
      if (source !== 'input') return;
      const inputShape = i === 0 ? model.inputShape : model.blockShapes[i - 1]!;
      const inputWidth = featureWidth('flatten', [1, ...inputShape]);
      this.projections.set(i, { matrix: createProjection(device, objective.d0, inputWidth, objective, projectionSeed(seed, i === 0 ? 0 : 1000 + i)), tau: objective.tau });
    });
  }

  /** Whether block i has an alignment term. */
  aligns(i: number): boolean {
    return this.sources[i] !== undefined && this.sources[i] !== 'none';
  }

  /**
   * log q for block i: the previous block's log posterior, or the log softmax of its own input's
   * projection, or nothing. Runs in the caller's scope.
   */
  target(i: number, input: Tensor, previous: Tensor | undefined): Tensor | undefined {
    if (this.sources[i] === 'previous') return previous;
    const projection = this.projections.get(i);
    if (!projection) return undefined;
    const v0 = matmul(this.flatten.forward(input, { training: false }), projection.matrix, { transposeB: true, category: 'scratch' });
    return logSoftmax(v0, { temperature: projection.tau, category: 'scratch' });
  }

  /** Bytes of the fixed projections. */
  get fixedBytes(): number {
    return [...this.projections.values()].reduce((n, p) => n + p.matrix.bytes, 0);
  }

  dispose(): void {
    for (const p of this.projections.values()) p.matrix.dispose();
  }
}
