/**
 * The messages between the lab page and its training worker. The worker owns the WebGPU device,
 * the data and the trainer; the page only shows what it is told, so it stays responsive.
 *
 * Every run the page asks for (a start, a checkpoint's load) has a number the page gives it; the
 * worker stamps what it reports about that run with it, and the page shows only the run it
 * holds: a report of a run let go (a progress message still on its way when Start was
 * pressed) is dropped. Commands about the run (pause, resume, save) carry the number too, and
 * the worker ignores one meant for a run it no longer holds.
 */
import { sll, type MemoryStats, type ops } from '../../src/index.js';

/** The datasets the lab trains on: the bundled digits, and Fashion-MNIST when served beside the page. */
export const LAB_DATASETS = ['digits', 'fashion-mnist'] as const;
export type LabDataset = (typeof LAB_DATASETS)[number];
/** How the blocks learn, as sll train's --method: SLL, DGL (a learned head per block), DRTP (a fixed target projection per block), PredSim (a learned head and similarity matching per block), Forward-Forward (goodness), DFA (the output error through a fixed matrix per block, MLP only) or backprop. */
export const LAB_METHODS = sll.METHODS;
export type LabMethod = sll.Method;
/** How the page names each method. */
export const METHOD_NAMES: Record<LabMethod, string> = { sll: 'SLL', dgl: 'DGL', drtp: 'DRTP', predsim: 'PredSim', ff: 'Forward-Forward', dfa: 'DFA', backprop: 'backprop' };
/** Where, under the page's data/ folder, Fashion-MNIST's four .gz files are looked for. */
export const FASHION_FOLDER = 'fashion-mnist';
/** Both datasets hold 28x28 grey images of 10 classes: the model limits the page shows follow from it. */
export const IMAGE_SIDE = 28;
export const LAB_CLASSES = 10;

/** What the visitor chose on the page. */
export interface LabSettings {
  dataset: LabDataset;
  /** SLL, DGL, DRTP, PredSim, Forward-Forward, DFA or backprop. */
  method: LabMethod;
  model: 'mlp' | 'cnn' | 'vit';
  /** Blocks, 1 to 16: the MLP's hidden layers, the CNN's conv stages, the ViT's transformer blocks. */
  depth: number;
  /** The MLP's hidden width, the CNN's channels per stage, the ViT's token width. */
  width: number;
  /** The ViT's patch side (a divisor of the image's); the other models ignore it. */
  patch: number;
  /** The MLP blocks' activation (tanh: DRTP's authors' choice; leaky-relu: PredSim's); the other models ignore it. */
  activation: sll.BlockActivation;
  /** SLL's local objective (ignored by backprop); d0 absent: its default for the mode. */
  objective: { mode: 'class' | 'latent'; d0?: number; tau: number; dropout: number; alignment: boolean };
  /** PredSim's weight of its similarity term (ignored by the other methods). */
  beta: number;
  lr: number;
  batch: number;
  epochs: number;
  /**
   * A loaded checkpoint's whole spec, for what the form does not show (its optimizer and
   * schedule, seed, data split, the objective's and the model's finer settings): a new run
   * started after a load takes them, with the form's fields over them. Absent: the defaults.
   */
  base?: sll.TrainingSpecInput;
}

/** The objective's settings the form does not show, which a loaded checkpoint's run keeps. */
const UNSHOWN_OBJECTIVE_FIELDS = ['inputAlignment', 'projection', 'scaling', 'likelihoodWeight', 'alignmentWeight'] as const;

/**
 * The training spec the settings describe, as `sll train` reads one: what the page does not set
 * takes the command's defaults when sll.resolveTrainingSpec resolves it. The page resolves it to
 * check the form before anything starts, the worker to train: the same input, the same rules.
 */
export function specInput(settings: LabSettings): sll.TrainingSpecInput {
  const blocks = new Array<number>(settings.depth).fill(settings.width);
  const model = { mlp: { kind: 'mlp', hidden: blocks, activation: settings.activation }, cnn: { kind: 'cnn', channels: blocks, activation: settings.activation }, vit: { kind: 'vit', depth: settings.depth, dim: settings.width, patch: settings.patch } }[settings.model] as sll.TrainingSpecInput['model'];
  // A rule's own settings go only with it, so that a value left in a greyed-out field refuses nothing.
  const withObjective = settings.method === 'sll';
  const form = { method: settings.method, model, ...(withObjective ? { objective: settings.objective } : {}), ...(settings.method === 'predsim' ? { predsim: { beta: settings.beta } } : {}), optimizer: { lr: settings.lr }, batchSize: settings.batch, epochs: settings.epochs, metricsEvery: 10 };
  const base = settings.base;
  if (!base) return form;
  // What the form shows wins; what it does not comes from the loaded run, where it still applies
  // (the model's finer settings to the same kind of model, the split to the same dataset).
  const unshownObjective = Object.fromEntries(UNSHOWN_OBJECTIVE_FIELDS.flatMap((k) => (base.objective?.[k] !== undefined ? [[k, base.objective[k]]] : [])));
  return {
    ...form,
    ...(base.seed !== undefined ? { seed: base.seed } : {}),
    ...(base.schedule ? { schedule: base.schedule } : {}),
    ...(base.dataset?.name === settings.dataset ? { dataset: base.dataset } : {}),
    optimizer: { ...base.optimizer, lr: settings.lr },
    model: base.model?.kind === settings.model ? ({ ...base.model, ...model } as sll.TrainingSpecInput['model']) : model,
    ...(withObjective ? { objective: { ...unshownObjective, ...settings.objective } } : {}),
  };
}

export type PageMessage =
  /**
   * First message: where the page's data/ folder is, whatever the server's path, and the kernel
   * tunings this browser has kept (by adapter; the worker uses its adapter's, if it is there).
   */
  | { type: 'init'; dataUrl: string; tunings: Record<string, unknown> }
  /** Time the matmul variants on this adapter and put the fastest per shape class in force (a run pauses first); `quick`: small products only. */
  | { type: 'tune'; quick: boolean }
  /** A new run, numbered `run` by the page; the one the worker held is let go first. */
  | { type: 'start'; settings: LabSettings; run: number }
  | { type: 'pause'; run: number }
  | { type: 'resume'; run: number }
  | { type: 'reset' }
  /** The run's checkpoint, as `sll train` writes it (safetensors): the run pauses first. */
  | { type: 'save'; run: number }
  /**
   * A checkpoint's bytes (from this page or `sll train`): verified, loaded and evaluated, as run
   * `run`. The run the worker held is let go only once the checkpoint is ready to replace it.
   */
  | { type: 'load'; bytes: ArrayBuffer; name: string; run: number }
  /** Peak activation memory of one training step, every method's, for MLPs of 1 to maxDepth blocks (a run pauses first). */
  | { type: 'sweep'; maxDepth: number; width: number; batch: number }
  /** Stops the sweep between two measurements (answered at once, not after the commands before it). */
  | { type: 'stop-sweep' }
  /** One 28x28 image of raw [0, 1] pixels (ink 1): every head's class probabilities for it. */
  | { type: 'predict'; pixels: Float32Array }
  /** The first test images with their labels and the classifier's predictions. */
  | { type: 'grid'; count: number };

/** One unit's figures over the steps since the last report: its mean local loss and its training accuracy (0 to 1). */
export interface UnitPoint {
  name: string;
  likelihood: number;
  accuracy: number;
}

/** A run's model and, in words, its data. */
export interface ModelDescription {
  description: string;
  parameters: number;
  data: string;
}

/** Why a run stopped short of its epochs: the visitor's Pause, a save (which pauses first), or the depth sweep. */
export type PauseCause = 'pause' | 'save' | 'sweep' | 'tune';

export type WorkerMessage =
  /** `tuning`: what the kept kernel tuning put in force, or why it was not used; absent when none was kept for this adapter. */
  | { type: 'ready'; adapter: string; software: boolean; datasets: { name: LabDataset; available: boolean }[]; tuning?: string }
  /** One shape class timed by a tune: the variants' summed ms (or why not timed) and the one kept. */
  | { type: 'tune-row'; shapeClass: string; variants: Record<string, string>; chosen: string; builtIn: string }
  /** A tune's table, now in force: the page keeps it for this adapter, unless it was measured on small products only (`quick`). */
  | { type: 'tuned'; adapter: string; tuning: ops.KernelTuning; description: string; quick: boolean }
  /** A started run's model and data. */
  | ({ type: 'model'; run: number } & ModelDescription)
  /** After a step, a few times a second at most: where the run stands and the rate of its next step (nothing read from the GPU for it). */
  | { type: 'tick'; run: number; step: number; epoch: number; stepInEpoch: number; stepsPerEpoch: number; epochs: number; rate: number }
  /** `rate`: the learning rate of the next step, from the run's schedule. */
  | { type: 'progress'; run: number; step: number; epoch: number; units: UnitPoint[]; samplesPerSecond: number; rate: number; memory: MemoryStats }
  /** The validation accuracy of the classifier and of each SLL head; absent when the run holds out no validation examples. */
  | { type: 'epoch'; run: number; epoch: number; accuracy?: number; heads?: number[] }
  | { type: 'paused'; run: number; step: number; by: PauseCause }
  | { type: 'finished'; run: number; testAccuracy: number }
  | { type: 'reset' }
  | { type: 'checkpoint'; bytes: ArrayBuffer }
  | { type: 'sweep-point'; depth: number; method: LabMethod; activationBytes: number }
  /** The sweep's end: `stopped` when the page stopped it before its last depth. */
  | { type: 'sweep-done'; stopped: boolean }
  | { type: 'prediction'; run: number; classNames: string[]; units: { name: string; probabilities: number[] }[] }
  | { type: 'grid'; run: number; pixels: Float32Array; labels: number[]; predicted: number[]; classNames: string[] }
  /**
   * A checkpoint (file `name`) loaded as run `run`: its model, its settings (for the form), where it stands, the
   * rate it continues at, whether its epochs are done, and the memory it holds (peaks since it loaded).
   */
  | ({
      type: 'loaded';
      run: number;
      name: string;
      testAccuracy: number;
      notices: string[];
      settings: LabSettings;
      step: number;
      rate: number;
      finished: boolean;
      memory: MemoryStats;
      /** The kernel tuning in force while this run is held, when it is the checkpoint's own rather than the page's. */
      tuning?: string;
    } & ModelDescription)
  /** What failed, and in which command ('training': the training loop of run `run`). */
  | { type: 'error'; message: string; during: PageMessage['type'] | 'training'; run?: number };
