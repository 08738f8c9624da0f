/**
 * Prediction with a trained model, in Node and in a browser: class probabilities of the output
 * classifier for a batch of images. `Predictor.fromCheckpoint` rebuilds the model from a
 * checkpoint's bytes (fetch() them in a page, readFileSync them in Node).
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { softmax } from '../ops/softmax.js';
import { decodeCheckpoint, loadModel, type CheckpointData } from './checkpoint.js';
import { featuresForward } from './features.js';
import type { Model } from './model.js';

export interface Prediction {
  /** [count] the most probable class of each image. */
  classes: Int32Array;
  /** [count, classes] softmax of the classifier's logits. */
  probabilities: Float32Array;
}

export class Predictor {
  constructor(
    readonly device: Device,
    readonly model: Model,
    /** How pixels were normalized in training (see `predictPixels`). */
    readonly data: Pick<CheckpointData, 'mean' | 'std'> & Partial<CheckpointData>,
    private readonly ownsModel = false,
  ) {}

  /** A predictor over the model a checkpoint holds; it owns (and disposes of) that model. */
  static fromCheckpoint(device: Device, bytes: Uint8Array, source = 'checkpoint'): Predictor {
    const checkpoint = decodeCheckpoint(bytes, source);
    return new Predictor(device, loadModel(device, checkpoint, source), checkpoint.meta.data, true);
  }

  /** Images already normalized as in training: [count, C, H, W] values, count = length / (C*H*W). */
  async predict(images: Float32Array, batchSize = 256): Promise<Prediction> {
    const perImage = this.model.inputShape.reduce((a, b) => a * b, 1);
    if (images.length % perImage !== 0) {
      throw new ShapeError(`predict: ${images.length} values are not a whole number of ${this.model.inputShape.join('x')} images`);
    }
    const count = images.length / perImage;
    const classes = this.model.classes;
    const probabilities = new Float32Array(count * classes);
    for (let start = 0; start < count; start += batchSize) {
      const n = Math.min(batchSize, count - start);
      const x = this.device.tensor(images.subarray(start * perImage, (start + n) * perImage), [n, ...this.model.inputShape]);
      let a = x;
      for (const block of this.model.blocks) {
        const h = block.layers.forward(a, { training: false });
        if (a !== x) a.dispose();
        a = h;
      }
      const features = featuresForward(this.model.classifierFeatures, a);
      const logits = this.model.classifier.forward(features, { training: false });
      const p = softmax(logits, { category: 'scratch' });
      features.dispose();
      logits.dispose();
      if (a !== x) a.dispose();
      x.dispose();
      probabilities.set((await p.read()) as Float32Array, start * classes);
      p.dispose();
    }
    const predicted = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (probabilities[i * classes + k]! > probabilities[i * classes + best]!) best = k;
      predicted[i] = best;
    }
    return { classes: predicted, probabilities };
  }

  /** Raw pixels scaled to [0, 1] (bytes / 255): normalized with the training statistics first. */
  predictPixels(pixels: Float32Array, batchSize = 256): Promise<Prediction> {
    const { mean, std } = this.data;
    return this.predict(pixels.map((v) => (v - mean) / std), batchSize);
  }

  dispose(): void {
    if (this.ownsModel) this.model.dispose();
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
