/**
 * `sll train`: flags (or a JSON config file, flags winning) become a TrainingSpec, the dataset is
 * found by name, and runTraining does the work while the terminal shows progress. Ctrl-C stops
 * at the next step and saves a checkpoint; a second Ctrl-C quits at once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { datasetInfo, loadDatasetByName } from '../data/registry.js';
import { CIFAR10_CLASS_NAMES } from '../data/cifar.js';
import { FASHION_MNIST_CLASS_NAMES, type Dataset } from '../data/datasets.js';
import type { Device } from '../gpu/device.js';
import type { OptimizerConfig } from '../ops/optim.js';
import { RunDirectory } from '../run/directory.js';
import { runTraining } from '../run/train.js';
import { defaultModelSpec, defaultObjective, MODEL_KINDS, type ModelKind, type ModelSpec, type TrainingSpec } from '../sll/spec.js';
import { formatHelp, parseArgs, UsageError, type CommandSpec, type OptionValue } from './args.js';
import { formatDuration, ProgressView, type Output } from './progress.js';

export const TRAIN_COMMAND: CommandSpec = {
  name: 'train',
  summary: 'Train a model with SLL (layer-local objectives) or backprop, writing a run directory.',
  usage: 'sll train [--model mlp|cnn|vit] [--method sll|backprop] [--dataset NAME] [options]',
  options: [
    { name: 'model', type: 'string', choices: MODEL_KINDS, help: 'architecture', defaultText: 'mlp', group: 'model' },
    { name: 'hidden', type: 'integers', help: 'MLP hidden widths, one block each', defaultText: '1000,1000,1000', group: 'model' },
    { name: 'channels', type: 'integers', help: 'CNN channels per stage', defaultText: '32,64', group: 'model' },
    { name: 'convs-per-stage', type: 'integer', help: 'CNN convolutions per stage (2: the VGG-style variant)', defaultText: '1', group: 'model' },
    { name: 'fc', type: 'integer', help: 'CNN fully connected width', defaultText: '256', group: 'model' },
    { name: 'stage-features', type: 'string', choices: ['flatten', 'gap'], help: "phi of the CNN's conv stages", defaultText: 'flatten', group: 'model' },
    { name: 'patch', type: 'integer', help: 'ViT patch size', defaultText: '4', group: 'model' },
    { name: 'dim', type: 'integer', help: 'ViT token width', defaultText: '64', group: 'model' },
    { name: 'depth', type: 'integer', help: 'ViT transformer blocks', defaultText: '4', group: 'model' },
    { name: 'heads', type: 'integer', help: 'ViT attention heads', defaultText: '4', group: 'model' },
    { name: 'mlp-ratio', type: 'number', help: 'ViT MLP width / dim', defaultText: '2', group: 'model' },
    { name: 'pooling', type: 'string', choices: ['mean-token', 'cls-token'], help: 'ViT token pooling', defaultText: 'mean-token', group: 'model' },

    { name: 'method', type: 'string', choices: ['sll', 'backprop'], help: 'training method', defaultText: 'sll', group: 'training' },
    { name: 'epochs', type: 'integer', help: 'epochs', defaultText: '10', group: 'training' },
    { name: 'batch', type: 'integer', help: 'batch size', defaultText: '128', group: 'training' },
    { name: 'optimizer', type: 'string', choices: ['adam', 'adamw', 'sgd'], help: 'optimizer', defaultText: 'adam', group: 'training' },
    { name: 'lr', type: 'number', help: 'learning rate', defaultText: '1e-3', group: 'training' },
    { name: 'momentum', type: 'number', help: 'SGD momentum', defaultText: '0', group: 'training' },
    { name: 'nesterov', type: 'boolean', help: 'SGD: Nesterov momentum', defaultText: 'off', group: 'training' },
    { name: 'beta1', type: 'number', help: "Adam's first-moment decay", defaultText: '0.9', group: 'training' },
    { name: 'beta2', type: 'number', help: "Adam's second-moment decay", defaultText: '0.999', group: 'training' },
    { name: 'eps', type: 'number', help: "Adam's denominator term", defaultText: '1e-8', group: 'training' },
    { name: 'weight-decay', type: 'number', help: 'weight decay (AdamW: decoupled)', defaultText: '0 (AdamW 1e-2)', group: 'training' },
    { name: 'schedule', type: 'string', choices: ['constant', 'cosine'], help: 'learning-rate schedule', defaultText: 'constant', group: 'training' },
    { name: 'warmup', type: 'number', help: 'cosine: linear warm-up, in epochs', defaultText: '1', group: 'training' },
    { name: 'seed', type: 'integer', help: 'seed of weights, projections, dropout and data order', defaultText: '0', group: 'training' },
    { name: 'metrics-every', type: 'integer', help: 'steps between loss reads and metrics lines', defaultText: '50', group: 'training' },

    { name: 'mode', type: 'string', choices: ['class', 'latent'], help: 'likelihood mode of every block', defaultText: 'class (CNN: latent)', group: 'SLL' },
    { name: 'd0', type: 'integer', help: 'projection width (class mode: the class count)', defaultText: 'K (latent: 512)', group: 'SLL' },
    { name: 'tau', type: 'number', help: 'temperature of pi = softmax(v / tau)', defaultText: '1 (latent: 2)', group: 'SLL' },
    { name: 'dropout', type: 'number', help: "multiplicative dropout on the projection's input", defaultText: '0', group: 'SLL' },
    { name: 'alignment', type: 'boolean', help: 'Bhattacharyya alignment to the previous block', defaultText: 'on', group: 'SLL' },
    { name: 'input-alignment', type: 'boolean', help: 'block 1 (and a block after a change of d0) aligns to a fixed projection of its input (R_0); off: no alignment term there', defaultText: 'on', group: 'SLL' },
    { name: 'projection', type: 'string', choices: ['gaussian', 'rademacher', 'orthogonal'], help: 'entries of the fixed projections', defaultText: 'gaussian', group: 'SLL' },
    { name: 'scaling', type: 'string', choices: ['fan-in', 'jl'], help: 'projection scale: 1/d_i (fan-in) or 1/d0 (jl)', defaultText: 'fan-in', group: 'SLL' },
    { name: 'likelihood-weight', type: 'number', help: 'weight of the likelihood term', defaultText: '1', group: 'SLL' },
    { name: 'alignment-weight', type: 'number', help: 'weight of the alignment term', defaultText: '1', group: 'SLL' },

    { name: 'dataset', type: 'string', help: 'fashion-mnist, mnist, cifar10, cifar100 or digits (see sll data)', defaultText: 'digits', value: 'NAME', group: 'data' },
    { name: 'data-dir', type: 'string', help: 'directory holding the dataset files (default: searched, see sll data)', value: 'DIR', group: 'data' },
    { name: 'validation', type: 'integer', help: 'training examples held out (from the end) for validation', defaultText: '5000, or 10% of small sets', group: 'data' },
    { name: 'augment', type: 'boolean', help: 'random crop (pad 4) and horizontal flip', defaultText: 'on for CIFAR', group: 'data' },
    { name: 'normalize', type: 'boolean', help: 'standardize pixels with the training mean and std (off: keep [0, 1])', defaultText: 'on', group: 'data' },
    { name: 'train-count', type: 'integer', help: 'train on the first N training examples only (quick experiments)', defaultText: 'all', group: 'data' },

    { name: 'config', type: 'string', help: 'JSON file with a training spec (a run\'s config.json works); flags override it', value: 'FILE', group: 'run' },
    { name: 'out', type: 'string', help: 'run directory to create', defaultText: 'runs/<dataset>-<model>-<method>-seed<seed>', value: 'DIR', group: 'run' },
    { name: 'resume', type: 'string', help: 'continue the run in DIR from its last checkpoint (its config is used)', value: 'DIR', group: 'run' },
  ],
  epilog: [
    'Examples:',
    '  sll train                                         SLL MLP on the bundled digits',
    '  sll train --dataset fashion-mnist --epochs 10     the issue\'s MLP on Fashion-MNIST',
    '  sll train --model cnn --method backprop --dataset fashion-mnist --epochs 5',
    '  sll train --resume runs/fashion-mnist-mlp-sll-seed0',
    '',
    'A run directory holds config.json, metrics.jsonl, checkpoint.safetensors and report.html.',
    'Ctrl-C saves a checkpoint at the current step; --resume continues bitwise where it stopped.',
  ].join('\n'),
};

type Values = Record<string, OptionValue | undefined>;

/** Reads a JSON config file: a TrainingSpec, or a run's config.json ({ spec, ... }). */
function readConfigFile(path: string): Partial<TrainingSpec> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--config ${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 'train');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--config ${path}: not valid JSON (${(error as Error).message})`, 'train');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`--config ${path}: must hold a JSON object`, 'train');
  const record = json as Record<string, unknown>;
  return (typeof record.spec === 'object' && record.spec !== null ? record.spec : record) as Partial<TrainingSpec>;
}

/** { [key]: value } when the value is given, else nothing: optional spec fields stay absent from config.json. */
function optionalField<K extends string, T>(key: K, value: T | undefined): { [P in K]?: T } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: T };
}

/** The spec that flags and an optional config file describe; defaults fill the rest. */
export function specFromFlags(v: Values, dataset: { name: string; classes: number; trainCount: number }, base: Partial<TrainingSpec> = {}): TrainingSpec {
  const kind = ((v.model as string | undefined) ?? base.model?.kind ?? 'mlp') as ModelKind;
  const model = modelFromFlags(kind, v, base.model?.kind === kind ? base.model : undefined);
  const method = (v.method as TrainingSpec['method'] | undefined) ?? base.method ?? 'sll';
  const optimizerKind = (v.optimizer as OptimizerConfig['kind'] | undefined) ?? base.optimizer?.kind ?? 'adam';
  const baseOptimizer = base.optimizer?.kind === optimizerKind ? base.optimizer : undefined;
  const lr = (v.lr as number | undefined) ?? baseOptimizer?.lr ?? 1e-3;
  const weightDecay = v['weight-decay'] as number | undefined;
  const given = (names: string[]) => Object.fromEntries(names.filter((n) => v[n] !== undefined).map((n) => [n, v[n]]));
  const wrongKind = (optimizerKind === 'sgd' ? ['beta1', 'beta2', 'eps'] : ['momentum', 'nesterov']).filter((n) => v[n] !== undefined);
  if (wrongKind.length > 0) throw new UsageError(`--${wrongKind[0]} does not apply to --optimizer ${optimizerKind}`, 'train');
  const optimizer: OptimizerConfig =
    optimizerKind === 'sgd'
      ? { ...(baseOptimizer ?? {}), kind: 'sgd', lr, ...given(['momentum', 'nesterov']), ...(weightDecay !== undefined ? { weightDecay } : {}) }
      : { ...(baseOptimizer ?? {}), kind: optimizerKind, lr, ...given(['beta1', 'beta2', 'eps']), ...(weightDecay !== undefined ? { weightDecay } : {}) };
  const scheduleKind = (v.schedule as string | undefined) ?? base.schedule?.kind ?? 'constant';
  const schedule: TrainingSpec['schedule'] =
    scheduleKind === 'cosine'
      ? { kind: 'cosine', warmupEpochs: (v.warmup as number | undefined) ?? (base.schedule?.kind === 'cosine' ? base.schedule.warmupEpochs : 1), floor: base.schedule?.kind === 'cosine' ? base.schedule.floor : 0 }
      : { kind: 'constant' };
  const objectiveBase = base.objective ?? defaultObjective(kind, dataset.classes);
  const mode = (v.mode as 'class' | 'latent' | undefined) ?? objectiveBase.mode;
  const modeDefaults = mode === objectiveBase.mode ? objectiveBase : mode === 'latent' ? { d0: 512, tau: 2 } : { d0: dataset.classes, tau: 1 };
  const objective = {
    ...objectiveBase,
    mode,
    d0: (v.d0 as number | undefined) ?? modeDefaults.d0,
    tau: (v.tau as number | undefined) ?? modeDefaults.tau,
    dropout: (v.dropout as number | undefined) ?? objectiveBase.dropout,
    alignment: (v.alignment as boolean | undefined) ?? objectiveBase.alignment,
    ...optionalField('inputAlignment', (v['input-alignment'] as boolean | undefined) ?? objectiveBase.inputAlignment),
    projection: (v.projection as TrainingSpec['objective']['projection'] | undefined) ?? objectiveBase.projection,
    scaling: (v.scaling as TrainingSpec['objective']['scaling'] | undefined) ?? objectiveBase.scaling,
    likelihoodWeight: (v['likelihood-weight'] as number | undefined) ?? objectiveBase.likelihoodWeight,
    alignmentWeight: (v['alignment-weight'] as number | undefined) ?? objectiveBase.alignmentWeight,
  };
  const isCifar = dataset.name.startsWith('cifar');
  return {
    method,
    model,
    dataset: {
      name: dataset.name,
      validation: (v.validation as number | undefined) ?? base.dataset?.validation ?? (dataset.trainCount >= 20_000 ? 5000 : Math.round(dataset.trainCount / 10)),
      augment: (v.augment as boolean | undefined) ?? base.dataset?.augment ?? isCifar,
      ...optionalField('normalize', (v.normalize as boolean | undefined) ?? base.dataset?.normalize),
      ...optionalField('trainCount', (v['train-count'] as number | undefined) ?? base.dataset?.trainCount),
    },
    epochs: (v.epochs as number | undefined) ?? base.epochs ?? 10,
    batchSize: (v.batch as number | undefined) ?? base.batchSize ?? 128,
    optimizer,
    schedule,
    objective,
    seed: (v.seed as number | undefined) ?? base.seed ?? 0,
    metricsEvery: (v['metrics-every'] as number | undefined) ?? base.metricsEvery ?? 50,
  };
}

function modelFromFlags(kind: ModelKind, v: Values, base: ModelSpec | undefined): ModelSpec {
  const d = (base ?? defaultModelSpec(kind)) as ModelSpec;
  switch (d.kind) {
    case 'mlp':
      return { kind: 'mlp', hidden: (v.hidden as number[] | undefined) ?? d.hidden };
    case 'cnn':
      return {
        kind: 'cnn',
        channels: (v.channels as number[] | undefined) ?? d.channels,
        convsPerStage: (v['convs-per-stage'] as number | undefined) ?? d.convsPerStage,
        hidden: (v.fc as number | undefined) ?? d.hidden,
        stageFeatures: (v['stage-features'] as 'flatten' | 'gap' | undefined) ?? d.stageFeatures,
      };
    case 'vit':
      return {
        kind: 'vit',
        patch: (v.patch as number | undefined) ?? d.patch,
        dim: (v.dim as number | undefined) ?? d.dim,
        depth: (v.depth as number | undefined) ?? d.depth,
        heads: (v.heads as number | undefined) ?? d.heads,
        mlpRatio: (v['mlp-ratio'] as number | undefined) ?? d.mlpRatio,
        pooling: (v.pooling as 'mean-token' | 'cls-token' | undefined) ?? d.pooling,
      };
  }
}

export function classNamesOf(name: string, dataset: Dataset): readonly string[] | undefined {
  const withNames = dataset as Dataset & { classNames?: readonly string[] };
  if (withNames.classNames?.length === dataset.classes) return withNames.classNames;
  if (name === 'fashion-mnist') return FASHION_MNIST_CLASS_NAMES;
  if (name === 'cifar10') return CIFAR10_CLASS_NAMES;
  if (name === 'mnist' || name === 'digits') return Array.from({ length: 10 }, (_, i) => String(i));
  return undefined;
}

/** `base`, or `base-2`, `base-3`... whichever does not exist yet (the default --out never clobbers a run). */
function freshDirectory(base: string): string {
  if (!existsSync(base)) return base;
  for (let i = 2; ; i++) if (!existsSync(`${base}-${i}`)) return `${base}-${i}`;
}

export interface TrainCommandContext {
  openDevice: () => Promise<Device>;
  out: Output;
  /** Installs a Ctrl-C handler; returns its remover. */
  onInterrupt?: (handler: () => void) => () => void;
}

/** Runs `sll train` with argv after the subcommand; resolves to the exit code. */
export async function trainCommand(argv: readonly string[], ctx: TrainCommandContext): Promise<number> {
  const args = parseArgs(argv, TRAIN_COMMAND);
  if (args.help) {
    ctx.out.write(formatHelp(TRAIN_COMMAND) + '\n');
    return 0;
  }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument '${args.positionals[0]}'`, 'train');
  const v = args.values;
  const resumeDir = v.resume as string | undefined;
  let datasetName: string;
  let normalize: boolean | undefined;
  let base: Partial<TrainingSpec> = {};
  if (resumeDir !== undefined) {
    const given = Object.keys(v).filter((k) => v[k] !== undefined && k !== 'resume' && k !== 'data-dir');
    if (given.length > 0) throw new UsageError(`--resume continues a run with its own config; drop ${given.map((k) => `--${k}`).join(', ')}`, 'train');
    const config = new RunDirectory(resumeDir).readJson('config') as { spec?: TrainingSpec };
    if (!config.spec?.dataset?.name) throw new UsageError(`${resumeDir}/config.json: no training spec in it`, 'train');
    datasetName = config.spec.dataset.name;
    normalize = config.spec.dataset.normalize;
  } else {
    if (v.config !== undefined) base = readConfigFile(v.config as string);
    datasetName = (v.dataset as string | undefined) ?? base.dataset?.name ?? 'digits';
    normalize = (v.normalize as boolean | undefined) ?? base.dataset?.normalize;
  }
  datasetInfo(datasetName); // an unknown name fails here, listing the known ones
  const dataDir = v['data-dir'] as string | undefined;
  ctx.out.write(`loading ${datasetName}...\n`);
  const dataset = loadDatasetByName(datasetName, { ...(dataDir !== undefined ? { dir: dataDir } : {}), ...(normalize !== undefined ? { normalize } : {}) });
  // When resuming, runTraining takes the spec from the checkpoint; this one is only checked.
  const spec = specFromFlags(v, { name: datasetName, classes: dataset.classes, trainCount: dataset.train.count }, base);
  const outDir = resumeDir ?? (v.out as string | undefined) ?? freshDirectory(join('runs', `${datasetName}-${spec.model.kind}-${spec.method}-seed${spec.seed}`));
  const classNames = classNamesOf(datasetName, dataset);

  const device = await ctx.openDevice();
  const view = new ProgressView(ctx.out);
  const stop = new AbortController();
  let interrupts = 0;
  const removeHandler = ctx.onInterrupt?.(() => {
    interrupts++;
    if (interrupts === 1) {
      view.line('stopping after this step and saving a checkpoint (Ctrl-C again to quit now)...');
      stop.abort();
    } else {
      process.exit(130);
    }
  });
  try {
    const started = Date.now();
    const result = await runTraining(device, {
      spec,
      dataset,
      outDir,
      resume: resumeDir !== undefined,
      signal: stop.signal,
      ...(classNames ? { classNames } : {}),
      events: {
        onStart: (info) => {
          view.line(`adapter: ${info.adapter}`);
          view.line(`${info.title}; ${dataset.name}: ${info.train} train / ${info.validation} validation / ${dataset.test.count} test images of ${dataset.shape.join('x')}`);
          view.line(`run directory: ${outDir}${info.resumed ? ` (resumed at epoch ${info.start.epoch + 1}, batch ${info.start.batch})` : ''}`);
        },
        onProgress: (p) => view.progress(p),
        onEpoch: (record) => view.epoch(record),
        onTest: (test) => {
          const heads = test.blockAccuracy.map((a, i) => `block ${i + 1} ${(100 * a).toFixed(2)}%`).join(', ');
          view.line(`test accuracy ${(100 * test.accuracy).toFixed(2)}% on ${test.count} images${heads ? ` (local heads: ${heads})` : ''}`);
        },
      },
    });
    view.line(`${result.message} after ${formatDuration((Date.now() - started) / 1000)}`);
    view.line(`report: ${result.dir.path('report')}`);
    view.line(`checkpoint: ${result.dir.path('checkpoint')}`);
    return result.status === 'finished' ? 0 : result.status === 'stopped' ? 130 : 3;
  } finally {
    removeHandler?.();
    device.destroy();
  }
}
