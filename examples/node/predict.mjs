// The library from Node, without the command: load a checkpoint that `sll train` wrote and
// classify the first test digits with it.
//
//   npm start                      (trains, and prints where the checkpoint is)
//   node examples/node/predict.mjs runs/digits-mlp-sll-seed0/checkpoint.safetensors
import { readFileSync } from 'node:fs';
import { data, openNodeDevice, sll } from '../../dist/src/node.js';

const path = process.argv[2] ?? 'runs/digits-mlp-sll-seed0/checkpoint.safetensors';
const device = await openNodeDevice();
try {
  // Verifies the file first (checksums, finite weights); an old checkpoint without checksums
  // loads with a notice.
  const predictor = await sll.Predictor.fromCheckpoint(device, new Uint8Array(readFileSync(path)), path, { onNotice: (text) => console.warn(text) });
  const digits = data.loadDigits();
  const n = 20;
  const perImage = digits.shape.reduce((a, b) => a * b, 1);
  // Images normalized as in training; predictPixels() takes raw [0, 1] pixels instead.
  const { classes, probabilities } = await predictor.predict(digits.test.images.subarray(0, n * perImage));
  for (let i = 0; i < n; i++) {
    const p = probabilities[i * digits.classes + classes[i]];
    console.log(`test image ${i}: label ${digits.test.labels[i]}, predicted ${classes[i]} (p = ${p.toFixed(3)})`);
  }
  predictor.dispose();
} finally {
  device.destroy();
}
