/**
 * `sll eval`: a checkpoint (or a run directory) on a dataset split: accuracy, per-class
 * accuracy and the confusion matrix, with the class names when the dataset has them.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DATASETS, loadDatasetByName } from '../data/registry.js';
import { splitValidation } from '../data/datasets.js';
import type { Device } from '../gpu/device.js';
import { LimitError } from '../gpu/errors.js';
import { RUN_FILES } from '../run/directory.js';
import { loadModel, readCheckpoint } from '../sll/checkpoint.js';
import { confusionMatrix, Predictor } from '../sll/predict.js';
import { formatHelp, parseArgs, UsageError, type CommandSpec } from './args.js';
import { requireKnownDataset } from './datasetName.js';
import type { Output } from './progress.js';
import { classNamesOf } from '../data/registry.js';

export const EVAL_COMMAND: CommandSpec = {
  name: 'eval',
  summary: 'Evaluate a checkpoint on a dataset: accuracy, per-class accuracy, confusion matrix.',
  usage: 'sll eval CHECKPOINT|RUN_DIR [--dataset NAME] [--split test|validation|train] [options]',
  options: [
    { name: 'dataset', type: 'string', help: 'dataset to evaluate on', defaultText: "the checkpoint's", value: 'NAME' },
    { name: 'data-dir', type: 'string', help: 'directory holding the dataset files', value: 'DIR' },
    { name: 'split', type: 'string', choices: ['test', 'validation', 'train'], help: 'which examples', defaultText: 'test' },
    { name: 'batch', type: 'integer', help: 'examples per forward pass', defaultText: '256' },
    { name: 'json', type: 'boolean', help: 'print the result as JSON' },
  ],
};

export async function evalCommand(argv: readonly string[], ctx: { openDevice: () => Promise<Device>; out: Output }): Promise<number> {
  const args = parseArgs(argv, EVAL_COMMAND);
  if (args.help) {
    ctx.out.write(formatHelp(EVAL_COMMAND) + '\n');
    return 0;
  }
  if (args.positionals.length !== 1) throw new UsageError('give one checkpoint file or run directory', 'eval');
  const batch = (args.values.batch as number | undefined) ?? 256;
  if (batch < 1) throw new UsageError(`--batch must be a positive integer, got ${batch}`, 'eval');
  const wanted = args.values.dataset as string | undefined;
  if (wanted !== undefined) requireKnownDataset(wanted, '--dataset', 'eval');
  let path = args.positionals[0]!;
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) path = join(path, RUN_FILES.checkpoint);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new UsageError(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 'eval');
  }
  // Verified (digests, finite weights) before anything else is loaded.
  const checkpoint = await readCheckpoint(bytes, path);
  const { data, spec } = checkpoint.meta;
  const name = (args.values.dataset as string | undefined) ?? data.name;
  const dataDir = args.values['data-dir'] as string | undefined;
  const which = (args.values.split as string | undefined) ?? 'test';
  // What the checkpoint and the registry already tell is checked before the data is read.
  if (which === 'validation' && spec.dataset.validation === 0) throw new UsageError(`${path}: the run held out no validation examples`, 'eval');
  const published = Object.hasOwn(DATASETS, name) ? DATASETS[name]! : undefined;
  if (published && dataDir === undefined && (published.classes !== data.classes || published.shape.some((d, i) => d !== data.inputShape[i]))) {
    throw new UsageError(`${path} was trained on ${data.inputShape.join('x')} images of ${data.classes} classes; ${name} has ${published.shape.join('x')} and ${published.classes}`, 'eval');
  }
  const dataset = loadDatasetByName(name, dataDir !== undefined ? { dir: dataDir } : {});
  if (dataset.classes !== data.classes || dataset.shape.some((d, i) => d !== data.inputShape[i])) {
    throw new UsageError(`${path} was trained on ${data.inputShape.join('x')} images of ${data.classes} classes; ${name} has ${dataset.shape.join('x')} and ${dataset.classes}`, 'eval');
  }
  const split =
    which === 'test' ? dataset.test
    : spec.dataset.validation > 0 ? splitValidation(dataset, spec.dataset.validation)[which === 'train' ? 'train' : 'validation']
    : dataset.train;
  const device = await ctx.openDevice();
  try {
    // The dataset is normalized with its own statistics; the model expects the checkpoint's.
    const images = new Float32Array(split.images.length);
    const scale = dataset.std / data.std;
    const shift = (dataset.mean - data.mean) / data.std;
    for (let i = 0; i < images.length; i++) images[i] = split.images[i]! * scale + shift;
    const predictor = new Predictor(device, loadModel(device, checkpoint, path), data, true, checkpoint.meta.spec.method);
    let classes: Int32Array;
    try {
      ({ classes } = await predictor.predict(images, batch));
    } catch (error) {
      // A batch too large for one of the device's limits is the flag's fault: say which value fits.
      const t = error instanceof LimitError ? error.tensor : undefined;
      if (!t) throw error;
      const rows = Math.min(batch, split.count);
      const fits = Math.max(1, Math.floor((rows * t.limit) / t.bytes));
      throw new UsageError(`--batch ${batch}: an evaluation batch of ${rows} images needs a tensor [${t.shape.join(', ')}] of ${t.bytes} bytes, over this device's ${t.limitName} of ${t.limit} bytes: use --batch ${fits} or less`, 'eval');
    } finally {
      predictor.dispose();
    }
    const confusion = confusionMatrix(split.labels, classes, data.classes);
    const correct = confusion.reduce((n, row, k) => n + row[k]!, 0);
    const accuracy = correct / Math.max(split.count, 1);
    const names = data.classNames ?? classNamesOf(name, dataset) ?? Array.from({ length: data.classes }, (_, k) => String(k));
    if (args.values.json) {
      ctx.out.write(JSON.stringify({ checkpoint: path, notices: checkpoint.notices, dataset: name, split: which, count: split.count, accuracy, classNames: names, confusion }, null, 2) + '\n');
      return 0;
    }
    const lines = [...checkpoint.notices, `${path}: ${spec.model.kind} trained by ${spec.method}, position epoch ${checkpoint.meta.position.epoch}, batch ${checkpoint.meta.position.batch}`, `${name} ${which}: accuracy ${(100 * accuracy).toFixed(2)}% (${correct}/${split.count})`, ''];
    // Row labels: the class index, and its name where the name says more than the index.
    const labels = names.map((n, k) => (n === String(k) ? String(k) : `${k} ${n}`));
    const head = 'true \\ predicted';
    const w = Math.max(head.length, ...labels.map((l) => l.length)) + 2;
    const cw = Math.max(5, String(split.count).length + 1);
    lines.push(`${head.padEnd(w)}${names.map((_, k) => String(k).padStart(cw)).join('')}   accuracy`);
    confusion.forEach((row, k) => {
      const total = row.reduce((a, b) => a + b, 0);
      lines.push(`${labels[k]!.padEnd(w)}${row.map((c) => String(c).padStart(cw)).join('')}   ${total ? `${((100 * row[k]!) / total).toFixed(1)}%` : '-'}`);
    });
    ctx.out.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    await device.close();
  }
}
