/**
 * The lab page: the visitor's controls, and what the training worker reports drawn as it comes
 * (each unit's loss and training accuracy, samples per second, validation accuracy per epoch,
 * memory by category). Training runs in a
 * dedicated Worker, so the page stays responsive; the charts are the run report's own SVG charts.
 */
import { lineChart, type ChartSeries } from '../../src/report/svg.js';
import { MEMORY_CATEGORIES } from '../../src/gpu/bufferPool.js';
import { FASHION_FOLDER, type LabDataset, type LabSettings, type PageMessage, type WorkerMessage } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('settings');
const buttons = { start: $<HTMLButtonElement>('start'), pause: $<HTMLButtonElement>('pause'), reset: $<HTMLButtonElement>('reset'), save: $<HTMLButtonElement>('save') };
const loadInput = $<HTMLInputElement>('load');
const sweepButton = $<HTMLButtonElement>('sweep');
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
  $<HTMLTableElement>('sweep-table').innerHTML = '<tr><th>blocks</th><th>SLL MiB</th><th>backprop MiB</th></tr>' + depths.map((d) => `<tr><td>${d}</td><td>${at('SLL', d)}</td><td>${at('backprop', d)}</td></tr>`).join('');
}

/** What has been reported so far, for the charts. */
const losses = new Map<string, { x: number; y: number }[]>();
/** Each unit's accuracy on the training batches since the previous report, as the steps go. */
const trainingAccuracy = new Map<string, { x: number; y: number }[]>();
const speed = new Map<string, { x: number; y: number }[]>();
const accuracy = new Map<string, { x: number; y: number }[]>();
let paused = false;

function status(text: string): void {
  $('status').textContent = text;
}

function settings(): LabSettings {
  // Read from the fields themselves: a disabled fieldset (SLL's, under backprop) leaves FormData.
  const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement;
  const checked = (name: string) => (form.querySelector(`input[name=${name}]:checked`) as HTMLInputElement | null)?.value;
  const number = (name: string) => Number(field(name).value);
  const mode = field('mode').value === 'latent' ? 'latent' : 'class';
  const d0 = field('d0').value;
  return {
    dataset: field('dataset').value === 'fashion-mnist' ? 'fashion-mnist' : 'digits',
    method: checked('method') === 'backprop' ? 'backprop' : 'sll',
    model: (['mlp', 'cnn', 'vit'] as const).find((m) => m === field('model').value) ?? 'mlp',
    depth: number('depth'),
    width: number('width'),
    lr: number('lr'),
    batch: number('batch'),
    epochs: number('epochs'),
    // Class mode's d0 is the class count; only latent mode takes the field.
    objective: { mode, ...(mode === 'latent' && d0 ? { d0: Number(d0) } : {}), tau: number('tau'), dropout: number('dropout'), alignment: field('alignment').checked },
  };
}

/** The SLL switches mean nothing to backprop: greyed out while it is chosen. */
function showMethod(): void {
  $<HTMLFieldSetElement>('sll').disabled = settings().method === 'backprop';
}
form.addEventListener('change', showMethod);
// Each model starts from its recipe's likelihood mode: latent for the CNN, class for the others.
(form.elements.namedItem('model') as HTMLSelectElement).addEventListener('change', (event) => {
  (form.elements.namedItem('mode') as HTMLSelectElement).value = (event.target as HTMLSelectElement).value === 'cnn' ? 'latent' : 'class';
});

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

function clear(): void {
  for (const chart of [losses, trainingAccuracy, speed, accuracy]) chart.clear();
  $('grid').replaceChildren();
  $('probabilities').replaceChildren();
  draw();
  for (const id of ['step', 'speed']) $(id).textContent = '0';
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
if (!('gpu' in navigator)) {
  noWebGpu('This browser offers no WebGPU (navigator.gpu is missing).');
} else {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  const send = (message: PageMessage) => worker.postMessage(message);
  buttons.start.disabled = true;
  send({ type: 'init', dataUrl: new URL('./data/', location.href).href });

  /** A model is there and idle (trained or loaded): it can be saved, asked about, or replaced. */
  const trained = (text: string) => {
    status(text);
    $<HTMLButtonElement>('predict').disabled = false;
    send({ type: 'grid', count: GRID_IMAGES });
    buttons.pause.disabled = true;
    buttons.start.disabled = false;
    buttons.reset.disabled = false;
    buttons.save.disabled = false;
  };

  worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
    const m = event.data;
    switch (m.type) {
      case 'ready':
        ready = true;
        sweepButton.disabled = false;
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
        $('model').textContent = `${m.description} (${m.parameters.toLocaleString('en')} parameters)`;
        $('data').textContent = m.data;
        break;
      case 'progress':
        for (const u of m.units) {
          push(losses, u.name, m.step, u.likelihood);
          push(trainingAccuracy, u.name, m.step, 100 * u.accuracy);
        }
        push(speed, 'samples/s', m.step, m.samplesPerSecond);
        $('training-accuracy').textContent = m.units.map((u) => `${u.name} ${(100 * u.accuracy).toFixed(1)}%`).join(', ');
        $('step').textContent = String(m.step);
        $('speed').textContent = m.samplesPerSecond.toFixed(0);
        $<HTMLTableElement>('memory').innerHTML =
          '<tr><th>category</th><th>live</th><th>peak</th></tr>' +
          MEMORY_CATEGORIES.map((c) => `<tr><td>${c}</td><td>${(m.memory.live[c] / 2 ** 20).toFixed(2)} MiB</td><td>${(m.memory.peak[c] / 2 ** 20).toFixed(2)} MiB</td></tr>`).join('');
        draw();
        break;
      case 'epoch':
        push(accuracy, 'classifier', m.epoch, 100 * m.accuracy);
        m.heads.forEach((a, i) => push(accuracy, `block ${i + 1} head`, m.epoch, 100 * a));
        $('accuracy').textContent = `${(100 * m.accuracy).toFixed(2)}%`;
        draw();
        break;
      case 'paused':
        status(`paused at step ${m.step}`);
        buttons.save.disabled = false;
        // A paused model can be looked at as a finished one: the test images, the drawing pad.
        $<HTMLButtonElement>('predict').disabled = false;
        send({ type: 'grid', count: GRID_IMAGES });
        break;
      case 'checkpoint': {
        // A download, as the browser saves files: the same safetensors `sll eval` reads.
        const link = document.createElement('a');
        link.href = URL.createObjectURL(new Blob([m.bytes], { type: 'application/octet-stream' }));
        link.download = 'sll-lab.safetensors';
        link.click();
        setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
        paused = true;
        buttons.pause.textContent = 'Resume';
        break;
      }
      case 'sweep-point':
        push(sweepPoints, m.method === 'sll' ? 'SLL' : 'backprop', m.depth, m.activationBytes / 2 ** 20);
        $('sweep-status').textContent = `${m.depth} blocks measured`;
        drawSweep();
        break;
      case 'sweep-done':
        $('sweep-status').textContent = 'done';
        sweepButton.disabled = false;
        break;
      case 'prediction':
        showPrediction(m.units, m.classNames);
        break;
      case 'grid':
        showGrid(m.pixels, m.labels, m.predicted, m.classNames);
        break;
      case 'loaded':
        trained(`loaded: test accuracy ${(100 * m.testAccuracy).toFixed(2)}%${m.notices.length ? ` (${m.notices.join('; ')})` : ''}`);
        break;
      case 'finished':
        trained(`finished: test accuracy ${(100 * m.testAccuracy).toFixed(2)}%`);
        break;
      case 'reset':
        clear();
        status('ready');
        buttons.start.disabled = false;
        buttons.save.disabled = true;
        $<HTMLButtonElement>('predict').disabled = true;
        break;
      case 'error':
        if (!ready) {
          noWebGpu(`No WebGPU device could be opened here (${m.message}).`);
          break;
        }
        // A setting the model cannot take (a CNN pooled to nothing, say): say so, and let the visitor try again.
        status(`error: ${m.message}`);
        buttons.start.disabled = false;
        buttons.pause.disabled = true;
        break;
    }
  };

  buttons.start.onclick = () => {
    clear();
    paused = false;
    $<HTMLButtonElement>('predict').disabled = true;
    send({ type: 'start', settings: settings() });
    status('training');
    buttons.start.disabled = true;
    buttons.pause.disabled = false;
    buttons.pause.textContent = 'Pause';
    buttons.reset.disabled = false;
  };
  buttons.pause.onclick = () => {
    paused = !paused;
    send({ type: paused ? 'pause' : 'resume' });
    buttons.pause.textContent = paused ? 'Resume' : 'Pause';
    if (!paused) {
      status('training');
      // The pad asks the model between steps only when it is not training.
      $<HTMLButtonElement>('predict').disabled = true;
    }
  };
  buttons.save.onclick = () => send({ type: 'save' });
  $('predict').onclick = () => send({ type: 'predict', pixels: padPixels() });
  $('clear-pad').onclick = clearPad;
  sweepButton.onclick = () => {
    sweepPoints.clear();
    drawSweep();
    sweepButton.disabled = true;
    $('sweep-status').textContent = 'measuring...';
    // A batch of 512: a block's kept activations (batch x width x 2 floats) then outweigh the
    // first layer's weight gradient, which sets the peak of a small batch for both methods.
    send({ type: 'sweep', maxDepth: Number($<HTMLInputElement>('sweep-depth').value), width: settings().width, batch: SWEEP_BATCH });
  };
  loadInput.onchange = async () => {
    const file = loadInput.files?.[0];
    if (!file) return;
    clear();
    status(`loading ${file.name}...`);
    const bytes = await file.arrayBuffer();
    worker.postMessage({ type: 'load', bytes, name: file.name } satisfies PageMessage, [bytes]);
    loadInput.value = '';
  };
  buttons.reset.onclick = () => {
    send({ type: 'reset' });
    buttons.pause.disabled = true;
    buttons.reset.disabled = true;
  };
}
