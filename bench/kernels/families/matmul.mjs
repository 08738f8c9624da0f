// The matmul family of the kernel benchmark (bench/kernels/suite.mjs runs it): C = A B for
// square, ragged, skinny (a classifier head's) and long-K shapes. Work: 2MNK FLOPs, reported in
// GFLOPS. TF.js's peer is tf.matMul on the same data. The only family with a plain JS loop
// beside the two engines, and that only where one call is expected to take under the settings'
// jsLimitMs (estimated from the loop's best rate so far); larger sizes are reported as skipped,
// never extrapolated. The row names the variant our dispatcher picks on this adapter (the kernel
// tuning's, when one is in force: then the built-in choice is timed beside it where the two
// differ), and --all-variants times every variant (ops.MATMUL_VARIANTS) beside it. The CPU adapter's targets
// for these cases are KERNEL_TARGETS in bench/results-doc.mjs.
import { median, perSecond, randomData } from './shared.mjs';

/** The cases: `full` for full and --quick runs, `smoke` for the smoke run (see suite.mjs). */
const cases = {
  full: [
    { name: 'matmul 256 cube', m: 256, n: 256, k: 256 },
    { name: 'matmul 512 cube', m: 512, n: 512, k: 512 },
    { name: 'matmul 1024 cube', m: 1024, n: 1024, k: 1024 },
    { name: 'matmul 1000 cube (ragged)', m: 1000, n: 1000, k: 1000 },
    { name: 'matmul 256x1000 x 1000x10 (head)', m: 256, n: 10, k: 1000 },
    // A ViT weight gradient's shape (128 images x 49 tokens summed into 64 x 192): split-K on GPUs.
    { name: 'matmul 64x6272 x 6272x192 (long K)', m: 64, n: 192, k: 6272 },
  ],
  smoke: [{ name: 'matmul 100x90 x 90x70 (smoke)', m: 100, n: 70, k: 90 }],
};

/** The plain JS loop: row-major A [m, k] times B [k, n], i-p-j order. */
function jsMatmul(a, b, m, n, k) {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const x = a[i * k + p];
      const row = p * n;
      const base = i * n;
      for (let j = 0; j < n; j++) out[base + j] += x * b[row + j];
    }
  }
  return out;
}

async function run(bench, c) {
  const { device, ops, tf, settings } = bench;
  const flops = 2 * c.m * c.n * c.k;
  const aData = randomData(c.m * c.k, 1);
  const bData = randomData(c.k * c.n, 2);
  const a = device.tensor(aData, [c.m, c.k]);
  const b = device.tensor(bData, [c.k, c.n]);
  const row = await bench.compare({ flops }, () => ops.matmul(a, b), () => {
    const ta = tf.tensor2d(aData, [c.m, c.k]);
    const tb = tf.tensor2d(bData, [c.k, c.n]);
    return { inputs: [ta, tb], make: () => tf.matMul(ta, tb) };
  });
  const ours = { variant: ops.chooseMatmulVariant(device, c.m, c.n, c.k), ...row.ours };
  // With a kernel tuning in force (sll tune, the lab's Tune), the built-in choice is timed beside the tuned one where they differ.
  let builtIn;
  if (ops.kernelTuningOf(device)) {
    const variant = ops.builtInMatmulVariant(device, c.m, c.n, c.k);
    if (variant !== ours.variant) {
      const t = await bench.timeOurs(() => ops.matmul(a, b, { variant }));
      builtIn = { variant, medianMs: t.t.medianMs, gflops: perSecond(flops, t.t.medianMs) };
    }
  }
  let js;
  const expectedMs = flops / (bench.jsGflops * 1e6);
  if (expectedMs > settings.jsLimitMs) {
    js = { skipped: `one call would take about ${(expectedMs / 1000).toFixed(1)} s at the loop's measured ${bench.jsGflops.toFixed(2)} GFLOPS (limit ${settings.jsLimitMs} ms)` };
  } else {
    jsMatmul(aData, bData, c.m, c.n, c.k);
    const perOp = [];
    for (let r = 0; r < settings.runs; r++) {
      const t0 = performance.now();
      jsMatmul(aData, bData, c.m, c.n, c.k);
      perOp.push(performance.now() - t0);
    }
    js = bench.timed({ medianMs: median(perOp), reps: 1, runsMs: perOp }, { flops });
    bench.jsGflops = Math.max(bench.jsGflops, js.gflops);
  }
  const variants = {};
  if (settings.allVariants) {
    for (const v of ops.MATMUL_VARIANTS) {
      const why = ops.matmulVariantUnavailable(device, v);
      if (why) {
        variants[v] = { skipped: why };
        continue;
      }
      const t = await bench.timeOurs(() => ops.matmul(a, b, { variant: v }));
      variants[v] = { medianMs: t.t.medianMs, gflops: perSecond(flops, t.t.medianMs) };
    }
  }
  a.dispose();
  b.dispose();
  return [{ op: 'matmul', name: c.name, shape: { m: c.m, n: c.n, k: c.k }, flops, ours, tfjs: row.tfjs, js, ...(builtIn ? { builtIn } : {}), ...(settings.allVariants ? { variants } : {}) }];
}

export const matmul = { name: 'matmul', cases, run };
