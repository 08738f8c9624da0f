// The same core as in Node, opened on navigator.gpu. Serve the repository root (npm run serve)
// and open http://localhost:8080/examples/browser/ after `npm run build`.
import { describeAdapter, openBrowserDevice, ops, reference, sll } from '/dist/src/index.js';

const log = document.getElementById('log');
const lines = [];
const say = (line) => {
  lines.push(line);
  log.textContent = lines.join('\n');
};

try {
  const device = await openBrowserDevice();
  say(`adapter: ${describeAdapter(device.report)}`);
  const x = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i) * 4);
  const y = ops.gelu(device.tensor(x));
  const got = await y.read();
  const want = reference.gelu(x);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  say(`gelu on ${x.length} elements: max |GPU - reference| = ${worst.toExponential(2)}`);
  const predicted = await trainSaveAndPredict(device);
  document.body.dataset.done = worst < 1e-5 && predicted ? 'ok' : 'mismatch';
  device.destroy();
} catch (e) {
  say(`error: ${e.message}`);
  document.body.dataset.done = 'error';
}

/**
 * SLL in the page: a small MLP learns four Gaussian blobs, is saved as checkpoint bytes (what a
 * page would fetch() from a run directory), and a Predictor rebuilt from those bytes must agree
 * with the trainer's own evaluation. `?checkpoint=URL` instead predicts with a served checkpoint.
 */
async function trainSaveAndPredict(device) {
  const url = new URLSearchParams(location.search).get('checkpoint');
  if (url) {
    const predictor = await sll.Predictor.fromCheckpoint(device, new Uint8Array(await (await fetch(url)).arrayBuffer()), url, { onNotice: say });
    say(`loaded ${url}: ${predictor.model.name}`);
    predictor.dispose();
    return true;
  }
  const count = 256;
  const images = new Float32Array(count * 16);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 4;
    for (let k = 0; k < 16; k++) images[i * 16 + k] = (k % 4 === labels[i] ? 2 : 0) + Math.sin(i * 16 + k);
  }
  const spec = {
    method: 'sll', model: { kind: 'mlp', hidden: [32, 32] }, dataset: { name: 'blobs', validation: 0, augment: false },
    epochs: 8, batchSize: 32, optimizer: { kind: 'adam', lr: 1e-2 }, schedule: { kind: 'constant' },
    objective: sll.classModeObjective(4), seed: 0, metricsEvery: 8,
  };
  const data = { name: 'blobs', inputShape: [1, 4, 4], classes: 4, mean: 0, std: 1 };
  const model = sll.buildModel(device, spec.model, data, spec.seed);
  const trainer = new sll.Trainer(device, model, { method: 'sll', optimizer: spec.optimizer, seed: 0, metricsEvery: 8 });
  await sll.fit(trainer, { images, labels, count }, data.inputShape, { epochs: spec.epochs, batchSize: spec.batchSize, seed: 0 });
  const x = device.tensor(images, [count, 1, 4, 4]);
  const y = device.tensor(labels, [count], 'i32');
  const { correct } = await trainer.evaluateBatch(x, y, labels);
  x.dispose();
  y.dispose();
  const bytes = await sll.encodeCheckpoint(trainer, { spec, data, position: { epoch: spec.epochs, batch: 0 }, adapter: 'browser' });
  trainer.dispose();
  model.dispose();
  const predictor = await sll.Predictor.fromCheckpoint(device, bytes, 'in-page checkpoint');
  const { classes } = await predictor.predict(images);
  predictor.dispose();
  const agree = classes.filter((c, i) => c === labels[i]).length;
  say(`SLL MLP in the page: trained accuracy ${(100 * correct / count).toFixed(1)}%; checkpoint ${(bytes.length / 1024).toFixed(1)} KiB; predictor from it: ${(100 * agree / count).toFixed(1)}%`);
  return agree === correct && correct / count > 0.9;
}
