// Where a training step's GPU time goes: per kernel (shader file and entry point), from GPU
// timestamps, for SLL and backprop on the three default models (MLP 3x1000, CNN
// conv32/conv64/fc256, ViT patch 4 dim 64 depth 4) at batch 128 (28x28x1, 10 classes). A
// profile puts each dispatch in a pass of its own, so the wall time of the same steps
// unprofiled is printed beside it; read the profile for shares. Also prints dispatches and
// FLOPs per step. Writes bench/results/profile-<adapter>.json.
//
//   npm run build && node bench/experiments/profile-step.mjs [--models mlp,cnn,vit] [--methods sll,backprop] [--steps 3] [--top 12]
import '../lib/help.mjs'; // --help prints the comment above, before anything else loads
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeAdapter, openNodeDevice, sll } from '../../dist/src/node.js';
import { option } from '../lib/options.mjs';
import { refreshResultsDoc } from '../results-doc.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const models = option('models', 'mlp,cnn,vit').split(',');
const methods = option('methods', 'sll,backprop').split(',');
const steps = Number(option('steps', 3));
const top = Number(option('top', 12));
const batch = 128;

const device = await openNodeDevice();
console.log(`adapter: ${describeAdapter(device.report)}`);
if (!device.hasTimestamps) {
  console.error("this adapter has no 'timestamp-query' feature: nothing to profile");
  process.exit(1);
}
const images = device.tensor(Float32Array.from({ length: batch * 784 }, (_, i) => Math.sin(i)), [batch, 1, 28, 28]);
const labels = device.tensor(Int32Array.from({ length: batch }, (_, i) => i % 10), [batch], 'i32');
const results = [];
for (const kind of models) {
  for (const method of methods) {
    const model = sll.buildModel(device, sll.defaultModelSpec(kind), { inputShape: [1, 28, 28], classes: 10 }, 0);
    const trainer = new sll.Trainer(device, model, { method, optimizer: { kind: 'adam', lr: 1e-3 }, seed: 0, metricsEvery: steps, objective: () => sll.defaultObjective(kind, 10) });
    for (let i = 0; i < 2; i++) trainer.trainStep(images, labels);
    await trainer.readMetrics();
    const dispatches0 = device.dispatchCount;
    const flops0 = device.flopCount;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) trainer.trainStep(images, labels);
    await trainer.readMetrics();
    const wallMs = (performance.now() - t0) / steps;
    const dispatches = (device.dispatchCount - dispatches0) / steps;
    const flops = (device.flopCount - flops0) / steps;
    device.startProfiling();
    for (let i = 0; i < steps; i++) trainer.trainStep(images, labels);
    await trainer.readMetrics();
    const kernels = (await device.stopProfiling()).map((k) => ({ ...k, ms: k.ms / steps, dispatches: k.dispatches / steps }));
    const gpuMs = kernels.reduce((s, k) => s + k.ms, 0);
    console.log(`\n${model.name}, ${method}: ${wallMs.toFixed(0)} ms/step unprofiled, ${gpuMs.toFixed(0)} ms/step in kernels (profiled), ${dispatches.toFixed(0)} dispatches/step, ${(flops / 1e9).toFixed(2)} GFLOP/step`);
    console.log(`${'kernel'.padEnd(44)} ${'ms/step'.padStart(8)} ${'share'.padStart(6)} ${'dispatches'.padStart(10)} ${'ms/dispatch'.padStart(11)}`);
    for (const k of kernels.slice(0, top)) {
      console.log(`${k.kernel.padEnd(44)} ${k.ms.toFixed(1).padStart(8)} ${((100 * k.ms) / gpuMs).toFixed(1).padStart(5)}% ${k.dispatches.toFixed(0).padStart(10)} ${(k.ms / k.dispatches).toFixed(3).padStart(11)}`);
    }
    results.push({ model: model.name, method, wallMs, gpuMs, dispatches, flops, kernels });
    trainer.dispose();
    model.dispose();
  }
}
images.dispose();
labels.dispose();
const slug = `${device.report.device || device.report.description}`.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
const file = join(root, 'bench', 'results', `profile-${slug}.json`);
writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), adapter: device.report, batch, steps, results }, null, 2) + '\n');
refreshResultsDoc(file);
console.log(`\nwrote ${file}`);
device.destroy();
