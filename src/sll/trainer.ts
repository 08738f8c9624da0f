/**
 * The trainers, on the same model, optimizer, initialization and data order.
 *
 * Local rules, SLL, DGL, DRTP and PredSim (docs/algorithm.md, "One training step"): one forward
 * sweep per minibatch in which each block runs forward, computes its local loss's gradient (SLL:
 * the likelihood under a fixed random projection, with alignment to the block before; DGL: the
 * cross-entropy of a learned auxiliary head; DRTP: the one-hot target through a fixed matrix, in
 * place of a loss's gradient; PredSim: a learned head's cross-entropy mixed with similarity
 * matching; Forward-Forward: the logistic loss of its goodness on positive and negative images,
 * swept together; each a LocalLoss, made by the method's entry in rules.ts), runs its own
 * backward (never its input gradient), steps its optimizer, and releases its input before the
 * next block runs. SLL's blocks also align with the block before (alignment.ts).
 * Nothing records operations across blocks, and the buffers a block releases serve the next one
 * at once (queue order makes a released buffer safe for later GPU work: bufferPool.ts), so peak
 * memory stays one block's working set; the step is submitted once, at its end, as backprop's is.
 *
 * Backprop: forward through every block keeping every saved tensor, then the classifier's
 * loss gradient chained back block after block through the same layers' rules. DFA, the labelled
 * extra (dfa.ts): the same forward, then each block's own backward from the output error through
 * its fixed matrix, no gradient chained between blocks (its memory grows with depth as backprop's).
 *
 * No readback happens inside a step. Loss sums, counts of correct rows and non-finite flags live
 * on the GPU and are read by `readMetrics()` every few steps; a non-finite gradient turns that
 * block's optimizer steps into no-ops until then (checkFinite + skipIfFlagged), so it never
 * reaches the weights.
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { KernelError } from '../gpu/errors.js';
import type { Recording } from '../gpu/recording.js';
import { crossEntropy } from '../ops/loss.js';
import { checkFinite, createOptimizer, STEP_VALUE_WORDS, type Optimizer, type OptimizerConfig } from '../ops/optim.js';
import { addWindowMetrics, argmax, countCorrect } from '../ops/reduce.js';
import { classModeObjective, type LocalObjectiveConfig } from './config.js';
import { AlignmentTargets } from './alignment.js';
import { Flatten } from '../nn/flatten.js';
import type { Block, Model } from './model.js';
import { goodnessScores, LabelEmbedding, lengthNormalize } from './forwardForward.js';
import { DfaFeedback } from './dfa.js';
import { methodRule, type MethodRule } from './rules.js';
import { Sequential } from '../nn/sequential.js';
import { AvgPool2d, MaxPool2d } from '../nn/pool2d.js';
import type { Layer } from '../nn/layer.js';
import { sizeOf } from '../gpu/shape.js';
import type { LocalLoss } from './localLoss.js';
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
  /**
   * Replay steps (default true): once two steps in a row on the same input tensors encode the
   * same work, later steps on those tensors replay the recording (src/gpu/recording.ts) instead
   * of running the rule's code, bitwise the same, for a fraction of the host's time. `fit`
   * uploads every batch into the same two tensors for this.
   */
  replay?: boolean;
}

/** How many steps in a row may fail to repeat their predecessor's work before a trainer stops recording (Trainer.encodeStep). */
const REPLAY_TRIES = 3;

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
  /** Position of each dropout stream: every local objective's, then every dropout layer's of the model (Model.dropoutLayers). */
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
  /** The window's likelihood and alignment sums (f32 [2]). */
  sums: Tensor;
  /** Training rows of the window whose arg-max was the label (one u32). */
  correctCount: Tensor;
  hasAlignment: boolean;
}

export class Trainer {
  readonly method: Method;
  /** Each block's local rule (SLL: its objective; DGL: its auxiliary head; DRTP: its target projection; PredSim: its loss); none under backprop. */
  readonly objectives: LocalLoss[] = [];
  /** How the method trains (rules.ts). */
  private readonly rule: MethodRule;
  /** What each block aligns with, and the fixed projections that give it (SLL only). */
  private readonly alignment: AlignmentTargets | undefined;
  /**
   * For a rule whose signal meets a conv stage before its pooling (DRTP, as its authors hook it):
   * by block, the stage without its pooling, the pooling, and the flatten its signal is read through.
   */
  private readonly beforePooling = new Map<number, { body: Sequential; pool: Layer; phi: Flatten }>();
  /** Forward-Forward's label writing and negative data (method 'ff' only). */
  private readonly labelEmbedding: LabelEmbedding | undefined;
  /** DFA's fixed feedback matrix of each block (method 'dfa' only). */
  readonly feedback: DfaFeedback[] = [];
  private readonly units: Unit[];
  /**
   * What changes from step to step, written once before each step and read by the kernels
   * (optim.ts, StepGuard.stepValues): each unit's optimizer values from unit i * STEP_VALUE_WORDS,
   * then the non-finite guard's mark. Every uniform of a step is then the same from step to step.
   */
  private readonly stepValues: Tensor;
  private readonly stepWords: Uint32Array;
  /**
   * Whether steps are still recorded for replay (src/gpu/recording.ts): the config's `replay`,
   * except for Forward-Forward, whose negative labels are drawn on the host every step.
   */
  private recordSteps: boolean;
  /** The last recorded step, its inputs, and whether it repeated the one before (then it is replayed). */
  private recorded: { recording: Recording; images: Tensor; labels: Tensor; stable: boolean } | undefined;
  private unstableSteps = 0;
  /** Steps replayed from a recording rather than encoded by the rule's code (TrainerConfig.replay). */
  replayedSteps = 0;
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
    const rule = (this.rule = methodRule(this.method));
    const objectiveOf = config.objective ?? (() => classModeObjective(model.classes));
    if (rule.labelsInInput) {
      this.labelEmbedding = new LabelEmbedding(device, model.classes, domainSeed(config.seed, 'negativeLabels', 0));
      try {
        this.labelEmbedding.check(model.inputShape);
        // Made now, not in the first (recorded) step, which may not upload.
        this.labelEmbedding.prepareTraining();
      } catch (error) {
        this.labelEmbedding.dispose();
        throw error;
      }
    }
    if (rule.loss) {
      model.blocks.forEach((block, i) => {
        const layers = block.layers;
        const last = layers instanceof Sequential ? layers.layers.at(-1) : undefined;
        let features = model.featureWidth(i);
        if (rule.readsBeforePooling && layers instanceof Sequential && (last instanceof MaxPool2d || last instanceof AvgPool2d)) {
          const body = new Sequential(layers.layers.slice(0, -1));
          this.beforePooling.set(i, { body, pool: last, phi: new Flatten() });
          features = sizeOf(body.outputShape([1, ...(i === 0 ? model.inputShape : model.blockShapes[i - 1]!)]).slice(1));
        }
        const context = { classes: model.classes, features, featureMap: block.features, blockShape: model.blockShapes[i]!, seed: config.seed, block: i, objective: objectiveOf(i), ...(config.predsim ? { predsim: config.predsim } : {}) };
        this.objectives.push(rule.loss!(device, context, `block ${i + 1}`));
      });
    }
    if (rule.aligns) this.alignment = new AlignmentTargets(device, model, objectiveOf, config.seed);
    if (rule.step === 'output-error') {
      model.blocks.forEach((_, i) => {
        this.feedback.push(new DfaFeedback(device, { classes: model.classes, features: sizeOf(model.blockShapes[i]!), seed: domainSeed(config.seed, 'feedbackProjection', i) }));
      });
    }
    const unitNames = [...model.blocks.map((_, i) => `block ${i + 1}`), 'classifier'];
    this.units = unitNames.map((name, i) => ({
      name,
      optimizer: createOptimizer(config.optimizer),
      flags: device.zeros([1], 'u32', 'scratch'),
      sums: device.zeros([2], 'f32', 'scratch'),
      correctCount: device.zeros([1], 'u32', 'scratch'),
      hasAlignment: this.alignment?.aligns(i) ?? false,
    }));
    this.stepWords = new Uint32Array(this.units.length * STEP_VALUE_WORDS + 1);
    this.stepValues = device.zeros([this.stepWords.length], 'u32', 'scratch');
    this.recordSteps = this.config.replay ?? true;
  }

  /** The learning rate the next step takes, from the schedule and the steps taken. */
  get learningRate(): number {
    return learningRate(this.config.optimizer.lr, this.config.schedule ?? { kind: 'constant' }, this.step);
  }

  /** One minibatch: images [B, ...inputShape] f32, labels [B] i32. Encodes work; waits for nothing. */
  trainStep(images: Tensor, labels: Tensor): void {
    const lr = this.learningRate;
    this.units.forEach((unit, i) => {
      unit.optimizer.lr = lr;
      unit.optimizer.writeStepValues(this.stepWords, i * STEP_VALUE_WORDS);
    });
    this.stepWords[this.units.length * STEP_VALUE_WORDS] = this.stepInWindow + 1;
    this.device.upload(this.stepValues, this.stepWords);
    // A profile times each dispatch in a pass of its own, which a recording cannot hold: while
    // one runs, steps are encoded plainly, and the recording waits for the steps after it.
    if (this.device.profiling) this.encodePlainly(images, labels);
    else if (!this.replayStep(images, labels)) this.encodeStep(images, labels);
    this.step++;
    this.stepInWindow++;
    this.samplesInWindow += images.shape[0]!;
  }

  /**
   * Replays the recorded step when it stands for this one: it recorded the same work as the step
   * before it, on these same input tensors (Recording.sameWorkAs). Its host effects are the
   * optimizers' step counts, advanced here as their step() would, and the random streams'
   * positions (dropout, Forward-Forward's step), which the replay moves itself. False when the step must be
   * encoded: nothing recorded yet, other inputs, or a tensor the recording used is gone (a
   * resumed optimizer state), which drops the recording.
   */
  private replayStep(images: Tensor, labels: Tensor): boolean {
    const recorded = this.recorded;
    if (!recorded?.stable || recorded.images !== images || recorded.labels !== labels) return false;
    // Forward-Forward's negatives are drawn at this step, whatever step the recording moved them to.
    if (this.labelEmbedding) this.labelEmbedding.negatives.offset = this.step;
    try {
      recorded.recording.replay();
    } catch (error) {
      if (!(error instanceof KernelError)) throw error;
      this.dropRecording();
      return false;
    }
    for (const unit of this.units) unit.optimizer.stepCount++;
    this.replayedSteps++;
    return true;
  }

  /**
   * Encodes a step by its rule, recorded while replay may still pay off: a recording that does
   * the same work as the one before it, on the same inputs, is kept to replay the steps after.
   * Recording stops for good after REPLAY_TRIES steps in a row that did not repeat (a caller
   * may pass new input tensors every step).
   */
  private encodeStep(images: Tensor, labels: Tensor): void {
    if (!this.recordSteps) {
      this.encodePlainly(images, labels);
      return;
    }
    const { recording } = this.device.record(() => this.runRule(images, labels));
    const previous = this.recorded;
    const stable = previous !== undefined && previous.images === images && previous.labels === labels && previous.recording.sameWorkAs(recording);
    previous?.recording.dispose();
    this.recorded = { recording, images, labels, stable };
    this.unstableSteps = stable ? 0 : this.unstableSteps + 1;
    if (this.unstableSteps > REPLAY_TRIES) {
      this.dropRecording();
      this.recordSteps = false;
    }
  }

  /** Encodes and submits a step by its rule, unrecorded (a recording and a replay submit their own work). */
  private encodePlainly(images: Tensor, labels: Tensor): void {
    this.runRule(images, labels);
    this.device.submit();
  }

  private runRule(images: Tensor, labels: Tensor): void {
    if (this.rule.step === 'chain') this.backpropStep(images, labels);
    else if (this.rule.step === 'output-error') this.dfaStep(images, labels);
    else this.localStep(images, labels);
  }

  /** Disposes the recorded step (its temporaries' buffers go back to the pool). */
  private dropRecording(): void {
    this.recorded?.recording.dispose();
    this.recorded = undefined;
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
        const target = this.alignment?.target(i, a, previous?.logPi);
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
        return { h, logPi: local.logPi };
      });
      last?.logPi?.dispose(); // freed now: the classifier needs only the last block's output
      // Forward-Forward predicts by goodness: its classifier is not trained.
      if (!labelEmbedding) this.classifierStep(last?.h ?? images, labels, 'none');
    });
  }

  private backpropStep(images: Tensor, labels: Tensor): void {
    const { model } = this;
    this.device.scope(() => {
      // The forward pass: the layers keep what their backward needs.
      const last = this.sweep(images, (block, _, a) => ({ h: block.layers.forward(a, { training: true }) }));
      let dh = this.device.scope(() => model.classifierPhi.backward(this.classifierStep(last?.h ?? images, labels, 'features')!, { inputGradient: true }).input!);
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
   * DFA: backprop's forward, every block keeping what its backward needs, then the output error
   * e = dL/dlogits, and each block, from the top, steps on its own backward from e B (dfa.ts).
   */
  private dfaStep(images: Tensor, labels: Tensor): void {
    const { model } = this;
    this.device.scope(() => {
      const last = this.sweep(images, (block, _, a) => ({ h: block.layers.forward(a, { training: true }) }));
      const error = this.classifierStep(last?.h ?? images, labels, 'logits')!;
      last?.h.dispose();
      for (let i = model.blocks.length - 1; i >= 0; i--) {
        const block = model.blocks[i]!;
        this.device.scope(() => {
          const signal = this.feedback[i]!.signal(error).reshape([error.shape[0]!, ...model.blockShapes[i]!]);
          const grads = block.layers.backward(signal, { inputGradient: false });
          this.update(this.units[i]!, block.layers.parameters().map((p) => p.value), grads.params);
        });
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
   * The output classifier as a local unit (SLL) or the loss at the top of the chain: returns
   * dL/d(its features) for backprop, dL/d(its logits) for DFA, nothing for the local rules.
   * Runs in the caller's scope.
   */
  private classifierStep(last: Tensor, labels: Tensor, gives: 'none' | 'features' | 'logits'): Tensor | undefined {
    const unit = this.units[this.units.length - 1]!;
    const wantInputGradient = gives === 'features';
    // In training mode, for the dropout in front of the classifier (the MLP's block dropout); what
    // phi keeps for a backward is let go at once when none will run (every local rule).
    const features = this.model.classifierPhi.forward(last, { training: true });
    if (!wantInputGradient) this.model.classifierPhi.release();
    const logits = this.model.classifier.forward(features, { training: true });
    const ce = crossEntropy(logits, labels, { category: 'scratch' });
    const grads = this.model.classifier.backward(ce.grad, { inputGradient: wantInputGradient });
    this.update(unit, this.model.classifier.parameters().map((p) => p.value), grads.params);
    this.accumulate(unit, labels, logits, ce.loss, undefined);
    return gives === 'logits' ? ce.grad : grads.input;
  }

  /** One optimizer step of a unit, with each gradient's finiteness marked first. */
  private update(unit: Unit, params: Tensor[], grads: Tensor[]): void {
    const { stepValues } = this;
    checkFinite(grads, unit.flags, { stepValues, valuesAt: this.units.length * STEP_VALUE_WORDS });
    unit.optimizer.step(params, grads, { skipIfFlagged: unit.flags, stepValues, valuesAt: this.units.indexOf(unit) * STEP_VALUE_WORDS });
  }

  /**
   * Adds a step's per-sample loss terms, and its rows whose logits' arg-max is the label, to the
   * unit's window sums (read by readMetrics), in one dispatch.
   */
  private accumulate(unit: Unit, labels: Tensor, logits: Tensor, likelihood: Tensor, alignment: Tensor | undefined): void {
    addWindowMetrics(unit.sums, unit.correctCount, logits, labels, likelihood, alignment);
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
      const [flags, sums, correct] = await Promise.all([unit.flags.read(), unit.sums.read(), unit.correctCount.read()]);
      if (flags[0] !== 0) throw new NonFiniteError(unit.name, firstStep + flags[0]! - 1);
      // A block without a loss of its own (backprop, DRTP) has nothing to report: the classifier speaks for it.
      const index = this.units.indexOf(unit);
      if (index < this.units.length - 1 && !this.objectives[index]?.hasHead) continue;
      // Forward-Forward trains no classifier: its blocks speak for it.
      if (index === this.units.length - 1 && this.labelEmbedding) continue;
      units.push({
        name: unit.name,
        likelihood: sums[0]! / samples,
        ...(unit.hasAlignment ? { alignment: sums[1]! / samples } : {}),
        accuracy: correct[0]! / samples,
      });
    }
    for (const unit of this.units) {
      for (const t of [unit.flags, unit.sums, unit.correctCount]) this.device.clear(t);
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
      dropoutOffsets: [...this.objectives.map((o) => o.dropoutOffset), ...this.model.dropoutLayers().map((d) => d.offset)],
    };
  }

  restoreCounters(counters: TrainerCounters): void {
    const fail = (why: string): never => {
      throw new RangeError(`trainer state: ${why}`);
    };
    if (!Number.isSafeInteger(counters.step) || counters.step < 0) fail(`step ${counters.step} is not a count`);
    if (counters.optimizerSteps.length !== this.units.length) fail(`${counters.optimizerSteps.length} optimizer step counts for ${this.units.length} units`);
    const dropouts = this.model.dropoutLayers();
    if (counters.dropoutOffsets.length !== this.objectives.length + dropouts.length) {
      fail(`${counters.dropoutOffsets.length} dropout offsets for ${this.objectives.length} local objectives${dropouts.length > 0 ? ` and ${dropouts.length} dropout layers of the model` : ''}`);
    }
    // Every value checked before any is set, so a refused state leaves the trainer as it was.
    counters.optimizerSteps.forEach((n, i) => {
      if (!Number.isSafeInteger(n) || n < 0) fail(`optimizer step count ${n} of ${this.units[i]!.name} is not a count`);
    });
    for (const offset of counters.dropoutOffsets) if (!Number.isSafeInteger(offset) || offset < 0) fail(`dropout offset ${offset} is not a count`);
    counters.optimizerSteps.forEach((n, i) => {
      this.units[i]!.optimizer.stepCount = n;
    });
    counters.dropoutOffsets.forEach((offset, i) => {
      const target = i < this.objectives.length ? this.objectives[i]! : dropouts[i - this.objectives.length]!;
      if ('dropoutOffset' in target) target.dropoutOffset = offset;
      else target.offset = offset;
    });
    this.step = counters.step;
  }

  /** Parameter and optimizer-state bytes, for the memory report. */
  stateBytes(): { parameters: number; optimizer: number; projections: number } {
    const params = [...this.model.blocks.flatMap((b) => b.layers.parameters()), ...this.model.classifier.parameters(), ...this.objectives.flatMap((o) => o.parameters())];
    return {
      parameters: params.reduce((n, p) => n + p.value.bytes, 0),
      optimizer: this.units.reduce((n, u) => n + u.optimizer.stateBytes, 0),
      projections:
        this.objectives.reduce((n, o) => n + o.fixedBytes, 0) +
        (this.alignment?.fixedBytes ?? 0) +
        (this.labelEmbedding?.bytes ?? 0) +
        this.feedback.reduce((n, f) => n + f.fixedBytes, 0),
    };
  }

  dispose(): void {
    for (const u of this.units) {
      u.optimizer.dispose();
      for (const t of [u.flags, u.sums, u.correctCount]) t.dispose();
    }
    this.stepValues.dispose();
    this.dropRecording();
    for (const o of this.objectives) o.dispose();
    this.alignment?.dispose();
    this.labelEmbedding?.dispose();
    for (const f of this.feedback) f.dispose();
  }
}

/** A TrainerConfig checked against the training spec's own rules (trainingSettings.ts, optimizerSettings.ts). */
function checkTrainerConfig(config: TrainerConfig): TrainerConfig {
  const where = 'Trainer';
  if (typeof config !== 'object' || config === null) throw new TypeError(`${where}: config must be an object, got ${JSON.stringify(config)}`);
  const known = ['method', 'optimizer', 'schedule', 'objective', 'predsim', 'seed', 'metricsEvery', 'replay'];
  const unknown = Object.keys(config).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new TypeError(`${where}: unknown option ${unknown.join(', ')} (known: ${known.join(', ')})`);
  if (config.predsim !== undefined && (typeof config.predsim !== 'object' || config.predsim === null || Array.isArray(config.predsim))) throw new TypeError(`${where}: predsim must be an object such as { beta: 0.99 }, got ${JSON.stringify(config.predsim)}`);
  if (config.objective !== undefined && typeof config.objective !== 'function') throw new TypeError(`${where}: objective must be a function of the block index, got ${typeof config.objective}`);
  if (config.replay !== undefined && typeof config.replay !== 'boolean') throw new TypeError(`${where}: replay must be true or false, got ${JSON.stringify(config.replay)}`);
  return {
    method: checkOption<Method>(TRAINING_FIELDS.method, config.method, 'method', where),
    optimizer: resolveOptimizerConfig(config.optimizer, `${where}: optimizer`),
    ...(config.schedule !== undefined ? { schedule: checkSchedule(config.schedule, where) } : {}),
    ...(config.objective !== undefined ? { objective: config.objective } : {}),
    ...(config.predsim !== undefined ? { predsim: checkOption<PredSimSettings>(PREDSIM_SECTION, config.predsim, 'predsim', where) } : {}),
    seed: checkOption<number>(TRAINING_FIELDS.seed, config.seed, 'seed', where),
    metricsEvery: checkOption<number>(TRAINING_FIELDS.metricsEvery, config.metricsEvery, 'metricsEvery', where),
    ...(config.replay !== undefined ? { replay: config.replay } : {}),
  };
}
