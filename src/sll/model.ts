/**
 * A model as both trainers see it: a chain of blocks, each with its feature map phi, and an
 * output classifier reading the last block's output. SLL trains each block on its own local
 * objective; backprop chains the same blocks' rules from the classifier's loss.
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, type Shape } from '../gpu/shape.js';
import { cnnStage } from '../nn/conv.js';
import { Flatten } from '../nn/flatten.js';
import { Linear } from '../nn/linear.js';
import { LeakyReLU, ReLU, Tanh } from '../nn/activation.js';
import { Dropout } from '../nn/dropout.js';
import { BatchNorm } from '../nn/batchNorm.js';
import { LayerNorm } from '../nn/norm.js';
import { PatchEmbedding } from '../nn/patch.js';
import { TransformerBlock } from '../nn/transformer.js';
import { Sequential } from '../nn/sequential.js';
import type { Layer, Parameter } from '../nn/layer.js';
import type { FeatureMapKind } from './config.js';
import { featureMap } from './features.js';
import { domainSeed } from '../random/seeds.js';
import { cnnStagesProblem, vitPatchProblem } from './modelShape.js';

export interface Block {
  readonly layers: Layer;
  /** phi for this block's local objective. */
  readonly features: FeatureMapKind;
}

export class Model {
  /** Each block's output shape (without the batch dimension). */
  readonly blockShapes: number[][];
  /** phi of each block, as a layer: the block's output to its local head's features. */
  readonly phi: readonly Layer[];
  /** phi of the classifier: the last block's output to the classifier's input. */
  readonly classifierPhi: Layer;

  constructor(
    readonly name: string,
    /** One example's shape, e.g. [1, 28, 28]. */
    readonly inputShape: readonly number[],
    readonly classes: number,
    readonly blocks: readonly Block[],
    readonly classifier: Linear,
    /** How the classifier reads the last block's output. */
    readonly classifierFeatures: FeatureMapKind,
    /** A parameter-free layer between those features and the classifier in training (the MLP's block dropout). */
    classifierInput?: Layer,
  ) {
    if (blocks.length === 0) throw new ShapeError(`${name}: a model needs at least one block`);
    let shape: number[] = [1, ...inputShape];
    this.blockShapes = blocks.map((b) => {
      shape = b.layers.outputShape(shape);
      return shape.slice(1);
    });
    this.phi = blocks.map((b) => featureMap(b.features));
    this.classifierPhi = classifierInput ? new Sequential([featureMap(classifierFeatures), classifierInput]) : featureMap(classifierFeatures);
    const width = this.classifierPhi.outputShape([1, ...this.blockShapes[this.blockShapes.length - 1]!])[1]!;
    if (width !== classifier.inFeatures) {
      throw new ShapeError(`${name}: the classifier reads ${classifier.inFeatures} features but the last block gives ${width} (${formatShape(shape)})`);
    }
  }

  /**
   * The model's dropout layers (blocks in order, then the classifier's input): their stream
   * positions go into a checkpoint's counters, so that a resumed run draws the same masks.
   */
  dropoutLayers(): Dropout[] {
    const found: Dropout[] = [];
    const walk = (layer: Layer) => {
      if (layer instanceof Dropout) found.push(layer);
      else if (layer instanceof Sequential) layer.layers.forEach(walk);
    };
    this.blocks.forEach((b) => walk(b.layers));
    walk(this.classifierPhi);
    return found;
  }

  /** Width of block i's features (phi of its output). */
  featureWidth(i: number): number {
    return this.phi[i]!.outputShape([1, ...this.blockShapes[i]!])[1]!;
  }

  /**
   * Every tensor of the model a checkpoint keeps, by its checkpoint name ('block1.0.weight',
   * 'classifier.bias'), with its block (blocks.length for the classifier): the parameters, and
   * the buffers no optimizer steps (a batch norm's running statistics, marked `buffer`).
   */
  namedTensors(): Array<{ name: string; block: number; value: Tensor; buffer: boolean }> {
    const named: Array<{ name: string; block: number; value: Tensor; buffer: boolean }> = [];
    const add = (prefix: string, block: number, layer: Layer) => {
      for (const p of layer.parameters()) named.push({ name: `${prefix}.${p.name}`, block, value: p.value, buffer: false });
      for (const p of layer.buffers?.() ?? []) named.push({ name: `${prefix}.${p.name}`, block, value: p.value, buffer: true });
    };
    this.blocks.forEach((b, i) => add(`block${i + 1}`, i, b.layers));
    add('classifier', this.blocks.length, this.classifier);
    return named;
  }

  blockParameters(i: number): readonly Parameter[] {
    return this.blocks[i]!.layers.parameters();
  }

  dispose(): void {
    for (const b of this.blocks) b.layers.dispose();
    this.classifier.dispose();
  }
}

/** The blocks' activations: ReLU, tanh (DRTP's authors' choice), LeakyReLU with slope 0.01 (PredSim's). */
export const BLOCK_ACTIVATIONS = ['relu', 'tanh', 'leaky-relu'] as const;
export type BlockActivation = (typeof BLOCK_ACTIVATIONS)[number];

/** A layer of the activation (ReLU as a layer of its own, where it cannot be fused). */
function activationLayer(activation: BlockActivation): Layer {
  return activation === 'relu' ? new ReLU() : activation === 'tanh' ? new Tanh() : new LeakyReLU();
}

/** Throws unless `activation` is one of BLOCK_ACTIVATIONS, naming the model. */
function checkActivation(model: string, activation: BlockActivation): void {
  if (!BLOCK_ACTIVATIONS.includes(activation)) throw new RangeError(`${model}: activation must be one of ${BLOCK_ACTIVATIONS.join(', ')}, got ${JSON.stringify(activation)}`);
}

export interface MlpOptions {
  inputShape: Shape;
  /** Hidden widths; one block (Linear + activation) per entry. Default [1000, 1000, 1000]. */
  hidden?: readonly number[];
  /** The blocks' activation: ReLU (fused into the linear layer), tanh (DRTP's authors' choice) or LeakyReLU with slope 0.01 (PredSim's). Default relu. */
  activation?: BlockActivation;
  /** Batch norm between each block's linear layer and its activation (PredSim's authors' blocks). Default false. */
  batchNorm?: boolean;
  /**
   * Dropout p on what each block passes on, to the next block and to the classifier (PredSim's
   * authors' blocks): a Dropout layer at the start of every block after the first and in front
   * of the classifier, so that each block's local loss reads its output before the dropout.
   * Default 0 (no dropout layers at all).
   */
  dropout?: number;
  classes: number;
  seed: number;
}

/** Seed of the initial parameters of layer `index` (block index, or blocks.length for the classifier). */
export function layerSeed(seed: number, index: number): [number, number] {
  return domainSeed(seed, 'layer', index);
}

/** The MLP: hidden widths 1000-1000-1000 by default (784-1000-1000-1000-10 on 28x28 images, 10 classes), ReLU; one block per hidden layer. */
export function mlp(device: Device, options: MlpOptions): Model {
  const hidden = options.hidden ?? [1000, 1000, 1000];
  const inputWidth = options.inputShape.reduce((a, b) => a * b, 1);
  const blocks: Block[] = [];
  let width = inputWidth;
  const activation = options.activation ?? 'relu';
  checkActivation('mlp', activation);
  const batchNorm = options.batchNorm ?? false;
  const dropout = options.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`mlp: dropout must be in [0, 1), got ${dropout}`);
  const dropoutBefore = (index: number) => new Dropout(device, dropout, { seed: domainSeed(options.seed, 'blockDropout', index) });
  hidden.forEach((h, i) => {
    // ReLU is fused into the linear layer's kernel unless a batch norm comes between them; the
    // other activations are layers of their own.
    const fused = activation === 'relu' && !batchNorm;
    const linear = new Linear(device, width, h, { seed: layerSeed(options.seed, i), ...(fused ? { activation: 'relu' as const } : {}) });
    const block: Layer = fused ? linear : new Sequential(batchNorm ? [linear, new BatchNorm(device, h), activationLayer(activation)] : [linear, activationLayer(activation)]);
    // The first block reads images: [N, C, H, W] is viewed as [N, C*H*W] (free).
    // Later blocks start with the dropout of what the block before passes on.
    const layers = i === 0 ? (options.inputShape.length > 1 ? new Sequential([new Flatten(), block]) : block) : dropout > 0 ? new Sequential([dropoutBefore(i), block]) : block;
    blocks.push({ layers, features: 'identity' });
    width = h;
  });
  const classifier = new Linear(device, width, options.classes, { seed: layerSeed(options.seed, hidden.length) });
  const traits = [...(batchNorm ? ['batch norm'] : []), ...(activation === 'relu' ? [] : [activation]), ...(dropout > 0 ? [`dropout ${dropout}`] : [])];
  return new Model(`mlp ${[inputWidth, ...hidden, options.classes].join('-')}${traits.length ? ` (${traits.join(', ')})` : ''}`, options.inputShape, options.classes, blocks, classifier, 'identity', dropout > 0 ? dropoutBefore(hidden.length) : undefined);
}

export interface CnnOptions {
  /** [C, H, W]; H and W divisible by 2^stages. */
  inputShape: readonly [number, number, number];
  classes: number;
  seed: number;
  /** Channels of each stage. Default [32, 64] (the reference run's CNN for 28x28x1). */
  channels?: readonly number[];
  /** Convolutions per stage. Default 1; the VGG-style variant uses 2. */
  convsPerStage?: number;
  /** Width of the fully connected block. Default 256. */
  hidden?: number;
  /** phi of the conv stages: flatten (the default; docs/algorithm.md, "The default recipe") or global average pooling. */
  stageFeatures?: 'flatten' | 'gap';
  /** The convolutions' and the fully connected block's activation. Default relu (fused). */
  activation?: BlockActivation;
}

/**
 * conv3x3(32)-ReLU-maxpool / conv3x3(64)-ReLU-maxpool / fc 256 / fc 10 (the reference run's
 * CNN), or with convsPerStage 2 and three stages the VGG-style variant for 32x32x3 inputs. A
 * block is one stage; the fully connected layer is a block of its own.
 */
export function cnn(device: Device, options: CnnOptions): Model {
  const channels = options.channels ?? [32, 64];
  const convs = options.convsPerStage ?? 1;
  const [c0, h0, w0] = options.inputShape;
  const scale = 2 ** channels.length;
  const problem = cnnStagesProblem(options.inputShape, channels.length);
  if (problem) throw new ShapeError(`cnn: ${problem}`);
  const activation = options.activation ?? 'relu';
  checkActivation('cnn', activation);
  // ReLU is fused into the convolutions and the linear layer; the other activations are layers of their own.
  const fused = activation === 'relu';
  const blocks: Block[] = [];
  let inChannels = c0;
  channels.forEach((c, i) => {
    const stage = cnnStage(device, inChannels, c, convs, { seed: layerSeed(options.seed, i), ...(fused ? {} : { activation: () => activationLayer(activation) }) });
    blocks.push({ layers: stage, features: options.stageFeatures ?? 'flatten' });
    inChannels = c;
  });
  const flatWidth = inChannels * (h0 / scale) * (w0 / scale);
  const hidden = options.hidden ?? 256;
  const fc = new Linear(device, flatWidth, hidden, { seed: layerSeed(options.seed, channels.length), ...(fused ? { activation: 'relu' as const } : {}) });
  blocks.push({ layers: new Sequential(fused ? [new Flatten(), fc] : [new Flatten(), fc, activationLayer(activation)]), features: 'identity' });
  const classifier = new Linear(device, hidden, options.classes, { seed: layerSeed(options.seed, channels.length + 1) });
  const name = `cnn ${channels.map((c) => `${convs > 1 ? `${convs}x` : ''}conv${c}-pool`).join('/')}/fc${hidden}/fc${options.classes}${fused ? '' : ` (${activation})`}`;
  return new Model(name, options.inputShape, options.classes, blocks, classifier, 'identity');
}

export interface VitOptions {
  /** [C, H, W], H and W multiples of the patch. */
  inputShape: readonly [number, number, number];
  classes: number;
  seed: number;
  /** Defaults: patch 4, dim 64, depth 4, heads 4, MLP ratio 2 (a small ViT: 49 patch tokens of width 64 on a 28x28 image). */
  patch?: number;
  dim?: number;
  depth?: number;
  heads?: number;
  mlpRatio?: number;
  /** phi and the classifier's pooling: the mean over tokens (default) or a class token. */
  pooling?: 'mean-token' | 'cls-token';
}

/**
 * A small Vision Transformer: patch embedding (+ position embedding, a class token when pooling
 * by it), `depth` pre-norm transformer blocks, a final LayerNorm, pooled tokens, a linear
 * classifier. A block = one transformer block; the patch embedding belongs to the first and the
 * final LayerNorm to the last, so every parameter is trained by some block's local objective.
 */
export function vit(device: Device, options: VitOptions): Model {
  const { patch = 4, dim = 64, depth = 4, heads = 4, mlpRatio = 2, pooling = 'mean-token' } = options;
  const [channels, height, width] = options.inputShape;
  if (depth < 1) throw new ShapeError(`vit: depth must be at least 1, got ${depth}`);
  const problem = vitPatchProblem(options.inputShape, patch);
  if (problem) throw new ShapeError(`vit: ${problem}`);
  const blocks: Block[] = [];
  for (let i = 0; i < depth; i++) {
    const layers: Layer[] = [];
    if (i === 0) {
      layers.push(new PatchEmbedding(device, { imageSize: [height, width], channels, patch, dim, classToken: pooling === 'cls-token', seed: layerSeed(options.seed, 100) }));
    }
    layers.push(new TransformerBlock(device, { dim, heads, mlpRatio, seed: layerSeed(options.seed, i) }));
    if (i === depth - 1) layers.push(new LayerNorm(device, dim));
    blocks.push({ layers: layers.length === 1 ? layers[0]! : new Sequential(layers), features: pooling });
  }
  const classifier = new Linear(device, dim, options.classes, { seed: layerSeed(options.seed, depth) });
  return new Model(`vit patch${patch} dim${dim} depth${depth} heads${heads} mlp${mlpRatio}`, options.inputShape, options.classes, blocks, classifier, pooling);
}
