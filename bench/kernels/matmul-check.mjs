// Every matmul kernel variant against the CPU reference on whatever adapter this machine has,
// then the variants timed side by side. For adapters the test suite does not run on (a real
// GPU), where the tiled and skinny kernels are the ones that matter; needs only dist/ and the
// `webgpu` package (no vitest, no TF.js).
//
//   npm run shaders && npx tsc -p tsconfig.build.json && node bench/kernels/matmul-check.mjs [--json FILE]
import '../lib/help.mjs'; // --help prints the comment above, before anything else loads
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = join(root, 'dist', 'src');
const { openNodeDevice, describeAdapter } = await import(join(dist, 'node.js'));
const { matmul, matmulVariantUnavailable, chooseMatmulVariant, MATMUL_VARIANTS } = await import(join(dist, 'ops', 'matmul.js'));
const { matmul: reference } = await import(join(dist, 'reference', 'matmul.js'));

const jsonAt = process.argv.indexOf('--json');
const device = await openNodeDevice({ powerPreference: 'high-performance' });
console.log(`adapter: ${describeAdapter(device.report)}`);

function data(n, seed) {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** Largest |x - e| / (atol + rtol |e|) for K <= 256, else the normalized squared error / 1e-7. */
function errorRatio(actual, expected, k) {
  if (k > 256) {
    let num = 0;
    let den = 0;
    for (let i = 0; i < expected.length; i++) {
      num += (actual[i] - expected[i]) ** 2;
      den += expected[i] ** 2;
    }
    return (den === 0 ? num : num / den) / 1e-7;
  }
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1e-5 + 1e-4 * Math.abs(expected[i])));
  return Number.isNaN(worst) ? Infinity : worst;
}

const cases = [];
for (const [m, n, k] of [[1, 1, 1], [3, 17, 63], [63, 65, 127], [129, 63, 17], [1, 1000, 17], [1000, 3, 65], [36, 68, 45], [100, 300, 1000], [256, 10, 1000]]) {
  for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]]) cases.push({ m, n, k, ta, tb, batch: 1 });
}
// A ViT weight gradient (6,272 token rows into 64 x 192): the tiled kernel splits K here on GPUs.
cases.push({ m: 64, n: 192, k: 6272, ta: true, tb: false, batch: 1 });
cases.push({ m: 17, n: 33, k: 9, ta: false, tb: true, batch: 3, bias: true, activation: 'gelu' });
cases.push({ m: 5, n: 40, k: 300, ta: true, tb: false, batch: 3, bias: true, activation: 'relu' });

const report = { adapter: device.report, date: new Date().toISOString(), correctness: {}, timings: [] };
let failures = 0;
for (const variant of MATMUL_VARIANTS) {
  const why = matmulVariantUnavailable(device, variant);
  if (why) {
    console.log(`${variant}: skipped (${why})`);
    report.correctness[variant] = { skipped: why };
    continue;
  }
  let worst = 0;
  let worstCase;
  for (const c of cases) {
    const aShape = [...(c.batch > 1 ? [c.batch] : []), ...(c.ta ? [c.k, c.m] : [c.m, c.k])];
    const bShape = c.tb ? [c.n, c.k] : [c.k, c.n];
    const a = data(aShape.reduce((x, y) => x * y, 1), 1);
    const b = data(bShape.reduce((x, y) => x * y, 1), 2);
    const bias = c.bias ? data(c.n, 3) : undefined;
    const ta = device.tensor(a, aShape);
    const tb = device.tensor(b, bShape);
    const tbias = bias ? device.tensor(bias, [c.n]) : undefined;
    const out = matmul(ta, tb, { transposeA: c.ta, transposeB: c.tb, bias: tbias, activation: c.activation, variant });
    const actual = await out.read();
    const expected = reference(a, aShape, b, bShape, { transposeA: c.ta, transposeB: c.tb, bias, activation: c.activation });
    const ratio = errorRatio(actual, expected, c.k);
    if (!(ratio <= worst)) {
      worst = ratio;
      worstCase = c;
    }
    if (!(ratio <= 1)) {
      failures++;
      console.log(`  FAIL ${variant} ${JSON.stringify(c)}: error ${ratio.toFixed(2)}x the tolerance`);
    }
    for (const t of [ta, tb, tbias, out]) t?.dispose();
  }
  console.log(`${variant}: ${cases.length} cases, worst error ${worst.toFixed(3)}x the tolerance${worst > 1 ? ` (${JSON.stringify(worstCase)})` : ''}`);
  report.correctness[variant] = { cases: cases.length, worstErrorOverTolerance: worst, worstCase };
}

function median(v) {
  const s = [...v].sort((x, y) => x - y);
  return s[s.length >> 1];
}

// Bring a real GPU up to its working clock first, or the first case is timed at the idle clock.
{
  const warm = device.tensor(data(1024 * 1024, 9), [1024, 1024]);
  const start = performance.now();
  while (performance.now() - start < 2000) {
    for (let i = 0; i < 20; i++) matmul(warm, warm).dispose();
    await device.flush();
  }
  warm.dispose();
}
console.log('\nGFLOPS (median of 5 runs, each a batch of dispatches and one queue wait)');
for (const [m, n, k] of [[1024, 1024, 1024], [1000, 1000, 1000], [4096, 4096, 4096], [256, 10, 1000], [4096, 16, 4096]]) {
  if (m * n * k > 2 ** 31 && device.report.isFallbackAdapter) {
    console.log(JSON.stringify({ m, n, k, skipped: 'too large for a software adapter' }));
    continue;
  }
  const a = device.tensor(data(m * k, 4), [m, k]);
  const b = device.tensor(data(k * n, 5), [k, n]);
  const row = { m, n, k, chosen: chooseMatmulVariant(device, m, n, k) };
  for (const variant of MATMUL_VARIANTS) {
    if (matmulVariantUnavailable(device, variant)) continue;
    if (variant === 'plain' && m * n * k > 2 ** 32) continue;
    const once = () => matmul(a, b, { variant }).dispose();
    once();
    await device.flush();
    let t0 = performance.now();
    once();
    await device.flush();
    const single = performance.now() - t0;
    // Five runs of this would take too long here (e.g. 4096 cubes on a CPU adapter).
    if (single > 1500) {
      row[variant] = 'skipped';
      continue;
    }
    const reps = Math.max(1, Math.min(200, Math.round(100 / single)));
    const runs = [];
    for (let r = 0; r < 5; r++) {
      t0 = performance.now();
      for (let i = 0; i < reps; i++) once();
      await device.flush();
      runs.push((performance.now() - t0) / reps);
    }
    row[variant] = Number(((2 * m * n * k) / (median(runs) * 1e6)).toFixed(2));
  }
  console.log(JSON.stringify(row));
  report.timings.push(row);
  a.dispose();
  b.dispose();
}
if (jsonAt >= 0) writeFileSync(process.argv[jsonAt + 1], JSON.stringify(report, null, 2) + '\n');
device.destroy();
if (failures > 0) {
  console.log(`${failures} failures`);
  process.exitCode = 1;
}
