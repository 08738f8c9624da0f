// The backprop baseline's check: TF.js (WebGPU backend, same adapter) trains the same MLP
// 784-1000-1000-1000-10 (ReLU) with the same recipe and the same data order as
// bench/experiments/sll-fashion.mjs --method backprop, and writes a record in the same format to
// bench/results/fashion/ (or --out). About 93 samples/s on lavapipe: 3 epochs take about half an hour.
//
//   npm run build && node bench/experiments/tfjs-mlp.mjs [--epochs 3] [--batch 128] [--lr 1e-3] [--seed 0] [--out DIR]
import '../lib/help.mjs'; // --help prints the comment above, before anything else loads
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, globals } from 'webgpu';
import { data } from '../../dist/src/node.js';
import { option } from '../lib/options.mjs';
import { refreshResultsDoc } from '../results-doc.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const epochs = Number(option('epochs', 3));
const batchSize = Number(option('batch', 128));
const lr = Number(option('lr', 1e-3));
const seed = Number(option('seed', 0));

Object.assign(globalThis, globals);
const gpu = create([]); // held for the whole run: dawn.node frees a collected instance
globalThis.navigator = { gpu, userAgent: 'node' };
const tf = await import('@tensorflow/tfjs');
await import('@tensorflow/tfjs-backend-webgpu');
if (!(await tf.setBackend('webgpu'))) throw new Error('the TF.js WebGPU backend did not initialise');
const info = tf.backend().adapterInfo ?? {};

const dataset = data.loadFashionMnist();
const { train, validation } = data.splitValidation(dataset, 5000);
const model = tf.sequential({
  layers: [
    tf.layers.dense({ inputShape: [784], units: 1000, activation: 'relu' }),
    tf.layers.dense({ units: 1000, activation: 'relu' }),
    tf.layers.dense({ units: 1000, activation: 'relu' }),
    tf.layers.dense({ units: 10 }),
  ],
});
// PyTorch's default init, as the engine uses: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
for (const layer of model.layers) {
  const [kernel, bias] = layer.getWeights();
  const bound = 1 / Math.sqrt(kernel.shape[0]);
  layer.setWeights([tf.randomUniform(kernel.shape, -bound, bound, 'float32', seed), tf.randomUniform(bias.shape, -bound, bound, 'float32', seed + 1)]);
}
model.compile({ optimizer: tf.train.adam(lr), loss: (y, logits) => tf.losses.softmaxCrossEntropy(y, logits) });

async function accuracy(split) {
  let correct = 0;
  for (const batch of data.batches(split, { batchSize: 1000, shuffle: false })) {
    const predicted = tf.tidy(() => model.predict(tf.tensor2d(batch.images, [batch.size, 784])).argMax(-1));
    const values = await predicted.data();
    predicted.dispose();
    for (let i = 0; i < batch.size; i++) if (values[i] === batch.labels[i]) correct++;
  }
  return correct / split.count;
}

const epochRecords = [];
const started = Date.now();
for (let epoch = 0; epoch < epochs; epoch++) {
  const t0 = Date.now();
  let steps = 0;
  for (const batch of data.batches(train, { batchSize, seed, epoch, dropLast: true })) {
    const x = tf.tensor2d(batch.images, [batch.size, 784]);
    const y = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), 10);
    await model.trainOnBatch(x, y);
    x.dispose();
    y.dispose();
    steps++;
  }
  const seconds = (Date.now() - t0) / 1000;
  const validationAccuracy = await accuracy(validation);
  epochRecords.push({ epoch: epoch + 1, seconds, samplesPerSecond: (steps * batchSize) / seconds, validation: { accuracy: validationAccuracy, blockAccuracy: [], count: validation.count } });
  console.log(`epoch ${epoch + 1}: ${seconds.toFixed(0)} s, ${((steps * batchSize) / seconds).toFixed(0)} samples/s, validation ${(100 * validationAccuracy).toFixed(2)}%`);
}
const testAccuracy = await accuracy(dataset.test);
console.log(`test accuracy ${(100 * testAccuracy).toFixed(2)}%`);
const record = {
  date: new Date().toISOString(),
  adapter: { description: [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'webgpu' },
  model: 'mlp 784-1000-1000-1000-10',
  method: 'tfjs-backprop',
  seed,
  recipe: { epochs, batchSize, optimizer: 'adam', lr, schedule: { kind: 'constant' }, validation: 'last 5,000 training images' },
  epochs: epochRecords,
  test: { accuracy: testAccuracy, blockAccuracy: [], count: dataset.test.count },
  seconds: (Date.now() - started) / 1000,
};
const outDir = option('out', join(root, 'bench', 'results', 'fashion'));
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, `mlp-tfjs-seed${seed}.json`), JSON.stringify(record, null, 2) + '\n');
refreshResultsDoc(join(outDir, `mlp-tfjs-seed${seed}.json`));
void gpu;
