// The kernel benchmark's browser host: opens WebGPU in the page, starts TF.js's WebGPU backend
// on the same adapter, and runs bench/kernels/suite.mjs as Node's host does. `?run` starts at
// once; `?quick`, `?smoke`, `?only=FAMILY` (one of suite.mjs's FAMILIES) and `?allVariants`
// (every kernel variant timed beside the chosen one) choose the settings.
// `?tune` (with `&runs=N`; `&quick`: the small products, as the lab's quick Tune) measures the
// kernel tuning instead (ops.tuneKernels, what `sll tune` and the lab's Tune measure) and makes a
// tuning record as bench/kernels/tune-record.mjs does.
// When a run ends, `window.kernelBenchmark` holds `{ record }` or `{ error }`
// (bench/kernels/browser.mjs reads it).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { describeAdapter, openBrowserDevice, ops } from '../../../src/index.ts';
import { adapterSlug, benchSettings, kernelRecord, runKernelSuite, startTfjs, tuningRecord, tuningRowLine } from '../suite.mjs';

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const log = (line) => {
  $('log').textContent += `${line}\n`;
  console.log(line);
};

/** The lab's kept tuning for `adapter` (local storage, sll-webgpu:kernel-tunings), if any. */
function keptTuning(adapter) {
  try {
    return JSON.parse(localStorage.getItem('sll-webgpu:kernel-tunings') ?? '{}')?.[adapter];
  } catch {
    return undefined;
  }
}

/**
 * Opens a device, names its adapter, and publishes what `body(device, adapterSummary)` returns as
 * `window.kernelBenchmark.record` (or the error it threw); the device goes when it is done.
 */
async function measure(doing, body) {
  let device;
  try {
    $('status').textContent = `${doing} (the page may pause while a kernel runs)...`;
    device = await openBrowserDevice();
    const adapterSummary = describeAdapter(device.report);
    log(`adapter: ${adapterSummary}`);
    const record = await body(device, adapterSummary);
    $('status').textContent = 'done';
    window.kernelBenchmark = { record };
  } catch (e) {
    $('status').textContent = `failed: ${e.message}`;
    console.error(e);
    window.kernelBenchmark = { error: String(e?.stack ?? e) };
  } finally {
    device?.destroy();
  }
}

/** The tuning record of this adapter: every matmul variant per shape class, `runs` calls each after a warm-up. */
function tune(runs, quick) {
  return measure('tuning', async (device, adapterSummary) => {
    const { tuning, rows } = await ops.tuneKernels(device, {
      runs,
      quick,
      onRow: (row) => log(tuningRowLine(row)),
    });
    return tuningRecord({ device, adapterSummary, host: { kind: 'browser', userAgent: navigator.userAgent }, runs, shapes: quick ? ops.QUICK_TUNING_SHAPES : ops.TUNING_SHAPES, tuning, rows });
  });
}

async function run() {
  $('run').disabled = true;
  $('download').hidden = true;
  $('log').textContent = '';
  await measure('running', async (device, adapterSummary) => {
    const settings = benchSettings({ quick: $('quick').checked, smoke: query.has('smoke'), only: query.get('only') ?? undefined, allVariants: query.has('allVariants') });
    // The kernel tuning the lab kept in this browser for this adapter, if any (examples/lab/).
    const kept = keptTuning(adapterSummary);
    if (kept !== undefined) log(`${ops.adoptKernelTuning(device, adapterSummary, kept, 'the kept kernel tuning').message}\n`);
    const tfjs = await startTfjs(tf);
    log(`tfjs ${tfjs.version}, backend ${tfjs.backend} (${tfjs.adapter})\n`);
    const results = await runKernelSuite({ device, ops, tf, tfReady: tfjs.ready, settings, log });
    const record = kernelRecord({ device, adapterSummary, tfjs, host: { kind: 'browser', userAgent: navigator.userAgent }, settings, results, tuning: ops.kernelTuningOf(device) });
    const link = $('download');
    link.href = URL.createObjectURL(new Blob([JSON.stringify(record, null, 2)], { type: 'application/json' }));
    // The name bench/kernels/browser.mjs gives the same record in bench/results/.
    link.download = `kernels-browser-${adapterSlug(device.report)}.json`;
    link.hidden = false;
    return record;
  });
  $('run').disabled = false;
}

// A first device says whether this tab has WebGPU at all; its error says which browsers do.
openBrowserDevice().then(
  (device) => {
    $('adapter').textContent = `Adapter: ${describeAdapter(device.report)}`;
    device.destroy();
    $('quick').checked = query.has('quick');
    $('run').addEventListener('click', run);
    $('run').disabled = false;
    $('status').textContent = '';
    if (query.has('tune')) tune(Number(query.get('runs') ?? 3), query.has('quick'));
    else if (query.has('run')) run();
  },
  (e) => {
    $('nogpu').style.display = 'block';
    $('nogpu').textContent = e.message;
    $('status').textContent = 'no WebGPU';
    window.kernelBenchmark = { error: e.message };
  },
);
