/**
 * `sll train`: flags (or a JSON config file, flags winning) become a TrainingSpec, the dataset is
 * found by name, and runTraining does the work while the terminal shows progress. Ctrl-C stops
 * at the next step and saves a checkpoint; a second Ctrl-C quits at once.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { classNamesOf, DATASETS, datasetInfo, loadDatasetByName } from '../data/registry.js';
import type { Device } from '../gpu/device.js';
import { RunDirectory, RunLockedError } from '../run/directory.js';
import { DIVERGENCE_FACTOR_DEFAULT } from '../run/divergence.js';
import { runTraining } from '../run/runTraining.js';
import { defaultTextOf, nodeAt, SpecError, type Node } from '../sll/schema.js';
import { decodeCheckpoint } from '../sll/checkpoint.js';
import { buildModel, MODEL_KINDS, resolveTrainingSpec, TRAINING_SPEC_SCHEMA, type ModelKind, type SpecContext, type TrainingSpec } from '../sll/spec.js';
import { formatHelp, parseArgs, UsageError, type CommandSpec, type OptionSpec, type OptionValue } from './args.js';
import { requireKnownDataset } from './datasetName.js';
import { formatDuration, ProgressView, type Output } from './progress.js';

/**
 * A flag that sets a spec field: its path in TRAINING_SPEC_SCHEMA, and for a field of one
 * variant (an MLP width, an SGD momentum), the variant it applies to. Its default in --help is
 * read from the schema, so that the help cannot drift from what trains.
 */
interface SpecFlag extends OptionSpec {
  path: string;
  when?: { path: string; values: readonly string[] };
}

const forModel = (kind: ModelKind) => ({ path: 'model.kind', values: [kind] });
const SGD = { path: 'optimizer.kind', values: ['sgd'] };
const ADAM = { path: 'optimizer.kind', values: ['adam', 'adamw'] };
/** The local objective's flags: backprop has none. */
const SLL = { path: 'method', values: ['sll'] };

function specFlag(flag: Omit<SpecFlag, 'defaultText'> & { defaultText?: string }): SpecFlag {
  const node = nodeAt(TRAINING_SPEC_SCHEMA, flag.path, flag.when?.values[0]);
  if (!node) throw new Error(`sll train --${flag.name}: no field ${flag.path} in the training spec`);
  const defaultText = flag.defaultText ?? defaultTextOf(node as Node<never>);
  return { ...flag, ...(defaultText !== undefined ? { defaultText } : {}) };
}

const SPEC_FLAGS: readonly SpecFlag[] = [
  specFlag({ name: 'model', path: 'model.kind', type: 'string', choices: MODEL_KINDS, help: 'architecture', group: 'model' }),
  specFlag({ name: 'hidden', path: 'model.hidden', when: forModel('mlp'), type: 'integers', help: 'MLP hidden widths, one block each', group: 'model' }),
  specFlag({ name: 'channels', path: 'model.channels', when: forModel('cnn'), type: 'integers', help: 'CNN channels per stage', group: 'model' }),
  specFlag({ name: 'convs-per-stage', path: 'model.convsPerStage', when: forModel('cnn'), type: 'integer', help: 'CNN convolutions per stage (2: the VGG-style variant)', group: 'model' }),
  specFlag({ name: 'fc', path: 'model.hidden', when: forModel('cnn'), type: 'integer', help: 'CNN fully connected width', group: 'model' }),
  specFlag({ name: 'stage-features', path: 'model.stageFeatures', when: forModel('cnn'), type: 'string', choices: ['flatten', 'gap'], help: "phi of the CNN's conv stages", group: 'model' }),
  specFlag({ name: 'patch', path: 'model.patch', when: forModel('vit'), type: 'integer', help: 'ViT patch size', group: 'model' }),
  specFlag({ name: 'dim', path: 'model.dim', when: forModel('vit'), type: 'integer', help: 'ViT token width', group: 'model' }),
  specFlag({ name: 'depth', path: 'model.depth', when: forModel('vit'), type: 'integer', help: 'ViT transformer blocks', group: 'model' }),
  specFlag({ name: 'heads', path: 'model.heads', when: forModel('vit'), type: 'integer', help: 'ViT attention heads', group: 'model' }),
  specFlag({ name: 'mlp-ratio', path: 'model.mlpRatio', when: forModel('vit'), type: 'number', help: 'ViT MLP width / dim', group: 'model' }),
  specFlag({ name: 'pooling', path: 'model.pooling', when: forModel('vit'), type: 'string', choices: ['mean-token', 'cls-token'], help: 'ViT token pooling', group: 'model' }),

  specFlag({ name: 'method', path: 'method', type: 'string', choices: ['sll', 'backprop'], help: 'training method', group: 'training' }),
  specFlag({ name: 'epochs', alsoKnownAs: ['epoch', 'n-epochs', 'num-epochs'], path: 'epochs', type: 'integer', help: 'epochs', group: 'training' }),
  specFlag({ name: 'batch', alsoKnownAs: ['batch-size', 'batchsize', 'bs'], path: 'batchSize', type: 'integer', help: 'batch size', group: 'training' }),
  specFlag({ name: 'optimizer', path: 'optimizer.kind', type: 'string', choices: ['adam', 'adamw', 'sgd'], help: 'optimizer', group: 'training' }),
  specFlag({ name: 'lr', alsoKnownAs: ['learning-rate', 'learningrate', 'rate'], path: 'optimizer.lr', type: 'number', help: 'learning rate', group: 'training' }),
  specFlag({ name: 'momentum', path: 'optimizer.momentum', when: SGD, type: 'number', help: 'SGD momentum', group: 'training' }),
  specFlag({ name: 'nesterov', path: 'optimizer.nesterov', when: SGD, type: 'boolean', help: 'SGD: Nesterov momentum', group: 'training' }),
  specFlag({ name: 'beta1', path: 'optimizer.beta1', when: ADAM, type: 'number', help: "Adam's first-moment decay", group: 'training' }),
  specFlag({ name: 'beta2', path: 'optimizer.beta2', when: ADAM, type: 'number', help: "Adam's second-moment decay", group: 'training' }),
  specFlag({ name: 'eps', path: 'optimizer.eps', when: ADAM, type: 'number', help: "Adam's denominator term", group: 'training' }),
  specFlag({ name: 'weight-decay', alsoKnownAs: ['wd'], path: 'optimizer.weightDecay', type: 'number', help: 'weight decay (AdamW: decoupled)', defaultText: '0 (AdamW 1e-2)', group: 'training' }),
  specFlag({ name: 'schedule', path: 'schedule.kind', type: 'string', choices: ['constant', 'cosine'], help: 'learning-rate schedule', group: 'training' }),
  specFlag({ name: 'warmup', path: 'schedule.warmupEpochs', when: { path: 'schedule.kind', values: ['cosine'] }, type: 'number', help: 'cosine: linear warm-up, in epochs', group: 'training' }),
  specFlag({ name: 'seed', path: 'seed', type: 'integer', help: 'seed of weights, projections, dropout and data order', group: 'training' }),
  specFlag({ name: 'metrics-every', alsoKnownAs: ['log-every', 'log-interval'], path: 'metricsEvery', type: 'integer', help: 'steps between loss reads and metrics lines', group: 'training' }),

  specFlag({ name: 'mode', when: SLL, path: 'objective.mode', type: 'string', choices: ['class', 'latent'], help: 'likelihood mode of every block', group: 'SLL' }),
  specFlag({ name: 'd0', when: SLL, path: 'objective.d0', type: 'integer', help: 'projection width (class mode: the class count)', group: 'SLL' }),
  specFlag({ name: 'tau', when: SLL, path: 'objective.tau', type: 'number', help: 'temperature of pi = softmax(v / tau)', group: 'SLL' }),
  specFlag({ name: 'dropout', when: SLL, path: 'objective.dropout', type: 'number', help: "multiplicative dropout on the projection's input", group: 'SLL' }),
  specFlag({ name: 'alignment', when: SLL, path: 'objective.alignment', type: 'boolean', help: 'Bhattacharyya alignment to the previous block', group: 'SLL' }),
  specFlag({ name: 'input-alignment', when: SLL, path: 'objective.inputAlignment', type: 'boolean', help: 'block 1 (and a block after a change of d0) aligns to a fixed projection of its input (R_0); off: no alignment term there', group: 'SLL' }),
  specFlag({ name: 'projection', when: SLL, path: 'objective.projection', type: 'string', choices: ['gaussian', 'rademacher', 'orthogonal'], help: 'entries of the fixed projections', group: 'SLL' }),
  specFlag({ name: 'scaling', when: SLL, path: 'objective.scaling', type: 'string', choices: ['fan-in', 'jl'], help: 'projection scale: 1/d_i (fan-in) or 1/d0 (jl)', group: 'SLL' }),
  specFlag({ name: 'likelihood-weight', when: SLL, path: 'objective.likelihoodWeight', type: 'number', help: 'weight of the likelihood term', group: 'SLL' }),
  specFlag({ name: 'alignment-weight', when: SLL, path: 'objective.alignmentWeight', type: 'number', help: 'weight of the alignment term', group: 'SLL' }),

  specFlag({ name: 'dataset', path: 'dataset.name', type: 'string', help: 'fashion-mnist, mnist, cifar10, cifar100 or digits (see sll data)', value: 'NAME', group: 'data' }),
  specFlag({ name: 'validation', alsoKnownAs: ['val', 'validation-size'], path: 'dataset.validation', type: 'integer', help: 'training examples held out (from the end) for validation', group: 'data' }),
  specFlag({ name: 'augment', path: 'dataset.augment', type: 'boolean', help: 'random crop (pad 4) and horizontal flip', group: 'data' }),
  specFlag({ name: 'normalize', path: 'dataset.normalize', type: 'boolean', help: 'standardize pixels with the training mean and std (off: keep [0, 1])', group: 'data' }),
  specFlag({ name: 'train-count', path: 'dataset.trainCount', type: 'integer', help: 'train on the first N training examples only (quick experiments)', defaultText: 'all', group: 'data' }),
];

export const TRAIN_COMMAND: CommandSpec = {
  name: 'train',
  summary: 'Train a model with SLL (layer-local objectives) or backprop, writing a run directory.',
  usage: 'sll train [--model mlp|cnn|vit] [--method sll|backprop] [--dataset NAME] [options]',
  options: [
    ...SPEC_FLAGS,
    { name: 'data-dir', alsoKnownAs: ['data', 'datadir', 'data-path'], type: 'string', help: 'directory holding the dataset files (default: searched, see sll data)', value: 'DIR', group: 'data' },
    { name: 'config', alsoKnownAs: ['cfg', 'config-file'], type: 'string', help: 'JSON file with a training spec (a run\'s config.json works); flags override it', value: 'FILE', group: 'run' },
    { name: 'out', alsoKnownAs: ['output', 'out-dir', 'output-dir', 'dir'], type: 'string', help: 'run directory to create', defaultText: 'runs/<dataset>-<model>-<method>-seed<seed>', value: 'DIR', group: 'run' },
    { name: 'resume', type: 'string', help: 'continue the run in DIR from its last checkpoint (its config is used)', value: 'DIR', group: 'run' },
    { name: 'print-spec', type: 'boolean', help: 'print the complete training spec the flags and config resolve to (JSON) and exit', group: 'run' },
    { name: 'divergence-factor', type: 'number', help: "stop (exit 3) when a unit's logged loss exceeds this multiple of the lesser of ln K and its first logged value; 0: never", defaultText: String(DIVERGENCE_FACTOR_DEFAULT), value: 'X', group: 'run' },
  ],
  epilog: [
    'Examples:',
    '  sll train                                         SLL MLP on the bundled digits',
    '  sll train --dataset fashion-mnist --epochs 10     the 3x1000 MLP on Fashion-MNIST',
    '  sll train --model cnn --method backprop --dataset fashion-mnist --epochs 5',
    '  sll train --resume runs/fashion-mnist-mlp-sll-seed0',
    '',
    'A run directory holds config.json, metrics.jsonl, checkpoint.safetensors and report.html.',
    'Ctrl-C saves a checkpoint at the current step; --resume continues bitwise where it stopped.',
  ].join('\n'),
};

type Values = Record<string, OptionValue | undefined>;
type Json = Record<string, unknown>;

/** Reads a JSON config file: a training spec (partial is fine), or a run's config.json ({ spec, ... }). */
function readConfigFile(path: string): Json {
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
  const record = json as Json;
  return (typeof record.spec === 'object' && record.spec !== null ? record.spec : record) as Json;
}

function getPath(root: Json, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (typeof node === 'object' && node !== null ? (node as Json)[key] : undefined), root);
}

function setPath(root: Json, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = root;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null || Array.isArray(node[key])) node[key] = {};
    node = node[key] as Json;
  }
  node[keys.at(-1)!] = value;
}

/**
 * The spec that flags and an optional config file describe, complete and checked before any
 * data is read: flags win over the file, the file over the defaults. A flag that chooses another
 * variant than the file (--model cnn over a file's MLP) replaces the file's section; a flag of
 * another variant than the one chosen (--hidden with --model cnn) is an error, as is any field
 * the schema does not know.
 */
export function specFromFlags(v: Values, context: SpecContext, base: Json = {}, configPath = 'the config file'): TrainingSpec {
  const partial = structuredClone(base);
  // A flag that chooses another variant than the file's (given, or its default) drops the file's
  // fields that the new variant does not share: an optimizer keeps its lr and weight decay, a
  // model keeps nothing (its fields mean other things), a new likelihood mode drops d0 and tau.
  const fileModelKind = String(getPath(base, 'model.kind') ?? 'mlp');
  for (const flag of SPEC_FLAGS) {
    if (v[flag.name] === undefined || !/\.(kind|mode)$/.test(flag.path)) continue;
    const sectionPath = flag.path.slice(0, flag.path.lastIndexOf('.'));
    const section = getPath(partial, sectionPath) as Json | undefined;
    if (typeof section !== 'object' || section === null) continue;
    const fileDefault = flag.path === 'objective.mode' ? (fileModelKind === 'cnn' ? 'latent' : 'class') : defaultTextOf(nodeAt(TRAINING_SPEC_SCHEMA, flag.path) as Node<never>);
    if (String(section[flag.path.slice(sectionPath.length + 1)] ?? fileDefault) === v[flag.name]) continue;
    if (flag.path === 'objective.mode') {
      delete section.d0;
      delete section.tau;
    } else if (flag.path === 'model.kind') {
      setPath(partial, sectionPath, {});
    } else {
      const shared = Object.keys(section).filter((key) => nodeAt(TRAINING_SPEC_SCHEMA, `${sectionPath}.${key}`, String(v[flag.name])) !== undefined);
      setPath(partial, sectionPath, Object.fromEntries(shared.map((key) => [key, section[key]])));
    }
  }
  for (const flag of SPEC_FLAGS) {
    if (v[flag.name] !== undefined && !flag.when) setPath(partial, flag.path, v[flag.name]);
  }
  // Then the flags of one variant, each checked against the variant chosen.
  for (const flag of SPEC_FLAGS) {
    if (v[flag.name] === undefined || !flag.when) continue;
    const chosen = String(getPath(partial, flag.when.path) ?? defaultTextOf(nodeAt(TRAINING_SPEC_SCHEMA, flag.when.path) as Node<never>));
    if (!flag.when.values.includes(chosen)) {
      const chooser = SPEC_FLAGS.find((f) => f.path === flag.when!.path)!;
      throw new UsageError(`--${flag.name} applies to --${chooser.name} ${flag.when.values.join(' or ')}, and the ${chooser.name} here is ${chosen}`, 'train');
    }
    setPath(partial, flag.path, v[flag.name]);
  }
  let spec: TrainingSpec;
  try {
    spec = resolveTrainingSpec(partial, context);
  } catch (error) {
    if (!(error instanceof SpecError)) throw error;
    const flag = SPEC_FLAGS.find((f) => v[f.name] !== undefined && (error.path === f.path || error.path.startsWith(`${f.path}.`)));
    if (flag) throw new UsageError(`--${flag.name} ${error.why}`, 'train');
    // A rule between fields (a ViT's dim and heads): name the flag the message mentions, if one was given.
    const mentioned = SPEC_FLAGS.find((f) => v[f.name] !== undefined && error.why.includes(f.path));
    if (mentioned) throw new UsageError(`--${mentioned.name}: ${error.path} ${error.why}`, 'train');
    if (Object.keys(base).length > 0) throw new UsageError(`--config ${configPath}: ${error.path} ${error.why}`, 'train');
    throw new UsageError(`${error.path} ${error.why}`, 'train');
  }
  return spec;
}

/** `base`, or `base-2`, `base-3`... whichever does not exist yet (the default --out never clobbers a run). */
function freshDirectory(base: string): string {
  if (!existsSync(base)) return base;
  for (let i = 2; ; i++) if (!existsSync(`${base}-${i}`)) return `${base}-${i}`;
}

export interface TrainCommandContext {
  openDevice: () => Promise<Device>;
  out: Output;
  /** Installs a handler for SIGINT and SIGTERM (it is told which); returns its remover. */
  onInterrupt?: (handler: (signal: 'SIGINT' | 'SIGTERM') => void) => () => void;
}

/** The exit code of a run stopped by a signal: 128 + the signal's number, as shells report it. */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * The dataset a --data-dir given without --dataset holds, when its files say so unambiguously:
 * the digits' 0.json .. 9.json. IDX files are Fashion-MNIST or MNIST, and only the user knows which.
 */
function datasetInDirectory(dir: string): string | undefined {
  return readdirSync(dir).includes('0.json') ? 'digits' : undefined;
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
  const dataDir = v['data-dir'] as string | undefined;
  const divergenceFactor = v['divergence-factor'] as number | undefined;
  if (divergenceFactor !== undefined && !(divergenceFactor === 0 || divergenceFactor > 1)) {
    throw new UsageError(`--divergence-factor must be 0 (no guard) or greater than 1, got ${divergenceFactor}`, 'train');
  }

  // Everything the flags and the config file say is checked here, before any data is read.
  let spec: TrainingSpec;
  if (resumeDir !== undefined) {
    const given = Object.keys(v).filter((k) => v[k] !== undefined && !['resume', 'data-dir', 'divergence-factor', 'print-spec'].includes(k));
    if (given.length > 0) throw new UsageError(`--resume continues a run with its own config; drop ${given.map((k) => `--${k}`).join(', ')}`, 'train');
    const dir = new RunDirectory(resumeDir);
    if (!dir.has('config')) throw new UsageError(`--resume ${resumeDir}: no run there (${dir.path('config')} does not exist)`, 'train');
    const config = dir.readJson('config') as { spec?: { dataset?: { name?: unknown } }; data?: { classes?: unknown } };
    const classes = config.data?.classes;
    if (typeof config.spec !== 'object' || config.spec === null || !Number.isSafeInteger(classes)) throw new UsageError(`${dir.path('config')}: no training spec and data in it`, 'train');
    const name = config.spec.dataset?.name;
    const trainCount = typeof name === 'string' && Object.hasOwn(DATASETS, name) ? datasetInfo(name).trainCount : undefined;
    try {
      spec = resolveTrainingSpec(config.spec, { classes: classes as number, ...(trainCount !== undefined ? { trainCount } : {}) }, dir.path('config'));
    } catch (error) {
      if (error instanceof SpecError) throw new UsageError(error.message, 'train');
      throw error;
    }
    if (!dir.has('checkpoint')) throw new UsageError(`--resume ${resumeDir}: no checkpoint to continue from yet (a run writes one after its first epoch, or when stopped)`, 'train');
    // The checkpoint's container and metadata are checked before the data is read (its digests when it loads).
    decodeCheckpoint(dir.readCheckpoint(), dir.path('checkpoint'));
  } else {
    const base = v.config !== undefined ? readConfigFile(v.config as string) : {};
    const baseName = (base.dataset as Json | undefined)?.name;
    let name = (v.dataset as string | undefined) ?? (typeof baseName === 'string' ? baseName : undefined);
    if (name === undefined && dataDir !== undefined) {
      if (!statSync(dataDir, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`--data-dir ${dataDir}: not a directory`, 'train');
      name = datasetInDirectory(dataDir);
      if (name === undefined) throw new UsageError(`--data-dir ${dataDir} without --dataset: name the dataset its files hold (IDX files: --dataset fashion-mnist or --dataset mnist; CIFAR: --dataset cifar10 or cifar100)`, 'train');
    }
    name ??= 'digits';
    requireKnownDataset(name, v.dataset !== undefined ? '--dataset' : `--config ${String(v.config)}: dataset.name`, 'train');
    const info = datasetInfo(name);
    spec = specFromFlags(v, { classes: info.classes, trainCount: info.trainCount, datasetName: name }, base, v.config as string | undefined);
    const flagOf = (field: string, flag: string) => (v[flag] !== undefined ? `--${flag}` : v.config !== undefined ? `--config ${String(v.config)}: ${field}` : `the default ${field}`);
    if (spec.dataset.validation >= info.trainCount) {
      throw new UsageError(`${flagOf('dataset.validation', 'validation')} ${spec.dataset.validation} leaves nothing to train on (${name} has ${info.trainCount} training examples)`, 'train');
    }
    const trainable = Math.min(spec.dataset.trainCount ?? Infinity, info.trainCount - spec.dataset.validation);
    if (spec.batchSize > trainable) {
      throw new UsageError(`${flagOf('batchSize', 'batch')} ${spec.batchSize} is larger than the ${trainable} examples to train on`, 'train');
    }
  }
  // A directory named in the config file (dataset.dir) is where the data is read from, unless --data-dir says otherwise.
  const dataFrom = dataDir ?? spec.dataset.dir;
  if (dataFrom !== undefined && !statSync(dataFrom, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`${dataDir !== undefined ? '--data-dir' : 'dataset.dir'} ${dataFrom}: not a directory`, 'train');
  }
  if (v['print-spec']) {
    ctx.out.write(JSON.stringify(spec, null, 2) + '\n');
    return 0;
  }
  const datasetName = spec.dataset.name;
  const outDir = resumeDir ?? (v.out as string | undefined) ?? freshDirectory(join('runs', `${datasetName}-${spec.model.kind}-${spec.method}-seed${spec.seed}`));
  const directory = new RunDirectory(outDir);
  const view = new ProgressView(ctx.out);
  // Held from before the data is read to the end: a second run on this directory stops here.
  let release: () => void;
  try {
    release = directory.lock((text) => view.line(text));
  } catch (error) {
    if (error instanceof RunLockedError) throw error;
    throw new UsageError(`${resumeDir !== undefined ? '--resume' : v.out !== undefined ? '--out' : 'the run directory'} ${outDir}: ${(error as Error).message.replace(`${outDir}: `, '')}`, 'train');
  }
  if (resumeDir === undefined && (directory.has('checkpoint') || directory.has('metrics'))) {
    release();
    throw new UsageError(`--out ${outDir} already holds a run: continue it with --resume ${outDir}, or choose another --out directory`, 'train');
  }
  let device: Device | undefined;
  let removeHandler: (() => void) | undefined;
  try {
    device = await ctx.openDevice();
    // The model is built once on the published image shape before the data is read, so that a
    // model that does not fit (a patch that does not divide the image, too many pooling stages)
    // is a usage error, not a failure after the load; data from elsewhere is checked once loaded.
    const published = datasetInfo(datasetName);
    if (dataFrom === undefined) checkModelFits(device, spec, [...published.shape] as [number, number, number], published.classes, resumeDir !== undefined);
    ctx.out.write(`loading ${datasetName}...\n`);
    const dataset = loadDatasetByName(datasetName, { ...(dataFrom !== undefined ? { dir: dataFrom } : {}), normalize: spec.dataset.normalize });
    if (dataFrom !== undefined) checkModelFits(device, spec, dataset.shape, dataset.classes, resumeDir !== undefined);
    const classNames = classNamesOf(datasetName, dataset);
    const stop = new AbortController();
    let stoppedBy: 'SIGINT' | 'SIGTERM' | undefined;
    removeHandler = ctx.onInterrupt?.((signal) => {
      if (stoppedBy === undefined) {
        stoppedBy = signal;
        view.line(`${signal}: stopping after this step and saving a checkpoint (${signal === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again to quit now; an evaluation under way finishes first)...`);
        stop.abort();
      } else {
        process.exit(SIGNAL_EXIT[signal]);
      }
    });
    const started = Date.now();
    const result = await runTraining(device, {
      spec,
      dataset,
      directory,
      resume: resumeDir !== undefined,
      signal: stop.signal,
      ...(divergenceFactor !== undefined ? { divergenceFactor } : {}),
      ...(classNames ? { classNames } : {}),
      events: {
        onStart: (info) => {
          view.line(`adapter: ${info.adapter}`);
          view.line(`${info.title}; ${dataset.name}: ${info.train} train / ${info.validation} validation / ${dataset.test.count} test images of ${dataset.shape.join('x')}`);
          view.line(`run directory: ${outDir}${info.resumed ? ` (resumed at epoch ${info.start.epoch + 1}, batch ${info.start.batch})` : ''}`);
        },
        onStep: (p) => view.step(p),
        onProgress: (p) => view.progress(p),
        onEpoch: (record) => view.epoch(record),
        onNotice: (text) => view.line(text),
        onTest: (test) => {
          const heads = test.blockAccuracy.map((a, i) => `block ${i + 1} ${(100 * a).toFixed(2)}%`).join(', ');
          view.line(`test accuracy ${(100 * test.accuracy).toFixed(2)}% on ${test.count} images${heads ? ` (local heads: ${heads})` : ''}`);
        },
      },
    });
    view.line(`${result.message} after ${formatDuration((Date.now() - started) / 1000)}`);
    view.line(`report: ${result.dir.path('report')}`);
    if (result.dir.has('checkpoint')) view.line(`checkpoint: ${result.dir.path('checkpoint')}`);
    if (result.status === 'finished') return 0;
    if (result.status === 'stopped') return SIGNAL_EXIT[stoppedBy ?? 'SIGINT'];
    return 3;
  } finally {
    removeHandler?.();
    device?.destroy();
    release();
  }
}

/** Builds the spec's model on `inputShape` and throws it away; a model that cannot be built is a usage error naming the model flags. */
function checkModelFits(device: Device, spec: TrainingSpec, inputShape: [number, number, number], classes: number, resumed: boolean): void {
  try {
    buildModel(device, spec.model, { inputShape, classes }, spec.seed).dispose();
  } catch (error) {
    const where = resumed ? 'the run\'s config.json' : `--model ${spec.model.kind} and its flags`;
    throw new UsageError(`${where} do not fit ${inputShape.join('x')} images: ${(error as Error).message}`, 'train');
  }
}

