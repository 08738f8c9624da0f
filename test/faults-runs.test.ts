/**
 * Run directories, signals and resumes, through the built command in child processes: a run
 * writes only into a new or empty directory; every signal that ends a terminal session or a job
 * stops a run with a checkpoint, a status line and no lock; a run that died before its first
 * checkpoint can be started again; an edited config.json is refused by field on resume; and a
 * finished run can be trained longer, ending bitwise where a straight run of that length ends.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { RunDirectory } from '../src/run/directory.js';
import { runCli, startCli, TINY } from './helpers/cli.js';
import { idxFile, randomBytes } from './helpers/fixtures.js';
import { expectSameWeights, lastStatus } from './helpers/runs.js';

const work = mkdtempSync(join(tmpdir(), 'sll-runs-'));
const dir = (name: string) => join(work, name);
const epochs = (n: number) => TINY.map((a, i) => (TINY[i - 1] === '--epochs' ? String(n) : a));

/**
 * `sll train ARGS` (a 2-epoch run) sent SIGTERM at its first progress line of epoch 2: the
 * optimizer state and the step counters are then part of what a resume must restore.
 */
async function stoppedInEpoch2(args: string[]) {
  let signalled = false;
  return startCli(['train', ...args], {
    cwd: work,
    onStdout: (text, child) => {
      if (!signalled && /epoch 2\/2 {2}step/.test(text)) {
        signalled = true;
        child.kill('SIGTERM');
      }
    },
  }).done;
}

describe('sll train: run directories, signals and resumes', () => {
  it("a directory holding the user's own files is refused, naming them, and left untouched", async () => {
    const mine = dir('mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'config.json'), '{"my": "settings"}\n');
    writeFileSync(join(mine, 'report.html'), '<p>my report</p>\n');
    const result = await runCli(['train', ...TINY, '--out', mine], { cwd: work });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--out .*mine is not empty and holds no run \(its config\.json is not a run's .*it holds config\.json, report\.html\)/);
    expect(readdirSync(mine).sort()).toEqual(['config.json', 'report.html']);
    expect(readFileSync(join(mine, 'config.json'), 'utf8')).toBe('{"my": "settings"}\n');
    expect(readFileSync(join(mine, 'report.html'), 'utf8')).toBe('<p>my report</p>\n');
  });

  it('SIGHUP (a closed terminal) stops the run within a step with a checkpoint, a status line, exit 129 and no lock left', async () => {
    const run = dir('sighup');
    let signalled = false;
    const { done } = startCli(['train', ...epochs(200), '--out', run], {
      cwd: work,
      onStdout: (text, child) => {
        if (!signalled && text.includes('run directory:')) {
          signalled = true;
          // As a terminal that goes away: the hangup (twice, as a closing terminal and its shell
          // both send it), and nobody reading the output any more.
          child.kill('SIGHUP');
          child.kill('SIGHUP');
          child.stdout!.destroy();
        }
      },
    });
    const result = await done;
    expect(result.code, result.stderr).toBe(129);
    expect(result.stderr).not.toMatch(/EPIPE|EIO|Unhandled/);
    expect(existsSync(join(run, 'checkpoint.safetensors'))).toBe(true);
    expect(existsSync(join(run, 'run.lock'))).toBe(false);
    expect(lastStatus(run)).toMatchObject({ status: expect.stringMatching(/^stopped at epoch \d+, batch \d+ \(checkpoint saved/) });
  });

  it('a run killed before its first checkpoint is refused by --out, pointing to --resume, which starts it again and ends where a straight run ends', async () => {
    const run = dir('dead');
    let killed = false;
    const { done } = startCli(['train', ...epochs(2), '--out', run], {
      cwd: work,
      onStdout: (text, child) => {
        if (!killed && text.includes('run directory:')) {
          killed = true;
          child.kill('SIGKILL');
        }
      },
    });
    expect((await done).signal).toBe('SIGKILL');
    expect(existsSync(join(run, 'checkpoint.safetensors'))).toBe(false);
    const again = await runCli(['train', ...epochs(2), '--out', run], { cwd: work });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/holds a run that stopped before its first checkpoint: start it again from its beginning, with its own config\.json, by --resume/);
    // Started again, and for 3 epochs instead of its 2.
    const resumed = await runCli(['train', '--resume', run, '--epochs', '3'], { cwd: work });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('the run stopped before its first checkpoint: starting it again from its beginning');
    const statuses = new RunDirectory(run).readMetrics().filter((l) => l.kind === 'status').map((l) => (l as { status: string }).status);
    expect(statuses).toEqual(['started', 'started again from its beginning (it had stopped before its first checkpoint)', 'finished']);
    expect(JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')).spec.epochs).toBe(3);
    const straight = await runCli(['train', ...epochs(3), '--out', dir('dead-straight')], { cwd: work });
    expect(straight.code, straight.stderr).toBe(0);
    expectSameWeights(dir('dead-straight'), run);
  });

  it('a finished run trained longer with --resume --epochs ends bitwise where a straight run of that length ends; shorter is refused', async () => {
    const one = await runCli(['train', ...epochs(1), '--out', dir('longer')], { cwd: work });
    expect(one.code, one.stderr).toBe(0);
    const shorter = await runCli(['train', '--resume', dir('longer'), '--epochs', '1'], { cwd: work });
    expect(shorter.code).toBe(0); // its own length: a finished run is evaluated again
    const refused = await runCli(['train', '--resume', dir('longer'), '--epochs', '0'], { cwd: work });
    expect(refused.code).toBe(2);
    const longer = await runCli(['train', '--resume', dir('longer'), '--epochs', '3'], { cwd: work });
    expect(longer.code, longer.stderr).toBe(0);
    expect(longer.stdout).toContain('training to 3 epochs instead of 1: with a constant rate this ends where a straight 3-epoch run ends');
    const config = JSON.parse(readFileSync(join(dir('longer'), 'config.json'), 'utf8'));
    expect(config.spec.epochs).toBe(3);
    const straight = await runCli(['train', ...epochs(3), '--out', dir('longer-straight')], { cwd: work });
    expect(straight.code, straight.stderr).toBe(0);
    expectSameWeights(dir('longer-straight'), dir('longer'));
    const backwards = await runCli(['train', '--resume', dir('longer'), '--epochs', '2'], { cwd: work });
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toMatch(/--epochs 2: the run has already trained 3 epochs; give more epochs to train it longer/);
  });

  it('a cosine run trained longer says how its schedule changes', async () => {
    const run = dir('cosine');
    const first = await runCli(['train', ...epochs(2), '--schedule', 'cosine', '--warmup', '0.5', '--out', run], { cwd: work });
    expect(first.code, first.stderr).toBe(0);
    const longer = await runCli(['train', '--resume', run, '--epochs', '4'], { cwd: work });
    expect(longer.code, longer.stderr).toBe(0);
    expect(longer.stdout).toMatch(/the cosine schedule is recomputed over 4 epochs instead of 2: from step 16 on the rate follows the 4-epoch schedule \([\d.e-]+ now, where the 2-epoch one gave 0\.00\)/);
  });

  it('config.json edited after the checkpoint is refused by field on --resume; raising its epochs trains longer', async () => {
    const run = dir('edited');
    const first = await runCli(['train', ...epochs(1), '--out', run], { cwd: work });
    expect(first.code, first.stderr).toBe(0);
    const path = join(run, 'config.json');
    const original = readFileSync(path, 'utf8');
    const config = JSON.parse(original);
    config.spec.model.hidden = [16];
    config.spec.optimizer.lr = 0.5;
    writeFileSync(path, JSON.stringify(config));
    const refused = await runCli(['train', '--resume', run], { cwd: work });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/config\.json was changed since its checkpoint was saved \(model\.hidden: \[8\] -> \[16\]; optimizer\.lr: 0\.001 -> 0\.5\)/);
    expect(refused.stderr).toContain('sll train --config');
    config.spec.model.hidden = [8];
    config.spec.optimizer.lr = 0.001;
    config.spec.epochs = 2;
    writeFileSync(path, JSON.stringify(config));
    const longer = await runCli(['train', '--resume', run], { cwd: work });
    expect(longer.code, longer.stderr).toBe(0);
    expect(longer.stdout).toContain('training to 2 epochs instead of 1');
  });

  it('sll eval with a batch over a device limit names --batch and the size that fits', async () => {
    const run = dir('vit');
    const trained = await runCli(['train', '--model', 'vit', '--patch', '4', '--dim', '8', '--heads', '8', '--depth', '1', '--train-count', '100', '--validation', '100', '--batch', '50', '--epochs', '1', '--out', run], { cwd: work });
    expect(trained.code, trained.stderr).toBe(0);
    // 2,000 digits at once: attention scores [2000, 8, 49, 49] in f32, over a 128 MiB binding.
    const result = await runCli(['eval', run, '--batch', '2000'], { cwd: work });
    if (result.code === 0) {
      // An adapter with larger bindings has nothing to refuse: check that it is one.
      const info = JSON.parse((await runCli(['info', '--json'], { cwd: work })).stdout) as { limits: Record<string, number> };
      expect(info.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(153664000);
      return;
    }
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--batch 2000: an evaluation batch of 2000 images needs a tensor \[2000, 8, 49, 49\] of 153664000 bytes, over this device's maxStorageBufferBindingSize of \d+ bytes: use --batch (\d+) or less/);
    const fits = Number(/use --batch (\d+) or less/.exec(result.stderr)![1]);
    const smaller = await runCli(['eval', run, '--batch', String(fits)], { cwd: work });
    expect(smaller.code, smaller.stderr).toBe(0);
    expect(smaller.stdout).toMatch(/digits test: accuracy/);
  });

  it('IDX files of 1,437 images given by --data-dir train with the default validation computed from them (a tenth: 144)', async () => {
    const data = dir('small-mnist');
    mkdirSync(data);
    const images = (count: number, seed: number) => idxFile(0x803, [count, 28, 28], randomBytes(count * 784, seed));
    const labels = (count: number) => idxFile(0x801, [count], Array.from({ length: count }, (_, i) => i % 10));
    writeFileSync(join(data, 'train-images-idx3-ubyte.gz'), gzipSync(images(1437, 1)));
    writeFileSync(join(data, 'train-labels-idx1-ubyte.gz'), gzipSync(labels(1437)));
    writeFileSync(join(data, 't10k-images-idx3-ubyte.gz'), gzipSync(images(100, 2)));
    writeFileSync(join(data, 't10k-labels-idx1-ubyte.gz'), gzipSync(labels(100)));
    const run = dir('small-mnist-run');
    const result = await runCli(['train', '--dataset', 'mnist', '--data-dir', data, '--hidden', '8', '--batch', '100', '--epochs', '1', '--out', run], { cwd: work });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('1293 train / 144 validation / 100 test images');
    expect(JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')).spec.dataset.validation).toBe(144);
  });

  it('DRTP through the command: a run with no block heads, resumed bitwise after SIGTERM', async () => {
    const straight = await runCli(['train', ...epochs(2), '--method', 'drtp', '--out', dir('drtp-straight')], { cwd: work });
    expect(straight.code, straight.stderr).toBe(0);
    expect(straight.stdout).toMatch(/test accuracy \d+\.\d+% on 2000 images\n/);
    const stopped = await stoppedInEpoch2([...epochs(2), '--method', 'drtp', '--out', dir('drtp')]);
    expect(stopped.code, stopped.stderr).toBe(143);
    expect(lastStatus(dir('drtp'))).toMatchObject({ status: expect.stringMatching(/^stopped at epoch 2, batch [1-7] /) });
    const resumed = await runCli(['train', '--resume', dir('drtp')], { cwd: work });
    expect(resumed.code, resumed.stderr).toBe(0);
    expectSameWeights(dir('drtp-straight'), dir('drtp'));
  });

  it('PredSim through the command: its beta in the run, block heads, sll eval at the printed accuracy, and a bitwise resume after SIGTERM', async () => {
    // 40 steps an epoch (2,000 images), so that the signal sent early in epoch 2 lands well before its end.
    const args = [...epochs(2).map((a, i, all) => (all[i - 1] === '--train-count' ? '2000' : a)), '--method', 'predsim', '--beta', '0.9', '--hidden', '16,16'];
    const straight = await runCli(['train', ...args, '--out', dir('predsim-straight')], { cwd: work });
    expect(straight.code, straight.stderr).toBe(0);
    expect(straight.stdout).toMatch(/test accuracy \d+\.\d+% on 2000 images \(local heads: block 1 \d+\.\d+%, block 2 \d+\.\d+%\)/);
    expect(JSON.parse(readFileSync(join(dir('predsim-straight'), 'config.json'), 'utf8')).spec).toMatchObject({ method: 'predsim', predsim: { beta: 0.9 } });
    const printed = Number(/test accuracy (\d+\.\d+)%/.exec(straight.stdout)![1]);
    const evaluated = await runCli(['eval', dir('predsim-straight'), '--json'], { cwd: work });
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(100 * (JSON.parse(evaluated.stdout) as { accuracy: number }).accuracy).toBeCloseTo(printed, 1);
    const stopped = await stoppedInEpoch2([...args, '--out', dir('predsim')]);
    expect(stopped.code, stopped.stderr).toBe(143);
    const resumed = await runCli(['train', '--resume', dir('predsim')], { cwd: work });
    expect(resumed.code, resumed.stderr).toBe(0);
    expectSameWeights(dir('predsim-straight'), dir('predsim'));
  });

  it("DGL on a CNN and a ViT through the command: the auxiliary nets' batch-norm statistics in the checkpoint, sll eval at the printed accuracy, and the CNN resumed bitwise after SIGTERM", async () => {
    const cnnArgs = [...epochs(2).slice(2), '--model', 'cnn', '--channels', '4,8', '--fc', '16', '--method', 'dgl'];
    const straight = await runCli(['train', ...cnnArgs, '--out', dir('dgl-cnn-straight')], { cwd: work });
    expect(straight.code, straight.stderr).toBe(0);
    expect(straight.stdout).toMatch(/test accuracy \d+\.\d+% on 2000 images \(local heads: block 1 \d+\.\d+%, block 2 \d+\.\d+%, block 3 \d+\.\d+%\)/);
    const printed = Number(/test accuracy (\d+\.\d+)%/.exec(straight.stdout)![1]);
    const evaluated = await runCli(['eval', dir('dgl-cnn-straight'), '--json'], { cwd: work });
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(100 * (JSON.parse(evaluated.stdout) as { accuracy: number }).accuracy).toBeCloseTo(printed, 1);
    const stopped = await stoppedInEpoch2([...cnnArgs, '--out', dir('dgl-cnn')]);
    expect(stopped.code, stopped.stderr).toBe(143);
    const resumed = await runCli(['train', '--resume', dir('dgl-cnn')], { cwd: work });
    expect(resumed.code, resumed.stderr).toBe(0);
    // The comparison covers every tensor of the checkpoint: the MLP-aux nets' running statistics too.
    expectSameWeights(dir('dgl-cnn-straight'), dir('dgl-cnn'));
    const vitRun = dir('dgl-vit');
    const vitTrained = await runCli(['train', ...TINY.slice(2), '--model', 'vit', '--patch', '7', '--dim', '8', '--heads', '2', '--depth', '2', '--method', 'dgl', '--out', vitRun], { cwd: work });
    expect(vitTrained.code, vitTrained.stderr).toBe(0);
    expect(vitTrained.stdout).toMatch(/test accuracy \d+\.\d+% on 2000 images \(local heads: block 1 \d+\.\d+%, block 2 \d+\.\d+%\)/);
    const vitEvaluated = await runCli(['eval', vitRun, '--json'], { cwd: work });
    expect(vitEvaluated.code, vitEvaluated.stderr).toBe(0);
    expect(100 * (JSON.parse(vitEvaluated.stdout) as { accuracy: number }).accuracy).toBeCloseTo(Number(/test accuracy (\d+\.\d+)%/.exec(vitTrained.stdout)![1]), 1);
  });

  it('Forward-Forward through the command: block heads that predict by goodness, no classifier trained, sll eval at the printed accuracy, a bitwise resume after SIGTERM', async () => {
    const args = [...epochs(2), '--method', 'ff'];
    const straight = await runCli(['train', ...args, '--out', dir('ff-straight')], { cwd: work });
    expect(straight.code, straight.stderr).toBe(0);
    expect(straight.stdout).toMatch(/test accuracy \d+\.\d+% on 2000 images \(local heads: block 1 \d+\.\d+%\)/);
    expect(straight.stdout).not.toMatch(/^ {2}classifier /m);
    const printed = Number(/test accuracy (\d+\.\d+)%/.exec(straight.stdout)![1]);
    const evaluated = await runCli(['eval', dir('ff-straight'), '--json'], { cwd: work });
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(100 * (JSON.parse(evaluated.stdout) as { accuracy: number }).accuracy).toBeCloseTo(printed, 1);
    const stopped = await stoppedInEpoch2([...args, '--out', dir('ff')]);
    expect(stopped.code, stopped.stderr).toBe(143);
    const resumed = await runCli(['train', '--resume', dir('ff')], { cwd: work });
    expect(resumed.code, resumed.stderr).toBe(0);
    expectSameWeights(dir('ff-straight'), dir('ff'));
  });

  it('DGL through the command: a run, its block heads in the report, and sll eval of its checkpoint at the printed accuracy', async () => {
    const run = dir('dgl');
    const trained = await runCli(['train', ...TINY, '--method', 'dgl', '--hidden', '16,16', '--out', run], { cwd: work });
    expect(trained.code, trained.stderr).toBe(0);
    expect(trained.stdout).toMatch(/test accuracy \d+\.\d+% on 2000 images \(local heads: block 1 \d+\.\d+%, block 2 \d+\.\d+%\)/);
    const printed = Number(/test accuracy (\d+\.\d+)%/.exec(trained.stdout)![1]);
    const evaluated = await runCli(['eval', run, '--json'], { cwd: work });
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(100 * (JSON.parse(evaluated.stdout) as { accuracy: number }).accuracy).toBeCloseTo(printed, 1);
    expect(JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')).spec.method).toBe('dgl');
    expect(readFileSync(join(run, 'report.html'), 'utf8')).toContain('dgl');
  });
});
