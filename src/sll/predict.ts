/**
 * Prediction with a trained model, in Node and in a browser: class probabilities of the output
 * classifier for a batch of images (for a Forward-Forward network, which has no trained
 * classifier, the softmax of its goodness with each label written in: forwardForward.ts).
 * `Predictor.fromCheckpoint` rebuilds the model from a checkpoint's bytes (fetch() them in a
 * page, readFileSync them in Node).
 */
import type { Device } from '../gpu/device.js';
import { describeValue } from '../gpu/dtype.js';
import { ShapeError } from '../gpu/errors.js';
import { sizeOf } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { softmax } from '../ops/softmax.js';
import { loadModel, readCheckpoint, type CheckpointData } from './checkpoint.js';
import { goodnessScores, LabelEmbedding } from './forwardForward.js';
import type { Model } from './model.js';
import { methodRule } from './rules.js';
import type { Method } from './trainingSettings.js';

export interface Prediction {
  /** [count] the most probable class of each image. */
  classes: Int32Array;
  /** [count, classes] softmax of the classifier's logits. */
  probabilities: Float32Array;
}

export class Predictor {
  /** Set by dispose(): the model may be gone, so every later call is refused. */
  private disposed = false;
  /** Forward-Forward's label writing, for a network trained by it. */
  private readonly labelEmbedding: LabelEmbedding | undefined;

  constructor(
    readonly device: Device,
    readonly model: Model,
    /** How pixels were normalized in training (see `predictPixels`). */
    readonly data: Pick<CheckpointData, 'mean' | 'std'> & Partial<CheckpointData>,
    private readonly ownsModel = false,
    /** How the model was trained: 'ff' predicts by goodness; every other method by the classifier. */
    readonly method: Method = 'sll',
  ) {
    if (methodRule(method).labelsInInput) {
      this.labelEmbedding = new LabelEmbedding(device, model.classes, 0);
      try {
        this.labelEmbedding.check(model.inputShape);
      } catch (error) {
        this.labelEmbedding.dispose();
        throw error;
      }
    }
  }

  /**
   * A predictor over the model a checkpoint holds, its bytes verified first (readCheckpoint);
   * it owns (and disposes of) that model. `onNotice` gets the checkpoint's notices, such as an
   * old checkpoint's "carries no checksums".
   */
  static async fromCheckpoint(device: Device, bytes: Uint8Array, source = 'checkpoint', options: { onNotice?: (text: string) => void } = {}): Promise<Predictor> {
    const checkpoint = await readCheckpoint(bytes, source);
    for (const notice of checkpoint.notices) options.onNotice?.(notice);
    const model = loadModel(device, checkpoint, source);
    try {
      return new Predictor(device, model, checkpoint.meta.data, true, checkpoint.meta.spec.method);
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  /**
   * Images already normalized as in training: [count, C, H, W] values, count = length / (C*H*W),
   * as a Float32Array or any array of numbers. `batchSize` images go through the model at a time.
   * Bytes (a Uint8Array, a canvas's pixels) are raw pixels, not normalized values: they are
   * refused here and read by predictPixels.
   */
  async predict(images: ArrayLike<number>, batchSize = 256): Promise<Prediction> {
    if (images instanceof Uint8Array || images instanceof Uint8ClampedArray) {
      throw new TypeError('predict: images are a Uint8Array of raw 0-255 pixels, not values normalized as in training: use predictPixels, which reads bytes as pixel / 255 and normalizes them');
    }
    return this.run(this.checkImages('predict', images, batchSize), batchSize);
  }

  /**
   * Raw pixels, [count, C, H, W], normalized with the training statistics first (as `data` says
   * training did: (pixel - mean) / std, on pixels in [0, 1]). Two forms:
   *  - a Uint8Array or Uint8ClampedArray (a canvas's ImageData.data, an image file's bytes) is
   *    read as bytes 0-255 and divided by 255;
   *  - a Float32Array or any array of numbers must already be in [0, 1]: a value outside it is
   *    refused (RangeError naming its index and value; raw 0-255 values there would otherwise
   *    give confident nonsense), as is a NaN or infinite one.
   */
  async predictPixels(pixels: ArrayLike<number>, batchSize = 256): Promise<Prediction> {
    const op = 'predictPixels';
    const bytes = pixels instanceof Uint8Array || pixels instanceof Uint8ClampedArray;
    const values = this.checkImages(op, bytes ? Float32Array.from(pixels, (b) => b / 255) : pixels, batchSize);
    const { mean, std } = this.data;
    if (!Number.isFinite(mean) || !Number.isFinite(std) || std <= 0) {
      throw new RangeError(`${op}: training statistics mean ${mean}, std ${std} cannot normalize pixels (need a finite mean and a finite std > 0)`);
    }
    const bad = values.findIndex((v) => !(v >= 0 && v <= 1));
    if (bad >= 0) {
      const perImage = sizeOf(this.model.inputShape);
      throw new RangeError(
        `${op}: image ${Math.floor(bad / perImage)}, value ${bad % perImage} (index ${bad}) is ${describeValue(pixels[bad])}, outside [0, 1]; ` +
          'pass pixels scaled to [0, 1], or bytes 0-255 as a Uint8Array (or Uint8ClampedArray), which are divided by 255',
      );
    }
    return this.run(values.map((v) => (v - mean) / std), batchSize);
  }

  /** Disposes of the model if this predictor owns it. Later predictions throw; a second call does nothing. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.labelEmbedding?.dispose();
    if (this.ownsModel) this.model.dispose();
  }

  /** Checks a call before anything is uploaded; returns the images as a Float32Array. */
  private checkImages(op: string, images: ArrayLike<number>, batchSize: number): Float32Array {
    if (this.disposed) throw new Error(`${op}: Predictor used after dispose()`);
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`${op}: batchSize ${describeValue(batchSize)} must be a positive integer (images per GPU batch, default 256)`);
    }
    if (typeof images !== 'object' || images === null || typeof images.length !== 'number') {
      throw new TypeError(`${op}: images must be a Float32Array or an array of numbers, got ${describeValue(images)}`);
    }
    const values = images instanceof Float32Array ? images : Float32Array.from(images);
    const perImage = sizeOf(this.model.inputShape);
    if (values.length % perImage !== 0) {
      throw new ShapeError(`${op}: ${values.length} values are not a whole number of ${this.model.inputShape.join('x')} images`);
    }
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new RangeError(
        `${op}: image ${Math.floor(bad / perImage)}, value ${bad % perImage} (index ${bad}) is ${describeValue(images[bad])}; every input must be a finite f32`,
      );
    }
    return values;
  }

  /** Class probabilities of checked images, `batchSize` images per pass through the model. */
  private async run(images: Float32Array, batchSize: number): Promise<Prediction> {
    const perImage = sizeOf(this.model.inputShape);
    const count = images.length / perImage;
    const classes = this.model.classes;
    const probabilities = new Float32Array(count * classes);
    for (let start = 0; start < count; start += batchSize) {
      const n = Math.min(batchSize, count - start);
      probabilities.set(await this.batch(images.subarray(start * perImage, (start + n) * perImage), n), start * classes);
    }
    const predicted = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (probabilities[i * classes + k]! > probabilities[i * classes + best]!) best = k;
      predicted[i] = best;
    }
    return { classes: predicted, probabilities };
  }

  /**
   * [n, classes] probabilities of n images. Each tensor is disposed as soon as the next one is
   * made, and whatever is still alive when a step throws is disposed too: nothing leaks.
   */
  private async batch(images: Float32Array, n: number): Promise<Float32Array> {
    const alive = new Set<Tensor>();
    const made = (t: Tensor): Tensor => (alive.add(t), t);
    const done = (t: Tensor): void => {
      alive.delete(t);
      t.dispose();
    };
    try {
      let a = made(this.device.tensor(images, [n, ...this.model.inputShape]));
      if (this.labelEmbedding) {
        const embedding = this.labelEmbedding;
        const p = made(this.device.scope(() => softmax(goodnessScores(this.model, embedding, a).total, { category: 'scratch' })));
        return (await p.read()) as Float32Array;
      }
      for (const block of this.model.blocks) {
        const h = made(block.layers.forward(a, { training: false }));
        done(a);
        a = h;
      }
      const features = made(this.model.classifierPhi.forward(a, { training: false }));
      done(a);
      const logits = made(this.model.classifier.forward(features, { training: false }));
      done(features);
      const p = made(softmax(logits, { category: 'scratch' }));
      done(logits);
      return (await p.read()) as Float32Array;
    } finally {
      for (const t of alive) t.dispose();
    }
  }
}

/** confusion[truth][predicted] counts. */
export function confusionMatrix(truth: ArrayLike<number>, predicted: ArrayLike<number>, classes: number): number[][] {
  if (truth.length !== predicted.length) throw new ShapeError(`confusionMatrix: ${truth.length} labels and ${predicted.length} predictions`);
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i]!;
    const p = predicted[i]!;
    if (t >= 0 && t < classes && p >= 0 && p < classes) m[t]![p]!++;
  }
  return m;
}
