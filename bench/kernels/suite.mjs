// The kernel benchmark itself, host-neutral: the cases, the timing and the peers, given an open
// device, the library's ops and a TF.js whose WebGPU backend runs on the same adapter. Two hosts
// run it: Node (bench/kernels/kernels.mjs, over Dawn) and a browser page
// (bench/kernels/browser/, driven headless by bench/kernels/browser.mjs), so a kernel family
// added here is measured in both. The families: matmul, conv (conv2d forward), conv-backward
// (its input and weight gradients), attention, softmax, layernorm and elementwise (GELU and a
// broadcasting add).
//
// Each number is the median of several timed runs after warm-up. A run encodes a batch of
// repeated dispatches and waits for the queue once (device.flush() = queue.onSubmittedWorkDone),
// so the submission and round-trip overhead is amortised; TF.js runs are timed the same way,
// ending on one `await data()`. Compute-bound families are reported in GFLOPS; the memory-bound
// ones (softmax, layernorm, elementwise) in GB/s: the bytes of the inputs read once and of the
// outputs written once, over the time. Where TF.js has no single op for ours (layer norm,
// attention, GELU), its figure is of the same computation composed from its ops in one
// tf.tidy, and the row says so. Where the two engines lay data out differently (NCHW and NHWC),
// the inputs are transposed on the device before the timing and the results after it. The plain
// JS loop runs only for matmul and only where one run takes reasonable time; larger sizes are
// reported as skipped, never extrapolated.

// The conv layer every conv case measures, forward and backward.
const CONV_LAYER = { batch: 64, inChannels: 32, outChannels: 64, size: 14, kernel: 3, padding: 1 };
const SMOKE_CONV_LAYER = { batch: 2, inChannels: 3, outChannels: 5, size: 9, kernel: 3, padding: 1 };

/**
 * Each family's cases: `full` for full and --quick runs; `smoke` for the smoke run, which checks
 * that a host runs every family end to end (tests use it): one ragged shape per op, small enough
 * for a software adapter in seconds. Smoke numbers mean nothing.
 */
const CASES = {
  matmul: {
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
  },
  conv: {
    full: [{ name: 'conv2d 64x32x14x14, 3x3 -> 64, pad 1', ...CONV_LAYER }],
    smoke: [{ name: 'conv2d 2x3x9x9, 3x3 -> 5, pad 1 (smoke)', ...SMOKE_CONV_LAYER }],
  },
  // The forward's layer; each case makes two rows, the input gradient and the weight gradient.
  'conv-backward': {
    full: [{ layer: '64x32x14x14, 3x3 -> 64, pad 1', ...CONV_LAYER }],
    smoke: [{ layer: '2x3x9x9, 3x3 -> 5, pad 1 (smoke)', ...SMOKE_CONV_LAYER }],
  },
  attention: {
    full: [
      // The ViT's: 128 images, 4 heads, 7x7 patches, head dim 16.
      { name: 'attention 128x4 heads, 49 tokens, d 16 (ViT)', batch: 128, heads: 4, tokens: 49, headDim: 16 },
      { name: 'attention 16x4 heads, 256 tokens, d 64', batch: 16, heads: 4, tokens: 256, headDim: 64 },
    ],
    smoke: [{ name: 'attention 2x3 heads, 19 tokens, d 12 (smoke)', batch: 2, heads: 3, tokens: 19, headDim: 12 }],
  },
  softmax: {
    full: [
      { name: 'softmax 4096x10 (classifier head)', rows: 4096, cols: 10 },
      { name: 'softmax 1024x1000', rows: 1024, cols: 1000 },
    ],
    smoke: [{ name: 'softmax 100x77 (smoke)', rows: 100, cols: 77 }],
  },
  layernorm: {
    full: [
      // The ViT's: 128 images x 49 tokens, dim 64.
      { name: 'layernorm 6272x64 (ViT)', rows: 128 * 49, cols: 64 },
      { name: 'layernorm 4096x256', rows: 4096, cols: 256 },
    ],
    smoke: [{ name: 'layernorm 60x33 (smoke)', rows: 60, cols: 33 }],
  },
  elementwise: {
    full: [
      { name: 'gelu 4M', op: 'gelu', size: 4 * 1024 * 1024 },
      { name: 'add 4096x1024 + 1024 (broadcast)', op: 'add', rows: 4096, cols: 1024 },
    ],
    smoke: [
      { name: 'gelu 10007 (smoke)', op: 'gelu', size: 10007 },
      { name: 'add 97x61 + 61 (smoke)', op: 'add', rows: 97, cols: 61 },
    ],
  },
};

export const FAMILIES = Object.keys(CASES);

/**
 * A run's settings: `runs` timed runs of about `runTargetMs` each; the JS loop only where one
 * call is expected under `jsLimitMs`.
 */
export function benchSettings({ quick = false, smoke = false, only, allVariants = false } = {}) {
  if (only !== undefined && !FAMILIES.includes(only)) throw new Error(`--only takes one of ${FAMILIES.map((f) => `'${f}'`).join(', ')}; got '${only}'`);
  const runs = smoke ? 3 : quick ? 5 : 7;
  const runTargetMs = smoke ? 10 : quick ? 60 : 200;
  const jsLimitMs = smoke ? 100 : quick ? 400 : 1500;
  return { quick, smoke, only: only ?? 'all', allVariants, runs, runTargetMs, jsLimitMs };
}

/** The settings a host's command line asks for: --quick, --smoke, --only FAMILY, --all-variants. Throws on an unknown family. */
export function benchSettingsFromArgs(args) {
  const at = args.indexOf('--only');
  const only = at >= 0 ? args[at + 1] : undefined;
  if (at >= 0 && (only === undefined || only.startsWith('--'))) throw new Error(`--only needs a family: one of ${FAMILIES.join(', ')}`);
  return benchSettings({ quick: args.includes('--quick'), smoke: args.includes('--smoke'), only, allVariants: args.includes('--all-variants') });
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

/** Work per millisecond in G/s: GFLOPS from FLOPs, GB/s from bytes. */
const perSecond = (amount, ms) => amount / (ms * 1e6);

/** The largest |x - y| relative to the largest |y|: a sanity check between engines. */
function relativeDifference(x, y) {
  if (x.length !== y.length) throw new Error(`the two engines' results differ in length: ${x.length} and ${y.length} values`);
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

/** A measurement's rate in its row's unit: GB/s for memory-bound rows, else GFLOPS. */
const rateOf = (r) => r.gbps ?? r.gflops;

function formatCell(r) {
  if (!r || r.skipped) return (!r || /^no JS loop/.test(r.skipped) ? '-' : 'skipped').padStart(10);
  return rateOf(r).toFixed(2).padStart(10);
}

const NO_TFJS = { skipped: 'the TF.js WebGPU backend did not initialise' };

/** TF.js's copies of our NCHW data and [Cout, Cin, kH, kW] weights: NHWC and [kH, kW, Cin, Cout], transposed on the device. */
const toNhwc = (tf, data, shape) => tf.tidy(() => tf.transpose(tf.tensor4d(data, shape), [0, 2, 3, 1]));
const toHwio = (tf, data, shape) => tf.tidy(() => tf.transpose(tf.tensor4d(data, shape), [2, 3, 1, 0]));
/** A TF.js result read back in our layout: transposed by `perm` on the device, then read. */
const readPermuted = (tf, perm) => async (t) => {
  const ours = tf.transpose(t, perm);
  const values = await ours.data();
  ours.dispose();
  return values;
};
const NHWC_TO_NCHW = [0, 3, 1, 2];

const convFlops = (c) => 2 * c.batch * c.outChannels * c.size * c.size * c.inChannels * c.kernel * c.kernel;

/**
 * Each family's measurement of one case: resolves to its rows. `bench` is runKernelSuite's
 * context: device, ops, tf, settings, `compare` (times both engines), `timeOurs` and `timed`.
 */
const FAMILY_RUNS = {
  async matmul(bench, c) {
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
    return [{ op: 'matmul', name: c.name, shape: { m: c.m, n: c.n, k: c.k }, flops, ours, tfjs: row.tfjs, js, ...(settings.allVariants ? { variants } : {}) }];
  },

  async conv(bench, c) {
    const { device, ops, tf } = bench;
    const xShape = [c.batch, c.inChannels, c.size, c.size];
    const wShape = [c.outChannels, c.inChannels, c.kernel, c.kernel];
    const xData = randomData(c.batch * c.inChannels * c.size * c.size, 3);
    const wData = randomData(c.outChannels * c.inChannels * c.kernel * c.kernel, 4);
    const biasData = randomData(c.outChannels, 5);
    const x = device.tensor(xData, xShape);
    const w = device.tensor(wData, wShape);
    const bias = device.tensor(biasData, [c.outChannels]);
    const flops = convFlops(c);
    const row = await bench.compare(
      { flops },
      () => ops.conv2d(x, w, { bias, stride: 1, padding: c.padding }),
      () => {
        const tx = toNhwc(tf, xData, xShape);
        const tw = toHwio(tf, wData, wShape);
        const tb = tf.tensor1d(biasData);
        return { inputs: [tx, tw, tb], make: () => tf.tidy(() => tf.add(tf.conv2d(tx, tw, 1, c.padding), tb)), values: readPermuted(tf, NHWC_TO_NCHW) };
      },
    );
    for (const t of [x, w, bias]) t.dispose();
    // The forward pass blocks output channels: its kernel flavour is chosen for those.
    const ours = { variant: ops.chooseConvKernel(device, c.outChannels), ...row.ours };
    return [{ op: 'conv2d', name: c.name, shape: { ...c }, flops, ours, tfjs: row.tfjs, js: { skipped: 'no JS loop for conv2d' } }];
  },

  async 'conv-backward'(bench, c) {
    const { device, ops, tf } = bench;
    const { layer, ...shape } = c;
    const xShape = [c.batch, c.inChannels, c.size, c.size];
    const wShape = [c.outChannels, c.inChannels, c.kernel, c.kernel];
    // Stride 1, so dy has the input's height and width less the kernel's reach past the padding.
    const outSize = c.size + 2 * c.padding - c.kernel + 1;
    const dyShape = [c.batch, c.outChannels, outSize, outSize];
    const xData = randomData(xShape.reduce((p, d) => p * d), 6);
    const wData = randomData(wShape.reduce((p, d) => p * d), 7);
    const dyData = randomData(dyShape.reduce((p, d) => p * d), 8);
    const x = device.tensor(xData, xShape);
    const w = device.tensor(wData, wShape);
    const dy = device.tensor(dyData, dyShape);
    // The input gradient and the weight gradient do the forward's multiply-adds, each.
    const flops = convFlops(c);
    const geometry = { stride: 1, padding: c.padding };
    const input = await bench.compare(
      { flops },
      () => ops.conv2dBackwardInput(dy, w, xShape, geometry),
      () => {
        const tdy = toNhwc(tf, dyData, dyShape);
        const tw = toHwio(tf, wData, wShape);
        const nhwc = [c.batch, c.size, c.size, c.inChannels];
        return { inputs: [tdy, tw], make: () => tf.conv2dTranspose(tdy, tw, nhwc, 1, c.padding), values: readPermuted(tf, NHWC_TO_NCHW) };
      },
    );
    const weight = await bench.compare(
      { flops },
      () => ops.conv2dBackwardWeight(dy, x, wShape, geometry),
      () => {
        const tx = toNhwc(tf, xData, xShape);
        const tdy = toNhwc(tf, dyData, dyShape);
        // tfjs-core 4.22 exports no op for the filter gradient (conv2DBackpropFilter is internal),
        // so this runs the kernel its conv2d gradient runs, directly: no forward pass, no tape.
        const attrs = { strides: 1, pad: c.padding, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: [c.kernel, c.kernel, c.inChannels, c.outChannels] };
        return { inputs: [tx, tdy], make: () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x: tx, dy: tdy }, attrs), values: readPermuted(tf, [3, 2, 0, 1]) };
      },
    );
    for (const t of [x, w, dy]) t.dispose();
    const js = { skipped: 'no JS loop for conv2d' };
    return [
      // The input gradient blocks input channels, the weight gradient output channels.
      { op: 'conv2dBackwardInput', name: `conv2d input grad ${layer}`, shape, flops, ours: { variant: ops.chooseConvKernel(device, c.inChannels), ...input.ours }, tfjs: input.tfjs, tfjsPeer: 'tf.conv2dTranspose', js },
      { op: 'conv2dBackwardWeight', name: `conv2d weight grad ${layer}`, shape, flops, ours: { variant: ops.chooseConvKernel(device, c.outChannels), ...weight.ours }, tfjs: weight.tfjs, tfjsPeer: 'the Conv2DBackpropFilter kernel, through tf.engine().runKernel', js },
    ];
  },

  async attention(bench, c) {
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
  },

  async softmax(bench, c) {
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
  },

  async layernorm(bench, c) {
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
  },

  async elementwise(bench, c) {
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
  },
};

/**
 * Runs the benchmark's families on `device` (ours), `tf` (TF.js, started by startTfjs) and a JS
 * loop; `ops` is the library's ops namespace; `log` receives the table as it is measured.
 * Resolves to the result rows a record holds.
 */
export async function runKernelSuite({ device, ops, tf, tfReady, settings, log = () => {} }) {
  const { runs, runTargetMs } = settings;
  const families = settings.only === 'all' ? FAMILIES : [settings.only];

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

  /** A timing as a record holds it: GFLOPS for `flops` of work, GB/s for `bytes`. */
  const timed = (t, { flops, bytes }) => ({
    medianMs: t.medianMs,
    ...(flops !== undefined ? { gflops: perSecond(flops, t.medianMs) } : {}),
    ...(bytes !== undefined ? { gbps: perSecond(bytes, t.medianMs) } : {}),
    reps: t.reps,
    runsMs: t.runsMs,
  });

  /**
   * Times one case in both engines and compares their results. `ours` encodes our op on inputs
   * made beforehand; `peer` makes TF.js's inputs (transposed as needed) and returns them with
   * `make`, which runs its op, and optionally `values`, which reads a result in our layout. Only
   * the op is timed; TF.js's inputs are disposed here.
   */
  async function compare(work, ours, peer) {
    const mine = await timeOurs(ours);
    const row = { ours: timed(mine.t, work), tfjs: NO_TFJS };
    if (tfReady) {
      const { inputs, make, values = (t) => t.data() } = peer();
      const theirs = await timeTfjs(make, values);
      for (const t of inputs) t.dispose();
      row.tfjs = timed(theirs.t, work);
      row.ours.maxRelativeDifferenceToTfjs = relativeDifference(mine.values, theirs.values);
    }
    return row;
  }

  // jsGflops is refined by each JS measurement; it only decides which JS loops to skip.
  const bench = { device, ops, tf, tfReady, settings, timeOurs, timed, compare, jsGflops: 1 };

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

  const cases = families.map((family) => [family, settings.smoke ? CASES[family].smoke : CASES[family].full]);
  const results = [];
  const width = 52; // the longest case name, and a margin
  log(`${'case'.padEnd(width)}${'unit'.padStart(7)}${'ours'.padStart(10)}${'tfjs-webgpu'.padStart(12)}${'js loop'.padStart(10)}   (ours/tfjs; our kernel)`);
  for (const [family, list] of cases) {
    for (const c of list) {
      for (const row of await FAMILY_RUNS[family](bench, c)) {
        const unit = row.bytes !== undefined ? 'GB/s' : 'GFLOPS';
        const ratio = row.tfjs.medianMs ? `${(rateOf(row.ours) / rateOf(row.tfjs)).toFixed(1)}x` : '-';
        log(`${row.name.padEnd(width)}${unit.padStart(7)}${formatCell(row.ours)}${formatCell(row.tfjs).padStart(12)}${formatCell(row.js)}   ${[ratio, row.ours.variant].filter(Boolean).join('; ')}`);
        if (row.variants) log(`${''.padEnd(width)}variants: ${Object.entries(row.variants).map(([v, r]) => `${v} ${r.skipped ? 'n/a' : r.gflops.toFixed(2)}`).join(', ')}`);
        results.push(row);
      }
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
 * A compute-bound row has `flops` and GFLOPS (`gflops`) per engine, a memory-bound one `bytes`
 * and GB/s (`gbps`). `tfjsComposed` says which TF.js ops stand in where it has no single op;
 * `tfjsPeer` names TF.js's op where it is not the one of the same name (the conv gradients).
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
      'median of runs after warm-up; a run repeats the op `reps` times and waits once (ours: device.flush(), TF.js: await data() of the last result); GFLOPS = 2MNK (conv and its input and weight gradients: 2 * outputs * Cin * kH * kW; attention: 4 * B * H * Tq * Tk * D) / time; GB/s (softmax, layer norm, elementwise) = the bytes of the inputs read once and of the outputs written once / time',
    results,
  };
}
