// The softmax family of the kernel benchmark (bench/kernels/suite.mjs runs it): softmax over the
// last axis of [rows, cols], a classifier head's shape and a wide one. Memory-bound: its work is
// the bytes of x read once and of the probabilities written once, reported in GB/s. TF.js's
// peer is tf.softmax on the same data.
import { randomData } from './shared.mjs';

/** The cases: `full` for full and --quick runs, `smoke` for the smoke run (see suite.mjs). */
const cases = {
  full: [
    { name: 'softmax 4096x10 (classifier head)', rows: 4096, cols: 10 },
    { name: 'softmax 1024x1000', rows: 1024, cols: 1000 },
  ],
  smoke: [{ name: 'softmax 100x77 (smoke)', rows: 100, cols: 77 }],
};

async function run(bench, c) {
  const { device, ops, tf } = bench;
  const { name, ...shape } = c;
  const data = randomData(c.rows * c.cols, 12);
  const x = device.tensor(data, [c.rows, c.cols]);
  const bytes = 4 * 2 * c.rows * c.cols; // x in, the probabilities out
  const row = await bench.compare({ bytes }, () => ops.softmax(x), () => {
    const tx = tf.tensor2d(data, [c.rows, c.cols]);
    return { inputs: [tx], make: () => tf.softmax(tx) };
  });
  x.dispose();
  return [{ op: 'softmax', name, shape, bytes, ours: row.ours, tfjs: row.tfjs, js: { skipped: 'no JS loop for softmax' } }];
}

export const softmax = { name: 'softmax', cases, run };
