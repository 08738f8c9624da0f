/**
 * phi: how a block's output h becomes the feature rows u [B, d] its local head reads. phi is an
 * ordinary parameter-free layer (its backward rule is phi's transpose, docs/algorithm.md,
 * "Analytic gradients"), applied beside the chain, not in it: the next block still receives h.
 *   identity / flatten: Flatten, a reshape both ways
 *   gap (global average pooling over H x W): GlobalAvgPool, each position gets dL/du / (H W)
 *   mean-token (mean over T tokens): MeanTokens, each token gets dL/du / T
 *   cls-token (token 0): ClassToken, dL/du goes to token 0, the others get zero
 * Its output is an ordinary layer output, in memory category 'activation' (the memory tables
 * count activations and scratch together, so the figures are the same).
 */
import type { Shape } from '../gpu/shape.js';
import { Flatten } from '../nn/flatten.js';
import type { Layer } from '../nn/layer.js';
import { GlobalAvgPool } from '../nn/pool2d.js';
import { ClassToken, MeanTokens } from '../nn/tokens.js';
import type { FeatureMapKind } from './config.js';

/** phi of a kind, as a layer of its own (each block and the classifier get one). */
export function featureMap(kind: FeatureMapKind): Layer {
  switch (kind) {
    case 'identity':
    case 'flatten':
      return new Flatten();
    case 'gap':
      return new GlobalAvgPool();
    case 'mean-token':
      return new MeanTokens();
    case 'cls-token':
      return new ClassToken();
  }
}

/** Width of the features phi gives for a block output of this shape (batch first). */
export function featureWidth(kind: FeatureMapKind, shape: Shape): number {
  return featureMap(kind).outputShape(shape)[1]!;
}
