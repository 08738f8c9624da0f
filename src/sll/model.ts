/**
 * A model as both trainers see it: a chain of blocks, each with its feature map phi, and an
 * output classifier reading the last block's output. SLL trains each block on its own local
 * objective; backprop chains the same blocks' rules from the classifier's loss.
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, type Shape } from '../gpu/shape.js';
import { Linear } from '../nn/linear.js';
import type { Layer, Parameter } from '../nn/layer.js';
import type { FeatureMapKind } from './config.js';
import { featureWidth } from './features.js';

export interface Block {
  readonly layers: Layer;
  /** phi for this block's local objective. */
  readonly features: FeatureMapKind;
}

export class Model {
  /** Each block's output shape (without the batch dimension). */
  readonly blockShapes: number[][];

  constructor(
    readonly name: string,
    /** One example's shape, e.g. [1, 28, 28]. */
    readonly inputShape: readonly number[],
    readonly classes: number,
    readonly blocks: readonly Block[],
    readonly classifier: Linear,
    /** How the classifier reads the last block's output. */
    readonly classifierFeatures: FeatureMapKind,
  ) {
    if (blocks.length === 0) throw new ShapeError(`${name}: a model needs at least one block`);
    let shape: number[] = [1, ...inputShape];
    this.blockShapes = blocks.map((b) => {
      shape = b.layers.outputShape(shape);
      return shape.slice(1);
    });
    const width = featureWidth(classifierFeatures, [1, ...this.blockShapes[this.blockShapes.length - 1]!]);
    if (width !== classifier.inFeatures) {
      throw new ShapeError(`${name}: the classifier reads ${classifier.inFeatures} features but the last block gives ${width} (${formatShape(shape)})`);
    }
  }

  /** Width of block i's features (phi of its output). */
  featureWidth(i: number): number {
    return featureWidth(this.blocks[i]!.features, [1, ...this.blockShapes[i]!]);
  }

  blockParameters(i: number): readonly Parameter[] {
    return this.blocks[i]!.layers.parameters();
  }

  dispose(): void {
    for (const b of this.blocks) b.layers.dispose();
    this.classifier.dispose();
  }
}

export interface MlpOptions {
  inputShape: Shape;
  /** Hidden widths; one block (Linear + ReLU) per entry. Default [1000, 1000, 1000]. */
  hidden?: readonly number[];
  classes: number;
  seed: number;
}

/** Seed of the initial parameters of layer `index` (block index, or blocks.length for the classifier). */
export function layerSeed(seed: number, index: number): [number, number] {
  return [seed >>> 0, (0x10000000 + index) >>> 0];
}

/** The MLP of the issue: 784-1000-1000-1000-10, ReLU; one block per hidden layer. */
export function mlp(device: Device, options: MlpOptions): Model {
  const hidden = options.hidden ?? [1000, 1000, 1000];
  const inputWidth = options.inputShape.reduce((a, b) => a * b, 1);
  const blocks: Block[] = [];
  let width = inputWidth;
  hidden.forEach((h, i) => {
    blocks.push({ layers: new FlattenLinear(device, width, h, layerSeed(options.seed, i)), features: 'identity' });
    width = h;
  });
  const classifier = new Linear(device, width, options.classes, { seed: layerSeed(options.seed, hidden.length) });
  return new Model(`mlp ${[inputWidth, ...hidden, options.classes].join('-')}`, options.inputShape, options.classes, blocks, classifier, 'identity');
}

/**
 * Linear + ReLU that accepts images: [N, C, H, W] is read as [N, C*H*W] (a free view). The
 * MLP's blocks are these, so a block's input may be the raw batch.
 */
class FlattenLinear extends Linear {
  constructor(device: Device, inFeatures: number, outFeatures: number, seed: [number, number]) {
    super(device, inFeatures, outFeatures, { seed, activation: 'relu' });
  }

  override outputShape(inputShape: Shape): number[] {
    return super.outputShape(this.flat(inputShape));
  }

  override forward(x: Parameters<Linear['forward']>[0], options?: Parameters<Linear['forward']>[1]) {
    if (x.rank === 2) return super.forward(x, options);
    const flat = x.reshape(this.flat(x.shape));
    try {
      return super.forward(flat, options);
    } finally {
      flat.dispose();
    }
  }

  private flat(shape: Shape): number[] {
    return shape.length <= 2 ? [...shape] : [shape[0]!, shape.slice(1).reduce((a, b) => a * b, 1)];
  }
}
