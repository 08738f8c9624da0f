/**
 * The trainers, on the same model, optimizer, initialization and data order.
 *
 * Local rules, SLL, DGL, DRTP and PredSim (docs/algorithm.md, "One training step"): one forward
 * sweep per minibatch in which each block runs forward, computes its local loss's gradient (SLL:
 * the likelihood under a fixed random projection, with alignment to the block before; DGL: the
 * cross-entropy of a learned auxiliary head; DRTP: the one-hot target through a fixed matrix, in
 * place of a loss's gradient; PredSim: a learned head's cross-entropy mixed with similarity
 * matching; Forward-Forward: the logistic loss of its goodness on positive and negative images,
 * swept together; each a LocalLoss, the others than SLL's made by rules.ts), runs its own backward (never its
 * input gradient), steps its optimizer, and releases its input before the next block runs.
 * Nothing records operations across blocks; after each block the commands are submitted, so the
 * buffers it released can serve the next block (peak memory stays one block's working set).
 *
 * Backprop: forward through every block keeping every saved tensor, then the classifier's
 * loss gradient chained back block after block through the same layers' rules.
 *
 * No readback happens inside a step. Loss sums, counts of correct rows and non-finite flags live
 * on the GPU and are read by `readMetrics()` every few steps; a non-finite gradient turns that
 * block's optimizer steps into no-ops until then (checkFinite + skipIfFlagged), so it never
 * reaches the weights.
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { addInPlace } from '../ops/elementwise.js';
import { crossEntropy } from '../ops/loss.js';
import { matmul } from '../ops/matmul.js';
import { checkFinite, createOptimizer, type Optimizer, type OptimizerConfig } from '../ops/optim.js';
import { argmax, countCorrect, sumAll } from '../ops/reduce.js';
import { logSoftmax } from '../ops/softmax.js';
import { classModeObjective, type LocalObjectiveConfig } from './config.js';
import { Flatten } from '../nn/flatten.js';
import { featureWidth } from './features.js';
import type { Block, Model } from './model.js';
import { LocalObjective } from './objective.js';
import { goodnessScores, LabelEmbedding, lengthNormalize } from './forwardForward.js';
import { blockRule, isBlockRuleMethod, readsBeforePooling } from './rules.js';
import { Sequential } from '../nn/sequential.js';
import { AvgPool2d, MaxPool2d } from '../nn/pool2d.js';
import type { Layer } from '../nn/layer.js';
import { sizeOf } from '../gpu/shape.js';
import type { LocalLoss } from './localLoss.js';
import { createProjection, projectionSeed } from './projection.js';
import { learningRate, type Schedule } from './schedule.js';
import { domainSeed } from '../random/seeds.js';
import { resolveOptimizerConfig } from '../ops/optimizerSettings.js';
import { checkOption, checkSchedule, METRICS_EVERY_DEFAULT, PREDSIM_SECTION, TRAINING_FIELDS, type Method, type PredSimSettings } from './trainingSettings.js';

export { METRICS_EVERY_DEFAULT, type Method } from './trainingSettings.js';

export interface TrainerConfig {
  method: Method;
  optimizer: OptimizerConfig;
  schedule?: Schedule;
  /** SLL: the local objective of each block (a function of the block index), default class mode. */
  objective?: (block: number) => LocalObjectiveConfig;
  /** PredSim's settings (beta); the other methods take none. */
  predsim?: Partial<PredSimSettings>;
  /** Seed of the projections and dropout masks (the model's seed sets the initial weights). */
  seed: number;
  /** Steps between reads of the loss sums and non-finite flags. Default METRICS_EVERY_DEFAULT. */
  metricsEvery?: number;
}

/** A gradient went non-finite: the block, the step and the state kept. */
export class NonFiniteError extends Error {
  override name = 'NonFiniteError';
  constructor(
    readonly unit: string,
    readonly step: number,
  ) {
    super(`non-finite gradient in ${unit} at step ${step}: training stopped; that step and the rest of its window were not applied, so the weights are the last good ones`);
  }
}

export interface UnitMetrics {
  /** 'block 1' ... 'classifier'. */
  name: string;
  /** Mean per-sample local likelihood term (SLL blocks) or cross-entropy (classifier). */
  likelihood: number;
  /** Mean per-sample alignment term (SLL blocks with alignment). */
  alignment?: number;
  /**
   * Fraction of the window's training samples whose arg-max over this unit's logits (a block's
   * local head, or the classifier) is the label: counted in the training step itself, in its own
   * mode (dropout included) and with the weights before that step's update, so it is not the
   * accuracy of an evaluation pass.
   */
  accuracy: number;
}

export interface StepMetrics {
  steps: number;
  samples: number;
  /** Every unit with a loss of its own (SLL's, DGL's and PredSim's blocks, then the classifier); for backprop and DRTP only the classifier. */
  units: UnitMetrics[];
}

/** The trainer's host-side counters, as a checkpoint stores them. */
export interface TrainerCounters {
  /** Steps taken (sets the learning rate of the schedule). */
  step: number;
  /** Steps of each unit's optimizer (Adam's bias corrections). */
  optimizerSteps: number[];
  /** Position of each local objective's dropout stream. */
  dropoutOffsets: number[];
}

/** One trained unit: a block or the classifier, with its optimizer and GPU-side bookkeeping. */
interface Unit {
  name: string;
  optimizer: Optimizer;
  /**
   * Non-finite flag of the current metrics window (one u32): 0, or 1 + the window's step whose
   * gradient was first non-finite. One element, because every optimizer step reads it whole.
   */
  flags: Tensor;
  likelihoodSum: Tensor;
  alignmentSum: Tensor;
  /** Training rows of the window whose arg-max was the label (one u32). */
  correctCount: Tensor;
  hasAlignment: boolean;
}

/**
 * What a block aligns with: the previous block's posterior when it has the same d0, else a fixed
 * projection of its own input (R_0 for block 1) unless inputAlignment is off (docs/algorithm.md,
 * "Alignment targets").
 */
function alignmentSource(objective: LocalObjectiveConfig, previous: LocalObjectiveConfig | undefined): 'input' | 'previous' | 'none' {
  if (!objective.alignment) return 'none';
  if (previous && previous.d0 === objective.d0) return 'previous';
  return objective.inputAlignment === false ? 'none' : 'input';
}

export class Trainer {
  readonly method: Method;
  /** Each block's local rule (SLL: its objective; DGL: its auxiliary head; DRTP: its target projection; PredSim: its loss); none under backprop. */
  readonly objectives: LocalLoss[] = [];
  /**
   * Fixed projections of a block's own input, for the blocks that cannot align with the block
   * before them: block 1 (R_0 of the raw input) and any block whose d0 differs from the previous
   * block's, since alignment needs both posteriors over the same d0 categories. Indexed by block.
   */
  private readonly alignmentProjections = new Map<number, { matrix: Tensor; tau: number }>();
  /** Flattens a block's input for its input projection (a view; keeps nothing). */
  private readonly flatten = new Flatten();
  /** What each block aligns with: its input's projection, the previous block, or nothing. */
  private readonly alignmentSources: Array<'input' | 'previous' | 'none'> = [];
  /**
   * For a rule whose signal meets a conv stage before its pooling (DRTP, as its authors hook it):
   * by block, the stage without its pooling, the pooling, and the flatten its signal is read through.
   */
  private readonly beforePooling = new Map<number, { body: Sequential; pool: Layer; phi: Flatten }>();
  /** Forward-Forward's label writing and negative data (method 'ff' only). */
  private readonly labelEmbedding: LabelEmbedding | undefined;
  private readonly units: Unit[];
  private readonly window: number;
  private stepInWindow = 0;
  private samplesInWindow = 0;
  /** Steps taken since construction (0-based index of the next step). */
  step = 0;

  /** The config as given, completed and checked (an unknown method or optimizer, a seed that is not a u32, are refused). */
  readonly config: TrainerConfig;

  constructor(
    readonly device: Device,
    readonly model: Model,
    config: TrainerConfig,
  ) {
    this.config = checkTrainerConfig(config);
    config = this.config;
    this.method = config.method;
    this.window = config.metricsEvery ?? METRICS_EVERY_DEFAULT;
    const objectiveOf = config.objective ?? (() => classModeObjective(model.classes));
    if (this.method === 'ff') {
      this.labelEmbedding = new LabelEmbedding(device, model.classes, domainSeed(config.seed, 'negativeLabels', 0));
      try {
        this.labelEmbedding.check(model.inputShape);
      } catch (error) {
        this.labelEmbedding.dispose();
        throw error;
      }
    }
    if (this.method === 'sll') {
      model.blocks.forEach((_, i) => {
        const objective = objectiveOf(i);
        this.objectives.push(
          new LocalObjective(device, {
            config: objective,
            classes: model.classes,
            features: model.featureWidth(i),
            projectionSeed: projectionSeed(config.seed, i + 1),
            headSeed: domainSeed(config.seed, 'latentHead', i),
            dropoutSeed: domainSeed(config.seed, 'dropout', i),
            label: `block ${i + 1}`,
          }),
        );
      });
      model.blocks.forEach((_, i) => {
        const objective = objectiveOf(i);
        const source = alignmentSource(objective, i > 0 ? objectiveOf(i - 1) : undefined);
        this.alignmentSources.push(source);
        if (source !== 'input') return;
        const inputShape = i === 0 ? model.inputShape : model.blockShapes[i - 1]!;
        const inputWidth = featureWidth('flatten', [1, ...inputShape]);
        this.alignmentProjections.set(i, { matrix: createProjection(device, objective.d0, inputWidth, objective, projectionSeed(config.seed, i === 0 ? 0 : 1000 + i)), tau: objective.tau });
      });
    } else if (isBlockRuleMethod(this.method)) {
      const method = this.method;
      model.blocks.forEach((block, i) => {
        const layers = block.layers;
        const last = layers instanceof Sequential ? layers.layers.at(-1) : undefined;
        let features = model.featureWidth(i);
        if (readsBeforePooling(method) && layers instanceof Sequential && (last instanceof MaxPool2d || last instanceof AvgPool2d)) {
          const body = new Sequential(layers.layers.slice(0, -1));
          this.beforePooling.set(i, { body, pool: last, phi: new Flatten() });
          features = sizeOf(body.outputShape([1, ...(i === 0 ? model.inputShape : model.blockShapes[i - 1]!)]).slice(1));
        }
        this.objectives.push(
          blockRule(device, method, { classes: model.classes, features, featureMap: block.features, blockShape: model.blockShapes[i]!, seed: config.seed, block: i, ...(config.predsim ? { predsim: config.predsim } : {}) }),
        );
      });
    }
    const unitNames = [...model.blocks.map((_, i) => `block ${i + 1}`), 'classifier'];
    this.units = unitNames.map((name, i) => ({
      name,
      optimizer: createOptimizer(config.optimizer),
      flags: device.zeros([1], 'u32', 'scratch'),
      likelihoodSum: device.zeros([], 'f32', 'scratch'),
      alignmentSum: device.zeros([], 'f32', 'scratch'),
      correctCount: device.zeros([1], 'u32', 'scratch'),
      hasAlignment: this.method === 'sll' && i < model.blocks.length && this.alignmentSources[i] !== 'none',
    }));
  }

  /** The learning rate the next step takes, from the schedule and the steps taken. */
  get learningRate(): number {
    return learningRate(this.config.optimizer.lr, this.config.schedule ?? { kind: 'constant' }, this.step);
  }

  /** One minibatch: images [B, ...inputShape] f32, labels [B] i32. Encodes work; waits for nothing. */
  trainStep(images: Tensor, labels: Tensor): void {
    const lr = this.learningRate;
    for (const unit of this.units) unit.optimizer.lr = lr;
    if (this.method === 'backprop') this.backpropStep(images, labels);
    else this.localStep(images, labels);
    this.step++;
    this.stepInWindow++;
    this.samplesInWindow += images.shape[0]!;
    this.device.submit();
  }

  /** SLL, DGL, DRTP, PredSim or Forward-Forward: one sweep over the blocks, each updated by its own local rule (see the file's header). */
  private localStep(images: Tensor, labels: Tensor): void {
    const { model, labelEmbedding } = this;
    this.device.scope(() => {
      // Forward-Forward sweeps its positive and negative images together, each block's input length-normalised.
      const input = labelEmbedding ? labelEmbedding.trainingBatch(images, labels, this.step) : images;
      // Each block's whole update: everything it makes is freed at its end, but for its output
      // and its log posterior, which go on to the next block.
      const last = this.sweep(input, (block, i, a, previous) => {
        const target = this.alignmentTarget(i, a, previous?.logPi);
        // A rule whose signal meets a conv stage before its pooling (DRTP) reads the stage's body;
        // the pooling then only passes the body's output on (it has no backward to run).
        const split = this.beforePooling.get(i);
        const body = split?.body ?? block.layers;
        const out = body.forward(labelEmbedding ? lengthNormalize(a) : a, { training: true });
        const h = split ? split.pool.forward(out, { training: false }) : out;
        const phi = split?.phi ?? model.phi[i]!;
        const local = this.objectives[i]!.compute(phi.forward(out, { training: true }), labels, target, true);
        const dOut = phi.backward(local.gradFeatures!, { inputGradient: true }).input!;
        const grads = body.backward(dOut, { inputGradient: false });
        const params = [...block.layers.parameters(), ...this.objectives[i]!.parameters()].map((p) => p.value);
        this.update(this.units[i]!, params, [...grads.params, ...local.headGradients]);
        if (local.logits && local.likelihood) this.accumulate(this.units[i]!, local.accuracyLabels ?? labels, local.logits, local.likelihood, local.alignment);
        this.device.submit();
        return { h, logPi: local.logPi };
      });
      last?.logPi?.dispose(); // freed now: the classifier needs only the last block's output
      // Forward-Forward predicts by goodness: its classifier is not trained.
      if (!labelEmbedding) this.classifierStep(last?.h ?? images, labels, false);
    });
  }

  private backpropStep(images: Tensor, labels: Tensor): void {
    const { model } = this;
    this.device.scope(() => {
      // The forward pass: the layers keep what their backward needs.
      const last = this.sweep(images, (block, _, a) => ({ h: block.layers.forward(a, { training: true }) }));
      let dh = this.device.scope(() => model.classifierPhi.backward(this.classifierStep(last?.h ?? images, labels, true)!, { inputGradient: true }).input!);
      last?.h.dispose(); // freed now, not at the scope's end: the backward pass's peak is the top block's
      for (let i = model.blocks.length - 1; i >= 0; i--) {
        const block = model.blocks[i]!;
        const dy = dh;
        dh = this.device.scope(() => {
          const grads = block.layers.backward(dy, { inputGradient: i > 0 });
          this.update(this.units[i]!, block.layers.parameters().map((p) => p.value), grads.params);
          return grads.input!;
        });
        dy.dispose(); // freed now: one block's gradient alive at a time
      }
    });
  }

  /**
   * Runs `visit` on each block in turn, each in a scope of its own, with the block's input (the
   * images, then the previous block's output `h`) and what the previous visit returned. What a
   * visit returned is freed as soon as the next one has run, so a sweep holds one block's
   * tensors whatever the depth; the images are the caller's and never freed. Returns the last
   * visit's result (undefined for a model without blocks), in the caller's scope.
   */
  private sweep<T extends { h: Tensor; [more: string]: Tensor | undefined }>(images: Tensor, visit: (block: Block, i: number, input: Tensor, previous: T | undefined) => T): T | undefined {
    let previous: T | undefined;
    this.model.blocks.forEach((block, i) => {
      const next = this.device.scope(() => visit(block, i, previous?.h ?? images, previous));
      if (previous) for (const t of Object.values(previous)) if (t !== images) t?.dispose();
      previous = next;
    });
    return previous;
  }

  /**
   * The output classifier as a local unit (SLL) or the loss at the top of the chain (backprop):
   * returns dL/d(its features) when asked. Runs in the caller's scope.
   */
  private classifierStep(last: Tensor, labels: Tensor, wantInputGradient: boolean): Tensor | undefined {
    const unit = this.units[this.units.length - 1]!;
    // phi keeps its input's shape only when its backward will run (backprop).
    const logits = this.model.classifier.forward(this.model.classifierPhi.forward(last, { training: wantInputGradient }), { training: true });
    const ce = crossEntropy(logits, labels, { category: 'scratch' });
    const grads = this.model.classifier.backward(ce.grad, { inputGradient: wantInputGradient });
    this.update(unit, this.model.classifier.parameters().map((p) => p.value), grads.params);
    this.accumulate(unit, labels, logits, ce.loss, undefined);
    return grads.input;
  }

  /**
   * log q for block i: the previous block's log posterior, or, for a block with a projection of
   * its own input (block 1, or a change of d0), softmax(R flatten(a) / tau) of that input, or
   * nothing (alignment off, or input alignment off for such a block). Runs in the caller's scope.
   */
  private alignmentTarget(i: number, input: Tensor, previous: Tensor | undefined): Tensor | undefined {
    if (this.alignmentSources[i] === 'previous') return previous;
    const projection = this.alignmentProjections.get(i);
    if (!projection) return undefined;
    const v0 = matmul(this.flatten.forward(input, { training: false }), projection.matrix, { transposeB: true, category: 'scratch' });
    return logSoftmax(v0, { temperature: projection.tau, category: 'scratch' });
  }

  /** One optimizer step of a unit, with each gradient's finiteness marked first. */
  private update(unit: Unit, params: Tensor[], grads: Tensor[]): void {
    for (const g of grads) checkFinite(g, unit.flags, { mark: this.stepInWindow + 1 });
    unit.optimizer.step(params, grads, { skipIfFlagged: unit.flags });
  }

  /**
   * Adds a step's per-sample loss terms, and its rows whose logits' arg-max is the label, to the
   * unit's window sums (read by readMetrics).
   */
  private accumulate(unit: Unit, labels: Tensor, logits: Tensor, likelihood: Tensor, alignment: Tensor | undefined): void {
    addInPlace(unit.likelihoodSum, sumAll(likelihood, 'scratch'));
    if (alignment) addInPlace(unit.alignmentSum, sumAll(alignment, 'scratch'));
    countCorrect(logits, labels, unit.correctCount);
  }

  /** Steps taken since the last readMetrics(). */
  get stepsSinceRead(): number {
    return this.stepInWindow;
  }

  /** True when the metrics window is full and readMetrics() should be called. */
  get metricsDue(): boolean {
    return this.stepInWindow >= this.window;
  }

  /**
   * Reads the loss means, the training accuracies and the non-finite flags of the steps since
   * the last read, and resets them. Throws NonFiniteError (naming the unit and step) if any
   * gradient was non-finite.
   */
  async readMetrics(): Promise<StepMetrics> {
    const steps = this.stepInWindow;
    const samples = Math.max(this.samplesInWindow, 1);
    const firstStep = this.step - steps;
    const units: UnitMetrics[] = [];
    for (const unit of this.units) {
      const [flags, likelihood, alignment, correct] = await Promise.all([unit.flags.read(), unit.likelihoodSum.read(), unit.alignmentSum.read(), unit.correctCount.read()]);
      if (flags[0] !== 0) throw new NonFiniteError(unit.name, firstStep + flags[0]! - 1);
      // A block without a loss of its own (backprop, DRTP) has nothing to report: the classifier speaks for it.
      const index = this.units.indexOf(unit);
      if (index < this.units.length - 1 && !this.objectives[index]?.hasHead) continue;
      // Forward-Forward trains no classifier: its blocks speak for it.
      if (index === this.units.length - 1 && this.labelEmbedding) continue;
      units.push({
        name: unit.name,
        likelihood: likelihood[0]! / samples,
        ...(unit.hasAlignment ? { alignment: alignment[0]! / samples } : {}),
        accuracy: correct[0]! / samples,
      });
    }
    for (const unit of this.units) {
      for (const t of [unit.flags, unit.likelihoodSum, unit.alignmentSum, unit.correctCount]) this.device.commandEncoder().clearBuffer(t.buffer);
    }
    this.stepInWindow = 0;
    this.samplesInWindow = 0;
    return { steps, samples, units };
  }

  /**
   * What every unit that predicts says of images [B, ...], as [B, K] scores: each block's head
   * where its rule has one (SLL, DGL, PredSim: its logits; Forward-Forward: the block's goodness
   * for each label written in), then the network's (the output classifier's logits; under
   * Forward-Forward, the goodness summed from block 2 on). Evaluation mode: nothing is kept but
   * the scores, which the caller owns and disposes (they belong to no scope).
   */
  scores(images: Tensor): Array<{ name: string; logits: Tensor }> {
    const { model, device } = this;
    const keep = (name: string, logits: Tensor) => ({ name, logits: device.keep(logits) });
    return device.scope(() => {
      if (this.labelEmbedding) {
        const scores = goodnessScores(model, this.labelEmbedding, images);
        // The total is a block's own scores for a net of one or two blocks: a handle of its own, so that each entry is disposed once.
        return [...scores.perBlock.map((logits, i) => keep(`block ${i + 1}`, logits)), keep('goodness', scores.perBlock.includes(scores.total) ? scores.total.handle() : scores.total)];
      }
      // A head predicts from its logits alone: the labels it is given do not matter here, and no alignment target is needed.
      const anyLabels = device.zeros([images.shape[0]!], 'i32', 'scratch');
      const heads: Array<{ name: string; logits: Tensor }> = [];
      const last = this.sweep(images, (block, i, a) => {
        const h = block.layers.forward(a, { training: false });
        const rule = this.objectives[i]; // none under backprop
        if (rule?.hasHead) heads.push(keep(`block ${i + 1}`, rule.compute(model.phi[i]!.forward(h, { training: false }), anyLabels, undefined, false).logits!));
        return { h };
      });
      return [...heads, keep('classifier', model.classifier.forward(model.classifierPhi.forward(last?.h ?? images, { training: false }), { training: false }))];
    });
  }

  /**
   * Accuracy of the network's prediction and of every block's head (scores()), on a batch of
   * images [B, ...] with labels (host Int32Array). Evaluation mode: nothing is kept.
   */
  async evaluateBatch(images: Tensor, labels: Tensor, labelValues: Int32Array): Promise<{ correct: number; blockCorrect: number[]; predicted: Int32Array }> {
    const scores = this.scores(images);
    // Only the predicted classes and the heads' counts of correct rows (one u32 each, counted on the device) are read.
    let counted: { predicted: Tensor; headCounts: Tensor[] };
    try {
      counted = this.device.scope(() => ({
        predicted: argmax(scores.at(-1)!.logits, 'scratch'),
        headCounts: scores.slice(0, -1).map((head) => {
          const count = this.device.zeros([1], 'u32', 'scratch');
          countCorrect(head.logits, labels, count);
          return count;
        }),
      }));
    } finally {
      for (const s of scores) s.logits.dispose();
    }
    const { predicted, headCounts } = counted;
    try {
      const classes = (await predicted.read()) as Int32Array;
      let correct = 0;
      for (let k = 0; k < classes.length; k++) if (classes[k] === labelValues[k]) correct++;
      const blockCorrect: number[] = [];
      for (const c of headCounts) blockCorrect.push((await c.read())[0]!);
      return { correct, blockCorrect, predicted: classes };
    } finally {
      for (const t of [predicted, ...headCounts]) t.dispose();
    }
  }

  /**
   * Every tensor a checkpoint keeps under a stable name, with the unit whose optimizer steps it:
   * 'block1.0.weight' (the block's layers), 'block1.head.<name>' (a block rule's own parameters: SLL's
   * latent head 'block1.head.head.weight', DGL's head 'block1.head.weight'),
   * 'classifier.weight'; and the buffers of layers and heads, which no optimizer steps (`buffer`:
   * a batch norm's running statistics, 'block1.1.runningMean', 'block1.head.3.runningVar'). Checkpoints are keyed by these names.
   */
  parameterEntries(): Array<{ name: string; unit: number; value: Tensor; buffer?: true }> {
    const entries: Array<{ name: string; unit: number; value: Tensor; buffer?: true }> = [];
    const named = this.model.namedTensors();
    const ofBlock = (block: number, unit: number) => {
      for (const t of named) if (t.block === block) entries.push({ name: t.name, unit, value: t.value, ...(t.buffer ? { buffer: true as const } : {}) });
    };
    this.model.blocks.forEach((_, i) => {
      ofBlock(i, i);
      for (const p of this.objectives[i]?.parameters() ?? []) entries.push({ name: `block${i + 1}.head.${p.name}`, unit: i, value: p.value });
      for (const b of this.objectives[i]?.buffers?.() ?? []) entries.push({ name: `block${i + 1}.head.${b.name}`, unit: i, value: b.value, buffer: true });
    });
    ofBlock(this.model.blocks.length, this.units.length - 1);
    return entries;
  }

  /** The optimizer of unit `i` (blocks in order, then the classifier). */
  optimizerOf(unit: number): Optimizer {
    const u = this.units[unit];
    if (!u) throw new RangeError(`trainer: no unit ${unit} (there are ${this.units.length})`);
    return u.optimizer;
  }

  /** Host-side state that, with the tensors, resumes training bitwise. */
  counters(): TrainerCounters {
    return {
      step: this.step,
      optimizerSteps: this.units.map((u) => u.optimizer.stepCount),
      dropoutOffsets: this.objectives.map((o) => o.dropoutOffset),
    };
  }

  restoreCounters(counters: TrainerCounters): void {
    const fail = (why: string): never => {
      throw new RangeError(`trainer state: ${why}`);
    };
    if (!Number.isSafeInteger(counters.step) || counters.step < 0) fail(`step ${counters.step} is not a count`);
    if (counters.optimizerSteps.length !== this.units.length) fail(`${counters.optimizerSteps.length} optimizer step counts for ${this.units.length} units`);
    if (counters.dropoutOffsets.length !== this.objectives.length) fail(`${counters.dropoutOffsets.length} dropout offsets for ${this.objectives.length} local objectives`);
    counters.optimizerSteps.forEach((n, i) => {
      if (!Number.isSafeInteger(n) || n < 0) fail(`optimizer step count ${n} of ${this.units[i]!.name} is not a count`);
      this.units[i]!.optimizer.stepCount = n;
    });
    counters.dropoutOffsets.forEach((offset, i) => {
      this.objectives[i]!.dropoutOffset = offset;
    });
    this.step = counters.step;
  }

  /** Parameter and optimizer-state bytes, for the memory report. */
  stateBytes(): { parameters: number; optimizer: number; projections: number } {
    const params = [...this.model.blocks.flatMap((b) => b.layers.parameters()), ...this.model.classifier.parameters(), ...this.objectives.flatMap((o) => o.parameters())];
    return {
      parameters: params.reduce((n, p) => n + p.value.bytes, 0),
      optimizer: this.units.reduce((n, u) => n + u.optimizer.stateBytes, 0),
      projections: this.objectives.reduce((n, o) => n + o.fixedBytes, 0) + [...this.alignmentProjections.values()].reduce((n, p) => n + p.matrix.bytes, 0) + (this.labelEmbedding?.bytes ?? 0),
    };
  }

  dispose(): void {
    for (const u of this.units) {
      u.optimizer.dispose();
      for (const t of [u.flags, u.likelihoodSum, u.alignmentSum, u.correctCount]) t.dispose();
    }
    for (const o of this.objectives) o.dispose();
    for (const p of this.alignmentProjections.values()) p.matrix.dispose();
    this.labelEmbedding?.dispose();
  }
}

/** A TrainerConfig checked against the training spec's own rules (trainingSettings.ts, optimizerSettings.ts). */
function checkTrainerConfig(config: TrainerConfig): TrainerConfig {
  const where = 'Trainer';
  if (typeof config !== 'object' || config === null) throw new TypeError(`${where}: config must be an object, got ${JSON.stringify(config)}`);
  const known = ['method', 'optimizer', 'schedule', 'objective', 'predsim', 'seed', 'metricsEvery'];
  const unknown = Object.keys(config).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new TypeError(`${where}: unknown option ${unknown.join(', ')} (known: ${known.join(', ')})`);
  if (config.predsim !== undefined && (typeof config.predsim !== 'object' || config.predsim === null || Array.isArray(config.predsim))) throw new TypeError(`${where}: predsim must be an object such as { beta: 0.99 }, got ${JSON.stringify(config.predsim)}`);
  if (config.objective !== undefined && typeof config.objective !== 'function') throw new TypeError(`${where}: objective must be a function of the block index, got ${typeof config.objective}`);
  return {
    method: checkOption<Method>(TRAINING_FIELDS.method, config.method, 'method', where),
    optimizer: resolveOptimizerConfig(config.optimizer, `${where}: optimizer`),
    ...(config.schedule !== undefined ? { schedule: checkSchedule(config.schedule, where) } : {}),
    ...(config.objective !== undefined ? { objective: config.objective } : {}),
    ...(config.predsim !== undefined ? { predsim: checkOption<PredSimSettings>(PREDSIM_SECTION, config.predsim, 'predsim', where) } : {}),
    seed: checkOption<number>(TRAINING_FIELDS.seed, config.seed, 'seed', where),
    metricsEvery: checkOption<number>(TRAINING_FIELDS.metricsEvery, config.metricsEvery, 'metricsEvery', where),
  };
}
