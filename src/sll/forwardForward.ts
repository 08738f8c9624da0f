/**
 * Forward-Forward (Hinton, "The Forward-Forward Algorithm: Some Preliminary Investigations",
 * 2022), on an MLP's blocks, as its faithful reimplementations do it (docs/algorithm.md, "Other
 * local rules"):
 *
 *   positive data:  the image with its label's one-hot written over its first K values
 *   negative data:  the same image with a wrong label, drawn uniformly from the other K - 1
 *                   (as loeweX/Forward-Forward does; Hinton's own code draws hard ones from a
 *                   classifier's guess)
 *   each block:     x -> x / (sqrt(mean_j x_j^2) + 1e-8)  (its input's length normalised), then
 *                   the block's own layers (linear + ReLU): h
 *   goodness:       g = sum_j h_j^2,  against the threshold theta = d, the block's width
 *   block loss:     mean over the 2B rows of softplus(g - theta) - t (g - theta)
 *                   (logistic: t = 1 for positive rows, 0 for negative ones)
 *   dL/dh = 2 h (sigmoid(g - theta) - t) / (2B)
 *   prediction:     every label in turn is written into the image; the label whose goodness,
 *                   summed over the blocks from the second on (all of them for a one-block net),
 *                   is highest is the prediction
 *
 * A block sees the previous block's output only through the normalisation, so its goodness
 * cannot simply be passed on; no gradient crosses a block. The network's output classifier is
 * not used: prediction is by goodness, and the classifier's weights stay as they started.
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { sizeOf } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { cast, concat, contiguous, gatherRows } from '../ops/copy.js';
import { abs, add, affine, div, exp, log, mul, relu, scale, sqrt, square, sub, tanh } from '../ops/elementwise.js';
import { mean, sum } from '../ops/reduce.js';
import type { Parameter } from '../nn/layer.js';
import { seedWords, type Seed } from '../random/philox.js';
import { elementWorkgroups } from '../gpu/workgroups.js';
import type { Model } from './model.js';
import { requireFeatures, WithoutRandomStream, type LocalLoss, type LocalLossResult } from './localLoss.js';
import { oneHotTable } from './oneHot.js';

/** Threads per workgroup of the negative-label draw (a row each). */
const NEGATIVES_WG = 64;

function stepWords(step: number): { stepLo: number; stepHi: number } {
  return { stepLo: step >>> 0, stepHi: Math.floor(step / 2 ** 32) };
}

/** Word indices of stepLo and stepHi in the negatives' uniform struct, from its reflection. */
let stepMembers: [number, number] | undefined;

/** Writes a step into the negatives' uniform struct (a recorded training step's replay). */
function writeStep(words: Uint32Array, structWord: number, step: number): void {
  const { stepLo, stepHi } = stepWords(step);
  words[structWord + stepMembers![0]] = stepLo;
  words[structWord + stepMembers![1]] = stepHi;
}

/** Added to a row's root mean square before dividing by it (the reimplementations' guard). */
const NORM_EPS = 1e-8;

/** x [R, ...] with each row divided by its root mean square (+1e-8): a Forward-Forward block's input. Call it in a scope. */
export function lengthNormalize(x: Tensor): Tensor {
  const rows = x.shape[0]!;
  const flat = contiguous(x, 'scratch').reshape([rows, sizeOf(x.shape.slice(1))]);
  const rms = affine(sqrt(mean(square(flat, 'scratch'), [1], { category: 'scratch' }), 'scratch'), 1, NORM_EPS, 'scratch').reshape([rows, 1]);
  return div(flat, rms, 'activation').reshape([...x.shape]);
}

/** Goodness of each row of h [R, d]: sum_j h_j^2, as a column [R, 1]. Call it in a scope. */
export function goodness(h: Tensor): Tensor {
  return sum(square(h, 'scratch'), [1], { category: 'scratch' }).reshape([h.shape[0]!, 1]);
}

/**
 * What Forward-Forward writes into images: one-hot labels over the first K values, positive and
 * negative batches, and the every-label pass of prediction. Holds the [K, K] identity (the one-hot
 * rows) and the [K (K - 1), K] table of wrong labels (row y (K - 1) + j is the one-hot of
 * (y + 1 + j) mod K).
 */
export class LabelEmbedding {
  private readonly identity: Tensor;
  /** Built by prepareTraining or at the first training batch: a Predictor, which only tries labels, never needs it. */
  private wrongTable: Tensor | undefined;

  constructor(
    readonly device: Device,
    readonly classes: number,
    /** Key of the negative labels: the j of row i at step s comes from Philox at counter [s, i]. */
    readonly seed: Seed,
  ) {
    if (!Number.isInteger(classes) || classes < 2) throw new RangeError(`Forward-Forward: needs at least 2 classes (a wrong label for every image), got ${classes}`);
    this.identity = oneHotTable(device, classes);
  }

  /** Makes the wrong-label table now: a trainer does, before its steps, which are recorded and may not upload. */
  prepareTraining(): void {
    void this.wrong;
  }

  /** The wrong-label table, made once. */
  private get wrong(): Tensor {
    if (!this.wrongTable) {
      const { classes } = this;
      const table = new Float32Array(classes * (classes - 1) * classes);
      for (let y = 0; y < classes; y++) for (let j = 0; j < classes - 1; j++) table[(y * (classes - 1) + j) * classes + ((y + 1 + j) % classes)] = 1;
      this.wrongTable = this.device.keep(this.device.tensor(table, [classes * (classes - 1), classes], 'f32', 'projection'));
    }
    return this.wrongTable;
  }

  get bytes(): number {
    return this.identity.bytes + (this.wrongTable?.bytes ?? 0);
  }

  /** Checks that images of this shape have room for a label (K values). */
  check(inputShape: readonly number[]): void {
    const size = sizeOf(inputShape);
    if (size < this.classes) throw new ShapeError(`Forward-Forward writes the label's one-hot over the first ${this.classes} values of each image, but an image here has ${size} (${inputShape.join('x')})`);
  }

  /** images [B, ...] with rows [B, K] written over their first K values. Call it in a scope. */
  private write(images: Tensor, onehot: Tensor): Tensor {
    const batch = images.shape[0]!;
    const flat = contiguous(images, 'scratch').reshape([batch, sizeOf(images.shape.slice(1))]);
    return concat([onehot, flat.slice(1, this.classes)], 1, 'activation').reshape([...images.shape]);
  }

  /** The labels' one-hot rows, [B, K]. */
  onehot(labels: Tensor): Tensor {
    return gatherRows(this.identity, labels, 'scratch');
  }

  /**
   * The training batch of step `step`: [2B, ...], the B positive images (their own labels), then
   * the B negative ones, each with a wrong label drawn uniformly from the K - 1 others: row i
   * takes the (j + 1)-th label after its own, j from Philox at counter [step, row]. Call it in a
   * scope.
   */
  trainingBatch(images: Tensor, labels: Tensor, step: number): Tensor {
    return this.device.scope(() => this.pairs(images, labels, step));
  }

  /** trainingBatch's body, in its own scope: only the [2B, ...] batch leaves it. */
  private pairs(images: Tensor, labels: Tensor, step: number): Tensor {
    return concat([this.write(images, this.onehot(labels)), this.write(images, gatherRows(this.wrong, this.wrongRows(labels, step), 'scratch'))], 0, 'activation');
  }

  /**
   * The step whose negatives are drawn next, as a stream position (src/gpu/recording.ts): a
   * recorded training step's draw is replayed at the step it stands at, and moves it on by one.
   */
  readonly negatives = { offset: 0 };

  /**
   * Each row's row of the wrong-label table, [B] i32: y (K - 1) + j, j from Philox at counter
   * [step, row] (shaders/negatives.wgsl; src/random/philox.ts draws the same on the CPU).
   */
  private wrongRows(labels: Tensor, step: number): Tensor {
    const batch = labels.shape[0]!;
    const rows = this.device.empty([batch], 'i32', 'scratch');
    if (batch === 0) return rows;
    const [seedLo, seedHi] = seedWords(this.seed);
    const kernel = this.device.kernel({ file: 'negatives', entry: 'wrongLabelRows', overrides: { WG: NEGATIVES_WG } });
    this.device.dispatch(kernel, { labels, rows }, { count: batch, seedLo, seedHi, ...stepWords(step), wrong: this.classes - 1 }, elementWorkgroups(batch, NEGATIVES_WG));
    stepMembers ??= [kernel.uniformWord('stepLo'), kernel.uniformWord('stepHi')];
    this.negatives.offset = step;
    this.device.noteStreamDraw({ stream: this.negatives, offset: step, writePosition: writeStep });
    this.negatives.offset = step + 1;
    return rows;
  }

  /** images [B, ...] with label k written into every one. Call it in a scope. */
  withLabel(images: Tensor, k: number): Tensor {
    const batch = images.shape[0]!;
    return this.write(images, this.onehot(this.device.tensor(new Int32Array(batch).fill(k), [batch], 'i32', 'scratch')));
  }

  dispose(): void {
    this.identity.dispose();
    this.wrongTable?.dispose();
  }
}

/**
 * Every label tried in turn: each block's goodness for each label, [B, K] per block, and the
 * prediction's scores (the sum over the blocks from the second on; all blocks for one), [B, K].
 * Evaluation mode: nothing is kept. Call it in a scope.
 */
export function goodnessScores(model: Model, embedding: LabelEmbedding, images: Tensor): { total: Tensor; perBlock: Tensor[] } {
  const device = images.device;
  // One pass per label, each block in a scope of its own: only the goodness columns [B, 1] and
  // the block's output (for the next block) leave it, so one block's activations are alive at a time.
  const passes = Array.from({ length: embedding.classes }, (_, k) =>
    device.scope(() => {
      let a = embedding.withLabel(images, k);
      return model.blocks.map((block) => {
        const { h, g } = device.scope(() => {
          const out = block.layers.forward(lengthNormalize(a), { training: false });
          return { h: out, g: goodness(out) };
        });
        a.dispose();
        a = h;
        return g;
      });
    }),
  );
  const perBlock = model.blocks.map((_, j) => concat(passes.map((columns) => columns[j]!), 1, 'scratch'));
  for (const t of passes.flat()) t.dispose();
  const counted = perBlock.length > 1 ? perBlock.slice(1) : perBlock;
  const total = counted.slice(1).reduce((acc, t) => add(acc, t, 'scratch'), counted[0]!);
  return { total, perBlock };
}

/** Forward-Forward's loss of a block: the logistic loss of goodness minus the threshold, positive rows first (see the file's header). */
export class ForwardForwardLoss extends WithoutRandomStream implements LocalLoss {
  protected get who(): string {
    return `${this.options.label} Forward-Forward loss`;
  }

  readonly hasHead = true;
  readonly fixedBytes = 0;
  /** theta: the block's width. */
  readonly threshold: number;

  constructor(
    readonly device: Device,
    readonly options: { features: number; label: string },
  ) {
    super();
    this.threshold = options.features;
  }

  parameters(): readonly Parameter[] {
    return [];
  }

  /**
   * u [2B, d]: the block's output for the positive rows, then the negative ones; labels [B]. The
   * likelihood is each pair's loss (positive plus negative row), the logits [B, 2] each pair's
   * goodness (negative, positive) with accuracy labels 1: a pair counts as right when its
   * positive row's goodness is the larger (strictly).
   */
  compute(u: Tensor, labels: Tensor, _logQ: Tensor | undefined, training: boolean): LocalLossResult {
    requireFeatures(u, this.options.features, this.who);
    const batch = labels.shape[0]!;
    if (u.shape[0] !== 2 * batch) throw new ShapeError(`${this.who}: features of ${u.shape[0]} rows for ${batch} labels; a Forward-Forward batch holds each image twice (positive, then negative)`);
    return u.device.scope(() => {
      const g = goodness(u);
      const logit = affine(g, 1, -this.threshold, 'scratch');
      // Made on the GPU, not uploaded: a trainer's step is recorded, and a recording may not upload.
      const ones = (rows: number) => affine(this.device.zeros([rows, 1], 'f32', 'scratch'), 0, 1, 'scratch');
      const targets = concat([ones(batch), this.device.zeros([batch, 1], 'f32', 'scratch')], 0, 'scratch');
      // softplus(x) - t x, with softplus(x) = relu(x) + log(1 + exp(-|x|)) (no overflow).
      const softplus = add(relu(logit, 'scratch'), log(affine(exp(scale(abs(logit, 'scratch'), -1, 'scratch'), 'scratch'), 1, 1, 'scratch'), 'scratch'), 'scratch');
      const loss = sub(softplus, mul(targets, logit, 'scratch'), 'scratch').reshape([2, batch]);
      const result: LocalLossResult = {
        likelihood: sum(loss, [0]),
        // [negative, positive] against label 1: a tie (a dead block) counts as wrong, since arg-max takes the first.
        logits: concat([g.slice(0, batch, 2 * batch), g.slice(0, 0, batch)], 1, 'scratch'),
        accuracyLabels: cast(ones(batch).reshape([batch]), 'i32', 'scratch'),
        headGradients: [],
      };
      if (training) {
        // sigmoid(x) = (1 + tanh(x / 2)) / 2.
        const sigmoid = affine(tanh(scale(logit, 0.5, 'scratch'), 'scratch'), 0.5, 0.5, 'scratch');
        const dLogit = scale(sub(sigmoid, targets, 'scratch'), 1 / (2 * batch), 'scratch');
        result.gradFeatures = mul(scale(u, 2, 'scratch'), dLogit, 'scratch');
      }
      return result;
    });
  }

  dispose(): void {}
}

