// The paths that load a checkpoint from disk verify it: `sll eval` and a resumed run refuse a
// damaged file naming the tensor, and load a format /1 file (written before digests) with one
// notice that it carries no checksums. The checkpoint itself is tested in sll-checkpoint.test.ts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evalCommand } from '../src/cli/evalCommand.js';
import type { Output } from '../src/cli/progress.js';
import { loadDigits } from '../src/data/digits.js';
import { decodeSafetensors, encodeSafetensors } from '../src/io/safetensors.js';
import { openNodeDevice } from '../src/node.js';
import { runTraining } from '../src/run/runTraining.js';
import { kernelChoices } from '../src/ops/choices.js';
import { CheckpointError } from '../src/sll/checkpoint.js';
import type { TrainingSpecInput } from '../src/sll/spec.js';
import { resealMetadata } from './helpers/checkpoint.js';
import { checkExpectedAdapter, testDevice } from './helpers/device.js';

const device = await testDevice();
const tempRoot = mkdtempSync(join(tmpdir(), 'sll-integrity-test-'));
afterAll(() => rmSync(tempRoot, { recursive: true, force: true }));

/** A partial spec: runTraining completes it from the schema's defaults (Adam 1e-3, class mode). */
const spec: TrainingSpecInput = { model: { kind: 'mlp', hidden: [16] }, dataset: { validation: 0, trainCount: 500 }, epochs: 1, batchSize: 250, metricsEvery: 2 };

/** `sll eval DIR` on a device of its own (the command destroys it); its output, or its error. */
async function evalRun(dir: string): Promise<string> {
  let text = '';
  const out: Output = { isTTY: false, write: (t) => void (text += t) };
  const openDevice = async () => {
    const own = await openNodeDevice();
    checkExpectedAdapter(own);
    return own;
  };
  expect(await evalCommand([dir], { openDevice, out })).toBe(0);
  return text;
}

describe('loading a checkpoint from disk', () => {
  it('sll eval and --resume load a /1 checkpoint with one notice, and refuse a damaged /3 one naming the tensor', async () => {
    const dir = join(tempRoot, 'run');
    const digits = loadDigits();
    expect((await runTraining(device, { spec, dataset: digits, outDir: dir })).status).toBe('finished');
    const path = join(dir, 'checkpoint.safetensors');
    const good = new Uint8Array(readFileSync(path));
    expect(await evalRun(dir)).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: mlp trained by sll`));

    // The last data byte is the top byte of a float of the last tensor in the file.
    const { tensors } = decodeSafetensors(good);
    const last = [...tensors.keys()].at(-1)!;
    const damaged = good.slice();
    damaged[damaged.length - 1]! ^= 0x01;
    writeFileSync(path, damaged);
    const refusal = `${path}: tensor '${last}' does not match its sha256 digest`;
    await expect(evalRun(dir)).rejects.toThrow(refusal);
    await expect(evalRun(dir)).rejects.toThrow(CheckpointError);
    await expect(runTraining(device, { spec, dataset: digits, outDir: dir, resume: true })).rejects.toThrow(refusal);

    const { metadata } = decodeSafetensors(good);
    metadata.format = 'sll-webgpu-checkpoint/1';
    delete metadata.sha256;
    delete metadata.metadataSha256;
    writeFileSync(path, encodeSafetensors(Object.fromEntries([...tensors].map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape, data: t.data }])), metadata));
    const notice = `${path}: a checkpoint of format sll-webgpu-checkpoint/1 carries no checksums; its weights are loaded unverified`;
    const text = await evalRun(dir);
    expect(text.startsWith(`${notice}\n${path}: mlp trained by sll`)).toBe(true);
    expect(text.split(notice).length).toBe(2);
    const notices: string[] = [];
    const resumed = await runTraining(device, { spec, dataset: digits, outDir: dir, resume: true, events: { onNotice: (t) => notices.push(t) } });
    expect(resumed.status).toBe('finished');
    expect(notices).toEqual([notice]);
  });

  it('records the kernel choices beside the adapter, and a resume under other choices says it is no longer bitwise', async () => {
    const dir = join(tempRoot, 'kernels');
    const digits = loadDigits();
    expect((await runTraining(device, { spec, dataset: digits, outDir: dir })).status).toBe('finished');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config.kernels).toEqual(kernelChoices(device));
    const path = join(dir, 'checkpoint.safetensors');
    const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(path)));
    expect(JSON.parse(metadata.kernels!)).toEqual(kernelChoices(device));

    const notices: string[] = [];
    const same = await runTraining(device, { spec, dataset: digits, outDir: dir, resume: true, events: { onNotice: (t) => notices.push(t) } });
    expect(same.status).toBe('finished');
    expect(notices).toEqual([]);

    const other = kernelChoices(device).matmul.large === 'plain' ? 'tiled' : 'plain';
    metadata.kernels = JSON.stringify({ ...kernelChoices(device), matmul: { ...kernelChoices(device).matmul, large: other } });
    resealMetadata(metadata); // as if written so: a checkpoint trained under the other choice
    writeFileSync(path, encodeSafetensors(Object.fromEntries([...tensors].map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape, data: t.data }])), metadata));
    await runTraining(device, { spec, dataset: digits, outDir: dir, resume: true, events: { onNotice: (t) => notices.push(t) } });
    expect(notices).toEqual([`resuming on the same adapter with other kernel choices (matmul.large ${other} -> ${kernelChoices(device).matmul.large}): the run continues within a tolerance of an uninterrupted one, not bitwise`]);
  });
});
