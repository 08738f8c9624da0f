/**
 * phi: a block's output h -> the feature rows u [B, d] its projection reads, and the transpose
 * rule phi^T: dL/du -> dL/dh (docs/algorithm.md, "Analytic gradients"):
 *   identity / flatten: a reshape both ways
 *   gap (global average pooling over H x W): each position gets dL/du / (H W)
 *   mean-token (mean over T tokens): each token gets dL/du / T
 *   cls-token (token 0): dL/du goes to token 0, the others get zero
 */
import { ShapeError } from '../gpu/errors.js';
import { formatShape, sizeOf, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { contiguous } from '../ops/copy.js';
import { globalAvgPool, globalAvgPoolBackward } from '../ops/pool2d.js';
import { mean } from '../ops/reduce.js';
import { classTokenBackward, meanTokensBackward } from '../nn/tokens.js';
import type { FeatureMapKind } from './config.js';

/** Width of the features phi gives for a block output of this shape (batch first). */
export function featureWidth(kind: FeatureMapKind, shape: Shape): number {
  switch (kind) {
    case 'identity':
    case 'flatten':
      return sizeOf(shape.slice(1));
    case 'gap':
      if (shape.length !== 4) throw new ShapeError(`phi gap: needs [N, C, H, W], got ${formatShape(shape)}`);
      return shape[1]!;
    case 'mean-token':
    case 'cls-token':
      if (shape.length !== 3) throw new ShapeError(`phi ${kind}: needs [N, T, D], got ${formatShape(shape)}`);
      return shape[2]!;
  }
}

/** u = phi(h), [B, d]. The caller disposes it. */
export function featuresForward(kind: FeatureMapKind, h: Tensor): Tensor {
  const batch = h.shape[0]!;
  switch (kind) {
    case 'identity':
    case 'flatten': {
      const dense = contiguous(h, 'scratch');
      const u = dense.reshape([batch, featureWidth(kind, h.shape)]);
      dense.dispose();
      return u;
    }
    case 'gap':
      featureWidth(kind, h.shape);
      return globalAvgPool(h, 'scratch');
    case 'mean-token':
      featureWidth(kind, h.shape);
      return mean(h, [1], { category: 'scratch' });
    case 'cls-token': {
      featureWidth(kind, h.shape);
      const token = h.slice(1, 0, 1);
      const dense = contiguous(token, 'scratch');
      token.dispose();
      const u = dense.reshape([batch, h.shape[2]!]);
      dense.dispose();
      return u;
    }
  }
}

/** dL/dh = phi^T(dL/du), in the shape of h. The caller disposes it. */
export function featuresBackward(kind: FeatureMapKind, du: Tensor, hShape: Shape): Tensor {
  switch (kind) {
    case 'identity':
    case 'flatten':
      return du.reshape(hShape);
    case 'gap':
      return globalAvgPoolBackward(du, hShape, 'scratch');
    case 'mean-token':
      return meanTokensBackward(du, tokenShape(hShape), 'scratch');
    case 'cls-token':
      return classTokenBackward(du, tokenShape(hShape), 'scratch');
  }
}

function tokenShape(shape: Shape): [number, number, number] {
  if (shape.length !== 3) throw new ShapeError(`phi^T: tokens must be [N, T, D], got ${formatShape(shape)}`);
  return [shape[0]!, shape[1]!, shape[2]!];
}
