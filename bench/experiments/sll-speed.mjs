// Time per step and per epoch of SLL and backprop side by side, on the three default models
// (MLP 3x1000, CNN conv32/conv64/fc256, ViT patch 4 dim 64 depth 4) at batch 128 (28x28x1
// inputs, 10 classes), on one adapter in one process: the median of several timed windows of
// steps after warm-up steps, the methods taking turns window by window. An epoch is 55,000 images, the last batch dropped; evaluation is
// not included. FLOPs per step come from the device's counter
// (2 per multiply-add of every matmul, convolution and attention product the step encodes, the
// projections and local heads included). Each model also gets its step timed with
// `await device.throttle()` after every step, in alternating windows. The kernels are the
// built-in choices: a table saved by `sll tune` is not applied here. Writes
// bench/results/speed-<adapter>.json (with -mlp-<hidden> and -batch-<n> in the name when
// --mlp-hidden or --batch change the models).
//
// --methods all times every rule that trains each model (DRTP's blocks with tanh, its authors'
// activation) and writes bench/results/rules-speed-<adapter>.json instead: the time per epoch of
// the rules comparison in docs/results.md.
//
//   npm run build && node bench/experiments/sll-speed.mjs [--models mlp,cnn,vit] [--methods sll,backprop|all] [--steps 5] [--windows 3] [--mlp-hidden 32,32] [--batch 128] [--out DIR]
import '../lib/help.mjs'; // --help prints the comment above, before anything else loads
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeAdapter, openNodeDevice, sll } from '../../dist/src/node.js';
import { option } from '../lib/options.mjs';
import { ruleActivation } from '../lib/rules.mjs';
import { refreshResultsDoc } from '../results-doc.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const models = option('models', 'mlp,cnn,vit').split(',');
const steps = Number(option('steps', 5));
const windows = Number(option('windows', 3));
// --mlp-hidden 32,32 swaps the default MLP for a small one whose step is mostly host work
// (encoding), the case where a per-step cost such as the throttle's would show.
const mlpHidden = option('mlp-hidden', undefined);
const baseSpec = (kind) => (kind === 'mlp' && mlpHidden ? { kind, hidden: mlpHidden.split(',').map(Number) } : sll.defaultModelSpec(kind));
const specOf = (kind, method) => (ruleActivation(method, kind) === 'relu' ? baseSpec(kind) : { ...baseSpec(kind), activation: ruleActivation(method, kind) });
const methodsOption = option('methods', 'sll,backprop');
const allRules = methodsOption === 'all';
const methodsOf = (kind) => (allRules ? sll.METHODS : methodsOption.split(',')).filter((m) => !sll.methodModelProblem(m, kind));
// A small batch with a small MLP makes a step that is almost all host work (encoding), the case
// where a per-step cost such as the throttle's would show.
const batch = Number(option('batch', 128));
const stepsPerEpoch = Math.floor(55_000 / batch);

const device = await openNodeDevice();
const adapter = describeAdapter(device.report);
console.log(`adapter: ${adapter}`);
if (device.report.isFallbackAdapter) console.log('note: a software adapter on a shared CPU: timings are noisy; medians of repeated windows.');
const images = device.tensor(Float32Array.from({ length: batch * 784 }, (_, i) => Math.sin(i)), [batch, 1, 28, 28]);
const labels = device.tensor(Int32Array.from({ length: batch }, (_, i) => i % 10), [batch], 'i32');
const rows = [];
const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
for (const kind of models) {
  const row = { model: kind };
  // Every method's trainer is built and warmed up first, and then the methods take turns, one
  // window each: a shared CPU's speed drifts over minutes, and timing one method's windows after
  // the other's put that drift into their ratio (SLL's MLP step measured 107 and 130 ms in two
  // runs a minute apart, backprop's 132 and 107).
  const runs = methodsOf(kind).map((method) => {
    const model = sll.buildModel(device, specOf(kind, method), { inputShape: [1, 28, 28], classes: 10 }, 0);
    const trainer = new sll.Trainer(device, model, { method, optimizer: { kind: 'adam', lr: 1e-3 }, seed: 0, metricsEvery: steps, objective: () => sll.defaultObjective(kind, 10) });
    return { method, model, trainer, times: [], throttled: [], hostTimes: [] };
  });
  for (const run of runs) {
    const before = device.flopCount;
    run.trainer.trainStep(images, labels);
    run.flops = device.flopCount - before;
    run.trainer.trainStep(images, labels);
    await run.trainer.readMetrics();
  }
  // Windows alternate between plain steps and steps each followed by `await device.throttle()`
  // (what fit and the command do), so that the throttle's cost is measured side by side.
  // The host's share is the time spent inside trainStep (it only encodes and submits; the GPU
  // runs behind it): where it is close to the whole step, the host is the bottleneck.
  for (let w = 0; w < 2 * windows; w++) {
    const withThrottle = w % 2 === 1;
    for (const run of runs) {
      let host = 0;
      const t0 = performance.now();
      for (let i = 0; i < steps; i++) {
        const h0 = performance.now();
        run.trainer.trainStep(images, labels);
        host += performance.now() - h0;
        if (withThrottle) await device.throttle();
      }
      await run.trainer.readMetrics();
      (withThrottle ? run.throttled : run.times).push((performance.now() - t0) / steps);
      if (!withThrottle) run.hostTimes.push(host / steps);
    }
  }
  for (const { method, model, trainer, times, throttled, hostTimes, flops } of runs) {
    const ms = median(times);
    row[method] = { msPerStep: ms, msPerStepThrottled: median(throttled), hostMsPerStep: median(hostTimes), samplesPerSecond: (batch * 1000) / ms, secondsPerEpoch: (ms * stepsPerEpoch) / 1000, flopsPerStep: flops, gflops: flops / (ms * 1e6) };
    row.name = model.name;
    trainer.dispose();
    model.dispose();
    console.log(`${model.name}, ${method}: ${ms.toFixed(1)} ms/step (${row[method].msPerStepThrottled.toFixed(1)} with throttle; host encoding ${row[method].hostMsPerStep.toFixed(1)}), ${row[method].samplesPerSecond.toFixed(0)} samples/s, ${row[method].secondsPerEpoch.toFixed(0)} s/epoch, ${(flops / 1e9).toFixed(2)} GFLOP/step (${row[method].gflops.toFixed(1)} GFLOPS)`);
  }
  rows.push(row);
}
images.dispose();
labels.dispose();
// SLL against backprop, where both were timed.
const pairs = rows.filter((r) => r.sll && r.backprop);
if (pairs.length > 0) {
  console.log('\n| model | SLL s/epoch | backprop s/epoch | SLL / backprop | GFLOP/step, SLL / backprop |');
  console.log('|---|---|---|---|---|');
}
for (const r of pairs) console.log(`| ${r.name} | ${r.sll.secondsPerEpoch.toFixed(0)} | ${r.backprop.secondsPerEpoch.toFixed(0)} | ${(r.sll.secondsPerEpoch / r.backprop.secondsPerEpoch).toFixed(2)} | ${(r.sll.flopsPerStep / 1e9).toFixed(2)} / ${(r.backprop.flopsPerStep / 1e9).toFixed(2)} |`);
const slug = `${device.report.device || device.report.description}`.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
const outDir = option('out', join(root, 'bench', 'results'));
mkdirSync(outDir, { recursive: true });
// A small MLP's or another batch's figures go to a file of their own, beside (not over) the default models'.
const file = join(outDir, `${allRules ? 'rules-' : ''}speed-${slug}${mlpHidden ? `-mlp-${mlpHidden.replace(/,/g, '-')}` : ''}${batch !== 128 ? `-batch-${batch}` : ''}.json`);
writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), adapter: device.report, batch, stepsPerEpoch, steps, windows, rows }, null, 2) + '\n');
refreshResultsDoc(file);
console.log(`wrote ${file}`);
device.destroy();
