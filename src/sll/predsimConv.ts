/**
 * PredSim on a conv stage's maps h [C, H, W], as the authors' LocalLossBlockConv computes it
 * (`anokland/local-loss`, train.py; the loss itself is predsim.ts's, the similarity rule
 * similarity.ts's):
 *
 *   prediction:  z = W flatten(avgpool(h)) + b    W starting at zero; the pooling shrinks h until
 *                                                 the flattened maps are at most 2048 wide (their
 *                                                 dim_in_decoder), halving rows, then columns
 *   similarity:  r = spread(conv3x3(h))           a learned 3x3 conv, C -> C, no bias, padding 1,
 *                                                 then each channel's standard deviation over its
 *                                                 positions (ChannelSpread); their similarity
 *                                                 reads the maps flat instead for C <= 3 or H = 1
 *   L = (1 - beta) CE(z, y) + beta mean (S(r) - S(onehot y))^2
 *
 * Both branches are layers with their own derivative rules; dL/dh is the sum of what each
 * branch's backward gives. One difference from the authors' network: their loss reads a conv
 * layer's output before the pooling layer that follows it; here a block is a whole stage (its
 * convolutions and its pooling) and the loss reads the stage's output, as every rule here does.
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { gatherRows } from '../ops/copy.js';
import { add } from '../ops/elementwise.js';
import { crossEntropy } from '../ops/loss.js';
import type { Seed } from '../ops/random.js';
import { ChannelSpread } from '../nn/channelSpread.js';
import { Conv2d } from '../nn/conv.js';
import { Flatten } from '../nn/flatten.js';
import type { Layer, Parameter } from '../nn/layer.js';
import { Linear } from '../nn/linear.js';
import { AvgPool2d } from '../nn/pool2d.js';
import { Sequential } from '../nn/sequential.js';
import { childSeed } from '../random/seeds.js';
import { requireFeatures, WithoutRandomStream, type LocalLoss, type LocalLossResult } from './localLoss.js';
import { similarityMatchingGradient } from './similarity.js';
import { oneHotTable } from './oneHot.js';
import { PREDSIM_BETA_DEFAULT } from './trainingSettings.js';

/** The widest flattened maps the authors' prediction head reads (their dim_in_decoder). */
export const PREDSIM_DECODER_WIDTH = 2048;

/**
 * The authors' average pooling before the prediction head of C maps of H x W: the kernel grows
 * by doubling, rows first, then columns, until C ceil(H/kh) ceil(W/kw) <= 2048, with the padding
 * that makes the output ceil(H/kh) x ceil(W/kw). Undefined when no pooling is needed.
 */
export function predictionPooling(channels: number, height: number, width: number): { kernel: [number, number]; padding: [number, number] } | undefined {
  let [kh, kw] = [1, 1];
  let [oh, ow] = [height, width];
  const wide = () => channels * oh * ow > PREDSIM_DECODER_WIDTH;
  while (wide() && kh < height) {
    kh *= 2;
    oh = Math.ceil(height / kh);
    if (wide()) {
      kw *= 2;
      ow = Math.ceil(width / kw);
    }
  }
  if (kh === 1 && kw === 1) return undefined;
  return { kernel: [kh, kw], padding: [Math.floor((kh * (oh - Math.floor(height / kh))) / 2), Math.floor((kw * (ow - Math.floor(width / kw))) / 2)] };
}

export interface PredSimConvOptions {
  classes: number;
  /** The stage's maps [C, H, W]; the features are them flattened. */
  blockShape: readonly [number, number, number];
  beta?: number;
  /** Seed of the head's bias and of the similarity conv. */
  seed: Seed;
  label: string;
}

export class PredSimConvLoss extends WithoutRandomStream implements LocalLoss {
  protected get who(): string {
    return `${this.options.label} PredSim loss`;
  }

  readonly hasHead = true;
  readonly beta: number;
  readonly features: number;
  /** avgpool (when needed), flatten, linear to the classes (weight starting at zero). */
  readonly prediction: Sequential;
  /** conv3x3 without bias, then the channels' spreads (or the maps flat, for 3 channels or fewer or one row). */
  readonly similarityNet: Sequential;
  private readonly identity: Tensor;

  constructor(
    readonly device: Device,
    readonly options: PredSimConvOptions,
  ) {
    super();
    const [channels, height, width] = options.blockShape;
    const beta = options.beta ?? PREDSIM_BETA_DEFAULT;
    if (!(beta >= 0 && beta <= 1)) throw new RangeError(`${this.who}: beta must be in [0, 1], got ${beta}`);
    this.beta = beta;
    this.features = channels * height * width;
    const pooling = predictionPooling(channels, height, width);
    const pooled = pooling ? [Math.ceil(height / pooling.kernel[0]), Math.ceil(width / pooling.kernel[1])] : [height, width];
    const head = new Linear(device, channels * pooled[0]! * pooled[1]!, options.classes, { seed: childSeed(options.seed, 0) });
    device.upload(head.weight, new Float32Array(head.weight.size));
    const poolLayers: Layer[] = pooling ? [new AvgPool2d(pooling)] : [];
    this.prediction = new Sequential([...poolLayers, new Flatten(), head]);
    const conv = new Conv2d(device, channels, channels, 3, { padding: 1, bias: false, seed: childSeed(options.seed, 1) });
    // Their similarity_matrix takes the spreads for more than 3 channels and more than one row (x.size(2) > 1).
    this.similarityNet = new Sequential([conv, channels > 3 && height > 1 ? new ChannelSpread() : new Flatten()]);
    this.identity = oneHotTable(device, options.classes);
  }

  get fixedBytes(): number {
    return this.identity.bytes;
  }

  parameters(): readonly Parameter[] {
    return [
      ...this.prediction.parameters().map((p) => ({ name: `head.${p.name}`, value: p.value })),
      ...this.similarityNet.parameters().map((p) => ({ name: `similarity.${p.name}`, value: p.value })),
    ];
  }

  compute(u: Tensor, labels: Tensor, _logQ: Tensor | undefined, training: boolean): LocalLossResult {
    requireFeatures(u, this.features, this.who);
    const batch = u.shape[0]!;
    return u.device.scope(() => {
      const maps = u.reshape([batch, ...this.options.blockShape]);
      const z = this.prediction.forward(maps, { training });
      const ce = crossEntropy(z, labels, { scale: (1 - this.beta) / Math.max(batch, 1), category: 'scratch' });
      const result: LocalLossResult = { likelihood: ce.loss, logits: z, headGradients: [] };
      if (!training) return result;
      const r = this.similarityNet.forward(maps, { training: true });
      const dr = similarityMatchingGradient(r, gatherRows(this.identity, labels, 'scratch'), this.beta);
      const fromPrediction = this.prediction.backward(ce.grad, { inputGradient: true });
      const fromSimilarity = this.similarityNet.backward(dr, { inputGradient: true });
      result.headGradients = [...fromPrediction.params, ...fromSimilarity.params];
      result.gradFeatures = add(fromPrediction.input!, fromSimilarity.input!, 'scratch').reshape([batch, this.features]);
      return result;
    });
  }

  dispose(): void {
    this.prediction.dispose();
    this.similarityNet.dispose();
    this.identity.dispose();
  }
}
