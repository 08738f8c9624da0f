// The attention family of the kernel benchmark (bench/kernels/suite.mjs runs it): softmax(Q K^T /
// sqrt(d)) V over [batch, heads, tokens, headDim] Q, K and V, the ViT's shape and a longer one.
// Work: two products of tokens x tokens x headDim per (batch, head), 4 * B * H * Tq * Tk * D
// FLOPs, reported in GFLOPS. TF.js has no single op for it: its figure is of tf.matMul, tf.mul,
// tf.softmax and tf.matMul composed in one tf.tidy (the row's tfjsComposed), on the same data as
// batches of B * H matrices. Ours is the kernel a model on this adapter runs (the fused one or
// the general matmuls and softmax, as src/nn/attention.ts chooses), named in the row;
// --all-variants times both.
import { perSecond, randomData } from './shared.mjs';

/** The cases: `full` for full and --quick runs, `smoke` for the smoke run (see suite.mjs). */
const cases = {
  full: [
    // The ViT's: 128 images, 4 heads, 7x7 patches, head dim 16.
    { name: 'attention 128x4 heads, 49 tokens, d 16 (ViT)', batch: 128, heads: 4, tokens: 49, headDim: 16 },
    { name: 'attention 16x4 heads, 256 tokens, d 64', batch: 16, heads: 4, tokens: 256, headDim: 64 },
  ],
  smoke: [{ name: 'attention 2x3 heads, 19 tokens, d 12 (smoke)', batch: 2, heads: 3, tokens: 19, headDim: 12 }],
};

async function run(bench, c) {
  const { device, ops, tf, settings } = bench;
  const { name, ...shape } = c;
  const batchHeads = c.batch * c.heads;
  const dims = [c.batch, c.heads, c.tokens, c.headDim];
  const size = batchHeads * c.tokens * c.headDim;
  const [qData, kData, vData] = [9, 10, 11].map((seed) => randomData(size, seed));
  const [q, k, v] = [qData, kData, vData].map((data) => device.tensor(data, dims));
  // Two products of tokens x tokens x headDim per (batch, head): Q K^T and P V.
  const flops = 4 * batchHeads * c.tokens * c.tokens * c.headDim;
  // What a model on this adapter runs (src/nn/attention.ts): the fused kernel, or the general
  // matmuls and softmax. Each keeps a tensor for the backward pass, which is freed here.
  const kernels = {
    fused: () => {
      const r = ops.attention(q, k, v);
      r.logSumExp.dispose();
      return r.out;
    },
    matmul: () => {
      const r = ops.attentionByMatmul(q, k, v);
      r.probabilities.dispose();
      return r.out;
    },
  };
  const variant = ops.chooseAttentionKernel(device);
  const scale = 1 / Math.sqrt(c.headDim); // ours by default
  const row = await bench.compare({ flops }, kernels[variant], () => {
    // The same [B, H, T, D] data as batches of B * H matrices; no transposes needed.
    const [tq, tk, tv] = [qData, kData, vData].map((data) => tf.tensor3d(data, [batchHeads, c.tokens, c.headDim]));
    return { inputs: [tq, tk, tv], make: () => tf.tidy(() => tf.matMul(tf.softmax(tf.mul(tf.matMul(tq, tk, false, true), scale)), tv)) };
  });
  const variants = {};
  if (settings.allVariants) {
    for (const [kernel, make] of Object.entries(kernels)) {
      const t = await bench.timeOurs(make);
      variants[kernel] = { medianMs: t.t.medianMs, gflops: perSecond(flops, t.t.medianMs) };
    }
  }
  for (const t of [q, k, v]) t.dispose();
  return [
    {
      op: 'attention',
      name,
      shape,
      flops,
      ours: { variant, ...row.ours },
      tfjs: row.tfjs,
      tfjsComposed: 'tf.matMul(q, k, false, true), tf.mul by 1 / sqrt(d), tf.softmax, tf.matMul by v',
      js: { skipped: 'no JS loop for attention' },
      ...(settings.allVariants ? { variants } : {}),
    },
  ];
}

export const attention = { name: 'attention', cases, run };
