// The elementwise family of the kernel benchmark (bench/kernels/suite.mjs runs it): the exact
// GELU over a flat tensor, and an add broadcasting a [cols] row over [rows, cols]; each case
// names its op. Memory-bound: the work is the bytes of the inputs read once and of the output
// written once, reported in GB/s. TF.js's peers: tf.add for the add; for GELU, which it has no
// op for in our exact (erf) form, 0.5 x (1 + erf(x / sqrt 2)) composed in one tf.tidy (the
// row's tfjsComposed).
import { randomData } from './shared.mjs';

/** The cases: `full` for full and --quick runs, `smoke` for the smoke run (see suite.mjs). */
const cases = {
  full: [
    { name: 'gelu 4M', op: 'gelu', size: 4 * 1024 * 1024 },
    { name: 'add 4096x1024 + 1024 (broadcast)', op: 'add', rows: 4096, cols: 1024 },
  ],
  smoke: [
    { name: 'gelu 10007 (smoke)', op: 'gelu', size: 10007 },
    { name: 'add 97x61 + 61 (smoke)', op: 'add', rows: 97, cols: 61 },
  ],
};

async function run(bench, c) {
  const { device, ops, tf } = bench;
  const { name, ...shape } = c;
  if (c.op === 'gelu') {
    // Spread over [-4, 4], so both of the curve's bends and its flat tails are exercised.
    const data = randomData(c.size, 16).map((x) => 4 * x);
    const x = device.tensor(data, [c.size]);
    const bytes = 4 * 2 * c.size;
    const row = await bench.compare({ bytes }, () => ops.gelu(x), () => {
      const tx = tf.tensor1d(data);
      // Ours is the exact GELU, x * Phi(x) (shaders/lib/normal.wgsl), so TF.js computes the
      // same erf form: 0.5 x (1 + erf(x / sqrt 2)).
      return { inputs: [tx], make: () => tf.tidy(() => tf.mul(tf.mul(tx, 0.5), tf.add(tf.erf(tf.mul(tx, Math.SQRT1_2)), 1))) };
    });
    x.dispose();
    return [{ op: 'gelu', name, shape, bytes, ours: row.ours, tfjs: row.tfjs, tfjsComposed: '0.5 * x * (1 + tf.erf(x / sqrt(2)))', js: { skipped: 'no JS loop for gelu' } }];
  }
  const aData = randomData(c.rows * c.cols, 17);
  const bData = randomData(c.cols, 18);
  const a = device.tensor(aData, [c.rows, c.cols]);
  const b = device.tensor(bData, [c.cols]);
  const bytes = 4 * (2 * c.rows * c.cols + c.cols);
  const row = await bench.compare({ bytes }, () => ops.add(a, b), () => {
    const ta = tf.tensor2d(aData, [c.rows, c.cols]);
    const tb = tf.tensor1d(bData);
    return { inputs: [ta, tb], make: () => tf.add(ta, tb) };
  });
  a.dispose();
  b.dispose();
  return [{ op: 'add', name, shape, bytes, ours: row.ours, tfjs: row.tfjs, js: { skipped: 'no JS loop for add' } }];
}

export const elementwise = { name: 'elementwise', cases, run };
