// Kernel benchmark: our matmul (and conv2d, when src/ops/conv.ts provides it) against TF.js's
// WebGPU backend on the same adapter, and a plain JS loop, side by side in one run.
//
//   npm run build && node bench/kernels/kernels.mjs [--quick] [--only matmul|conv] [--all-variants] [--out DIR]
//
// Each number is the median of >= 5 timed runs after warm-up. A run encodes a batch of repeated
// dispatches and waits for the queue once (device.flush() = queue.onSubmittedWorkDone), so the
// submission and round-trip overhead is amortised; TF.js runs are timed the same way, ending on
// one `await data()`. The plain JS loop runs only where one run takes reasonable time; larger
// sizes are reported as skipped, never extrapolated. Results go to
// bench/results/kernels-<adapter>.json with the adapter report.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, globals } from 'webgpu';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = join(root, 'dist', 'src');
if (!existsSync(join(dist, 'ops', 'matmul.js'))) {
  console.error('dist/ is missing; build first: npm run shaders && npx tsc -p tsconfig.build.json');
  process.exit(1);
}

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const allVariants = args.includes('--all-variants');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args[onlyAt + 1] : undefined;
if (only !== undefined && only !== 'matmul' && only !== 'conv') {
  console.error(`--only takes 'matmul' or 'conv', got ${only}`);
  process.exit(1);
}

const RUNS = quick ? 5 : 7;
/** A timed run repeats the op until it lasts about this long (amortises submit and wait). */
const RUN_TARGET_MS = quick ? 60 : 200;
/** The JS loop is run only when one call is expected to take less than this. */
const JS_LIMIT_MS = quick ? 400 : 1500;

const { openNodeDevice, describeAdapter } = await import(join(dist, 'node.js'));
const { matmul, chooseMatmulVariant, matmulVariantUnavailable, MATMUL_VARIANTS } = await import(join(dist, 'ops', 'matmul.js'));
let conv2d;
let chooseConvKernel;
if (only !== 'matmul') {
  const convPath = join(dist, 'ops', 'conv.js');
  if (existsSync(convPath)) ({ conv2d, chooseConvKernel } = await import(convPath));
}

const device = await openNodeDevice();
const adapter = describeAdapter(device.report);
console.log(`adapter: ${adapter}`);
if (device.report.isFallbackAdapter) console.log('note: a software adapter on a shared CPU: timings are noisy; medians of repeated runs.\n');

// TF.js over its own Dawn instance on the same adapter. The GPU object is held in `tfGpu` for
// the whole run: dawn.node frees the instance when it is garbage-collected.
Object.assign(globalThis, globals);
const tfGpu = create([]);
globalThis.navigator = { gpu: tfGpu, userAgent: 'node' };
// tfjs-core is all the forward ops need (and all the GPU kit carries: bench/gpu/make-gpu-kit.sh).
const tf = await import('@tensorflow/tfjs-core');
await import('@tensorflow/tfjs-backend-webgpu');
const tfReady = await tf.setBackend('webgpu');
await tf.ready();
const tfAdapter = tfReady ? tfAdapterName() : 'unavailable';
console.log(`tfjs ${tf.version_core}, backend ${tf.getBackend()} (${tfAdapter})\n`);

function tfAdapterName() {
  const info = tf.backend().adapterInfo;
  return info ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') : 'webgpu';
}

function median(values) {
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function randomData(n, seed) {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * Times `once` (which encodes or enqueues one op) with `wait` (which waits for all of it):
 * a warm-up, then RUNS runs of `reps` calls each, reps sized from the warm-up.
 */
async function timeBatched(once, wait) {
  once();
  await wait();
  let t0 = performance.now();
  once();
  await wait();
  const single = Math.max(performance.now() - t0, 0.01);
  const reps = Math.max(1, Math.min(500, Math.round(RUN_TARGET_MS / single)));
  const perOp = [];
  for (let r = 0; r < RUNS; r++) {
    t0 = performance.now();
    for (let i = 0; i < reps; i++) once();
    await wait();
    perOp.push((performance.now() - t0) / reps);
  }
  return { medianMs: median(perOp), reps, runsMs: perOp };
}

function gflops(flops, ms) {
  return flops / (ms * 1e6);
}

/** The largest |x - y| relative to the largest |y|: a sanity check between engines. */
function relativeDifference(x, y) {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < y.length; i++) {
    diff = Math.max(diff, Math.abs(x[i] - y[i]));
    scale = Math.max(scale, Math.abs(y[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

// ---------------------------------------------------------------- matmul

async function oursMatmul(a, b, variant) {
  let last;
  const once = () => {
    last?.dispose();
    last = matmul(a, b, variant ? { variant } : {});
  };
  const timing = await timeBatched(once, () => device.flush());
  const values = await last.read();
  last.dispose();
  return { ...timing, values };
}

async function tfMatmul(aData, bData, m, n, k) {
  const a = tf.tensor2d(aData, [m, k]);
  const b = tf.tensor2d(bData, [k, n]);
  let last;
  const once = () => {
    last?.dispose();
    last = tf.matMul(a, b);
  };
  const timing = await timeBatched(once, async () => {
    await last.data();
  });
  const values = await last.data();
  last.dispose();
  a.dispose();
  b.dispose();
  return { ...timing, values };
}

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

async function timeJs(fn, flops, estimateGflops) {
  const expectedMs = flops / (estimateGflops * 1e6);
  if (expectedMs > JS_LIMIT_MS) return { skipped: `one call would take about ${(expectedMs / 1000).toFixed(1)} s at the loop's measured ${estimateGflops.toFixed(2)} GFLOPS (limit ${JS_LIMIT_MS} ms)` };
  fn();
  const perOp = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    fn();
    perOp.push(performance.now() - t0);
  }
  return { medianMs: median(perOp), reps: 1, runsMs: perOp };
}

const matmulCases = [
  { name: 'matmul 256 cube', m: 256, n: 256, k: 256 },
  { name: 'matmul 512 cube', m: 512, n: 512, k: 512 },
  { name: 'matmul 1024 cube', m: 1024, n: 1024, k: 1024 },
  { name: 'matmul 1000 cube (ragged)', m: 1000, n: 1000, k: 1000 },
  { name: 'matmul 256x1000 x 1000x10 (head)', m: 256, n: 10, k: 1000 },
  // A ViT weight gradient's shape (128 images x 49 tokens summed into 64 x 192): split-K on GPUs.
  { name: 'matmul 64x6272 x 6272x192 (long K)', m: 64, n: 192, k: 6272 },
];

const results = [];

// A real GPU idles at a low clock and ramps up under load (an H200 read 345 MHz idle, 1980 MHz
// busy): without this, whichever case runs first is measured at the idle clock.
if (!device.report.isFallbackAdapter) {
  const a = device.tensor(randomData(1024 * 1024, 7), [1024, 1024]);
  const start = performance.now();
  while (performance.now() - start < 2000) {
    for (let i = 0; i < 20; i++) matmul(a, a).dispose();
    await device.flush();
  }
  a.dispose();
}
let jsGflops = 1; // refined by the first JS measurement; only used to decide what to skip

function formatCell(r) {
  if (!r) return '-'.padStart(10);
  if (r.skipped) return 'skipped'.padStart(10);
  return r.gflops.toFixed(2).padStart(10);
}

if (only !== 'conv') {
  console.log(`${'case'.padEnd(36)}${'ours'.padStart(10)}${'tfjs-webgpu'.padStart(12)}${'js loop'.padStart(10)}   (GFLOPS; ours/tfjs; variant)`);
  for (const c of matmulCases) {
    const flops = 2 * c.m * c.n * c.k;
    const aData = randomData(c.m * c.k, 1);
    const bData = randomData(c.k * c.n, 2);
    const a = device.tensor(aData, [c.m, c.k]);
    const b = device.tensor(bData, [c.k, c.n]);
    const variant = chooseMatmulVariant(device, c.m, c.n, c.k);
    const mine = await oursMatmul(a, b);
    const ours = { variant, medianMs: mine.medianMs, gflops: gflops(flops, mine.medianMs), reps: mine.reps, runsMs: mine.runsMs };
    let tfjs;
    if (tfReady) {
      const theirs = await tfMatmul(aData, bData, c.m, c.n, c.k);
      tfjs = { medianMs: theirs.medianMs, gflops: gflops(flops, theirs.medianMs), reps: theirs.reps, runsMs: theirs.runsMs };
      ours.maxRelativeDifferenceToTfjs = relativeDifference(mine.values, theirs.values);
    } else {
      tfjs = { skipped: 'the TF.js WebGPU backend did not initialise' };
    }
    const js = await timeJs(() => jsMatmul(aData, bData, c.m, c.n, c.k), flops, jsGflops);
    if (!js.skipped) {
      js.gflops = gflops(flops, js.medianMs);
      jsGflops = Math.max(jsGflops, js.gflops);
    }
    const variants = {};
    if (allVariants) {
      for (const v of MATMUL_VARIANTS) {
        const why = matmulVariantUnavailable(device, v);
        if (why) {
          variants[v] = { skipped: why };
          continue;
        }
        const t = await oursMatmul(a, b, v);
        variants[v] = { medianMs: t.medianMs, gflops: gflops(flops, t.medianMs) };
      }
    }
    a.dispose();
    b.dispose();
    const ratio = tfjs.gflops ? `${(ours.gflops / tfjs.gflops).toFixed(1)}x` : '-';
    console.log(`${c.name.padEnd(36)}${formatCell(ours)}${formatCell(tfjs).padStart(12)}${formatCell(js)}   ${ratio}; ${variant}`);
    if (allVariants) {
      console.log(`${''.padEnd(36)}variants: ${Object.entries(variants).map(([v, r]) => `${v} ${r.skipped ? 'n/a' : r.gflops.toFixed(2)}`).join(', ')}`);
    }
    results.push({ op: 'matmul', name: c.name, shape: { m: c.m, n: c.n, k: c.k }, flops, ours, tfjs, js, ...(allVariants ? { variants } : {}) });
  }
}

// ---------------------------------------------------------------- conv2d

if (only !== 'matmul') {
  const c = { name: 'conv2d 64x32x14x14, 3x3 -> 64, pad 1', batch: 64, inChannels: 32, outChannels: 64, size: 14, kernel: 3, padding: 1 };
  const flops = 2 * c.batch * c.outChannels * c.size * c.size * c.inChannels * c.kernel * c.kernel;
  const xData = randomData(c.batch * c.inChannels * c.size * c.size, 3);
  const wData = randomData(c.outChannels * c.inChannels * c.kernel * c.kernel, 4);
  const biasData = randomData(c.outChannels, 5);
  let ours;
  let oursValues;
  if (typeof conv2d !== 'function') {
    ours = { skipped: 'src/ops/conv.ts has no conv2d export in dist/ (not built, or not written yet)' };
  } else {
    const x = device.tensor(xData, [c.batch, c.inChannels, c.size, c.size]);
    const w = device.tensor(wData, [c.outChannels, c.inChannels, c.kernel, c.kernel]);
    const bias = device.tensor(biasData, [c.outChannels]);
    let last;
    const once = () => {
      last?.dispose();
      last = conv2d(x, w, { bias, stride: 1, padding: c.padding });
    };
    const t = await timeBatched(once, () => device.flush());
    oursValues = await last.read();
    for (const tensor of [last, x, w, bias]) tensor.dispose();
    // The forward pass blocks output channels: its kernel flavour is chosen for those.
    ours = { variant: chooseConvKernel?.(device, c.outChannels), medianMs: t.medianMs, gflops: gflops(flops, t.medianMs), reps: t.reps, runsMs: t.runsMs };
  }
  let tfjs;
  if (tfReady) {
    // TF.js is NHWC with [kH, kW, Cin, Cout] filters: the same data, transposed on the host.
    const x = tf.transpose(tf.tensor4d(xData, [c.batch, c.inChannels, c.size, c.size]), [0, 2, 3, 1]);
    const w = tf.transpose(tf.tensor4d(wData, [c.outChannels, c.inChannels, c.kernel, c.kernel]), [2, 3, 1, 0]);
    const bias = tf.tensor1d(biasData);
    let last;
    const once = () => {
      last?.dispose();
      last = tf.tidy(() => tf.add(tf.conv2d(x, w, 1, c.padding), bias));
    };
    const t = await timeBatched(once, async () => {
      await last.data();
    });
    const nchw = tf.tidy(() => tf.transpose(last, [0, 3, 1, 2]));
    const theirValues = await nchw.data();
    for (const tensor of [nchw, last, x, w, bias]) tensor.dispose();
    tfjs = { medianMs: t.medianMs, gflops: gflops(flops, t.medianMs), reps: t.reps, runsMs: t.runsMs };
    if (oursValues) ours.maxRelativeDifferenceToTfjs = relativeDifference(oursValues, theirValues);
  } else {
    tfjs = { skipped: 'the TF.js WebGPU backend did not initialise' };
  }
  const js = { skipped: 'no JS loop for conv2d' };
  const ratio = ours.gflops && tfjs.gflops ? `${(ours.gflops / tfjs.gflops).toFixed(1)}x` : '-';
  console.log(`${c.name.padEnd(36)}${formatCell(ours)}${formatCell(tfjs).padStart(12)}${formatCell(js)}   ${ratio}`);
  if (ours.skipped) console.log(`  ours skipped: ${ours.skipped}`);
  results.push({ op: 'conv2d', name: c.name, shape: c, flops, ours, tfjs, js });
}

const slug = (device.report.device || device.report.description || 'adapter').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 48);
const record = {
  date: new Date().toISOString(),
  adapter: device.report,
  adapterSummary: adapter,
  tfjs: { version: tf.version_core, backend: tf.getBackend(), adapter: tfAdapter },
  node: process.version,
  settings: { quick, only: only ?? 'all', runs: RUNS, runTargetMs: RUN_TARGET_MS, jsLimitMs: JS_LIMIT_MS },
  method:
    'median of runs after warm-up; a run repeats the op `reps` times and waits once (ours: device.flush(), TF.js: await data() of the last result); GFLOPS = 2MNK (conv: 2 * outputs * Cin * kH * kW) / time',
  results,
};
const outAt = args.indexOf('--out');
const outDir = outAt >= 0 ? args[outAt + 1] : join(root, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const outFile = join(outDir, `kernels-${slug}${quick ? '-quick' : ''}.json`);
writeFileSync(outFile, JSON.stringify(record, null, 2) + '\n');
console.log(`\nwrote ${outFile}`);

tf.disposeVariables();
tf.engine().reset();
device.destroy();
// Keep the TF.js GPU object referenced until the very end (see above).
void tfGpu;
