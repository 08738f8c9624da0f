// The layernorm family of the kernel benchmark (bench/kernels/suite.mjs runs it): layer norm over
// the last axis of [rows, cols] with gamma and beta, the ViT's shape and a wider one.
// Memory-bound: its work is the bytes of x, gamma and beta read once and of y written once,
// reported in GB/s (ours also writes each row's mean and 1 / std for the backward pass, not
// counted). TF.js has no single op for it: its figure is of tf.moments and the normalisation
// composed in one tf.tidy (the row's tfjsComposed).
import { randomData } from './shared.mjs';

/** The cases: `full` for full and --quick runs, `smoke` for the smoke run (see suite.mjs). */
const cases = {
  full: [
    // The ViT's: 128 images x 49 tokens, dim 64.
    { name: 'layernorm 6272x64 (ViT)', rows: 128 * 49, cols: 64 },
    { name: 'layernorm 4096x256', rows: 4096, cols: 256 },
  ],
  smoke: [{ name: 'layernorm 60x33 (smoke)', rows: 60, cols: 33 }],
};

async function run(bench, c) {
  const { device, ops, tf } = bench;
  const { name, ...shape } = c;
  const eps = 1e-5; // ours by default
  const xData = randomData(c.rows * c.cols, 13);
  const gammaData = randomData(c.cols, 14);
  const betaData = randomData(c.cols, 15);
  const x = device.tensor(xData, [c.rows, c.cols]);
  const gamma = device.tensor(gammaData, [c.cols]);
  const beta = device.tensor(betaData, [c.cols]);
  // x, gamma and beta in, y out. Ours also writes each row's mean and 1 / std (for the
  // backward pass), a 1 / cols share more, not counted.
  const bytes = 4 * (2 * c.rows * c.cols + 2 * c.cols);
  const row = await bench.compare(
    { bytes },
    () => {
      const r = ops.layerNorm(x, gamma, beta, { eps });
      r.mean.dispose();
      r.rstd.dispose();
      return r.y;
    },
    () => {
      const tx = tf.tensor2d(xData, [c.rows, c.cols]);
      const tg = tf.tensor1d(gammaData);
      const tb = tf.tensor1d(betaData);
      const make = () =>
        tf.tidy(() => {
          const { mean, variance } = tf.moments(tx, -1, true);
          return tf.add(tf.mul(tf.div(tf.sub(tx, mean), tf.sqrt(tf.add(variance, eps))), tg), tb);
        });
      return { inputs: [tx, tg, tb], make };
    },
  );
  for (const t of [x, gamma, beta]) t.dispose();
  return [
    {
      op: 'layerNorm',
      name,
      shape,
      bytes,
      ours: row.ours,
      tfjs: row.tfjs,
      tfjsComposed: 'tf.moments over the last axis, then (x - mean) / sqrt(var + eps) * gamma + beta',
      js: { skipped: 'no JS loop for layerNorm' },
    },
  ];
}

export const layernorm = { name: 'layernorm', cases, run };
