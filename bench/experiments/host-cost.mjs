// Host time per dispatch, against Dawn's floor, on one adapter in one run: what the CPU spends
// encoding and submitting work, where on a GPU a small step is bound (docs/results.md, "Host
// cost per dispatch"). Every figure is a median of windows after a warm-up window; the GPU is
// drained between windows, untimed (see settle).
//
//   floor   A trivial kernel (one storage buffer, one workgroup), N dispatches straight on the
//           GPUDevice: (a) one compute pass, the bind group made once; (b) a pass per dispatch,
//           the bind group made once; (c) one pass, a bind group created per dispatch; (d) a
//           submit per dispatch (its own encoder and pass). The time of encoding, finishing and
//           submitting them, over N. (e) The engine's shape with nothing of the engine: 40
//           distinct pipelines, each bound with four storage buffers and a uniform at a dynamic
//           offset, cycled in one pass: what Dawn charges for the dispatches a step makes.
//   ops     The engine's single ops on tiny tensors (add and relu of 8 values, an 8 x 8 matmul),
//           each result disposed at once, submitted every 64 ops, after 2 s of them as warm-up:
//           host time per op and per dispatch (the device's dispatch counter).
//   steps   A training step of each model (the defaults, and the MLP 784-8-8-8-10 whose step is
//           almost all host work), SLL and backprop, at batch 1 and 128, each encoded by the
//           rule's code (replay: false) and replayed (the trainer's default): dispatches per step and
//           host time per dispatch (the time inside trainStep, which encodes and submits, each
//           step begun with the GPU idle so that a CPU adapter's GPU work does not share the
//           cores with it), with the submits and the buffers created (the pool's misses) in a
//           step. A window runs at least --steps steps and 0.3 s of host time (or 3 s of wall
//           time), after a warm-up window of 2 s of host time (or 10 s of wall time).
//   replay  The same work op by op and replayed from a recording (device.record): a chain of 64
//           adds and the MLP 784-8-8-8-10's evaluation forward at batch 1, a submit after each
//           run: host time per dispatch of each.
//   profile Where the host time goes: V8's sampling profiler over a loop of `add` ops, self
//           time grouped by the engine's source file, Dawn's native API calls and V8's own work
//           (garbage collection); and over replayed steps of the MLP 784-8-8-8-10 (SLL, batch 1),
//           the samples inside trainStep only, Dawn's calls named by the engine's function that
//           made them.
//
// On a CPU adapter with few cores, a large model's step (the MLP 784-1000-1000-1000-10) measures
// 1.5 to 3x its small twin's host time with the same dispatches, and the figure moves from one
// process to the next (1.6 against 2.8 ms for the same replayed step). Timed call by call, the
// excess is one wait of 1 to 2.6 ms on a futex (strace), landing on a different call in each
// process (beginning the step's pass in one, a reduction's dispatchWorkgroups in another) while
// every other call costs what the small model's does: the main thread waiting for the driver's
// threads, not work of the engine's. Read those rows as bounded by the machine.
//
// Writes bench/results/host-cost-<adapter>.json.
//
//   npm run build && node bench/experiments/host-cost.mjs [--windows 5] [--dispatches 2000] [--steps 5] [--models mlp-small,mlp,cnn,vit] [--out DIR]
import '../lib/help.mjs'; // --help prints the comment above, before anything else loads
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeAdapter, openNodeDevice, ops, sll } from '../../dist/src/node.js';
import { option } from '../lib/options.mjs';
import { refreshResultsDoc } from '../results-doc.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const windows = Number(option('windows', 5));
const dispatches = Number(option('dispatches', 2000));
const stepsPerWindow = Number(option('steps', 5));
/** Host time of the warm-up window and, at least, of each timed window of steps. */
const WARMUP_MS = 2000;
const WINDOW_MS = 300;
/** Wall time after which a window of large steps ends anyway (with at least --steps steps). */
const WARMUP_WALL_MS = 10_000;
const WINDOW_WALL_MS = 3000;
const models = option('models', 'mlp-small,mlp,cnn,vit').split(',');

const device = await openNodeDevice();
const gpu = device.gpu;
const adapter = describeAdapter(device.report);
console.log(`adapter: ${adapter}`);
const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];

/**
 * Waits for the GPU to finish, then opens and drops one compute pass untimed: on lavapipe the
 * first pass begun after the queue went idle can take milliseconds (Dawn's recording context
 * starting again), a cost of draining that steady training, which never drains, does not pay.
 */
async function settle() {
  await gpu.queue.onSubmittedWorkDone();
  const encoder = gpu.createCommandEncoder();
  encoder.beginComputePass().end();
  encoder.finish();
}

/** The median over windows (after one warm-up window) of `body`'s host time per unit, the GPU drained between windows. */
async function perUnit(body, units) {
  const times = [];
  for (let w = 0; w <= windows; w++) {
    await settle();
    const t0 = performance.now();
    body();
    const ms = performance.now() - t0;
    if (w > 0) times.push((ms * 1000) / units);
  }
  await gpu.queue.onSubmittedWorkDone();
  return median(times);
}

// ---------------------------------------------------------------- floor
const module = gpu.createShaderModule({ code: '@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n@compute @workgroup_size(1) fn main() { x[0] = x[0] + 1.0; }' });
const pipeline = gpu.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
const buffer = gpu.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
const makeGroup = () => gpu.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer } }] });
const group = makeGroup();
/** N dispatches of the trivial kernel, a new pass, bind group or submit for each where asked. */
function floorPattern({ passEach = false, groupEach = false, submitEach = false }) {
  return perUnit(() => {
    let encoder = gpu.createCommandEncoder();
    let pass = encoder.beginComputePass();
    for (let i = 0; i < dispatches; i++) {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, groupEach ? makeGroup() : group);
      pass.dispatchWorkgroups(1);
      if (i + 1 === dispatches) break;
      if (passEach || submitEach) {
        pass.end();
        if (submitEach) {
          gpu.queue.submit([encoder.finish()]);
          encoder = gpu.createCommandEncoder();
        }
        pass = encoder.beginComputePass();
      }
    }
    pass.end();
    gpu.queue.submit([encoder.finish()]);
  }, dispatches);
}
/**
 * (e) The engine's shape of work, still with nothing of the engine: ENGINE_KERNELS distinct
 * pipelines, each with its bind group (four storage buffers and a uniform at a dynamic offset, as
 * most of the engine's kernels have), made once and cycled through in one pass. What a replayed
 * step could cost at best, since each of its dispatches switches pipeline and bind group.
 */
const ENGINE_KERNELS = 40;
const ENGINE_STORAGE = 4;
const engineBuffers = [];
const engineKernels = Array.from({ length: ENGINE_KERNELS }, (_, k) => {
  const storage = Array.from({ length: ENGINE_STORAGE }, (_, i) => `@group(0) @binding(${i}) var<storage, read_write> b${i}: array<f32>;`).join('\n');
  const code = `${storage}\nstruct U { value: vec4<f32> }\n@group(0) @binding(${ENGINE_STORAGE}) var<uniform> u: U;\n@compute @workgroup_size(1) fn main() { b0[0] = b1[0] + b2[0] + b3[0] + u.value.x + ${k}.0; }`;
  const layout = gpu.createBindGroupLayout({
    entries: [
      ...Array.from({ length: ENGINE_STORAGE }, (_, i) => ({ binding: i, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } })),
      { binding: ENGINE_STORAGE, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } },
    ],
  });
  const kernelPipeline = gpu.createComputePipeline({ layout: gpu.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module: gpu.createShaderModule({ code }), entryPoint: 'main' } });
  const uniforms = gpu.createBuffer({ size: 256 * ENGINE_KERNELS, usage: GPUBufferUsage.UNIFORM });
  const storageBuffers = Array.from({ length: ENGINE_STORAGE }, () => gpu.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE }));
  engineBuffers.push(uniforms, ...storageBuffers);
  const entries = [...storageBuffers.map((b, i) => ({ binding: i, resource: { buffer: b } })), { binding: ENGINE_STORAGE, resource: { buffer: uniforms, size: 16 } }];
  return { pipeline: kernelPipeline, group: gpu.createBindGroup({ layout, entries }), offset: [256 * k] };
});
function engineShapedFloor() {
  return perUnit(() => {
    const encoder = gpu.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (let i = 0; i < dispatches; i++) {
      const k = engineKernels[i % ENGINE_KERNELS];
      pass.setPipeline(k.pipeline);
      pass.setBindGroup(0, k.group, k.offset);
      pass.dispatchWorkgroups(1);
    }
    pass.end();
    gpu.queue.submit([encoder.finish()]);
  }, dispatches);
}
const floor = {
  onePass: await floorPattern({}),
  passPerDispatch: await floorPattern({ passEach: true }),
  bindGroupPerDispatch: await floorPattern({ groupEach: true }),
  submitPerDispatch: await floorPattern({ submitEach: true }),
  engineShaped: await engineShapedFloor(),
};
buffer.destroy();
for (const b of engineBuffers) b.destroy();
console.log(`floor, us per dispatch: one pass ${floor.onePass.toFixed(2)}, a pass each ${floor.passPerDispatch.toFixed(2)}, a bind group each ${floor.bindGroupPerDispatch.toFixed(2)}, a submit each ${floor.submitPerDispatch.toFixed(2)}, ${ENGINE_KERNELS} kernels of the engine's shape cycled ${floor.engineShaped.toFixed(2)}`);

// ---------------------------------------------------------------- single ops
const OPS_PER_WINDOW = 640;
const v8 = device.tensor(Float32Array.from({ length: 8 }, (_, i) => i - 3.5), [8]);
const m8 = device.tensor(Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)), [8, 8]);
const opCases = [
  ['add, 8 values', () => ops.add(v8, v8)],
  ['relu, 8 values', () => ops.relu(v8)],
  ['matmul 8 x 8 x 8', () => ops.matmul(m8, m8)],
];
const opRows = [];
for (const [name, op] of opCases) {
  const opWindow = () => {
    for (let i = 0; i < OPS_PER_WINDOW; i++) {
      op().dispose();
      if (i % 64 === 63) device.submit();
    }
    device.submit();
  };
  // Warm-up by time, as for the steps: V8 compiles an op's path only after some thousands of
  // calls, and one window of 640 ops timed it at up to twice its steady cost.
  for (const start = performance.now(); performance.now() - start < WARMUP_MS; ) {
    opWindow();
    await gpu.queue.onSubmittedWorkDone();
  }
  const before = device.dispatchCount;
  const usPerOp = await perUnit(opWindow, OPS_PER_WINDOW);
  const dispatchesPerOp = (device.dispatchCount - before) / ((windows + 1) * OPS_PER_WINDOW);
  opRows.push({ name, usPerOp, dispatchesPerOp, usPerDispatch: usPerOp / dispatchesPerOp });
  console.log(`${name}: ${usPerOp.toFixed(1)} us per op, ${dispatchesPerOp} dispatches, ${(usPerOp / dispatchesPerOp).toFixed(1)} us per dispatch (${(usPerOp / dispatchesPerOp / floor.onePass).toFixed(1)}x the floor)`);
}
v8.dispose();
m8.dispose();

// ---------------------------------------------------------------- replay
// The same work op by op and replayed from a recording (device.record), the mechanism by which a
// trainer replays its steps (measured below, with the steps).
const REPLAY_REPS = 64;
const chainInput = device.tensor(Float32Array.from({ length: 8 }, (_, i) => i - 3.5), [8]);
const evalModel = sll.buildModel(device, { kind: 'mlp', hidden: [8, 8, 8] }, { inputShape: [1, 28, 28], classes: 10 }, 0);
const evalImages = device.tensor(Float32Array.from({ length: 784 }, (_, i) => Math.sin(i)), [1, 1, 28, 28]);
const replayCases = [
  ['64 adds of 8 values, chained', () => {
    let t = chainInput;
    for (let i = 0; i < 64; i++) t = ops.add(t, chainInput);
    return t;
  }],
  ['evaluation forward of the MLP 784-8-8-8-10, batch 1', () => {
    let a = evalImages;
    for (const block of evalModel.blocks) a = block.layers.forward(a, { training: false });
    return evalModel.classifier.forward(evalModel.classifierPhi.forward(a, { training: false }), { training: false });
  }],
];
const replayRows = [];
for (const [name, work] of replayCases) {
  // The result stays alive while the recording replays into it.
  const { result, recording } = device.record(work);
  const dispatchesPerRun = recording.dispatches;
  const measure = async (run) => {
    for (const start = performance.now(); performance.now() - start < WARMUP_MS; ) {
      for (let i = 0; i < REPLAY_REPS; i++) run();
      await gpu.queue.onSubmittedWorkDone();
    }
    return perUnit(() => {
      for (let i = 0; i < REPLAY_REPS; i++) run();
    }, REPLAY_REPS * dispatchesPerRun);
  };
  const opUs = await measure(() => {
    device.scope(work);
    device.submit();
  });
  const replayUs = await measure(() => recording.replay());
  recording.dispose();
  result.dispose();
  replayRows.push({ name, dispatches: dispatchesPerRun, opUsPerDispatch: opUs, replayUsPerDispatch: replayUs });
  console.log(`${name}: ${dispatchesPerRun} dispatches, ${opUs.toFixed(1)} us per dispatch op by op, ${replayUs.toFixed(1)} replayed (${(replayUs / floor.onePass).toFixed(1)}x the floor)`);
}
chainInput.dispose();
evalImages.dispose();
evalModel.dispose();

// ---------------------------------------------------------------- profile
/**
 * Self time of a sampled profile, in shares, grouped: the engine's files by name
 * ('gpu/commands.ts'), the timed loop, other scripts, V8's own work by its name ('(garbage
 * collector)'), and script-less native frames, which in these loops are the webgpu binding's
 * calls into Dawn (setPipeline, setBindGroup, dispatchWorkgroups, the encoders, submit,
 * writeBuffer): "native: Dawn's API", or with `byCaller` named by the engine's function that
 * made the call. With `within`, only the samples with that function on their stack count (V8's
 * own work, which the profiler puts under the root, then never does).
 */
function groupedSelfTime(profile, { timed, within, byCaller = false }) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inside = (id) => {
    for (let x = id; x !== undefined; x = parent.get(x)) if (byId.get(x).callFrame.functionName === within) return true;
    return false;
  };
  const engineFile = (url) => /\/dist\/src\/(.*)\.js$/.exec(url ?? '')?.[1];
  const groups = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    if (within !== undefined && !inside(id)) return;
    const dt = profile.timeDeltas[i] ?? 0;
    const { functionName, url } = byId.get(id).callFrame;
    let group;
    if (url === '' && !functionName.startsWith('(')) {
      const caller = byId.get(parent.get(id))?.callFrame;
      const file = engineFile(caller?.url);
      group = byCaller ? `native: Dawn's API, called by ${file ? `${file}.ts ${caller.functionName}` : 'other script'}` : "native: Dawn's API";
    } else {
      const file = engineFile(url);
      group = file ? `${file}.ts` : timed && url.endsWith(timed) ? 'the timed loop' : url === '' ? functionName : 'other script';
    }
    groups.set(group, (groups.get(group) ?? 0) + dt);
    total += dt;
  });
  return [...groups].map(([group, us]) => ({ group, share: us / total })).sort((a, b) => b.share - a.share);
}
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 50 });
const p8 = device.tensor(Float32Array.from({ length: 8 }, (_, i) => i), [8]);
const profiledOps = 20_000;
await session.post('Profiler.start');
for (let i = 0; i < profiledOps; i++) {
  ops.add(p8, p8).dispose();
  if (i % 64 === 63) device.submit();
}
device.submit();
const { profile } = await session.post('Profiler.stop');
p8.dispose();
await gpu.queue.onSubmittedWorkDone();
const profileRows = groupedSelfTime(profile, { timed: 'host-cost.mjs' }).filter((r) => r.share >= 0.005);
console.log(`where an add's host time goes (self time, ${profiledOps} ops): ${profileRows.map((r) => `${r.group} ${(100 * r.share).toFixed(1)}%`).join(', ')}`);

// Where a replayed step's host time goes: the samples inside trainStep only (the GPU is drained
// between steps, untimed, as for the steps below), Dawn's calls named by the engine's function
// that made them, so that encoding the dispatches, the submit and the uniform writes stand apart.
const PROFILED_STEPS = 2000;
const stepProfileModel = { kind: 'mlp', hidden: [8, 8, 8] };
const profiledStep = await (async () => {
  const model = sll.buildModel(device, stepProfileModel, { inputShape: [1, 28, 28], classes: 10 }, 0);
  const trainer = new sll.Trainer(device, model, { method: 'sll', optimizer: { kind: 'adam', lr: 1e-3 }, seed: 0, metricsEvery: 1000, objective: () => sll.defaultObjective('mlp', 10) });
  const images = device.tensor(Float32Array.from({ length: 784 }, (_, i) => Math.sin(i)), [1, 1, 28, 28]);
  const labels = device.tensor(Int32Array.from([3]), [1], 'i32');
  const steps = async (n) => {
    for (let i = 0; i < n; i++) {
      if (trainer.metricsDue) await trainer.readMetrics();
      await settle();
      trainer.trainStep(images, labels);
    }
  };
  await steps(200);
  const replayedBefore = trainer.replayedSteps;
  await session.post('Profiler.start');
  await steps(PROFILED_STEPS);
  const { profile: stepProfile } = await session.post('Profiler.stop');
  const replayed = trainer.replayedSteps - replayedBefore === PROFILED_STEPS;
  await trainer.readMetrics();
  trainer.dispose();
  model.dispose();
  images.dispose();
  labels.dispose();
  return { model: model.name, method: 'sll', batch: 1, steps: PROFILED_STEPS, replayed, selfTime: groupedSelfTime(stepProfile, { within: 'trainStep', byCaller: true }).filter((r) => r.share >= 0.005) };
})();
session.disconnect();
console.log(`where a${profiledStep.replayed ? ' replayed' : 'n encoded'} step's host time goes (${profiledStep.model}, SLL, batch 1, ${PROFILED_STEPS} steps): ${profiledStep.selfTime.map((r) => `${r.group} ${(100 * r.share).toFixed(1)}%`).join(', ')}`);

// ---------------------------------------------------------------- training steps
const specOf = (kind) => (kind === 'mlp-small' ? { kind: 'mlp', hidden: [8, 8, 8] } : sll.defaultModelSpec(kind));
const stepRows = [];
for (const kind of models) {
  for (const batch of [1, 128]) {
    const images = device.tensor(Float32Array.from({ length: batch * 784 }, (_, i) => Math.sin(i)), [batch, 1, 28, 28]);
    const labels = device.tensor(Int32Array.from({ length: batch }, (_, i) => i % 10), [batch], 'i32');
    for (const replay of [false, true]) for (const method of ['sll', 'backprop']) {
      const model = sll.buildModel(device, specOf(kind), { inputShape: [1, 28, 28], classes: 10 }, 0);
      const trainer = new sll.Trainer(device, model, { method, optimizer: { kind: 'adam', lr: 1e-3 }, seed: 0, metricsEvery: 1000, objective: () => sll.defaultObjective(kind === 'mlp-small' ? 'mlp' : kind, 10), replay });
      trainer.trainStep(images, labels);
      trainer.trainStep(images, labels);
      await trainer.readMetrics();
      // The time inside trainStep, each step begun with the GPU idle (settle, untimed): on a CPU
      // adapter the GPU's work of earlier steps would share the cores with this encoding, which
      // a GPU's does not, and so inflated the host time of the large steps (by 2-4x on two
      // cores). Warm-up by time, so that V8 has compiled the step's code before it is timed (a
      // tiny model's first few hundred steps run slower); then windows of at least
      // stepsPerWindow steps and WINDOW_MS of host time each, so that a window of a tiny step is
      // not a few milliseconds of noise.
      const hostUs = [];
      for (let w = 0; w <= windows; w++) {
        let host = 0;
        let steps = 0;
        const start = performance.now();
        // A large step's GPU work, drained before every step, bounds a window by wall time too.
        const enough = () => host >= (w === 0 ? WARMUP_MS : WINDOW_MS) || performance.now() - start >= (w === 0 ? WARMUP_WALL_MS : WINDOW_WALL_MS);
        while (steps < stepsPerWindow || !enough()) {
          if (trainer.metricsDue) await trainer.readMetrics();
          await settle();
          const t0 = performance.now();
          trainer.trainStep(images, labels);
          host += performance.now() - t0;
          steps++;
        }
        if (w > 0) hostUs.push((host * 1000) / steps);
      }
      // One step counted, in the steady state the windows timed (a replayed step, where the trainer replays): its dispatches, submits and new buffers (calls to the GPUDevice, wrapped for it).
      const counted = { submits: 0, buffers: 0 };
      const { submit } = gpu.queue;
      const { createBuffer } = gpu;
      gpu.queue.submit = (...args) => (counted.submits++, submit.apply(gpu.queue, args));
      gpu.createBuffer = (...args) => (counted.buffers++, createBuffer.apply(gpu, args));
      const before = device.dispatchCount;
      try {
        trainer.trainStep(images, labels);
      } finally {
        gpu.queue.submit = submit;
        gpu.createBuffer = createBuffer;
      }
      const perStep = device.dispatchCount - before;
      await trainer.readMetrics();
      const us = median(hostUs);
      stepRows.push({ model: model.name, method, batch, replay, replayed: trainer.replayedSteps > 0, dispatchesPerStep: perStep, submitsPerStep: counted.submits, buffersCreatedPerStep: counted.buffers, hostUsPerStep: us, hostUsPerDispatch: us / perStep });
      console.log(`${model.name}, ${method}, batch ${batch}, ${replay ? (trainer.replayedSteps > 0 ? 'replayed' : 'replay asked, none taken') : 'encoded'}: ${perStep} dispatches, ${counted.submits} submits, ${counted.buffers} buffers created, ${(us / 1000).toFixed(2)} ms host per step, ${(us / perStep).toFixed(1)} us per dispatch (${(us / perStep / floor.onePass).toFixed(1)}x the floor)`);
      trainer.dispose();
      model.dispose();
    }
    images.dispose();
    labels.dispose();
  }
}

const slug = `${device.report.device || device.report.description}`.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
const outDir = option('out', join(root, 'bench', 'results'));
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `host-cost-${slug}.json`);
writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), adapter: device.report, windows, dispatches, stepsPerWindow, windowMs: WINDOW_MS, warmupMs: WARMUP_MS, windowWallMs: WINDOW_WALL_MS, warmupWallMs: WARMUP_WALL_MS, floor, engineShape: { kernels: ENGINE_KERNELS, storageBuffers: ENGINE_STORAGE }, ops: opRows, profile: { op: 'add, 8 values', ops: profiledOps, selfTime: profileRows }, stepProfile: profiledStep, replay: replayRows, steps: stepRows }, null, 2) + '\n');
refreshResultsDoc(file);
console.log(`wrote ${file}`);
await device.close();
