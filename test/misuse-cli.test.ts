/**
 * The `sll` command under bad input, run as a person runs it: the built command in a child
 * process, with a timeout, asserting the exit code and that the message names what was wrong.
 *
 * Usage errors exit 2 before any data is loaded (no "loading" line); an error found while
 * working exits 1; a run that diverged exits 3. No case may print a stack trace or hang: every
 * child is killed at its timeout and the case then fails.
 *
 * The faults (signals, a kill during a checkpoint write, a full disk, two runs in one directory,
 * a stale lock, a damaged checkpoint) are in test/faults-cli.test.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, TINY } from './helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'sll-misuse-'));
const file = (name: string, text: string) => {
  const path = join(work, name);
  writeFileSync(path, text);
  return path;
};

/** A directory holding a run: a run's config.json, its metrics and a checkpoint (its bytes are not read by the --out check). */
const occupied = join(work, 'occupied');
mkdirSync(occupied);
writeFileSync(join(occupied, 'config.json'), JSON.stringify({ spec: { dataset: { name: 'digits', validation: 0 } }, data: { classes: 10 } }));
writeFileSync(join(occupied, 'metrics.jsonl'), '{"kind":"status","status":"started","step":0,"at":"x"}\n');
writeFileSync(join(occupied, 'checkpoint.safetensors'), 'x');
const notADirectory = file('plain-file', 'x');
/** A run directory whose config.json was edited by hand into an unknown key. */
const badRun = join(work, 'bad-run');
mkdirSync(badRun);
writeFileSync(join(badRun, 'config.json'), JSON.stringify({ spec: { epoch: 1, dataset: { name: 'digits', validation: 0 } }, data: { classes: 10 } }));
writeFileSync(join(badRun, 'metrics.jsonl'), '{"kind":"status","status":"started","step":0,"at":"x"}\n');
const emptyDir = join(work, 'empty');
mkdirSync(emptyDir);
const idxDir = join(work, 'idx');
mkdirSync(idxDir);
writeFileSync(join(idxDir, 'train-images-idx3-ubyte.gz'), '');

interface Case {
  name: string;
  args: string[];
  code: number;
  /** What the message (stdout and stderr together) must say. */
  says: RegExp;
  /** The spec printed by --print-spec must contain this (exit 0 cases). */
  spec?: Record<string, unknown>;
}

const usage = (name: string, args: string[], says: RegExp): Case => ({ name, args, code: 2, says });
const resolves = (name: string, args: string[], spec: Record<string, unknown>): Case => ({ name, args: [...args, '--print-spec'], code: 0, says: /"method"/, spec });

const CASES: Case[] = [
  // The command and its subcommands.
  usage('no command', [], /Usage: sll <command>/),
  usage('a misspelt command', ['trian'], /unknown command 'trian' \(did you mean 'train'\?\)/),
  usage('an unknown option', ['train', '--frobnicate'], /unknown option --frobnicate/),
  usage('--epocs', ['train', '--epocs', '1'], /unknown option --epocs \(did you mean --epochs\?\)/),
  usage('--learning-rate', ['train', '--learning-rate', '0.1'], /unknown option --learning-rate \(did you mean --lr\?\)/),
  usage('--batch-size', ['train', '--batch-size', '64'], /did you mean --batch\?/),
  usage('--output', ['train', '--output', 'x'], /did you mean --out\?/),
  usage('a short option', ['train', '-e', '3'], /unknown option '-e' \(options are spelled --name\)/),
  usage('a stray argument', ['train', 'mlp'], /unexpected argument 'mlp'/),
  usage('a value missing', ['train', '--epochs'], /--epochs needs a value/),
  usage('a flag as a value', ['train', '--out', '--epochs'], /--out needs a value/),
  usage('a boolean with a value', ['train', '--augment=yes'], /--augment takes true or false, got 'yes'/),
  usage('info with an argument', ['info', 'extra'], /unexpected argument 'extra'/),
  usage('data: an unknown action', ['data', 'download', 'mnist'], /unknown action 'download' \(use list or fetch\)/),
  usage('data fetch without a name', ['data', 'fetch'], /which dataset\?/),
  usage('data fetch --timeout 0', ['data', 'fetch', 'mnist', '--timeout', '0'], /--timeout must be positive, got 0/),
  usage('data fetch --idle-timeout -1', ['data', 'fetch', 'mnist', '--idle-timeout', '-1'], /--idle-timeout must be 0 \(never\) or positive/),
  usage('data fetch of an unknown dataset', ['data', 'fetch', 'mnits'], /"mnits" is not a known dataset \(did you mean mnist\?\)/),

  // Numbers out of range, named by their flag, before the data loads.
  usage('--epochs 0', ['train', '--epochs', '0'], /--epochs must be a positive integer, got 0/),
  usage('--epochs -1', ['train', '--epochs', '-1'], /--epochs must be a positive integer, got -1/),
  usage('--epochs 1.5', ['train', '--epochs', '1.5'], /--epochs must be an integer, got '1.5'/),
  usage('--epochs abc', ['train', '--epochs', 'abc'], /--epochs must be an integer, got 'abc'/),
  usage('--batch 0', ['train', '--batch', '0'], /--batch must be a positive integer, got 0/),
  usage('--batch larger than the data', ['train', '--batch', '100000'], /--batch 100000 is larger than the 7200 examples to train on/),
  usage('--lr 0', ['train', '--lr', '0'], /--lr must be a number > 0, got 0/),
  usage('--lr -1', ['train', '--lr', '-1'], /--lr must be a number > 0, got -1/),
  usage('--lr NaN', ['train', '--lr', 'NaN'], /--lr must be a number, got 'NaN'/),
  usage('--lr Infinity', ['train', '--lr', 'Infinity'], /--lr must be a number, got 'Infinity'/),
  usage('--hidden 0', ['train', '--hidden', '64,0'], /--hidden must be a comma-separated list of positive integers, got '64,0'/),
  usage('--dropout 1', ['train', '--dropout', '1'], /--dropout must be a number in \[0, 1\), got 1/),
  usage('--tau 0', ['train', '--tau', '0'], /--tau must be a number > 0, got 0/),
  usage('--d0 in class mode', ['train', '--d0', '16'], /--d0 must equal the number of classes \(10\) in class mode, got 16/),
  usage('--seed -1', ['train', '--seed', '-1'], /--seed must be an integer in \[0, 4294967295\], got -1/),
  usage('--seed 2^32', ['train', '--seed', '4294967296'], /--seed must be an integer in \[0, 4294967295\]/),
  usage('--validation -1', ['train', '--validation', '-1'], /--validation must be an integer >= 0, got -1/),
  usage('--validation as large as the data', ['train', '--validation', '8000'], /--validation 8000 leaves nothing to train on \(digits has 8000 training examples\)/),
  usage('--augment-pad -1', ['train', '--augment', '--augment-pad', '-1'], /--augment-pad must be an integer >= 0, got -1/),
  usage('--augment-pad larger than the images', ['train', '--augment', '--augment-pad', '29'], /--augment-pad 29 is larger than the 28x28 images of digits \(at most 28\)/),
  usage('--metrics-every 0', ['train', '--metrics-every', '0'], /--metrics-every must be a positive integer, got 0/),
  usage('--warmup -1 with cosine', ['train', '--schedule', 'cosine', '--warmup', '-1'], /--warmup must be a number >= 0, got -1/),
  usage('--mlp-ratio 0', ['train', '--model', 'vit', '--mlp-ratio', '0'], /--mlp-ratio must be a number > 0, got 0/),
  usage('--heads not dividing --dim', ['train', '--model', 'vit', '--heads', '3'], /--dim \(64\) must be a multiple of model\.heads \(3\)|model\.dim \(64\) must be a multiple of model\.heads \(3\)/),
  usage('--divergence-factor 1', ['train', '--divergence-factor', '1'], /--divergence-factor must be 0 \(no guard\) or greater than 1, got 1/),
  usage('--model foo', ['train', '--model', 'foo'], /--model must be one of mlp, cnn, vit, got 'foo'/),
  usage('--method foo', ['train', '--method', 'foo'], /--method must be one of sll, dgl, drtp, predsim, ff, dfa, backprop, got 'foo'/),
  usage('--dataset misspelt', ['train', '--dataset', 'fashion-mnsit'], /--dataset "fashion-mnsit" is not a known dataset \(did you mean fashion-mnist\?\)/),

  // Numbers as the kernels see them: in float32, products included.
  usage('--lr 1e-300 (0 in float32)', ['train', '--lr', '1e-300'], /--lr must be a number > 0 that float32 can hold, got 1e-300, which is below float32's smallest normal number/),
  usage('--lr 1e300 (overflows float32)', ['train', '--lr', '1e300'], /--lr must be a number > 0 that float32 can hold, got 1e\+300, which overflows float32/),
  usage('--tau 1e300', ['train', '--tau', '1e300'], /--tau must be a number > 0 that float32 can hold, got 1e\+300, which overflows float32/),
  usage('--dropout 0.99999999 (1 in float32)', ['train', '--dropout', '0.99999999'], /--dropout must be a number in \[0, 1\), got 0\.99999999, which is 1 in float32/),
  usage('--beta2 0.999999999 (1 in float32)', ['train', '--beta2', '0.999999999'], /--beta2 must be a number in \[0, 1\), got 0\.999999999, which is 1 in float32/),
  usage('a decay factor that overflows', ['train', '--optimizer', 'adamw', '--lr', '1e30', '--weight-decay', '1e30'], /--weight-decay \(1e\+30\) times the learning rate \(1e\+30\) is 1e\+60, which overflows float32/),
  // Settings that defeat each other.
  usage('a warm-up as long as the run', ['train', '--schedule', 'cosine', '--epochs', '1'], /the default --warmup \(1\) must be shorter than the run \(epochs 1\)/),
  usage('a warm-up longer than the run', ['train', '--schedule', 'cosine', '--warmup', '3', '--epochs', '2'], /--warmup \(3\) must be shorter than the run \(epochs 2\)/),

  // Flags of another variant than the one chosen are refused, not ignored.
  usage('--hidden with --model cnn', ['train', '--model', 'cnn', '--hidden', '64'], /--hidden applies to --model mlp, and the model here is cnn/),
  usage('--fc with the MLP', ['train', '--fc', '64'], /--fc applies to --model cnn, and the model here is mlp/),
  usage('--momentum with Adam', ['train', '--momentum', '0.9'], /--momentum applies to --optimizer sgd, and the optimizer here is adam/),
  usage('--beta1 with SGD', ['train', '--optimizer', 'sgd', '--beta1', '0.8'], /--beta1 applies to --optimizer adam or adamw, and the optimizer here is sgd/),
  usage('--warmup without cosine', ['train', '--warmup', '2'], /--warmup applies to --schedule cosine, and the schedule here is constant/),
  usage('--nesterov without momentum', ['train', '--optimizer', 'sgd', '--nesterov'], /--nesterov needs a momentum above 0 \(--momentum\)/),
  usage('an SLL flag with backprop', ['train', '--method', 'backprop', '--tau', '2'], /--tau applies to --method sll, and the method here is backprop/),
  usage('an SLL flag with DGL', ['train', '--method', 'dgl', '--d0', '10'], /--d0 applies to --method sll, and the method here is dgl/),
  usage('Forward-Forward with a CNN', ['train', '--method', 'ff', '--model', 'cnn'], /--method ff trains MLP blocks only: Forward-Forward's goodness is defined on fully connected layers.*, so --model cnn takes --method sll, dgl, drtp, predsim or backprop/),
  usage('Forward-Forward with tanh blocks', ['train', '--method', 'ff', '--activation', 'tanh'], /--activation must be relu with --method ff, got tanh: Forward-Forward's goodness/),
  usage('Forward-Forward with batch norm', ['train', '--method', 'ff', '--batch-norm'], /--batch-norm must be off with --method ff: batch norm would normalise its positive and negative images together/),
  usage("a batch of 1 with DGL's batch-normed auxiliary nets", ['train', '--method', 'dgl', '--model', 'cnn', '--batch', '1'], /--batch must be at least 2 here \(got 1\): DGL's auxiliary nets on the conv stages hold batch norms/),
  usage('DRTP with a ViT', ['train', '--method', 'drtp', '--model', 'vit'], /--method drtp trains MLP and CNN blocks only: a transformer block's residual output has no bounded activation .*, so --model vit takes --method sll, dgl, predsim or backprop/),
  usage('--milestones without a step schedule', ['train', '--milestones', '3'], /--milestones applies to --schedule step, and the schedule here is constant/),
  usage('a step schedule without milestones', ['train', '--schedule', 'step'], /milestones must be given for a step schedule/),
  usage('a milestone after the run', ['train', '--schedule', 'step', '--milestones', '2,12', '--epochs', '10'], /--milestones \(2, 12\) must fall inside the run \(epochs 10\): a milestone at epoch 12 would never lower the rate/),
  usage('a PredSim flag with SLL', ['train', '--beta', '0.5'], /--beta applies to --method predsim, and the method here is sll/),
  usage("PredSim's beta above 1", ['train', '--method', 'predsim', '--beta', '1.5'], /--beta must be a number in \[0, 1\], got 1\.5/),
  usage('a CNN with more pooling stages than the images can halve', ['train', '--model', 'cnn', '--channels', '4,4,4'], /--model cnn and its flags do not fit 1x28x28 images: input 1x28x28 must have H and W divisible by 8 for 3 pooling stages \(each stage halves them; 28x28 takes at most 2\)/),
  usage('a ViT whose patch does not divide the image', ['train', '--model', 'vit', '--patch', '5'], /--model vit and its flags do not fit 1x28x28 images: patch 5 does not tile 28x28 images: the image sides must be multiples of the patch \(1, 2, 4, 7, 14, 28\)/),

  // Config files: unknown keys, wrong types, partial sections.
  usage('--config that does not exist', ['train', '--config', join(work, 'nope.json')], /--config .*nope\.json: cannot read \(ENOENT\)/),
  usage('--config that is not JSON', ['train', '--config', file('broken.json', '{"epochs": 1')], /--config .*broken\.json: not valid JSON/),
  usage('--config holding an array', ['train', '--config', file('array.json', '[1]')], /--config .*array\.json: must hold a JSON object/),
  usage('--config with a misspelt key', ['train', '--config', file('epocs.json', '{"epocs": 1}')], /epocs is not a known field \(did you mean epochs\?\)/),
  usage('--config with a misspelt nested key', ['train', '--config', file('hiden.json', '{"model": {"kind": "cnn", "hiden": 8}}')], /model\.hiden is not a known field \(did you mean model\.hidden\?\)/),
  usage('--config with a string for a number', ['train', '--config', file('string.json', '{"epochs": "3"}')], /epochs must be a positive integer, got "3"/),
  usage('--config with a field of another model', ['train', '--config', file('channels.json', '{"model": {"channels": [8]}}')], /model\.channels is a field of kind 'cnn', not of 'mlp'/),
  usage('--config with an unknown optimizer', ['train', '--config', file('opt.json', '{"optimizer": {"kind": "adagrad"}}')], /optimizer\.kind must be one of adam, adamw, sgd, got "adagrad"/),
  usage('--config with a section that is not an object', ['train', '--config', file('section.json', '{"model": 3}')], /model must be a JSON object, got 3/),
  resolves('a model section without kind keeps its widths', ['train', '--config', file('hidden.json', '{"model": {"hidden": [64]}}')], { model: { kind: 'mlp', hidden: [64] } }),
  resolves('an optimizer section without kind keeps its rate', ['train', '--config', file('lr.json', '{"optimizer": {"lr": 0.01}}')], { optimizer: { kind: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } }),
  resolves('an objective section with tau only', ['train', '--config', file('tau.json', '{"objective": {"tau": 2}}')], { objective: expect.objectContaining({ mode: 'class', d0: 10, tau: 2 }) }),
  resolves('a flag wins over the config file', ['train', '--config', file('epochs.json', '{"epochs": 4, "batchSize": 32}'), '--epochs', '2'], { epochs: 2, batchSize: 32 }),
  resolves("PredSim's authors' step schedule", ['train', '--schedule', 'step', '--milestones', '3,6', '--gamma', '0.25', '--epochs', '8'], { schedule: { kind: 'step', milestones: [3, 6], gamma: 0.25 } }),
  resolves('a flag choosing another model drops the file\'s model', ['train', '--config', file('mlp.json', '{"model": {"kind": "mlp", "hidden": [8]}}'), '--model', 'cnn'], { model: { kind: 'cnn', channels: [32, 64], convsPerStage: 1, hidden: 256, stageFeatures: 'flatten' } }),
  resolves('--mode latent gives the latent defaults', ['train', '--mode', 'latent'], { objective: expect.objectContaining({ mode: 'latent', d0: 512, tau: 2 }) }),
  resolves('AdamW defaults to weight decay 1e-2', ['train', '--optimizer', 'adamw'], { optimizer: expect.objectContaining({ kind: 'adamw', weightDecay: 0.01 }) }),
  resolves('another optimizer by flag keeps the file\'s rate', ['train', '--config', file('adam.json', '{"optimizer": {"kind": "adam", "lr": 0.01}}'), '--optimizer', 'adamw'], { optimizer: expect.objectContaining({ kind: 'adamw', lr: 0.01, weightDecay: 0.01 }) }),
  resolves("--method drtp over an SLL run's config takes DRTP's tanh", ['train', '--config', file('sll-run.json', '{"method": "sll", "model": {"kind": "mlp", "hidden": [8], "activation": "relu"}}'), '--method', 'drtp'], { method: 'drtp', model: expect.objectContaining({ hidden: [8], activation: 'tanh' }) }),
  resolves('--method drtp keeps an --activation given beside it', ['train', '--config', file('sll-run2.json', '{"method": "sll", "model": {"kind": "mlp", "hidden": [8], "activation": "relu"}}'), '--method', 'drtp', '--activation', 'relu'], { method: 'drtp', model: expect.objectContaining({ activation: 'relu' }) }),
  resolves("--method drtp keeps a file's activation that is not the file method's default", ['train', '--config', file('sll-leaky.json', '{"method": "sll", "model": {"kind": "mlp", "hidden": [8], "activation": "leaky-relu"}}'), '--method', 'drtp'], { method: 'drtp', model: expect.objectContaining({ activation: 'leaky-relu' }) }),
  resolves("--method sll over a DRTP run's config takes back ReLU", ['train', '--config', file('drtp-run.json', '{"method": "drtp", "model": {"kind": "mlp", "hidden": [8], "activation": "tanh"}}'), '--method', 'sll'], { method: 'sll', model: expect.objectContaining({ activation: 'relu' }) }),
  resolves('another model by flag over a file without kind', ['train', '--config', file('widths.json', '{"model": {"hidden": [500]}}'), '--model', 'cnn'], { model: expect.objectContaining({ kind: 'cnn', hidden: 256 }) }),
  usage('--config nested 5,000 levels deep', ['train', '--config', file('deep.json', `{"model": {"hidden": ${'['.repeat(5000)}${']'.repeat(5000)}}}`)], /--config .*deep\.json: nests objects or arrays more than 32 levels deep/),
  resolves(
    "a run's config reused with another --dataset takes that dataset's defaults",
    ['train', '--config', file('cifar-run.json', JSON.stringify({ spec: { dataset: { name: 'cifar10', validation: 5000, augment: true }, objective: { mode: 'class', d0: 100 } }, data: { classes: 100 } })), '--dataset', 'digits'],
    { dataset: expect.objectContaining({ name: 'digits', validation: 800, augment: false }), objective: expect.objectContaining({ mode: 'class', d0: 10 }) },
  ),
  usage('--config naming a data directory that does not exist', ['train', '--config', file('dir.json', '{"dataset": {"dir": "/nonexistent/data"}}')], /dataset\.dir \/nonexistent\/data: not a directory/),
  usage('--resume of a run whose config has an unknown key', ['train', '--resume', badRun], /config\.json: epoch is not a known field \(did you mean epochs\?\)/),

  // Directories.
  usage('--out holding a run', ['train', '--out', occupied], /--out .*occupied already holds a run: continue it with --resume/),
  usage('--out under /proc', ['train', ...TINY, '--out', '/proc/sll-run'], /--out \/proc\/sll-run: cannot create the run directory/),
  usage('--out below a file', ['train', ...TINY, '--out', join(notADirectory, 'run')], /--out .*plain-file\/run: cannot create the run directory: .*plain-file is not a directory/),
  usage('--data-dir that does not exist', ['train', '--data-dir', join(work, 'missing')], /--data-dir .*missing: not a directory/),
  usage('--data-dir of IDX files without --dataset', ['train', '--data-dir', idxDir], /--data-dir .*idx without --dataset: name the dataset its files hold \(IDX files: --dataset fashion-mnist or --dataset mnist/),
  usage('--resume with a flag', ['train', '--resume', occupied, '--lr', '0.1'], /--resume continues a run with its own config \(only --epochs may change, to train it longer\); drop --lr/),
  usage('--resume of nothing', ['train', '--resume', join(work, 'missing-run')], /--resume .*missing-run: no run there \(the directory does not exist\): start one with --out/),
  usage('--resume of an empty directory', ['train', '--resume', emptyDir], /--resume .*empty: no run there \(the directory is empty\): start one with --out/),
  usage('--out ""', ['train', '--out', ''], /--out must not be empty/),
  usage('--out with a name too long', ['train', '--out', 'a'.repeat(300)], /--out a+: cannot read the directory \(name too long \(ENAMETOOLONG\)\)/),
  usage('--config ""', ['train', '--config', ''], /--config must not be empty/),

  // eval.
  usage('eval without a checkpoint', ['eval'], /give one checkpoint file or run directory/),
  usage('eval of a missing file', ['eval', join(work, 'none.safetensors')], /none\.safetensors: cannot read \(ENOENT\)/),
  usage('eval --batch 0', ['eval', join(work, 'none.safetensors'), '--batch', '0'], /--batch must be a positive integer, got 0/),
  usage('eval --batch -1', ['eval', join(work, 'none.safetensors'), '--batch', '-1'], /--batch must be a positive integer, got -1/),
  usage('eval --split foo', ['eval', join(work, 'none.safetensors'), '--split', 'foo'], /--split must be one of test, validation, train, got 'foo'/),
  { name: 'eval of a file that is not a checkpoint', args: ['eval', file('junk.safetensors', 'hello, this is not safetensors')], code: 1, says: /junk\.safetensors: .*(header|safetensors)/i },
];

describe.concurrent('sll under bad input: exit code and a message naming what was wrong', () => {
  for (const c of CASES) {
    it(`${c.name}: exit ${c.code}`, async () => {
      const result = await runCli(c.args, { cwd: work });
      const text = result.stdout + result.stderr;
      expect(result.code, text).toBe(c.code);
      expect(text).toMatch(c.says);
      expect(text).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/); // no stack trace
      if (c.code === 2) expect(result.stdout).not.toMatch(/^loading /m);
      if (c.spec) expect(JSON.parse(result.stdout)).toMatchObject(c.spec);
    });
  }
});

describe('sll train: a model over a device limit is refused before its run directory exists, naming the flag to change', () => {
  it.each([
    ['a latent --d0 too wide for one buffer', ['--mode', 'latent', '--d0', '50000'], /--model mlp and its flags: the model needs a tensor \[50000, 1000\] of 200000000 bytes, over this device's maxStorageBufferBindingSize of \d+ bytes even at batch 1: use a smaller --d0/],
    ['a ViT of 1-pixel patches at --batch 64', ['--model', 'vit', '--patch', '1', '--dim', '8', '--heads', '1', '--depth', '1', '--batch', '64'], /a training step at --batch 64 needs a tensor \[64, 1, 784, 784\] of \d+ bytes, over this device's maxStorageBufferBindingSize of \d+ bytes: use a smaller --batch \((\d+) fits\), or a larger --patch/],
  ])('%s', async (_name, flags, says) => {
    const out = join(work, `limit-${flags[1]}`);
    const result = await runCli(['train', ...flags, '--out', out], { cwd: work, timeoutMs: 60_000 });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(says);
    expect(existsSync(out)).toBe(false);
  });
});
