/**
 * The lab page: the visitor's controls, and what the training worker reports drawn as it comes
 * (each unit's loss and training accuracy, samples per second, validation accuracy per epoch,
 * memory by category). Training runs in a
 * dedicated Worker, so the page stays responsive; the charts are the run report's own SVG charts.
 *
 * The page shows one run, the one the worker holds: it checks the form before anything starts
 * (the form's ranges, the model's limits, then sll.resolveTrainingSpec as `sll train` does), so a
 * refused setting changes nothing; a checkpoint replaces what is shown only once it has loaded;
 * and the reports of a run let go are dropped (see protocol.ts).
 */
import { lineChart, MEMORY_CATEGORIES, sll, type ChartSeries, type MemoryStats } from '../../src/index.js';
import { FASHION_FOLDER, IMAGE_SIDE, LAB_CLASSES, LAB_METHODS, METHOD_NAMES, specInput, type LabDataset, type LabSettings, type PageMessage, type WorkerMessage } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('settings');
const buttons = { start: $<HTMLButtonElement>('start'), pause: $<HTMLButtonElement>('pause'), reset: $<HTMLButtonElement>('reset'), save: $<HTMLButtonElement>('save') };
const loadInput = $<HTMLInputElement>('load');
const sweepButton = $<HTMLButtonElement>('sweep');
const tuneButton = $<HTMLButtonElement>('tune');

/** Where this browser keeps the kernel tunings the lab measured: one JSON object, by adapter. */
const TUNINGS_KEY = 'sll-webgpu:kernel-tunings';

/** The kept tunings; none when storage is unavailable (a private window) or holds something else. */
function keptTunings(): Record<string, unknown> {
  try {
    const kept: unknown = JSON.parse(localStorage.getItem(TUNINGS_KEY) ?? '{}');
    return typeof kept === 'object' && kept !== null && !Array.isArray(kept) ? (kept as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function keepTuning(adapter: string, tuning: unknown): void {
  try {
    localStorage.setItem(TUNINGS_KEY, JSON.stringify({ ...keptTunings(), [adapter]: tuning }));
  } catch {
    // Storage refused (a private window, a full quota): the table is in force for this visit only.
  }
}
/** Test images shown with the classifier's prediction. */
const GRID_IMAGES = 16;

/** The drawing pad: white strokes on black, read back as a 28x28 image like MNIST's. */
const pad = $<HTMLCanvasElement>('pad');
const ink = pad.getContext('2d')!;
function clearPad(): void {
  ink.fillStyle = '#000';
  ink.fillRect(0, 0, pad.width, pad.height);
}
clearPad();
let drawing = false;
pad.addEventListener('pointerdown', (e) => {
  drawing = true;
  ink.beginPath();
  ink.moveTo(e.offsetX, e.offsetY);
});
pad.addEventListener('pointermove', (e) => {
  if (!drawing) return;
  ink.strokeStyle = '#fff';
  ink.lineWidth = pad.width / 12;
  ink.lineCap = 'round';
  ink.lineTo(e.offsetX, e.offsetY);
  ink.stroke();
});
for (const end of ['pointerup', 'pointerleave']) pad.addEventListener(end, () => void (drawing = false));

/** The pad scaled down to 28x28 (the browser averages), as [0, 1] ink. */
function padPixels(): Float32Array {
  const small = document.createElement('canvas');
  small.width = small.height = 28;
  const context = small.getContext('2d')!;
  context.drawImage(pad, 0, 0, 28, 28);
  const rgba = context.getImageData(0, 0, 28, 28).data;
  return Float32Array.from({ length: 784 }, (_, i) => rgba[4 * i]! / 255);
}

function showPrediction(units: { name: string; probabilities: number[] }[], classNames: string[]): void {
  const header = `<tr><th></th>${classNames.map((name) => `<th>${name}</th>`).join('')}</tr>`;
  $<HTMLTableElement>('probabilities').innerHTML =
    header +
    units
      .map((u) => {
        const best = u.probabilities.indexOf(Math.max(...u.probabilities));
        return `<tr class="unit"><th>${u.name}</th>${u.probabilities.map((p, k) => `<td${k === best ? ' style="font-weight:700"' : ''}>${p.toFixed(2)}</td>`).join('')}</tr>`;
      })
      .join('');
}

function showGrid(pixels: Float32Array, labels: number[], predicted: number[], classNames: string[]): void {
  const box = $('grid');
  box.replaceChildren(
    ...labels.map((label, i) => {
      const figure = document.createElement('figure');
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = 28;
      const image = canvas.getContext('2d')!.createImageData(28, 28);
      for (let p = 0; p < 784; p++) {
        const v = Math.round(255 * pixels[i * 784 + p]!);
        image.data.set([v, v, v, 255], 4 * p);
      }
      canvas.getContext('2d')!.putImageData(image, 0, 0);
      const caption = document.createElement('figcaption');
      caption.textContent = `${classNames[label]} -> ${classNames[predicted[i]!]}`;
      if (label !== predicted[i]) caption.className = 'wrong';
      figure.append(canvas, caption);
      return figure;
    }),
  );
}

/** Images per step in the depth sweep. */
const SWEEP_BATCH = 512;
/** Peak activation MiB by method, per depth, as the sweep reports them. */
const sweepPoints = new Map<string, { x: number; y: number }[]>();

function drawSweep(): void {
  const series: ChartSeries[] = [...sweepPoints].map(([name, points]) => ({ name, points }));
  $('sweep-chart').innerHTML = sweepPoints.size ? lineChart({ title: 'Peak activation memory of one step', xLabel: 'blocks', yLabel: 'MiB', series, width: 520, height: 280, yInclude: [0] }) : '';
  const depths = [...new Set([...sweepPoints.values()].flatMap((p) => p.map((q) => q.x)))].sort((a, b) => a - b);
  const at = (method: string, depth: number) => sweepPoints.get(method)?.find((p) => p.x === depth)?.y.toFixed(2) ?? '';
  const names = LAB_METHODS.map((m) => METHOD_NAMES[m]).filter((name) => sweepPoints.has(name));
  $<HTMLTableElement>('sweep-table').innerHTML =
    `<tr><th>blocks</th>${names.map((n) => `<th>${n} MiB</th>`).join('')}</tr>` + depths.map((d) => `<tr><td>${d}</td>${names.map((n) => `<td>${at(n, d)}</td>`).join('')}</tr>`).join('');
}

/** What has been reported so far, for the charts. */
const losses = new Map<string, { x: number; y: number }[]>();
/** Each unit's accuracy on the training batches since the previous report, as the steps go. */
const trainingAccuracy = new Map<string, { x: number; y: number }[]>();
const speed = new Map<string, { x: number; y: number }[]>();
const accuracy = new Map<string, { x: number; y: number }[]>();

/**
 * The run the page shows, by the number it gave it (none: no run); the settings it was made
 * with, as the form said them; and where it stands: 'paused' runs (a loaded unfinished one too)
 * can be resumed.
 */
let shown: number | undefined;
let shownKey: string | undefined;
let phase: 'none' | 'training' | 'paused' | 'finished' | 'failed' = 'none';
/** Runs are numbered by the page, in the order it asks for them. */
let runs = 0;
/**
 * The last loaded checkpoint's whole spec and file name: a new run takes what the form does not
 * show from it (its optimizer, schedule, seed, split) until Reset. Absent: the lab's defaults.
 */
let loadedBase: { name: string; spec: sll.TrainingSpecInput } | undefined;
function setLoadedBase(base: typeof loadedBase): void {
  loadedBase = base;
  const spec = base?.spec;
  const data = spec?.dataset;
  // What a new run on the same dataset takes of the loaded run's data settings, if they are not the defaults.
  const split = data ? [data.trainCount !== undefined ? `its first ${data.trainCount} training images` : '', data.augment ? 'augmentation' : '', data.normalize === false ? 'unnormalized pixels' : ''].filter(Boolean) : [];
  $('base-note').textContent = spec
    ? `New runs keep ${base.name}'s settings that the form does not show: ${spec.optimizer?.kind ?? 'its'} optimizer${spec.optimizer?.weightDecay ? ` (weight decay ${spec.optimizer.weightDecay})` : ''}, ${spec.schedule?.kind ?? 'its'} schedule, seed ${spec.seed ?? 'as saved'}${split.length ? `, and on ${data!.name} ${split.join(', ')}` : ''}; Reset returns to the lab's defaults.`
    : '';
}
/** The checkpoint being loaded (it replaces the run shown once it has loaded), if any. */
let pendingLoad: number | undefined;

/** The run's state in words; a note follows it when the form no longer says the run shown. */
let statusText = 'loading...';
function status(text: string): void {
  statusText = text;
  showStatus();
}
function showStatus(): void {
  let note = '';
  if (shown !== undefined && shownKey !== undefined && runKey(settings()) !== shownKey) {
    // Start is offered once the run stands still (paused, finished, failed): while it trains, the settings wait for it.
    note =
      phase === 'paused'
        ? ' (the settings above are not this run\'s: Resume continues the run as it was, Start begins a new one with the new settings)'
        : phase === 'training'
          ? ' (the settings above are not this run\'s: it goes on as it was; pause it, and Start begins a new one with the new settings)'
          : ' (the settings above are not this run\'s: Start begins a new one with the new settings)';
  }
  // Written only when it changes: the status is a live region, read out at each change.
  if ($('status').textContent !== statusText + note) $('status').textContent = statusText + note;
}

/** What the visitor must know went wrong (announced: role="alert"), and the field it is about. */
function showError(text: string, field?: HTMLInputElement): void {
  $('error').textContent = text;
  if (field) {
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  }
}
function clearError(): void {
  $('error').textContent = '';
  document.querySelectorAll('[aria-invalid]').forEach((input) => input.removeAttribute('aria-invalid'));
}

const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement;

function settings(): LabSettings {
  // Read from the fields themselves: a disabled fieldset (SLL's, under backprop) leaves FormData.
  const checked = (name: string) => (form.querySelector(`input[name=${name}]:checked`) as HTMLInputElement | null)?.value;
  const number = (name: string) => Number(field(name).value);
  const mode = field('mode').value === 'latent' ? 'latent' : 'class';
  const d0 = field('d0').value;
  return {
    dataset: field('dataset').value === 'fashion-mnist' ? 'fashion-mnist' : 'digits',
    method: LAB_METHODS.find((m) => m === checked('method')) ?? 'sll',
    model: (['mlp', 'cnn', 'vit'] as const).find((m) => m === field('model').value) ?? 'mlp',
    depth: number('depth'),
    width: number('width'),
    patch: number('patch'),
    activation: sll.BLOCK_ACTIVATIONS.find((a) => a === field('activation').value) ?? 'relu',
    lr: number('lr'),
    batch: number('batch'),
    epochs: number('epochs'),
    // Class mode's d0 is the class count; only latent mode takes the field.
    objective: { mode, ...(mode === 'latent' && d0 ? { d0: Number(d0) } : {}), tau: number('tau'), dropout: number('dropout'), alignment: field('alignment').checked },
    beta: number('beta'),
    ...(loadedBase ? { base: loadedBase.spec } : {}),
  };
}

/** What makes two settings the same run: all of them but the ViT's patch and the MLP's and CNN's activation under another model, and a rule's own settings (SLL's switches, PredSim's beta) under another method. */
function runKey(s: LabSettings): string {
  // Any values, a half-typed field's too: this runs at every keystroke, before the form is checked.
  return JSON.stringify({ ...s, patch: s.model === 'vit' ? s.patch : undefined, activation: s.model !== 'vit' ? s.activation : undefined, objective: s.method === 'sll' ? s.objective : undefined, beta: s.method === 'predsim' ? s.beta : undefined });
}

/** The fields as the page labels them, for the messages. */
const LABELS: Record<string, string> = { beta: 'beta', depth: 'Blocks', width: 'Width', patch: 'Patch', lr: 'Learning rate', batch: 'Batch', epochs: 'Epochs', d0: 'd0', tau: 'tau', dropout: 'Dropout', 'sweep-depth': 'Blocks to measure' };
/** The spec's fields (as sll.resolveTrainingSpec names them) that a form field sets. */
const SPEC_FIELDS: Record<string, string> = {
  'optimizer.lr': 'lr',
  batchSize: 'batch',
  epochs: 'epochs',
  'model.hidden': 'width',
  'model.channels': 'width',
  'model.dim': 'width',
  'model.depth': 'depth',
  'model.patch': 'patch',
  'objective.d0': 'd0',
  'objective.tau': 'tau',
  'objective.dropout': 'dropout',
  'predsim.beta': 'beta',
};
/** The models' shape rules, from the library: the CNN's pooling stages each halve the images (28 -> 14 -> 7); the ViT's patches must tile them. */
const IMAGE_SHAPE = [1, IMAGE_SIDE, IMAGE_SIDE];
const CNN_MAX_BLOCKS = sll.cnnMaxStages(IMAGE_SHAPE);
const CNN_SIDES = Array.from({ length: CNN_MAX_BLOCKS + 1 }, (_, k) => IMAGE_SIDE / 2 ** k).join(' -> ');
const VIT_PATCHES = sll.vitPatches(IMAGE_SHAPE);
/** The ViT's width is split among its attention heads: the default's, or a loaded ViT's own. */
function vitHeads(): number {
  const loaded = loadedBase?.spec.model;
  return loaded?.kind === 'vit' && loaded.heads !== undefined ? loaded.heads : (sll.defaultModelSpec('vit') as Extract<sll.ModelSpec, { kind: 'vit' }>).heads;
}
const DEPTH_MAX = Number(field('depth').max);
const sideBySide = `${IMAGE_SIDE}x${IMAGE_SIDE}`;
const orWords = (values: ReadonlyArray<string | number>) => (values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`);

/**
 * A number field against its own range (its min and max) in the visitor's words: nothing when it
 * holds one (or is empty and `optional`), else what is wrong. `why` explains a model's limit.
 */
function rangeProblem(input: HTMLInputElement, label: string, options: { integer?: boolean; optional?: boolean; why?: string } = {}): string | undefined {
  const range = `between ${input.min} and ${input.max}`;
  const raw = input.value.trim();
  // A number field holds '' for what does not read as a number too.
  if (raw === '' && input.validity.badInput) return `${label} must be a number ${range}${options.why ?? ''}`;
  if (raw === '') return options.optional ? undefined : `${label} is empty: give ${options.integer ? 'a whole number' : 'a number'} ${range}${options.why ?? ''}`;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < Number(input.min) || value > Number(input.max)) return `${label} must be ${range}${options.why ?? ''}, got ${raw}`;
  if (options.integer && !Number.isInteger(value)) return `${label} must be a whole number, got ${raw}`;
  return undefined;
}

/**
 * The form's settings, checked before anything starts: each field against its range and the
 * chosen model's limits, then the whole by sll.resolveTrainingSpec, the rules of `sll train`.
 * A refusal names the field as the page labels it.
 */
function checkSettings(): { settings: LabSettings } | { problem: string; field?: HTMLInputElement } {
  const s = settings();
  const sllFields = s.method === 'sll' ? ['tau', 'dropout', ...(s.objective.mode === 'latent' ? ['d0'] : [])] : [];
  const fields = ['depth', 'width', ...(s.model === 'vit' ? ['patch'] : []), 'lr', 'batch', 'epochs', ...sllFields, ...(s.method === 'predsim' ? ['beta'] : [])];
  for (const name of fields) {
    const why = name === 'depth' && s.model === 'cnn' ? ` with the CNN (it halves the ${sideBySide} images at every block: ${CNN_SIDES})` : undefined;
    const problem = rangeProblem(field(name), LABELS[name]!, { integer: !['lr', 'tau', 'dropout', 'beta'].includes(name), optional: name === 'd0', ...(why ? { why } : {}) });
    if (problem) return { problem, field: field(name) };
  }
  // A rule that does not train this model (the command's own rule, sll.methodModelProblem).
  if (sll.methodModelProblem(s.method, s.model)) {
    const others = sll.METHODS.filter((m) => !sll.methodModelProblem(m, s.model)).map((m) => METHOD_NAMES[m]);
    const modelWord = (k: string) => `the ${k === 'vit' ? 'ViT' : k.toUpperCase()}`;
    const models = sll.MODEL_KINDS.filter((k) => !sll.methodModelProblem(s.method, k)).map(modelWord);
    return { problem: `${METHOD_NAMES[s.method]} does not train ${modelWord(s.model)}: choose ${orWords(models)}, or ${orWords(others)} for ${modelWord(s.model)}` };
  }
  if (s.model === 'vit' && !VIT_PATCHES.includes(s.patch)) return { problem: `Patch must divide the image side, ${IMAGE_SIDE} (${orWords(VIT_PATCHES)}), got ${s.patch}`, field: field('patch') };
  const heads = vitHeads();
  if (s.model === 'vit' && s.width % heads !== 0) return { problem: `Width must be a multiple of ${heads} with the ViT (its ${heads} attention heads share it), got ${s.width}`, field: field('width') };
  // A loaded run's cosine schedule goes on into new runs: its warm-up must leave epochs after it.
  const schedule = s.base?.schedule;
  if (schedule?.kind === 'cosine' && schedule.warmupEpochs !== undefined && schedule.warmupEpochs >= s.epochs) {
    return { problem: `Epochs must be more than ${schedule.warmupEpochs}, the warm-up of the loaded run's cosine schedule (Reset returns to the lab's defaults), got ${s.epochs}`, field: field('epochs') };
  }
  const lastMilestone = schedule?.kind === 'step' ? schedule.milestones?.at(-1) : undefined;
  if (lastMilestone !== undefined && lastMilestone >= s.epochs) {
    return { problem: `Epochs must be more than ${lastMilestone}, the last milestone of the loaded run's step schedule (Reset returns to the lab's defaults), got ${s.epochs}`, field: field('epochs') };
  }
  try {
    // Before the data is loaded: its training count sets only the validation default, which no rule checks.
    sll.resolveTrainingSpec(specInput(s), { classes: LAB_CLASSES, trainCount: 0, datasetName: s.dataset }, 'the lab');
  } catch (error) {
    if (error instanceof sll.SpecError && SPEC_FIELDS[error.path]) {
      const name = SPEC_FIELDS[error.path]!;
      return { problem: `${LABELS[name]} ${error.why}`, field: field(name) };
    }
    return { problem: (error as Error).message };
  }
  return { settings: s };
}

/** Each model's limits beside its fields: the CNN's blocks (clamped when it is chosen), the ViT's patch and width. */
function showModel(clamp: boolean): void {
  const model = field('model').value;
  const depth = field('depth');
  depth.max = String(model === 'cnn' ? CNN_MAX_BLOCKS : DEPTH_MAX);
  if (clamp && Number(depth.value) > Number(depth.max)) depth.value = depth.max;
  $('depth-hint').textContent = model === 'cnn' ? `CNN: at most ${CNN_MAX_BLOCKS} blocks on ${sideBySide} images (each halves them: ${CNN_SIDES})` : `1 to ${DEPTH_MAX}`;
  const width = field('width');
  $('width-hint').textContent =
    model === 'vit' ? `ViT: token width, a multiple of ${vitHeads()} (its heads), ${width.min} to ${width.max}` : `${model === 'cnn' ? 'CNN: channels of every block' : 'MLP: units of every block'}, ${width.min} to ${width.max}`;
  field('patch').disabled = model !== 'vit';
  field('activation').disabled = model === 'vit';
  $('patch-hint').textContent = model === 'vit' ? `ViT: the side of a patch, dividing ${IMAGE_SIDE}: ${orWords(VIT_PATCHES)}` : 'ViT only';
}

/** Shows a run's settings in the form (a loaded checkpoint's), so that the page says what it holds. */
function applySettings(s: LabSettings): void {
  field('dataset').value = s.dataset;
  (form.querySelector(`input[name=method][value=${s.method}]`) as HTMLInputElement).checked = true;
  methodShown = s.method;
  field('model').value = s.model;
  for (const name of ['depth', 'width', 'patch', 'lr', 'batch', 'epochs'] as const) field(name).value = String(s[name]);
  field('activation').value = s.activation;
  field('mode').value = s.objective.mode;
  field('d0').value = s.objective.mode === 'latent' && s.objective.d0 !== undefined ? String(s.objective.d0) : '';
  field('tau').value = String(s.objective.tau);
  field('dropout').value = String(s.objective.dropout);
  field('alignment').checked = s.objective.alignment;
  field('beta').value = String(s.beta);
  showMethod();
  showModel(false);
}

/** A rule's own settings (SLL's switches, PredSim's beta) mean nothing to the other methods: greyed out unless it is chosen. */
function showMethod(): void {
  $<HTMLFieldSetElement>('sll').disabled = settings().method !== 'sll';
  $<HTMLFieldSetElement>('predsim').disabled = settings().method !== 'predsim';
}
form.addEventListener('change', showMethod);
// Choosing a method gives the blocks its default activation (DRTP: tanh, which its
// never-shrinking signal needs; PredSim: LeakyReLU, as its similarity loss drives ReLU units
// dead; rules.ts), as `sll train --method` does, unless another one was
// chosen by hand (anything but the previous method's default), which stays.
let methodShown = settings().method;
form.querySelectorAll<HTMLInputElement>('input[name=method]').forEach((radio) => {
  radio.addEventListener('change', () => {
    const method = settings().method;
    const activation = field('activation');
    if (activation.value === sll.defaultActivation(methodShown)) activation.value = sll.defaultActivation(method);
    methodShown = method;
  });
});
// Each model starts from its recipe's likelihood mode: latent for the CNN, class for the others.
field('model').addEventListener('change', (event) => {
  field('mode').value = (event.target as HTMLSelectElement).value === 'cnn' ? 'latent' : 'class';
  showModel(true);
});
// An edit says at once whether Start or Resume would follow it.
form.addEventListener('input', showStatus);
form.addEventListener('change', showStatus);
showModel(true);

function draw(): void {
  const series = (from: Map<string, { x: number; y: number }[]>): ChartSeries[] => [...from].map(([name, points]) => ({ name, points }));
  $('loss-chart').innerHTML = losses.size ? lineChart({ title: 'Local loss of each unit', xLabel: 'step', yLabel: 'loss', series: series(losses), width: 520, height: 280 }) : '';
  $('training-accuracy-chart').innerHTML = trainingAccuracy.size
    ? lineChart({ title: 'Training accuracy of each head (since the previous point)', xLabel: 'step', yLabel: '%', series: series(trainingAccuracy), width: 520, height: 280, yInclude: [0, 100] })
    : '';
  $('accuracy-chart').innerHTML = accuracy.size ? lineChart({ title: 'Validation accuracy', xLabel: 'epoch', yLabel: '%', series: series(accuracy), width: 520, height: 280, yInclude: [0, 100] }) : '';
  $('speed-chart').innerHTML = speed.size ? lineChart({ title: 'Training speed', xLabel: 'step', yLabel: 'samples/s', series: series(speed), width: 520, height: 280, yInclude: [0] }) : '';
}

function push(into: Map<string, { x: number; y: number }[]>, name: string, x: number, y: number): void {
  if (!into.has(name)) into.set(name, []);
  into.get(name)!.push({ x, y });
}

const MEMORY_HEADER = '<tr><th>category</th><th>live</th><th>peak</th></tr>';
/** Memory by category: what is live now, and the peak since the run started or loaded. */
function showMemory(memory: MemoryStats): void {
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
  $<HTMLTableElement>('memory').innerHTML = MEMORY_HEADER + MEMORY_CATEGORIES.map((c) => `<tr><td>${c}</td><td>${mib(memory.live[c])}</td><td>${mib(memory.peak[c])}</td></tr>`).join('');
}

/** Forgets what the page showed of a run: its charts, figures, test images, predictions and memory. */
function clear(): void {
  for (const chart of [losses, trainingAccuracy, speed, accuracy]) chart.clear();
  $('grid').replaceChildren();
  $('probabilities').replaceChildren();
  $<HTMLTableElement>('memory').innerHTML = MEMORY_HEADER;
  draw();
  for (const id of ['step', 'speed']) $(id).textContent = '0';
  $('epoch').textContent = '-';
  $('rate').textContent = '-';
  $('training-accuracy').textContent = '-';
  $('accuracy').textContent = '-';
  $('model').textContent = 'none yet';
  $('data').textContent = '-';
}

/** Fashion-MNIST is offered when the server has its files; otherwise the option says where they go. */
function offerDatasets(datasets: { name: LabDataset; available: boolean }[]): void {
  const option = form.querySelector<HTMLOptionElement>('select[name=dataset] option[value=fashion-mnist]')!;
  const fashion = datasets.find((d) => d.name === 'fashion-mnist');
  option.disabled = !fashion?.available;
  option.textContent = fashion?.available ? 'Fashion-MNIST (70,000 images)' : `Fashion-MNIST (not served here: its four .gz files go in data/${FASHION_FOLDER}/)`;
}

/**
 * Why this page has no navigator.gpu: browsers give WebGPU to secure pages only, so a page
 * served over plain http from another machine has none, whatever the browser.
 */
function missingWebGpu(secure: boolean, origin: string): string {
  return secure
    ? 'This browser offers no WebGPU (navigator.gpu is missing).'
    : `This page's origin, ${origin}, is not a secure context (plain http from an address other than localhost), and browsers give WebGPU only to secure pages: open the lab over https, or from localhost.`;
}

/** The lab cannot run here: say why and what would work, instead of failing. */
function noWebGpu(why: string): void {
  const box = $('nogpu');
  box.style.display = 'block';
  box.textContent =
    `${why} The lab needs WebGPU: use a recent Chrome or Edge (on by default on Windows, macOS and ChromeOS; ` +
    'on Linux start Chromium with --enable-unsafe-webgpu), Safari 26+, or Firefox 141+ on Windows, on a page served over https or from localhost.';
  status('no WebGPU');
  for (const b of Object.values(buttons)) b.disabled = true;
}

let ready = false;
/** What the tune status says of the page's own kernel tuning (kept, measured, or none), shown again when a loaded run's own is let go. */
let ownTuningText = '';
if (!('gpu' in navigator)) {
  noWebGpu(missingWebGpu(window.isSecureContext, location.origin));
} else {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  const send = (message: PageMessage) => worker.postMessage(message);
  const predictButton = $<HTMLButtonElement>('predict');
  const stopSweep = $<HTMLButtonElement>('sweep-stop');
  buttons.start.disabled = true;
  send({ type: 'init', dataUrl: new URL('./data/', location.href).href, tunings: keptTunings() });

  /** A model is there and idle (trained or loaded): it can be saved, asked about, or replaced. */
  const trained = (text: string) => {
    status(text);
    predictButton.disabled = false;
    send({ type: 'grid', count: GRID_IMAGES });
    buttons.pause.disabled = true;
    buttons.start.disabled = false;
    buttons.reset.disabled = false;
    buttons.save.disabled = false;
  };
  /** The Pause button says what pressing it does: pause a training run, or resume a paused one. */
  const showPaused = (paused: boolean) => {
    buttons.pause.textContent = paused ? 'Resume' : 'Pause';
  };
  /** No run any more (a reset, a start that failed): nothing to save, pause or ask. */
  const noRun = () => {
    shown = undefined;
    shownKey = undefined;
    phase = 'none';
    buttons.start.disabled = false;
    buttons.pause.disabled = true;
    showPaused(false);
    buttons.save.disabled = true;
    predictButton.disabled = true;
  };
  const loadDone = () => {
    pendingLoad = undefined;
    loadInput.disabled = false;
    $('load-status').textContent = '';
  };
  const sweepDone = (text: string) => {
    $('sweep-status').textContent = text;
    sweepButton.disabled = false;
    stopSweep.disabled = true;
  };
  /** Whether a report is about the run shown (one let go is not shown). */
  const isShown = (m: { run: number }) => m.run === shown;

  worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
    const m = event.data;
    switch (m.type) {
      case 'ready':
        ready = true;
        sweepButton.disabled = false;
        tuneButton.disabled = false;
        ownTuningText = m.tuning ?? 'none kept for this adapter: the built-in choices';
        $('tune-status').textContent = ownTuningText;
        $('adapter').textContent = `Adapter: ${m.adapter}`;
        if (m.software) {
          const notice = $('notice');
          notice.style.display = 'block';
          notice.textContent = 'This adapter is a software one (the GPU runs on the CPU): training works, only slowly.';
        }
        offerDatasets(m.datasets);
        buttons.start.disabled = false;
        status('ready');
        break;
      case 'model':
        if (!isShown(m)) break;
        // A new run: the page's own kernel tuning is in force again (a loaded run's went with it).
        $('tune-status').textContent = ownTuningText;
        $('model').textContent = `${m.description} (${m.parameters.toLocaleString('en')} parameters)`;
        $('data').textContent = m.data;
        break;
      case 'tick':
        if (!isShown(m)) break;
        $('step').textContent = String(m.step);
        $('epoch').textContent = `${m.epoch + 1} of ${m.epochs}, ${m.stepInEpoch}/${m.stepsPerEpoch} of its steps`;
        $('rate').textContent = m.rate.toPrecision(3);
        break;
      case 'progress':
        if (!isShown(m)) break;
        for (const u of m.units) {
          push(losses, u.name, m.step, u.likelihood);
          push(trainingAccuracy, u.name, m.step, 100 * u.accuracy);
        }
        push(speed, 'samples/s', m.step, m.samplesPerSecond);
        $('training-accuracy').textContent = m.units.map((u) => `${u.name} ${(100 * u.accuracy).toFixed(1)}%`).join(', ');
        $('step').textContent = String(m.step);
        $('speed').textContent = m.samplesPerSecond.toFixed(0);
        $('rate').textContent = m.rate.toPrecision(3);
        showMemory(m.memory);
        draw();
        break;
      case 'epoch':
        if (!isShown(m)) break;
        if (m.accuracy === undefined) {
          $('accuracy').textContent = 'none (no validation examples held out)';
          break;
        }
        push(accuracy, 'classifier', m.epoch, 100 * m.accuracy);
        m.heads?.forEach((a, i) => push(accuracy, `block ${i + 1} head`, m.epoch, 100 * a));
        $('accuracy').textContent = `${(100 * m.accuracy).toFixed(2)}%`;
        draw();
        break;
      case 'paused':
        if (!isShown(m)) break;
        // Whoever paused it (the Pause button, a save, the depth sweep), the button now resumes it.
        phase = 'paused';
        showPaused(true);
        buttons.pause.disabled = false;
        buttons.start.disabled = false;
        status(
          m.by === 'sweep' || m.by === 'tune'
            ? `paused at step ${m.step} by the ${m.by === 'sweep' ? 'depth sweep' : 'kernel tuning'} (it needs the GPU): Resume continues the run`
            : m.by === 'save'
              ? `paused at step ${m.step} to save its checkpoint: Resume continues the run`
              : `paused at step ${m.step}`,
        );
        buttons.save.disabled = false;
        // A paused model can be looked at as a finished one: the test images, the drawing pad.
        predictButton.disabled = false;
        send({ type: 'grid', count: GRID_IMAGES });
        break;
      case 'checkpoint': {
        // A download, as the browser saves files: the same safetensors `sll eval` reads.
        const link = document.createElement('a');
        link.href = URL.createObjectURL(new Blob([m.bytes], { type: 'application/octet-stream' }));
        link.download = 'sll-lab.safetensors';
        link.click();
        setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
        break;
      }
      case 'tune-row': {
        const table = $<HTMLTableElement>('tune-table');
        if (table.rows.length === 0) table.innerHTML = `<tr><th>shape class</th>${Object.keys(m.variants).map((v) => `<th>${v}</th>`).join('')}<th>built-in</th><th>kept</th></tr>`;
        const row = table.insertRow();
        for (const text of [m.shapeClass, ...Object.values(m.variants), m.builtIn, m.chosen]) row.insertCell().textContent = text;
        $('tune-status').textContent = `${m.shapeClass} measured`;
        break;
      }
      case 'tuned':
        // A table of small products means little: in force for this visit, never kept (as sll tune --quick saves nothing).
        if (!m.quick) keepTuning(m.adapter, m.tuning);
        tuneButton.disabled = false;
        ownTuningText = `kernel tuning in force${m.quick ? ' for this visit (small products: not kept)' : ' and kept'}: ${m.description}`;
        $('tune-status').textContent = ownTuningText;
        break;
      case 'sweep-point':
        push(sweepPoints, METHOD_NAMES[m.method], m.depth, m.activationBytes / 2 ** 20);
        $('sweep-status').textContent = `${m.depth} blocks measured`;
        drawSweep();
        break;
      case 'sweep-done': {
        const measured = Math.max(0, ...[...sweepPoints.values()].flatMap((p) => p.map((q) => q.x)));
        sweepDone(m.stopped ? `stopped after ${measured} block${measured === 1 ? '' : 's'}` : 'done');
        break;
      }
      case 'prediction':
        if (isShown(m)) showPrediction(m.units, m.classNames);
        break;
      case 'grid':
        if (isShown(m)) showGrid(m.pixels, m.labels, m.predicted, m.classNames);
        break;
      case 'loaded': {
        const wanted = m.run === pendingLoad;
        loadDone();
        // A start pressed while it loaded has replaced it already.
        if (!wanted) break;
        // Only now is the run shown replaced: a checkpoint that fails to load leaves it as it was.
        clear();
        shown = m.run;
        applySettings(m.settings);
        setLoadedBase(m.settings.base ? { name: m.name, spec: m.settings.base } : undefined);
        shownKey = runKey(settings());
        $('model').textContent = `${m.description} (${m.parameters.toLocaleString('en')} parameters)`;
        $('data').textContent = m.data;
        $('step').textContent = String(m.step);
        $('rate').textContent = m.rate.toPrecision(3);
        showMemory(m.memory);
        // A run the checkpoint did not finish continues where it stopped, as `sll train --resume` would.
        phase = m.finished ? 'finished' : 'paused';
        // The loaded run's own kernel tuning, while it is held; the page's returns with the next run or a reset.
        $('tune-status').textContent = m.tuning ?? ownTuningText;
        trained(`loaded at step ${m.step}: test accuracy ${(100 * m.testAccuracy).toFixed(2)}%${m.finished ? '' : '; Resume continues it at its own schedule'}${m.notices.length ? ` (${m.notices.join('; ')})` : ''}`);
        showPaused(true);
        buttons.pause.disabled = m.finished;
        break;
      }
      case 'finished':
        if (!isShown(m)) break;
        phase = 'finished';
        showPaused(false);
        trained(`finished: test accuracy ${(100 * m.testAccuracy).toFixed(2)}%`);
        break;
      case 'reset':
        $('tune-status').textContent = ownTuningText;
        clear();
        noRun();
        setLoadedBase(undefined);
        status('ready');
        break;
      case 'error':
        if (!ready) {
          noWebGpu(`No WebGPU device could be opened here (${m.message}).`);
          break;
        }
        switch (m.during) {
          case 'load':
            // The run shown is still the one the worker holds: only the load failed.
            loadDone();
            showError(`The checkpoint was not loaded: ${m.message}`);
            break;
          case 'start':
            if (m.run !== shown) break;
            // The worker let the run before go: there is none now.
            noRun();
            status('not started');
            showError(m.message);
            break;
          case 'training':
            if (m.run !== shown) break;
            phase = 'failed';
            status('stopped by an error');
            showError(m.message);
            buttons.start.disabled = false;
            buttons.pause.disabled = true;
            break;
          case 'sweep':
            sweepDone('failed');
            showError(`The depth sweep failed: ${m.message}`);
            break;
          case 'tune':
            tuneButton.disabled = false;
            $('tune-status').textContent = 'failed';
            showError(`The kernel tuning failed: ${m.message}`);
            break;
          default:
            showError(m.message);
        }
        break;
    }
  };

  buttons.start.onclick = () => {
    clearError();
    const checked = checkSettings();
    // A setting refused changes nothing: the run shown (if any) goes on as it was.
    if ('problem' in checked) return showError(checked.problem, checked.field);
    clear();
    shown = ++runs;
    shownKey = runKey(checked.settings);
    phase = 'training';
    pendingLoad = undefined;
    predictButton.disabled = true;
    send({ type: 'start', settings: checked.settings, run: shown });
    status('training');
    buttons.start.disabled = true;
    buttons.pause.disabled = false;
    showPaused(false);
    buttons.reset.disabled = false;
  };
  buttons.pause.onclick = () => {
    if (shown === undefined) return;
    const resuming = phase === 'paused';
    send({ type: resuming ? 'resume' : 'pause', run: shown });
    showPaused(!resuming);
    if (resuming) {
      phase = 'training';
      buttons.start.disabled = true;
      status('training');
      // The pad asks the model between steps only when it is not training.
      predictButton.disabled = true;
    } else {
      // Until the worker says where it stopped, the button cannot resume it.
      buttons.pause.disabled = true;
      status('pausing...');
    }
  };
  buttons.save.onclick = () => {
    if (shown !== undefined) send({ type: 'save', run: shown });
  };
  predictButton.onclick = () => send({ type: 'predict', pixels: padPixels() });
  $('clear-pad').onclick = clearPad;
  tuneButton.onclick = () => {
    clearError();
    tuneButton.disabled = true;
    $<HTMLTableElement>('tune-table').innerHTML = '';
    $('tune-status').textContent = 'measuring...';
    send({ type: 'tune', quick: $<HTMLInputElement>('tune-quick').checked });
  };
  sweepButton.onclick = () => {
    clearError();
    const depth = $<HTMLInputElement>('sweep-depth');
    for (const [input, label] of [[depth, LABELS['sweep-depth']!], [field('width'), LABELS.width!]] as const) {
      const problem = rangeProblem(input, label, { integer: true });
      if (problem) return showError(problem, input);
    }
    sweepPoints.clear();
    drawSweep();
    sweepButton.disabled = true;
    stopSweep.disabled = false;
    $('sweep-status').textContent = 'measuring...';
    // A batch of 512: a block's kept activations (batch x width x 2 floats) then outweigh the
    // first layer's weight gradient, which sets the peak of a small batch for both methods.
    send({ type: 'sweep', maxDepth: Number(depth.value), width: Number(field('width').value), batch: SWEEP_BATCH });
  };
  stopSweep.onclick = () => {
    send({ type: 'stop-sweep' });
    stopSweep.disabled = true;
    $('sweep-status').textContent = 'stopping after this measurement...';
  };
  loadInput.onchange = async () => {
    const file = loadInput.files?.[0];
    if (!file) return;
    clearError();
    // What the page shows stays until the checkpoint has loaded (the 'loaded' message).
    pendingLoad = ++runs;
    loadInput.disabled = true;
    $('load-status').textContent = `loading ${file.name}...`;
    const bytes = await file.arrayBuffer();
    worker.postMessage({ type: 'load', bytes, name: file.name, run: pendingLoad } satisfies PageMessage, [bytes]);
    loadInput.value = '';
  };
  buttons.reset.onclick = () => {
    clearError();
    send({ type: 'reset' });
    buttons.pause.disabled = true;
    buttons.reset.disabled = true;
  };
}
