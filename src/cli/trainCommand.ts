/**
 * `sll train`: flags (or a JSON config file, flags winning) become a TrainingSpec, the dataset is
 * found by name, and runTraining does the work while the terminal shows progress. Ctrl-C,
 * SIGTERM and SIGHUP stop at the next step and save a checkpoint; a second signal quits at once.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { classNamesOf, DATASETS, datasetInfo, loadDatasetByName } from '../data/registry.js';
import type { Device } from '../gpu/device.js';
import { newRunRefusal, resumeRefusal, RunDirectory, RunLockedError, type DirectoryState } from '../run/directory.js';
import { DIVERGENCE_FACTOR_DEFAULT } from '../run/divergence.js';
import { runTraining } from '../run/runTraining.js';
import { defaultTextOf, MAX_SETTINGS_DEPTH, nestingDepth, nodeAt, SpecError, type Node } from '../settings/schema.js';
import { decodeCheckpoint } from '../sll/checkpoint.js';
import { defaultActivation, isMethod } from '../sll/rules.js';
import { MODEL_KINDS, resolveTrainingSpec, TRAINING_SPEC_SCHEMA, type ModelKind, type SpecContext, type TrainingSpec } from '../sll/spec.js';
import { formatHelp, parseArgs, UsageError, type CommandSpec, type OptionSpec, type OptionValue } from './args.js';
import { requireKnownDataset } from './datasetName.js';
import { preflight } from './preflight.js';
import { METHODS } from '../sll/trainingSettings.js';
import { BLOCK_ACTIVATIONS } from '../sll/model.js';
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

export const SPEC_FLAGS: readonly SpecFlag[] = [
  specFlag({ name: 'model', path: 'model.kind', type: 'string', choices: MODEL_KINDS, help: 'architecture', group: 'model' }),
  specFlag({ name: 'hidden', path: 'model.hidden', when: forModel('mlp'), type: 'integers', help: 'MLP hidden widths, one block each', group: 'model' }),
  specFlag({ name: 'activation', path: 'model.activation', when: { path: 'model.kind', values: ['mlp', 'cnn'] }, type: 'string', choices: BLOCK_ACTIVATIONS, help: "MLP and CNN blocks' activation (tanh: DRTP's authors' choice; leaky-relu, slope 0.01: PredSim's); a --method other than a --config file's takes its own default where the file has the file method's, unless this flag is given", group: 'model' }),
  specFlag({ name: 'batch-norm', path: 'model.batchNorm', when: forModel('mlp'), type: 'boolean', help: "MLP blocks: batch norm between the linear layer and the activation (PredSim's authors' blocks)", group: 'model' }),
  specFlag({ name: 'block-dropout', path: 'model.dropout', when: forModel('mlp'), type: 'number', help: "MLP blocks: dropout p on what each block passes on, to the next block and the classifier; the local losses read the block's output before it (PredSim's authors' blocks)", value: 'P', group: 'model' }),
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

  specFlag({ name: 'method', path: 'method', type: 'string', choices: METHODS, help: 'training method: SLL; DGL (a learned auxiliary net per block); PredSim (a learned head and similarity matching per block); DRTP (the target through a fixed random matrix per block), MLP and CNN; Forward-Forward (goodness with the right label high, a wrong one low), MLP only; DFA (the output error through a fixed random matrix per block; a labelled extra whose memory grows with depth), MLP only; or backprop', group: 'training' }),
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
  specFlag({ name: 'schedule', path: 'schedule.kind', type: 'string', choices: ['constant', 'cosine', 'step'], help: 'learning-rate schedule', group: 'training' }),
  specFlag({ name: 'warmup', path: 'schedule.warmupEpochs', when: { path: 'schedule.kind', values: ['cosine'] }, type: 'number', help: 'cosine: linear warm-up, in epochs', group: 'training' }),
  specFlag({ name: 'milestones', path: 'schedule.milestones', when: { path: 'schedule.kind', values: ['step'] }, type: 'integers', help: 'step: the epochs from which the rate is multiplied by gamma once more', defaultText: 'none', group: 'training' }),
  specFlag({ name: 'gamma', path: 'schedule.gamma', when: { path: 'schedule.kind', values: ['step'] }, type: 'number', help: 'step: the factor at each milestone', group: 'training' }),
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

  specFlag({ name: 'beta', when: { path: 'method', values: ['predsim'] }, path: 'predsim.beta', type: 'number', help: 'weight of the similarity-matching term (0: the prediction loss alone)', group: 'PredSim' }),

  specFlag({ name: 'dataset', path: 'dataset.name', type: 'string', help: 'fashion-mnist, mnist, cifar10, cifar100 or digits (see sll data)', value: 'NAME', group: 'data' }),
  specFlag({ name: 'validation', alsoKnownAs: ['val', 'validation-size'], path: 'dataset.validation', type: 'integer', help: 'training examples held out (from the end) for validation', group: 'data' }),
  specFlag({ name: 'augment', path: 'dataset.augment', type: 'boolean', help: 'random crop and horizontal flip', group: 'data' }),
  specFlag({ name: 'augment-pad', path: 'dataset.augmentPad', type: 'integer', help: 'padding of the random crop on each side', value: 'N', group: 'data' }),
  specFlag({ name: 'normalize', path: 'dataset.normalize', type: 'boolean', help: 'standardize pixels with the training mean and std (off: keep [0, 1])', group: 'data' }),
  specFlag({ name: 'train-count', path: 'dataset.trainCount', type: 'integer', help: 'train on the first N training examples only (quick experiments)', defaultText: 'all', group: 'data' }),
];

export const TRAIN_COMMAND: CommandSpec = {
  name: 'train',
  summary: 'Train a model with SLL (layer-local objectives), another local rule (DGL, DRTP, PredSim, Forward-Forward), DFA or backprop, writing a run directory.',
  usage: 'sll train [--model mlp|cnn|vit] [--method sll|dgl|drtp|predsim|ff|dfa|backprop] [--dataset NAME] [options]',
  options: [
    ...SPEC_FLAGS,
    { name: 'data-dir', alsoKnownAs: ['data', 'datadir', 'data-path'], type: 'string', help: 'directory holding the dataset files (default: searched, see sll data)', value: 'DIR', group: 'data' },
    { name: 'config', alsoKnownAs: ['cfg', 'config-file'], type: 'string', help: 'JSON file with a training spec (a run\'s config.json works); flags override it', value: 'FILE', group: 'run' },
    { name: 'out', alsoKnownAs: ['output', 'out-dir', 'output-dir', 'dir'], type: 'string', help: 'run directory to create (new or empty)', defaultText: 'runs/<dataset>-<model>-<method>-seed<seed>', value: 'DIR', group: 'run' },
    { name: 'resume', type: 'string', help: 'continue the run in DIR from its last checkpoint with its own config (with --epochs: train it longer); a run killed before its first checkpoint starts again', value: 'DIR', group: 'run' },
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
    'Ctrl-C, SIGTERM or SIGHUP saves a checkpoint at the current step; --resume continues bitwise where',
    'it stopped, and --resume DIR --epochs N trains a run longer. --out must be new or empty.',
  ].join('\n'),
};

type Values = Record<string, OptionValue | undefined>;
type Json = Record<string, unknown>;

/** Reads a JSON object from a file the user named; every failure names the flag and the file. */
function readJsonFile(path: string, flag: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${flag} ${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 'train');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${flag} ${path}: not valid JSON (${(error as Error).message})`, 'train');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`${flag} ${path}: must hold a JSON object`, 'train');
  if (nestingDepth(json) > MAX_SETTINGS_DEPTH) throw new UsageError(`${flag} ${path}: nests objects or arrays more than ${MAX_SETTINGS_DEPTH} levels deep; a training spec is a few levels deep`, 'train');
  return json as Json;
}

/** Reads a JSON config file: a training spec (partial is fine), or a run's config.json ({ spec, ... }). */
function readConfigFile(path: string): Json {
  const record = readJsonFile(path, '--config');
  return (typeof record.spec === 'object' && record.spec !== null ? record.spec : record) as Json;
}

/** The dotted paths where two resolved specs differ (lists compared whole). */
function jsonDifferences(a: unknown, b: unknown, path = ''): string[] {
  const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((key) => jsonDifferences(a[key], b[key], path === '' ? key : `${path}.${key}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
}

/**
 * Removes from a config the fields whose defaults depend on its dataset (a run's config.json
 * holds them resolved), so that reusing it with another dataset recomputes them: the
 * validation size, the augmentation (on for CIFAR), the data directory, and a class-mode d0 (the
 * class count). Returns the fields removed.
 */
function forgetDatasetDefaults(base: Json): string[] {
  const removed: string[] = [];
  const dataset = base.dataset as Json | undefined;
  for (const key of ['validation', 'augment', 'dir']) {
    if (dataset && typeof dataset === 'object' && key in dataset) {
      delete dataset[key];
      removed.push(`dataset.${key}`);
    }
  }
  const objective = base.objective as Json | undefined;
  const mode = objective?.mode ?? (getPath(base, 'model.kind') === 'cnn' ? 'latent' : 'class');
  if (objective && typeof objective === 'object' && 'd0' in objective && mode === 'class') {
    delete objective.d0;
    removed.push('objective.d0 (class mode: the class count)');
  }
  return removed;
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
  // A --method other than the file's takes its own default activation (DRTP's tanh, PredSim's LeakyReLU) where the
  // file's blocks have the file method's default, as a file's resolved spec always spells it out.
  const fileMethod = getPath(base, 'method') ?? defaultTextOf(nodeAt(TRAINING_SPEC_SCHEMA, 'method') as Node<never>);
  const model = getPath(partial, 'model');
  if (v.method !== undefined && v.method !== fileMethod && v.activation === undefined && isMethod(fileMethod) && typeof model === 'object' && model !== null) {
    if ((model as Json).activation === defaultActivation(fileMethod)) delete (model as Json).activation;
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
    // A rule between fields (a ViT's dim and heads): name the flag whose field the message names, if one was given.
    const mentioned = SPEC_FLAGS.find((f) => v[f.name] !== undefined && f.path.includes('.') && error.why.includes(f.path));
    if (mentioned) throw new UsageError(`--${mentioned.name}: ${error.path} ${error.why}`, 'train');
    // A default that no longer fits the other settings (a warm-up of 1 epoch in a 1-epoch run): name its flag as the one to give.
    const defaulted = SPEC_FLAGS.find((f) => f.path === error.path && v[f.name] === undefined && getPath(base, error.path) === undefined);
    if (defaulted) throw new UsageError(`the default --${defaulted.name} ${error.why}`, 'train');
    if (Object.keys(base).length > 0) throw new UsageError(`--config ${configPath}: ${error.path} ${error.why}`, 'train');
    throw new UsageError(`${error.path} ${error.why}`, 'train');
  }
  return spec;
}

/** The directory's state, with a failure to read it (a name too long, no permission) as a usage error naming `flag`. */
function directoryState(directory: RunDirectory, flag: string): DirectoryState {
  try {
    return directory.state();
  } catch (error) {
    throw new UsageError(`${flag} ${(error as Error).message}`, 'train');
  }
}

/** `base`, or `base-2`, `base-3`... whichever does not exist yet (the default --out never clobbers a run). */
function freshDirectory(base: string): string {
  if (!existsSync(base)) return base;
  for (let i = 2; ; i++) if (!existsSync(`${base}-${i}`)) return `${base}-${i}`;
}

export interface TrainCommandContext {
  openDevice: () => Promise<Device>;
  out: Output;
  /** Installs a handler for the signals that stop a run (it is told which); returns its remover. */
  onInterrupt?: (handler: (signal: StopSignal) => void) => () => void;
}

/**
 * The signals that stop a run with a checkpoint: Ctrl-C (SIGINT), a job's end (SIGTERM, as
 * `kill`, systemd and container runtimes send) and a closed terminal or dropped ssh session
 * (SIGHUP). Each exits with 128 + the signal's number, as shells report it.
 */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];
const SIGNAL_EXIT: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

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
  let resumeEpochs: number | undefined;
  /** A new run's spec for the training split's actual size (see below); undefined when resuming. */
  let resolveFor: ((trainCount: number) => TrainingSpec) | undefined;
  if (resumeDir !== undefined) {
    const given = Object.keys(v).filter((k) => v[k] !== undefined && !['resume', 'data-dir', 'divergence-factor', 'print-spec', 'epochs'].includes(k));
    if (given.length > 0) throw new UsageError(`--resume continues a run with its own config (only --epochs may change, to train it longer); drop ${given.map((k) => `--${k}`).join(', ')}`, 'train');
    const dir = new RunDirectory(resumeDir);
    const state = directoryState(dir, '--resume');
    const refusal = resumeRefusal(resumeDir, state);
    if (refusal !== undefined) throw new UsageError(`--resume ${resumeDir}: ${refusal}`, 'train');
    const config = readJsonFile(dir.path('config'), '--resume') as { spec?: { dataset?: { name?: unknown } }; data?: { classes?: unknown } };
    const classes = config.data?.classes;
    if (typeof config.spec !== 'object' || config.spec === null || !Number.isSafeInteger(classes)) throw new UsageError(`${dir.path('config')}: no training spec and data in it`, 'train');
    const name = config.spec.dataset?.name;
    const trainCount = typeof name === 'string' && Object.hasOwn(DATASETS, name) ? datasetInfo(name).trainCount : undefined;
    const context = { classes: classes as number, ...(trainCount !== undefined ? { trainCount } : {}) };
    try {
      spec = resolveTrainingSpec(config.spec, context, dir.path('config'));
      if (v.epochs !== undefined) spec = resolveTrainingSpec({ ...spec, epochs: v.epochs }, context, '--epochs');
    } catch (error) {
      if (error instanceof SpecError) throw new UsageError(error.message, 'train');
      throw error;
    }
    if (state.kind === 'run') {
      // The checkpoint's container and metadata are checked before the data is read (its digests when it loads).
      const saved = decodeCheckpoint(dir.readCheckpoint(), dir.path('checkpoint')).meta;
      // config.json says what trains: an edit the checkpoint cannot follow is refused by field, not ignored.
      const edits = jsonDifferences(saved.spec, spec).filter((path) => path !== 'epochs');
      if (edits.length > 0) {
        throw new UsageError(
          `--resume ${resumeDir}: ${dir.path('config')} was changed since its checkpoint was saved (${edits.map((path) => `${path}: ${JSON.stringify(getPath(saved.spec as unknown as Json, path))} -> ${JSON.stringify(getPath(spec as unknown as Json, path))}`).join('; ')}); ` +
            `a run cannot change its settings under its checkpoint, only its epochs (to train longer). Undo the edit, or start a new run with these settings: sll train --config ${dir.path('config')} --out NEW_DIR`,
          'train',
        );
      }
      if (spec.epochs !== saved.spec.epochs) {
        const { epoch, batch } = saved.position;
        if (spec.epochs < epoch || (spec.epochs === epoch && batch > 0)) {
          throw new UsageError(`${v.epochs !== undefined ? '--epochs' : `${dir.path('config')}: epochs`} ${spec.epochs}: the run has already trained ${epoch} epochs${batch > 0 ? ` and ${batch} batches` : ''}; give more epochs to train it longer`, 'train');
        }
        resumeEpochs = spec.epochs;
      }
    } else if (v.epochs !== undefined) {
      // Stopped before its first checkpoint: it starts again from its beginning, for --epochs epochs.
      resumeEpochs = spec.epochs;
    }
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
    if (typeof baseName === 'string' && baseName !== name) {
      // Another dataset than the file's: its dataset-specific fields take the new dataset's defaults.
      const recomputed = forgetDatasetDefaults(base);
      // On stderr, so that --print-spec's standard output stays JSON.
      if (recomputed.length > 0) process.stderr.write(`--dataset ${name} differs from the config's ${baseName}: ${recomputed.join(', ')} take ${name}'s defaults unless given as flags\n`);
    }
    const datasetName = name;
    const flagOf = (field: string, flag: string) => (v[flag] !== undefined ? `--${flag}` : v.config !== undefined ? `--config ${String(v.config)}: ${field}` : `the default ${field}`);
    // The spec for a training split of `trainCount` examples: the validation default is a share of it.
    resolveFor = (trainCount: number) => {
      const resolved = specFromFlags(v, { classes: info.classes, trainCount, datasetName }, base, v.config as string | undefined);
      if (resolved.dataset.validation >= trainCount) {
        throw new UsageError(`${flagOf('dataset.validation', 'validation')} ${resolved.dataset.validation} leaves nothing to train on (${datasetName} has ${trainCount} training examples)`, 'train');
      }
      const trainable = Math.min(resolved.dataset.trainCount ?? Infinity, trainCount - resolved.dataset.validation);
      if (resolved.batchSize > trainable) {
        throw new UsageError(`${flagOf('batchSize', 'batch')} ${resolved.batchSize} is larger than the ${trainable} examples to train on`, 'train');
      }
      const [, height, width] = info.shape;
      if (resolved.dataset.augment && resolved.dataset.augmentPad > Math.min(height, width)) {
        throw new UsageError(`${flagOf('dataset.augmentPad', 'augment-pad')} ${resolved.dataset.augmentPad} is larger than the ${height}x${width} images of ${datasetName} (at most ${Math.min(height, width)})`, 'train');
      }
      return resolved;
    };
    // The published size until the files are read: data from --data-dir is sized again once loaded.
    spec = resolveFor(info.trainCount);
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
  // A live run's directory is named as in use (exit 1), whatever else is said of it.
  const inUse = directory.inUse();
  if (inUse) throw inUse;
  if (resumeDir === undefined) {
    // A run writes only into a new or empty directory: nothing of the user's is written over.
    const refusal = newRunRefusal(outDir, directoryState(directory, v.out !== undefined ? '--out' : 'the run directory'));
    if (refusal !== undefined) throw new UsageError(`--out ${refusal}`, 'train');
  }
  const view = new ProgressView(ctx.out);
  const where = resumeDir !== undefined ? "the run's config.json" : `--model ${spec.model.kind} and its flags`;
  const resumedConfig = resumeDir !== undefined ? new RunDirectory(resumeDir).path('config') : undefined;
  let device: Device | undefined;
  let release: (() => void) | undefined;
  let removeHandler: (() => void) | undefined;
  try {
    device = await ctx.openDevice();
    // Before the run directory exists: the model is built and one step taken on the published
    // image shape, so that a model that does not fit the images or the device is a usage error
    // naming the flag to change; data from elsewhere is checked the same way once loaded.
    const published = datasetInfo(datasetName);
    if (dataFrom === undefined) await preflight(device, spec, [...published.shape] as [number, number, number], published.classes, where, resumedConfig);
    // Held from before the data is read to the end: a second run on this directory stops here.
    try {
      release = directory.lock((text) => view.line(text));
    } catch (error) {
      if (error instanceof RunLockedError) throw error;
      throw new UsageError(`${resumeDir !== undefined ? '--resume' : v.out !== undefined ? '--out' : 'the run directory'} ${outDir}: ${(error as Error).message.replace(`${outDir}: `, '')}`, 'train');
    }
    ctx.out.write(`loading ${datasetName}...\n`);
    const dataset = loadDatasetByName(datasetName, { ...(dataFrom !== undefined ? { dir: dataFrom } : {}), normalize: spec.dataset.normalize });
    if (dataFrom !== undefined) {
      // Files from a directory may hold another number of images than the published set: the
      // validation default (a tenth of a small set) is computed from the split actually read.
      if (resolveFor && dataset.train.count !== published.trainCount) spec = resolveFor(dataset.train.count);
      await preflight(device, spec, dataset.shape, dataset.classes, where, resumedConfig);
    }
    const classNames = classNamesOf(datasetName, dataset);
    const stop = new AbortController();
    let stoppedBy: StopSignal | undefined;
    removeHandler = ctx.onInterrupt?.((signal) => {
      if (stoppedBy === undefined) {
        stoppedBy = signal;
        const again = signal === 'SIGHUP' ? '' : ` (${signal === 'SIGINT' ? 'Ctrl-C' : 'SIGINT or SIGTERM'} again to quit now)`;
        view.line(`${signal}: stopping after this step and saving a checkpoint${again}; an evaluation under way finishes first...`);
        stop.abort();
      } else if (signal !== 'SIGHUP') {
        // Quitting at once, asked for by a person (Ctrl-C) or a job manager: the lock goes with
        // the process, the last checkpoint stays. A hangup never forces it: a closing terminal
        // sends SIGHUP more than once, and the checkpoint under way must be written.
        release?.();
        process.exit(SIGNAL_EXIT[signal]);
      }
    });
    const started = Date.now();
    const result = await runTraining(device, {
      spec,
      dataset,
      directory,
      resume: resumeDir !== undefined,
      ...(resumeEpochs !== undefined ? { epochs: resumeEpochs } : {}),
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
    // Not destroy() alone: a process that exits at once races Dawn's teardown threads (a segfault
    // or abort at exit in 5 of 8 runs refused right after loading their data; Device.close).
    if (device) await device.close();
    release?.();
  }
}
