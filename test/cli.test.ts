import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { TRAIN_COMMAND, trainCommand } from '../src/cli/trainCommand.js';
import { EVAL_COMMAND } from '../src/cli/evalCommand.js';
import { INFO_COMMAND } from '../src/cli/infoCommand.js';
import { DATA_COMMAND } from '../src/cli/dataCommand.js';
import type { Output } from '../src/cli/progress.js';
import { loadDigits } from '../src/data/digits.js';
import { decodeSafetensors } from '../src/io/safetensors.js';
import { openNodeDevice } from '../src/node.js';
import { RunDirectory } from '../src/run/directory.js';
import { runTraining } from '../src/run/runTraining.js';
import { decodeCheckpoint } from '../src/sll/checkpoint.js';
import { classModeObjective } from '../src/sll/config.js';
import { checkExpectedAdapter } from './helpers/device.js';
import { cifar10Files } from './helpers/tar.js';
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadCifar10 } from '../src/data/cifar.js';

function capture(onWrite?: (text: string) => void): Output & { text: () => string } {
  let all = '';
  return {
    isTTY: false,
    write: (t) => {
      all += t;
      onWrite?.(t);
    },
    text: () => all,
  };
}

async function openDevice() {
  const device = await openNodeDevice();
  checkExpectedAdapter(device);
  return device;
}

const tmp = () => mkdtempSync(join(tmpdir(), 'sll-cli-'));
/** A small, quick run on 2,560 of the bundled digits: 10 steps an epoch. */
const SMALL = ['--dataset', 'digits', '--train-count', '2560', '--hidden', '32', '--epochs', '2', '--batch', '256', '--metrics-every', '5', '--dropout', '0.1'];

describe('sll command', () => {
  it('prints help, and refuses unknown commands and options with a hint (exit 2)', async () => {
    const out = capture();
    expect(await main(['--help'], out)).toBe(0);
    expect(out.text()).toMatch(/Commands:\n {2}train/);
    const help = capture();
    expect(await main(['train', '--help'], help)).toBe(0);
    for (const flag of ['--model', '--method', '--dataset', '--epochs', '--batch', '--optimizer', '--schedule', '--tau', '--d0', '--dropout', '--no-alignment', '--seed', '--config', '--out', '--resume']) {
      expect(help.text(), flag).toContain(flag);
    }
    for (const command of ['eval', 'info', 'data']) {
      const h = capture();
      expect(await main([command, '--help'], h), command).toBe(0);
      expect(h.text()).toMatch(/Usage: sll /);
    }
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((t: string) => (errors.push(t), true)) as typeof process.stderr.write;
    try {
      expect(await main(['train', '--epoch', '3'], capture())).toBe(2);
      expect(await main(['train', '--model', 'rnn'], capture())).toBe(2);
      expect(await main(['train', '--dataset', 'imagenet', '--epochs', '1'], capture())).toBe(2);
      expect(await main(['fly'], capture())).toBe(2);
      expect(await main(['train', '--optimizer', 'sgd', '--beta1', '0.5', '--epochs', '1'], capture())).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(errors.join('')).toContain('unknown option --epoch (did you mean --epochs?)');
    expect(errors.join('')).toContain("--model must be one of mlp, cnn, vit, got 'rnn'");
    expect(errors.join('')).toMatch(/--dataset "imagenet" is not a known dataset; known: .*cifar10/);
    expect(errors.join('')).toContain("unknown command 'fly'");
    expect(errors.join('')).toContain('--beta1 applies to --optimizer adam or adamw, and the optimizer here is sgd');
  });

  it('train writes a run directory; Ctrl-C saves a checkpoint; --resume ends bitwise where a straight run ends; eval agrees', async () => {
    const straightDir = join(tmp(), 'straight');
    const out = capture();
    expect(await trainCommand([...SMALL, '--out', straightDir], { openDevice, out })).toBe(0);
    expect(out.text()).toMatch(/epoch 2: .* validation accuracy \d+\.\d\d%/);
    expect(out.text()).toMatch(/unit +likelihood +alignment +train acc +val acc\n {2}block 1 +\d\.\d{4} +\d\.\d{4} +\d+\.\d\d% +\d+\.\d\d%\n/);
    expect(out.text()).toMatch(/test accuracy (\d+\.\d\d)% on 2000 images/);
    expect(readdirSync(straightDir).sort()).toEqual(['checkpoint.safetensors', 'config.json', 'metrics.jsonl', 'report.html']);
    const run = new RunDirectory(straightDir);
    const lines = run.readMetrics();
    expect(lines.filter((l) => l.kind === 'epoch').length).toBe(2);
    expect(lines.filter((l) => l.kind === 'step').length).toBe(4); // steps 5 and 10 of each epoch
    // Each epoch line carries every unit's training accuracy over the epoch: the mean of its two
    // equal windows, as the step lines logged them.
    const stepLines = lines.filter((l) => l.kind === 'step') as unknown as { epoch: number; units: { name: string; accuracy: number }[] }[];
    for (const l of lines.filter((l) => l.kind === 'epoch') as unknown as { epoch: number; train: { units: { name: string; accuracy: number }[] } }[]) {
      const windows = stepLines.filter((s) => s.epoch === l.epoch);
      expect(windows).toHaveLength(2);
      l.train.units.forEach((u, i) => {
        expect(u.accuracy, u.name).toBeGreaterThan(0);
        expect(u.accuracy, u.name).toBeCloseTo((windows[0]!.units[i]!.accuracy + windows[1]!.units[i]!.accuracy) / 2, 12);
      });
    }
    const test = lines.find((l) => l.kind === 'test') as { accuracy: number; confusion: number[][] } | undefined;
    expect(test!.confusion.flat().reduce((a, b) => a + b, 0)).toBe(2000);
    expect(test!.confusion.reduce((n, row, k) => n + row[k]!, 0) / 2000).toBeCloseTo(test!.accuracy, 10);
    expect(lines.at(-1)).toMatchObject({ kind: 'status', status: 'finished' });
    const report = readFileSync(run.path('report'), 'utf8');
    expect((report.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(4);

    // The same run, interrupted in epoch 2 and resumed.
    const stoppedDir = join(tmp(), 'stopped');
    let interrupt: ((signal: 'SIGINT' | 'SIGTERM') => void) | undefined;
    const out2 = capture((t) => {
      if (t.startsWith('epoch 2/2')) interrupt?.('SIGINT');
    });
    const code = await trainCommand([...SMALL, '--out', stoppedDir], {
      openDevice,
      out: out2,
      onInterrupt: (handler) => {
        interrupt = handler;
        return () => (interrupt = undefined);
      },
    });
    expect(code).toBe(130);
    expect(out2.text()).toMatch(/stopped at epoch 2, batch \d+ \(checkpoint saved; continue with --resume\)/);
    const saved = decodeCheckpoint(new Uint8Array(readFileSync(join(stoppedDir, 'checkpoint.safetensors'))));
    expect(saved.meta.position.epoch).toBe(1);
    expect(saved.meta.position.batch).toBeGreaterThan(0);
    const out3 = capture();
    expect(await trainCommand(['--resume', stoppedDir], { openDevice, out: out3 })).toBe(0);
    expect(out3.text()).toContain('resumed at epoch 2, batch');

    const a = decodeSafetensors(new Uint8Array(readFileSync(join(straightDir, 'checkpoint.safetensors'))));
    const b = decodeSafetensors(new Uint8Array(readFileSync(join(stoppedDir, 'checkpoint.safetensors'))));
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    for (const [name, t] of a.tensors) {
      const u = b.tensors.get(name)!;
      expect(Buffer.from(u.data.buffer).equals(Buffer.from(t.data.buffer)), `${name} differs`).toBe(true);
    }
    expect(a.metadata.position).toBe(b.metadata.position);
    // metrics.jsonl of the resumed run: each epoch once, steps strictly increasing.
    const resumedLines = new RunDirectory(stoppedDir).readMetrics();
    expect(resumedLines.filter((l) => l.kind === 'epoch').map((l) => (l as { epoch: number }).epoch)).toEqual([1, 2]);
    const steps = resumedLines.filter((l) => l.kind === 'step').map((l) => (l as { step: number }).step);
    expect(steps.every((s, i) => i === 0 || s > steps[i - 1]!)).toBe(true);

    const evalOut = capture();
    expect(await main(['eval', straightDir], evalOut)).toBe(0);
    const accuracy = Number(/accuracy (\d+\.\d\d)% \(\d+\/2000\)/.exec(evalOut.text())?.[1]);
    expect(accuracy).toBeCloseTo(100 * test!.accuracy, 2);
    expect(evalOut.text()).toMatch(/true \\ predicted/);
    expect(await trainCommand([...SMALL, '--out', straightDir], { openDevice, out: capture() }).catch((e: Error) => e.message)).toMatch(/already holds a run: continue it with --resume/);
  });

  it('--no-normalize trains on [0, 1] pixels, eval maps to them, and a resume with other statistics is refused', async () => {
    const dir = join(tmp(), 'raw');
    const out = capture();
    expect(await trainCommand([...SMALL, '--epochs', '1', '--no-normalize', '--out', dir], { openDevice, out })).toBe(0);
    const config = new RunDirectory(dir).readJson('config') as { spec: { dataset: { normalize?: boolean } }; data: { mean: number; std: number } };
    expect(config.spec.dataset.normalize).toBe(false);
    expect(config.data).toMatchObject({ mean: 0, std: 1 });
    const trained = Number(/test accuracy (\d+\.\d\d)%/.exec(out.text())?.[1]);
    const evalOut = capture();
    expect(await main(['eval', dir], evalOut)).toBe(0);
    expect(Number(/accuracy (\d+\.\d\d)% \(\d+\/2000\)/.exec(evalOut.text())?.[1])).toBeCloseTo(trained, 2);

    // The checkpoint was trained on [0, 1] pixels: standardized ones must not continue it.
    const device = await openDevice();
    try {
      const spec = decodeCheckpoint(new Uint8Array(readFileSync(join(dir, 'checkpoint.safetensors')))).meta.spec;
      const error = await runTraining(device, { spec, dataset: loadDigits(), outDir: dir, resume: true }).catch((e: Error) => e.message);
      expect(error).toMatch(/trained on pixels normalized with mean 0 and std 1, but the dataset given has mean 0\.\d+ and std 0\.\d+/);
      const fresh = await runTraining(device, { spec, dataset: loadDigits(), outDir: join(tmp(), 'mismatch') }).catch((e: Error) => e.message);
      expect(fresh).toMatch(/dataset\.normalize false, but .+ was standardized \(mean 0\.\d+, std 0\.\d+\)/);
    } finally {
      await device.close();
    }
  });

  it('a non-finite gradient stops the run naming the block and step, and the last good checkpoint stays', async () => {
    const digits = loadDigits();
    const dir = join(tmp(), 'nan');
    const device = await openDevice();
    try {
      const result = await runTraining(device, {
        // A partial spec: the rest takes the schema's defaults (SLL, Adam 1e-3, class mode, seed 0).
        spec: { model: { hidden: [16, 16] }, dataset: { validation: 0 }, epochs: 3, batchSize: 500, metricsEvery: 4 },
        dataset: digits,
        outDir: dir,
        // After epoch 1, poison the training images: epoch 2 meets a NaN input.
        events: { onEpoch: (r) => void (r.epoch === 1 && digits.train.images.fill(Number.NaN, 0, 784 * 100)) },
      });
      expect(result.status).toBe('non-finite');
      expect(result.message).toMatch(/non-finite gradient in block 1 at step 1[6-9]|non-finite gradient in block 1 at step 2\d/);
      const checkpoint = decodeCheckpoint(new Uint8Array(readFileSync(join(dir, 'checkpoint.safetensors'))));
      expect(checkpoint.meta.position).toEqual({ epoch: 1, batch: 0 });
      for (const [name, t] of checkpoint.tensors) expect((t.data as Float32Array).every(Number.isFinite), name).toBe(true);
      expect(existsSync(join(dir, 'report.html'))).toBe(true);
      expect(new RunDirectory(dir).readMetrics().at(-1)).toMatchObject({ kind: 'status' });
    } finally {
      await device.close();
    }
  });

  it('Ctrl-C (a real SIGINT to the built command) saves a checkpoint and exits 130', async () => {
    const cli = new URL('../dist/src/cli/main.js', import.meta.url).pathname;
    expect(existsSync(cli), 'dist/ is built by npm test; run npm run build first').toBe(true);
    const dir = join(tmp(), 'sigint');
    const args = SMALL.map((a, i) => (SMALL[i - 1] === '--epochs' ? '200' : a));
    const child = spawn(process.execPath, [cli, 'train', ...args, '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let signalled = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!signalled && /epoch 2\/200/.test(stdout)) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(stdout).toContain('stopping after this step and saving a checkpoint');
    expect(code).toBe(130);
    const saved = decodeCheckpoint(new Uint8Array(readFileSync(join(dir, 'checkpoint.safetensors'))));
    expect(saved.meta.position.epoch).toBeGreaterThanOrEqual(1);
    expect(new RunDirectory(dir).readMetrics().at(-1)).toMatchObject({ kind: 'status', status: expect.stringMatching(/^stopped at epoch/) });
  });

  it('data fetch verifies what it downloads: a file with the wrong MD5 is refused and removed', async () => {
    const server = createServer((req, res) => res.writeHead(200).end('not mnist!\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const dir = join(tmp(), 'fetch');
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((t: string) => (errors.push(t), true)) as typeof process.stderr.write;
    const out = capture();
    try {
      expect(await main(['data', 'fetch', 'mnist', '--dir', dir, '--mirror', `http://127.0.0.1:${port}/`, '--timeout', '20'], out)).toBe(1);
    } finally {
      process.stderr.write = write;
      server.close();
    }
    expect(out.text(), errors.join('')).toContain('[1/4] train-images-idx3-ubyte.gz: downloading from http://127.0.0.1');
    expect(errors.join('')).toMatch(/train-images-idx3-ubyte\.gz.*MD5/i);
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });

  it("the README's CLI reference names every option the parser knows", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const command of [TRAIN_COMMAND, EVAL_COMMAND, INFO_COMMAND, DATA_COMMAND]) {
      for (const option of command.options) expect(readme, `sll ${command.name} --${option.name}`).toContain(`--${option.name}`);
    }
  });

  it('the VGG-style CNN trains on CIFAR-format files with augmentation, and resumes bitwise through it', async () => {
    const dataDir = join(tmp(), 'cifar-10-batches-bin');
    mkdirSync(dataDir);
    for (const [name, bytes] of Object.entries(cifar10Files(24).files)) writeFileSync(join(dataDir, name), bytes);
    const cifar = loadCifar10(dataDir);
    expect(cifar.shape).toEqual([3, 32, 32]);
    const spec = {
      method: 'sll' as const,
      model: { kind: 'cnn' as const, channels: [4, 8, 8], convsPerStage: 2, hidden: 16, stageFeatures: 'flatten' as const },
      dataset: { name: 'cifar10', validation: 0, augment: true },
      epochs: 2,
      batchSize: 20,
      optimizer: { kind: 'adam' as const, lr: 1e-3 },
      schedule: { kind: 'constant' as const },
      objective: { ...classModeObjective(10), mode: 'latent' as const, d0: 32, tau: 2 },
      seed: 3,
      metricsEvery: 2,
    };
    const device = await openDevice();
    try {
      const straight = await runTraining(device, { spec, dataset: cifar, outDir: join(tmp(), 'a') });
      expect(straight.status).toBe('finished');
      const stop = new AbortController();
      const stopped = await runTraining(device, { spec, dataset: cifar, outDir: join(tmp(), 'b'), signal: stop.signal, events: { onProgress: (p) => void (p.epoch === 1 && stop.abort()) } });
      expect(stopped.status).toBe('stopped');
      expect(stopped.position).toEqual({ epoch: 1, batch: 2 });
      const resumed = await runTraining(device, { spec, dataset: cifar, outDir: stopped.dir.dir, resume: true });
      expect(resumed.status).toBe('finished');
      const a = decodeSafetensors(straight.dir.readCheckpoint());
      const b = decodeSafetensors(resumed.dir.readCheckpoint());
      for (const [name, t] of a.tensors) expect(Buffer.from(b.tensors.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
      // The augmentation did act: without it the same run ends elsewhere.
      const plain = await runTraining(device, { spec: { ...spec, dataset: { ...spec.dataset, augment: false } }, dataset: cifar, outDir: join(tmp(), 'c') });
      const c = decodeSafetensors(plain.dir.readCheckpoint());
      expect(Buffer.from(c.tensors.get('block1.0.weight')!.data.buffer).equals(Buffer.from(a.tensors.get('block1.0.weight')!.data.buffer))).toBe(false);
    } finally {
      await device.close();
    }
  });

  it('info names the adapter and what the engine can use; data lists the known datasets', async () => {
    const out = capture();
    expect(await main(['info'], out)).toBe(0);
    expect(out.text()).toMatch(/adapter: +\S/);
    expect(out.text()).toMatch(/f16 tensors: +(yes|no)/);
    expect(out.text()).toMatch(/maxStorageBufferBindingSize/);
    // The layouts family the device runs, and its matmul and attention choices.
    expect(out.text()).toMatch(/kernels: +(software|gpu) layouts(?: \(forced by SLL_KERNELS\))?; matmul \w+ \(thin: \w+\), attention \w+\n/);
    const data = capture();
    expect(await main(['data'], data)).toBe(0);
    for (const name of ['fashion-mnist', 'mnist', 'cifar10', 'cifar100', 'digits']) expect(data.text()).toContain(name);
    expect(data.text()).toMatch(/digits +.*\n +found in /);
  });
});
