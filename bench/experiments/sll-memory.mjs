// Memory against depth, from the buffer pool's counters: for each depth, one warm-up step, then
// the peak bytes of one training step, split into activations (+ scratch), parameters,
// optimizer state and fixed projections, for SLL, the other local rules (DGL, DRTP, PredSim and Forward-Forward; on the ViT those that train it),
// DFA (the labelled extra, MLP only) and backprop side by side, with the step time and the FLOPs of a step from the device's counter
// (projection cost included). Writes bench/results/memory-<adapter>.json.
//
//   npm run build && node bench/experiments/sll-memory.mjs [--batch 256] [--width 1000] [--depths 4,8,16,32] [--vit-depths 2,4,8,12]
//     [--methods sll,dgl,drtp,predsim,ff,dfa,backprop]
import '../lib/help.mjs'; // --help prints the comment above, before anything else loads
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeAdapter, openNodeDevice, sll } from '../../dist/src/node.js';
import { option } from '../lib/options.mjs';
import { refreshResultsDoc } from '../results-doc.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const batch = Number(option('batch', 256));
const width = Number(option('width', 1000));
const depths = option('depths', '4,8,16,32').split(',').map(Number);
const vitDepths = option('vit-depths', '2,4,8,12').split(',').map(Number);
const methods = option('methods', 'sll,dgl,drtp,predsim,ff,dfa,backprop').split(',');
// DRTP does not train the ViT (sll.methodModelProblem says why).
const vitMethods = methods.filter((m) => !sll.methodModelProblem(m, 'vit'));
const device = await openNodeDevice();
const MiB = 2 ** 20;
console.log(describeAdapter(device.report));

async function measure(method, makeModel, inputShape, classes) {
  const model = makeModel();
  const trainer = new sll.Trainer(device, model, { method, optimizer: { kind: 'adam', lr: 1e-3 }, seed: 0 });
  const x = device.tensor(new Float32Array(batch * inputShape.reduce((a, b) => a * b, 1)).fill(0.1), [batch, ...inputShape]);
  const y = device.tensor(new Int32Array(batch).map((_, i) => i % classes), [batch], 'i32');
  const { activationBytes, flops, ms } = await sll.measureStepMemory(trainer, x, y);
  const state = trainer.stateBytes();
  for (const t of [x, y]) t.dispose();
  trainer.dispose();
  model.dispose();
  device.pool.trim();
  return {
    method,
    name: model.name,
    peakActivationBytes: activationBytes,
    parameterBytes: state.parameters,
    optimizerBytes: state.optimizer,
    projectionBytes: state.projections,
    stepMs: ms,
    flops,
  };
}

const results = { date: new Date().toISOString(), adapter: device.report, batch, width, mlp: [], vit: [] };
console.log(`\nMLP, width ${width}, batch ${batch} (MiB; step time on this adapter)`);
console.log('depth  method     activations  params  optimizer  projections  step ms  GFLOP/step');
for (const depth of depths) {
  for (const method of methods) {
    const hidden = new Array(depth).fill(width);
    const r = await measure(method, () => sll.mlp(device, { inputShape: [784], hidden, classes: 10, seed: 0 }), [784], 10);
    results.mlp.push({ depth, ...r });
    console.log(`${String(depth).padStart(5)}  ${method.padEnd(9)} ${(r.peakActivationBytes / MiB).toFixed(2).padStart(12)} ${(r.parameterBytes / MiB).toFixed(1).padStart(7)} ${(r.optimizerBytes / MiB).toFixed(1).padStart(10)} ${(r.projectionBytes / MiB).toFixed(2).padStart(12)} ${r.stepMs.toFixed(0).padStart(8)} ${(r.flops / 1e9).toFixed(1).padStart(11)}`);
  }
}
console.log(`\nViT (patch 4, dim 64, 4 heads, MLP ratio 2) on 28x28x1, batch ${batch}`);
console.log('depth  method     activations  params  optimizer  projections  step ms  GFLOP/step');
for (const depth of vitDepths) {
  for (const method of vitMethods) {
    const r = await measure(method, () => sll.vit(device, { inputShape: [1, 28, 28], classes: 10, seed: 0, depth }), [1, 28, 28], 10);
    results.vit.push({ depth, ...r });
    console.log(`${String(depth).padStart(5)}  ${method.padEnd(9)} ${(r.peakActivationBytes / MiB).toFixed(2).padStart(12)} ${(r.parameterBytes / MiB).toFixed(2).padStart(7)} ${(r.optimizerBytes / MiB).toFixed(2).padStart(10)} ${(r.projectionBytes / MiB).toFixed(3).padStart(12)} ${r.stepMs.toFixed(0).padStart(8)} ${(r.flops / 1e9).toFixed(2).padStart(11)}`);
  }
}
const slug = (device.report.device || device.report.description).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 48);
const outDir = join(root, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, `memory-${slug}.json`), JSON.stringify(results, null, 2) + '\n');
refreshResultsDoc(join(outDir, `memory-${slug}.json`));
console.log(`\nwrote bench/results/memory-${slug}.json`);
device.destroy();
