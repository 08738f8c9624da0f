// Kernel benchmark, Node host: our kernels against TF.js's WebGPU backend on the same adapter
// (over Dawn) and, for matmul, a plain JS loop, side by side in one run. The families (matmul,
// conv, conv-backward, attention, softmax, layernorm, elementwise) and their cases are
// bench/kernels/families/, the timing bench/kernels/suite.mjs, which the browser host
// (bench/kernels/browser.mjs) runs too.
//
//   npm run build && node bench/kernels/kernels.mjs [--quick | --smoke] [--only FAMILY] [--all-variants] [--out DIR]
//
// --all-variants also times every matmul variant and both attention kernels. After the kernels,
// numpy's 1024-cube matmul times the native BLAS on the same cores where python3 and numpy are
// present (bench/lib/nativeBlas.mjs), for the target of a quarter of it.
//
// Results go to bench/results/kernels-<adapter>.json with the adapter report and the machine.
import '../lib/help.mjs'; // --help prints the comment above, before anything else loads
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, globals } from 'webgpu';
import { machineName } from '../lib/machine.mjs';
import { option, orUsageError } from '../lib/options.mjs';
import { nativeBlasMatmul } from '../lib/nativeBlas.mjs';
import { adapterSlug, benchSettingsFromArgs, kernelRecord, runKernelSuite, startTfjs } from './suite.mjs';
import { refreshResultsDoc } from '../results-doc.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = join(root, 'dist', 'src');
if (!existsSync(join(dist, 'node.js'))) {
  console.error('dist/ is missing; build first: npm run build');
  process.exit(1);
}
const settings = orUsageError(() => benchSettingsFromArgs(process.argv.slice(2)));

const { openNodeDevice, describeAdapter, ops } = await import(join(dist, 'node.js'));
const device = await openNodeDevice();
const adapterSummary = describeAdapter(device.report);
console.log(`adapter: ${adapterSummary}`);
if (device.report.isFallbackAdapter) console.log('note: a software adapter on a shared CPU: timings are noisy; medians of repeated runs.\n');
// This adapter's saved kernel tuning (sll tune), as the command uses it; SLL_TUNING=off for the built-in choices.
const { applySavedTuning } = await import(join(dist, 'cli', 'tuningCache.js'));
const tuningLine = applySavedTuning(device);
if (tuningLine) console.log(`${tuningLine}\n`);

// TF.js over its own Dawn instance on the same adapter. The GPU object is held in `tfGpu` for
// the whole run: dawn.node frees the instance when it is garbage-collected.
Object.assign(globalThis, globals);
const tfGpu = create([]);
globalThis.navigator = { gpu: tfGpu, userAgent: 'node' };
// tfjs-core is all the suite needs, gradients included: it runs TF.js's gradient kernels directly,
// not through its autodiff (and tfjs-core is all the GPU kit carries: bench/gpu/make-gpu-kit.sh).
const tf = await import('@tensorflow/tfjs-core');
await import('@tensorflow/tfjs-backend-webgpu');
const tfjs = await startTfjs(tf);
console.log(`tfjs ${tfjs.version}, backend ${tfjs.backend} (${tfjs.adapter})\n`);

const results = await runKernelSuite({ device, ops, tf, tfReady: tfjs.ready, settings, log: console.log });
// The native BLAS on the same cores, for the 1024 cube's target (a quarter of it); not in smoke runs.
const blas = results.some((r) => r.name === 'matmul 1024 cube') ? nativeBlasMatmul(1024) : undefined;
if (blas) console.log(blas.skipped ? `\nnative BLAS: skipped (${blas.skipped})` : `\nnative BLAS (numpy ${blas.numpy}, ${blas.library}): 1024 cube ${blas.gflops.toFixed(1)} GFLOPS; ours ${(100 * results.find((r) => r.name === 'matmul 1024 cube').ours.gflops / blas.gflops).toFixed(0)}% of it`);
const host = { kind: 'node', version: process.version, machine: machineName() };
const record = { ...kernelRecord({ device, adapterSummary, tfjs, host, settings, results, tuning: ops.kernelTuningOf(device) }), ...(blas ? { nativeBlas: blas } : {}) };
const outDir = option('out', join(root, 'bench', 'results'));
mkdirSync(outDir, { recursive: true });
// A run of one family goes to a file of its own: it must not write over the record of every family.
const outFile = join(outDir, `kernels-${adapterSlug(device.report)}${settings.smoke ? '-smoke' : settings.quick ? '-quick' : ''}${settings.only !== 'all' ? `-${settings.only}` : ''}.json`);
writeFileSync(outFile, JSON.stringify(record, null, 2) + '\n');
refreshResultsDoc(outFile);
console.log(`\nwrote ${outFile}`);

tf.disposeVariables();
tf.engine().reset();
device.destroy();
// Keep the TF.js GPU object referenced until the very end (see above).
void tfGpu;
