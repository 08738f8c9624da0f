// The kernel benchmark itself, host-neutral: the cases, the timing and the peers, given an open
// device, the library's ops and a TF.js whose WebGPU backend runs on the same adapter. Two hosts
// run it: Node (bench/kernels/kernels.mjs, over Dawn) and a browser page
// (bench/kernels/browser/, driven headless by bench/kernels/browser.mjs), so a kernel family
// added here is measured in both.
//
// Each number is the median of several timed runs after warm-up. A run encodes a batch of
// repeated dispatches and waits for the queue once (device.flush() = queue.onSubmittedWorkDone),
// so the submission and round-trip overhead is amortised; TF.js runs are timed the same way,
// ending on one `await data()`. The plain JS loop runs only where one run takes reasonable time;
// larger sizes are reported as skipped, never extrapolated.

export const MATMUL_CASES = [
  { name: 'matmul 256 cube', m: 256, n: 256, k: 256 },
  { name: 'matmul 512 cube', m: 512, n: 512, k: 512 },
  { name: 'matmul 1024 cube', m: 1024, n: 1024, k: 1024 },
  { name: 'matmul 1000 cube (ragged)', m: 1000, n: 1000, k: 1000 },
  { name: 'matmul 256x1000 x 1000x10 (head)', m: 256, n: 10, k: 1000 },
  // A ViT weight gradient's shape (128 images x 49 tokens summed into 64 x 192): split-K on GPUs.
  { name: 'matmul 64x6272 x 6272x192 (long K)', m: 64, n: 192, k: 6272 },
];

export const CONV_CASES = [{ name: 'conv2d 64x32x14x14, 3x3 -> 64, pad 1', batch: 64, inChannels: 32, outChannels: 64, size: 14, kernel: 3, padding: 1 }];

// A smoke run checks that a host runs every family end to end (tests use it): ragged shapes,
// small enough for a software adapter in seconds. Its numbers mean nothing.
const SMOKE_MATMUL_CASES = [{ name: 'matmul 100x90 x 90x70 (smoke)', m: 100, n: 70, k: 90 }];
const SMOKE_CONV_CASES = [{ name: 'conv2d 2x3x9x9, 3x3 -> 5, pad 1 (smoke)', batch: 2, inChannels: 3, outChannels: 5, size: 9, kernel: 3, padding: 1 }];

export const FAMILIES = ['matmul', 'conv'];

/**
 * A run's settings: `runs` timed runs of about `runTargetMs` each; the JS loop only where one
 * call is expected under `jsLimitMs`.
 */
export function benchSettings({ quick = false, smoke = false, only, allVariants = false } = {}) {
  if (only !== undefined && !FAMILIES.includes(only)) throw new Error(`--only takes ${FAMILIES.map((f) => `'${f}'`).join(' or ')}, got '${only}'`);
  const runs = smoke ? 3 : quick ? 5 : 7;
  const runTargetMs = smoke ? 10 : quick ? 60 : 200;
  const jsLimitMs = smoke ? 100 : quick ? 400 : 1500;
  return { quick, smoke, only: only ?? 'all', allVariants, runs, runTargetMs, jsLimitMs };
}

/** Sets TF.js on its WebGPU backend; says whether it came up and on which adapter. */
export async function startTfjs(tf) {
  const ready = await tf.setBackend('webgpu');
  await tf.ready();
  const info = ready ? tf.backend().adapterInfo : undefined;
  const adapter = !ready ? 'unavailable' : info ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') : 'webgpu';
  return { ready, adapter, version: tf.version_core, backend: tf.getBackend() };
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

const gflops = (flops, ms) => flops / (ms * 1e6);

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

function formatCell(r) {
  if (!r || r.skipped) return (r ? 'skipped' : '-').padStart(10);
  return r.gflops.toFixed(2).padStart(10);
}

/**
 * Runs the benchmark's families on `device` (ours), `tf` (TF.js, started by startTfjs) and a JS
 * loop; `ops` is the library's ops namespace; `log` receives the table as it is measured.
 * Resolves to the result rows a record holds.
 */
export async function runKernelSuite({ device, ops, tf, tfReady, settings, log = () => {} }) {
  const { runs, runTargetMs, jsLimitMs } = settings;
  const only = settings.only === 'all' ? undefined : settings.only;

  /** Times `once` (one op encoded or enqueued) with `wait` (waits for all of it): a warm-up, then `runs` runs of `reps` calls, reps sized from the warm-up. */
  async function timeBatched(once, wait) {
    once();
    await wait();
    let t0 = performance.now();
    once();
    await wait();
    const single = Math.max(performance.now() - t0, 0.01);
    const reps = Math.max(1, Math.min(500, Math.round(runTargetMs / single)));
    const perOp = [];
    for (let r = 0; r < runs; r++) {
      t0 = performance.now();
      for (let i = 0; i < reps; i++) once();
      await wait();
      perOp.push((performance.now() - t0) / reps);
    }
    return { medianMs: median(perOp), reps, runsMs: perOp };
  }

  async function timeOurs(make) {
    let last;
    const t = await timeBatched(
      () => {
        last?.dispose();
        last = make();
      },
      () => device.flush(),
    );
    const values = await last.read();
    last.dispose();
    return { t, values };
  }

  async function timeTfjs(make, toValues) {
    let last;
    const t = await timeBatched(
      () => {
        last?.dispose();
        last = make();
      },
      async () => void (await last.data()),
    );
    const values = await toValues(last);
    last.dispose();
    return { t, values };
  }

  const timed = (t, flops) => ({ medianMs: t.medianMs, gflops: gflops(flops, t.medianMs), reps: t.reps, runsMs: t.runsMs });
  const noTfjs = { skipped: 'the TF.js WebGPU backend did not initialise' };
  const results = [];

  // A real GPU idles at a low clock and ramps up under load (an H200 read 345 MHz idle, 1980 MHz
  // busy): without this, whichever case runs first is measured at the idle clock.
  if (!device.report.isFallbackAdapter && !settings.smoke) {
    const a = device.tensor(randomData(1024 * 1024, 7), [1024, 1024]);
    const start = performance.now();
    while (performance.now() - start < 2000) {
      for (let i = 0; i < 20; i++) ops.matmul(a, a).dispose();
      await device.flush();
    }
    a.dispose();
  }

  if (only !== 'conv') {
    let jsGflops = 1; // refined by each JS measurement; only used to decide what to skip
    log(`${'case'.padEnd(36)}${'ours'.padStart(10)}${'tfjs-webgpu'.padStart(12)}${'js loop'.padStart(10)}   (GFLOPS; ours/tfjs; variant)`);
    for (const c of settings.smoke ? SMOKE_MATMUL_CASES : MATMUL_CASES) {
      const flops = 2 * c.m * c.n * c.k;
      const aData = randomData(c.m * c.k, 1);
      const bData = randomData(c.k * c.n, 2);
      const a = device.tensor(aData, [c.m, c.k]);
      const b = device.tensor(bData, [c.k, c.n]);
      const variant = ops.chooseMatmulVariant(device, c.m, c.n, c.k);
      const mine = await timeOurs(() => ops.matmul(a, b));
      const ours = { variant, ...timed(mine.t, flops) };
      let tfjs = noTfjs;
      if (tfReady) {
        const ta = tf.tensor2d(aData, [c.m, c.k]);
        const tb = tf.tensor2d(bData, [c.k, c.n]);
        const theirs = await timeTfjs(() => tf.matMul(ta, tb), (t) => t.data());
        ta.dispose();
        tb.dispose();
        tfjs = timed(theirs.t, flops);
        ours.maxRelativeDifferenceToTfjs = relativeDifference(mine.values, theirs.values);
      }
      let js;
      const expectedMs = flops / (jsGflops * 1e6);
      if (expectedMs > jsLimitMs) {
        js = { skipped: `one call would take about ${(expectedMs / 1000).toFixed(1)} s at the loop's measured ${jsGflops.toFixed(2)} GFLOPS (limit ${jsLimitMs} ms)` };
      } else {
        jsMatmul(aData, bData, c.m, c.n, c.k);
        const perOp = [];
        for (let r = 0; r < runs; r++) {
          const t0 = performance.now();
          jsMatmul(aData, bData, c.m, c.n, c.k);
          perOp.push(performance.now() - t0);
        }
        js = timed({ medianMs: median(perOp), reps: 1, runsMs: perOp }, flops);
        jsGflops = Math.max(jsGflops, js.gflops);
      }
      const variants = {};
      if (settings.allVariants) {
        for (const v of ops.MATMUL_VARIANTS) {
          const why = ops.matmulVariantUnavailable(device, v);
          if (why) {
            variants[v] = { skipped: why };
            continue;
          }
          const t = await timeOurs(() => ops.matmul(a, b, { variant: v }));
          variants[v] = { medianMs: t.t.medianMs, gflops: gflops(flops, t.t.medianMs) };
        }
      }
      a.dispose();
      b.dispose();
      const ratio = tfjs.gflops ? `${(ours.gflops / tfjs.gflops).toFixed(1)}x` : '-';
      log(`${c.name.padEnd(36)}${formatCell(ours)}${formatCell(tfjs).padStart(12)}${formatCell(js)}   ${ratio}; ${variant}`);
      if (settings.allVariants) log(`${''.padEnd(36)}variants: ${Object.entries(variants).map(([v, r]) => `${v} ${r.skipped ? 'n/a' : r.gflops.toFixed(2)}`).join(', ')}`);
      results.push({ op: 'matmul', name: c.name, shape: { m: c.m, n: c.n, k: c.k }, flops, ours, tfjs, js, ...(settings.allVariants ? { variants } : {}) });
    }
  }

  if (only !== 'matmul') {
    for (const c of settings.smoke ? SMOKE_CONV_CASES : CONV_CASES) {
      const flops = 2 * c.batch * c.outChannels * c.size * c.size * c.inChannels * c.kernel * c.kernel;
      const xData = randomData(c.batch * c.inChannels * c.size * c.size, 3);
      const wData = randomData(c.outChannels * c.inChannels * c.kernel * c.kernel, 4);
      const biasData = randomData(c.outChannels, 5);
      const x = device.tensor(xData, [c.batch, c.inChannels, c.size, c.size]);
      const w = device.tensor(wData, [c.outChannels, c.inChannels, c.kernel, c.kernel]);
      const bias = device.tensor(biasData, [c.outChannels]);
      const mine = await timeOurs(() => ops.conv2d(x, w, { bias, stride: 1, padding: c.padding }));
      for (const tensor of [x, w, bias]) tensor.dispose();
      // The forward pass blocks output channels: its kernel flavour is chosen for those.
      const ours = { variant: ops.chooseConvKernel(device, c.outChannels), ...timed(mine.t, flops) };
      let tfjs = noTfjs;
      if (tfReady) {
        // TF.js is NHWC with [kH, kW, Cin, Cout] filters: the same data, transposed on the device.
        const tx = tf.transpose(tf.tensor4d(xData, [c.batch, c.inChannels, c.size, c.size]), [0, 2, 3, 1]);
        const tw = tf.transpose(tf.tensor4d(wData, [c.outChannels, c.inChannels, c.kernel, c.kernel]), [2, 3, 1, 0]);
        const tb = tf.tensor1d(biasData);
        const theirs = await timeTfjs(
          () => tf.tidy(() => tf.add(tf.conv2d(tx, tw, 1, c.padding), tb)),
          async (t) => {
            const nchw = tf.transpose(t, [0, 3, 1, 2]);
            const values = await nchw.data();
            nchw.dispose();
            return values;
          },
        );
        for (const tensor of [tx, tw, tb]) tensor.dispose();
        tfjs = timed(theirs.t, flops);
        ours.maxRelativeDifferenceToTfjs = relativeDifference(mine.values, theirs.values);
      }
      const js = { skipped: 'no JS loop for conv2d' };
      const ratio = tfjs.gflops ? `${(ours.gflops / tfjs.gflops).toFixed(1)}x` : '-';
      log(`${c.name.padEnd(36)}${formatCell(ours)}${formatCell(tfjs).padStart(12)}${formatCell(js)}   ${ratio}`);
      results.push({ op: 'conv2d', name: c.name, shape: c, flops, ours, tfjs, js });
    }
  }
  return results;
}

/** A file-name slug for an adapter report: its device, description or vendor and architecture (a browser's), lower case, dashes. */
export function adapterSlug(report) {
  return (report.device || report.description || [report.vendor, report.architecture].filter(Boolean).join(' ') || 'adapter').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 48);
}

/**
 * The record a run writes: what ran where (the adapter, TF.js, the host: 'node' with its version,
 * or 'browser' with its user agent), the settings and how the numbers were taken, and the rows.
 */
export function kernelRecord({ device, adapterSummary, tfjs, host, settings, results }) {
  return {
    date: new Date().toISOString(),
    adapter: device.report,
    adapterSummary,
    tfjs: { version: tfjs.version, backend: tfjs.backend, adapter: tfjs.adapter },
    host,
    settings,
    method:
      'median of runs after warm-up; a run repeats the op `reps` times and waits once (ours: device.flush(), TF.js: await data() of the last result); GFLOPS = 2MNK (conv: 2 * outputs * Cin * kH * kW) / time',
    results,
  };
}
