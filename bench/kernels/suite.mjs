// The kernel benchmark itself, host-neutral: the timing, the settings and the records, given an
// open device, the library's ops and a TF.js whose WebGPU backend runs on the same adapter. Two
// hosts run it: Node (bench/kernels/kernels.mjs, over Dawn) and a browser page
// (bench/kernels/browser/, driven headless by bench/kernels/browser.mjs), so a kernel family
// added here is measured in both. Each family is a file in bench/kernels/families/, with its
// cases, its TF.js peer and its count of work: matmul, conv (conv2d forward), conv-backward (its
// input and weight gradients), attention, softmax, layernorm and elementwise (GELU and a
// broadcasting add), run in the order FAMILY_LIST below gives them.
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
import { attention } from './families/attention.mjs';
import { convBackward } from './families/conv-backward.mjs';
import { conv } from './families/conv.mjs';
import { elementwise } from './families/elementwise.mjs';
import { layernorm } from './families/layernorm.mjs';
import { matmul } from './families/matmul.mjs';
import { median, perSecond, randomData } from './families/shared.mjs';
import { softmax } from './families/softmax.mjs';

/**
 * The families, in the order a run measures them (and its record and table list them). Each is
 * `{ name, cases, run }`: `cases.full` for full and --quick runs; `cases.smoke` for the smoke
 * run, which checks that a host runs every family end to end (tests use it): one ragged shape per
 * op, small enough for a software adapter in seconds (smoke numbers mean nothing); and
 * `run(bench, c)`, which measures one case and resolves to its rows. `bench` is runKernelSuite's
 * context: device, ops, tf, settings, `compare` (times both engines), `timeOurs`, `timed` and
 * `jsGflops` (the JS loop's best rate so far).
 */
const FAMILY_LIST = [matmul, conv, convBackward, attention, softmax, layernorm, elementwise];
const FAMILY_BY_NAME = new Map(FAMILY_LIST.map((family) => [family.name, family]));

export const FAMILIES = FAMILY_LIST.map((family) => family.name);

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

/** A measurement's rate in its row's unit: GB/s for memory-bound rows, else GFLOPS. */
const rateOf = (r) => r.gbps ?? r.gflops;

function formatCell(r) {
  if (!r || r.skipped) return (!r || /^no JS loop/.test(r.skipped) ? '-' : 'skipped').padStart(10);
  return rateOf(r).toFixed(2).padStart(10);
}

const NO_TFJS = { skipped: 'the TF.js WebGPU backend did not initialise' };

/**
 * Runs the benchmark's families on `device` (ours), `tf` (TF.js, started by startTfjs) and a JS
 * loop; `ops` is the library's ops namespace; `log` receives the table as it is measured.
 * Resolves to the result rows a record holds.
 */
export async function runKernelSuite({ device, ops, tf, tfReady, settings, log = () => {} }) {
  const { runs, runTargetMs } = settings;
  const families = (settings.only === 'all' ? FAMILIES : [settings.only]).map((name) => FAMILY_BY_NAME.get(name));

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

  const cases = families.map((family) => [family, settings.smoke ? family.cases.smoke : family.cases.full]);
  const results = [];
  const width = 52; // the longest case name, and a margin
  log(`${'case'.padEnd(width)}${'unit'.padStart(7)}${'ours'.padStart(10)}${'tfjs-webgpu'.padStart(12)}${'js loop'.padStart(10)}   (ours/tfjs; our kernel)`);
  for (const [family, list] of cases) {
    for (const c of list) {
      for (const row of await family.run(bench, c)) {
        const unit = row.bytes !== undefined ? 'GB/s' : 'GFLOPS';
        const ratio = row.tfjs.medianMs ? `${(rateOf(row.ours) / rateOf(row.tfjs)).toFixed(1)}x` : '-';
        log(`${row.name.padEnd(width)}${unit.padStart(7)}${formatCell(row.ours)}${formatCell(row.tfjs).padStart(12)}${formatCell(row.js)}   ${[ratio, row.ours.variant].filter(Boolean).join('; ')}`);
        if (row.builtIn) log(`${''.padEnd(width)}tuned ${row.ours.variant} ${rateOf(row.ours).toFixed(2)} against the built-in ${row.builtIn.variant} ${row.builtIn.gflops.toFixed(2)}`);
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

/** One shape class of a tune, as the tuning scripts print it while they measure. */
export function tuningRowLine(row) {
  return `${row.shapeClass.padEnd(8)} ${Object.entries(row.variants).map(([v, r]) => `${v} ${'ms' in r ? `${r.ms.toFixed(2)} ms` : 'n/a'}`).join(', ')}; built-in ${row.builtIn}, measured best ${row.chosen}`;
}

/**
 * A kernel tuning as a record (bench/kernels/tune-record.mjs in Node, the page's ?tune in a
 * browser): what ops.tuneKernels measured per shape class, with the built-in choice beside it.
 */
export function tuningRecord({ device, adapterSummary, host, runs, shapes, tuning, rows }) {
  return { date: new Date().toISOString(), adapter: device.report, adapterSummary, host, runs, shapes, tuning, rows };
}

/**
 * The record a run writes: what ran where (the adapter, TF.js, the host: 'node' with its version,
 * or 'browser' with its user agent), the settings and how the numbers were taken, and the rows.
 * A compute-bound row has `flops` and GFLOPS (`gflops`) per engine, a memory-bound one `bytes`
 * and GB/s (`gbps`). `tfjsComposed` says which TF.js ops stand in where it has no single op;
 * `tfjsPeer` names TF.js's op where it is not the one of the same name (the conv gradients).
 */
export function kernelRecord({ device, adapterSummary, tfjs, host, settings, results, tuning }) {
  return {
    date: new Date().toISOString(),
    adapter: device.report,
    adapterSummary,
    // The kernel tuning in force (sll tune, the lab's Tune), if any: rows then name the built-in choice where it differs.
    tuning: tuning ?? null,
    tfjs: { version: tfjs.version, backend: tfjs.backend, adapter: tfjs.adapter },
    host,
    settings,
    method:
      'median of runs after warm-up; a run repeats the op `reps` times and waits once (ours: device.flush(), TF.js: await data() of the last result); GFLOPS = 2MNK (conv and its input and weight gradients: 2 * outputs * Cin * kH * kW; attention: 4 * B * H * Tq * Tk * D) / time; GB/s (softmax, layer norm, elementwise) = the bytes of the inputs read once and of the outputs written once / time',
    results,
  };
}
