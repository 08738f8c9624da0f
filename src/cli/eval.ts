/**
 * `sll eval`: a checkpoint (or a run directory) on a dataset split: accuracy, per-class
 * accuracy and the confusion matrix, with the class names when the dataset has them.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadDatasetByName } from '../data/registry.js';
import { splitValidation } from '../data/datasets.js';
import type { Device } from '../gpu/device.js';
import { RUN_FILES } from '../run/directory.js';
import { decodeCheckpoint } from '../sll/checkpoint.js';
import { confusionMatrix, Predictor } from '../sll/predict.js';
import { formatHelp, parseArgs, UsageError, type CommandSpec } from './args.js';
import type { Output } from './progress.js';
import { classNamesOf } from './train.js';

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
  let path = args.positionals[0]!;
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) path = join(path, RUN_FILES.checkpoint);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new UsageError(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 'eval');
  }
  const checkpoint = decodeCheckpoint(bytes, path);
  const { data, spec } = checkpoint.meta;
  const name = (args.values.dataset as string | undefined) ?? data.name;
  const dataDir = args.values['data-dir'] as string | undefined;
  const dataset = loadDatasetByName(name, dataDir !== undefined ? { dir: dataDir } : {});
  if (dataset.classes !== data.classes || dataset.shape.some((d, i) => d !== data.inputShape[i])) {
    throw new UsageError(`${path} was trained on ${data.inputShape.join('x')} images of ${data.classes} classes; ${name} has ${dataset.shape.join('x')} and ${dataset.classes}`, 'eval');
  }
  const which = (args.values.split as string | undefined) ?? 'test';
  const split =
    which === 'test' ? dataset.test
    : spec.dataset.validation > 0 ? splitValidation(dataset, spec.dataset.validation)[which === 'train' ? 'train' : 'validation']
    : which === 'train' ? dataset.train
    : (() => {
        throw new UsageError(`${path}: the run held out no validation examples`, 'eval');
      })();
  const device = await ctx.openDevice();
  try {
    // The dataset is normalized with its own statistics; the model expects the checkpoint's.
    const images = new Float32Array(split.images.length);
    const scale = dataset.std / data.std;
    const shift = (dataset.mean - data.mean) / data.std;
    for (let i = 0; i < images.length; i++) images[i] = split.images[i]! * scale + shift;
    const predictor = Predictor.fromCheckpoint(device, bytes, path);
    const { classes } = await predictor.predict(images, (args.values.batch as number | undefined) ?? 256);
    predictor.dispose();
    const confusion = confusionMatrix(split.labels, classes, data.classes);
    const correct = confusion.reduce((n, row, k) => n + row[k]!, 0);
    const accuracy = correct / Math.max(split.count, 1);
    const names = data.classNames ?? classNamesOf(name, dataset) ?? Array.from({ length: data.classes }, (_, k) => String(k));
    if (args.values.json) {
      ctx.out.write(JSON.stringify({ checkpoint: path, dataset: name, split: which, count: split.count, accuracy, classNames: names, confusion }, null, 2) + '\n');
      return 0;
    }
    const lines = [`${path}: ${spec.model.kind} trained by ${spec.method}, position epoch ${checkpoint.meta.position.epoch}, batch ${checkpoint.meta.position.batch}`, `${name} ${which}: accuracy ${(100 * accuracy).toFixed(2)}% (${correct}/${split.count})`, ''];
    const w = Math.max(...names.map((n) => n.length), 5);
    const cw = Math.max(5, String(split.count).length + 1);
    lines.push(`${'true \\ predicted'.padEnd(w + 2)}${names.map((_, k) => String(k).padStart(cw)).join('')}   accuracy`);
    confusion.forEach((row, k) => {
      const total = row.reduce((a, b) => a + b, 0);
      lines.push(`${`${k} ${names[k]}`.padEnd(w + 2 + 2).slice(0, w + 2)}${row.map((c) => String(c).padStart(cw)).join('')}   ${total ? `${((100 * row[k]!) / total).toFixed(1)}%` : '-'}`);
    });
    ctx.out.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    device.destroy();
  }
}
