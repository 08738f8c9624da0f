// Optimizer steps, in place on f32 parameters, and the non-finite check that guards them.
// One thread per element (a run of consecutive elements on CPU adapters: CHECK_RUN, STEP_RUN);
// large counts fold the grid over x and y (see foldWorkgroups).
//
// The update formulas are PyTorch's (torch.optim.SGD, Adam, AdamW), written out in
// src/reference/optim.ts; the operations below follow the same order in f32. Scalars that do
// not depend on the element (1 - beta, bias corrections, lr / correction) are computed on the
// host in float64 and arrive rounded to f32, as PyTorch's Python scalars do.
//
// Guard: `checkFinite` sets a flag when any of up to four tensors holds NaN or Inf, and the
// `guarded` variant of every step reads the flags first and leaves params and state untouched
// when any is nonzero. A trainer thus keeps a non-finite gradient out of the weights without a
// readback.

override WG: u32 = 256u;

// checkFinite scans up to four tensors in one dispatch (a unit's weight and bias gradients):
// `counts` holds their sizes, 0 for a slot not used (the host binds a used tensor there).
struct CheckParams {
  counts: vec4<u32>,
  // Which flag element to raise.
  flagIndex: u32,
  // The nonzero value a raised flag takes (the first raise wins).
  mark: u32,
  // Where the step values hold the mark instead (variant stepValues).
  valuesAt: u32,
  _pad1: u32,
}

struct SgdParams {
  count: u32,
  lr: f32,
  momentum: f32,
  oneMinusDampening: f32,
  weightDecay: f32,
  // 1: Nesterov momentum.
  nesterov: u32,
  // 1 on PyTorch's first step, where the momentum buffer is set to the gradient.
  firstStep: u32,
  // Where the step values hold lr and firstStep instead (variant stepValues).
  valuesAt: u32,
}

struct AdamParams {
  count: u32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  eps: f32,
  // Adam's L2 coefficient, added to the gradient (0 for AdamW).
  weightDecay: f32,
  // AdamW's decoupled decay factor 1 - lr * weightDecay (1 for Adam).
  decay: f32,
  // lr / (1 - beta1^step).
  stepSize: f32,
  // sqrt(1 - beta2^step).
  biasCorrection2Sqrt: f32,
  // Where the step values hold stepSize, biasCorrection2Sqrt and decay instead (variant stepValues).
  valuesAt: u32,
  _pad1: u32,
  _pad2: u32,
}

// The steps read and write their tensors as f32 elements, or, when every tensor's size is a
// multiple of 4, as vec4 (a quarter of the threads; the update is elementwise, so the results
// are the same bits). `count` counts Values.
//#variant scalar
alias Value = f32;
//#variant vec4
alias Value = vec4<f32>;
//#end
@group(0) @binding(0) var<storage, read_write> param: array<Value>;
@group(0) @binding(1) var<storage, read> grad: array<Value>;
@group(0) @binding(2) var<storage, read_write> momentumBuffer: array<Value>;
@group(0) @binding(3) var<storage, read_write> expAvg: array<Value>;
@group(0) @binding(4) var<storage, read_write> expAvgSq: array<Value>;
@group(0) @binding(5) var<storage, read> values: array<f32>;
@group(0) @binding(11) var<storage, read> values1: array<f32>;
@group(0) @binding(12) var<storage, read> values2: array<f32>;
@group(0) @binding(13) var<storage, read> values3: array<f32>;
@group(0) @binding(6) var<storage, read_write> flags: array<atomic<u32>>;
@group(0) @binding(8) var<uniform> check: CheckParams;
@group(0) @binding(9) var<uniform> sgd: SgdParams;
@group(0) @binding(10) var<uniform> adam: AdamParams;

//#variant guarded
@group(0) @binding(7) var<storage, read> skipFlags: array<u32>;

// True when any guard flag is raised. Every thread reads the whole flag tensor, so keep it tiny
// (a trainer uses one element: on lavapipe, 50 flags made an Adam step on a million parameters
// cost 78 ms instead of 8).
fn stepSkipped() -> bool {
  let n = arrayLength(&skipFlags);
  for (var i = 0u; i < n; i++) {
    if (skipFlags[i] != 0u) { return true; }
  }
  return false;
}
//#variant unguarded
fn stepSkipped() -> bool {
  return false;
}
//#end

// The scalars that change from step to step (the learning rate, Adam's bias corrections, the
// guard's mark) come from the uniform (uniformStep) or from a small buffer the trainer writes
// once per step, at the uniform's `valuesAt`, as f32 bits (stepValues): then a step's uniforms
// are the same every step, as a recorded step's replay needs (src/gpu/recording.ts).
//#variant uniformStep
fn adamStepSize() -> f32 { return adam.stepSize; }
fn adamBiasCorrection2Sqrt() -> f32 { return adam.biasCorrection2Sqrt; }
fn adamDecay() -> f32 { return adam.decay; }
fn sgdLr() -> f32 { return sgd.lr; }
fn sgdFirstStep() -> u32 { return sgd.firstStep; }
fn checkMark() -> u32 { return check.mark; }
//#variant stepValues
@group(0) @binding(14) var<storage, read> stepValues: array<u32>;
fn adamStepSize() -> f32 { return bitcast<f32>(stepValues[adam.valuesAt]); }
fn adamBiasCorrection2Sqrt() -> f32 { return bitcast<f32>(stepValues[adam.valuesAt + 1u]); }
fn adamDecay() -> f32 { return bitcast<f32>(stepValues[adam.valuesAt + 2u]); }
fn sgdLr() -> f32 { return bitcast<f32>(stepValues[sgd.valuesAt]); }
fn sgdFirstStep() -> u32 { return stepValues[sgd.valuesAt + 1u]; }
fn checkMark() -> u32 { return stepValues[check.valuesAt]; }
//#end

fn index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}

// Elements each checkFinite thread reads, consecutive: 1 on GPUs (neighbouring threads read
// neighbouring words); more on CPU adapters, where a thread's fixed cost outweighs one test.
override CHECK_RUN: u32 = 1u;
// Values (f32 or vec4) each Adam thread updates, consecutive: likewise 1 on GPUs.
override STEP_RUN: u32 = 1u;

// Whether elements first..last-1 of the tensor in slot `which` hold a NaN or an Inf. WGSL cannot
// index bindings, so a switch picks the slot, once per run rather than once per element. NaN and
// +-Inf are exactly the values with an all-ones exponent, tested on the bits because a compiler
// allowed to assume finite math may fold `x != x` away. The loop has no branch: it keeps the
// minimum of each element's missing exponent bits (~bits & E), which is zero exactly when some
// element has an all-ones exponent. On lavapipe a per-element switch and a short-circuit `||`
// made this scan cost 60% of an Adam step over the same tensors, which reads seven times the
// bytes.
const EXPONENT: u32 = 0x7F800000u;
fn runHasNonFinite(which: u32, first: u32, last: u32) -> bool {
  var missing = EXPONENT;
  switch which {
    case 0u: { for (var i = first; i < last; i++) { missing = min(missing, ~bitcast<u32>(values[i]) & EXPONENT); } }
    case 1u: { for (var i = first; i < last; i++) { missing = min(missing, ~bitcast<u32>(values1[i]) & EXPONENT); } }
    case 2u: { for (var i = first; i < last; i++) { missing = min(missing, ~bitcast<u32>(values2[i]) & EXPONENT); } }
    default: { for (var i = first; i < last; i++) { missing = min(missing, ~bitcast<u32>(values3[i]) & EXPONENT); } }
  }
  return missing == 0u;
}

// Each tensor gets ceil(count / CHECK_RUN) threads, the tensors' threads one after another, so
// a thread's run never straddles two tensors.
@compute @workgroup_size(WG)
fn checkFinite(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  var run = index(gid, groups);
  var which = 0u;
  for (; which < 4u; which++) {
    let runs = (check.counts[which] + CHECK_RUN - 1u) / CHECK_RUN;
    if (run < runs) { break; }
    run -= runs;
  }
  if (which == 4u) { return; }
  let first = run * CHECK_RUN;
  let bad = runHasNonFinite(which, first, min(first + CHECK_RUN, check.counts[which]));
  if (bad) {
    // Set the flag to the mark unless an earlier check already raised it. Only threads that saw
    // a bad value get here; the loop only retries a spurious compare-exchange failure.
    loop {
      let r = atomicCompareExchangeWeak(&flags[check.flagIndex], 0u, checkMark());
      if (r.exchanged || r.old_value != 0u) { break; }
    }
  }
}

// SGD without momentum: param -= lr * (grad + weightDecay * param).
@compute @workgroup_size(WG)
fn sgdPlain(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= sgd.count || stepSkipped()) { return; }
  let p = param[i];
  var g = grad[i];
  // PyTorch adds the decay term only when weight_decay != 0 (0 * Inf would be NaN).
  if (sgd.weightDecay != 0.0) { g = g + sgd.weightDecay * p; }
  param[i] = p - sgdLr() * g;
}

// SGD with momentum (and optionally Nesterov), PyTorch's form.
@compute @workgroup_size(WG)
fn sgdMomentum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= sgd.count || stepSkipped()) { return; }
  let p = param[i];
  var g = grad[i];
  if (sgd.weightDecay != 0.0) { g = g + sgd.weightDecay * p; }
  var b = g;
  if (sgdFirstStep() == 0u) { b = sgd.momentum * momentumBuffer[i] + sgd.oneMinusDampening * g; }
  momentumBuffer[i] = b;
  if (sgd.nesterov != 0u) { g = g + sgd.momentum * b; } else { g = b; }
  param[i] = p - sgdLr() * g;
}

// Adam (L2 in the gradient) and AdamW (decoupled decay), PyTorch's form.
@compute @workgroup_size(WG)
fn adamStep(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let first = index(gid, groups) * STEP_RUN;
  if (first >= adam.count || stepSkipped()) { return; }
  let decay = adamDecay();
  let stepSize = adamStepSize();
  let biasCorrection2Sqrt = adamBiasCorrection2Sqrt();
  for (var i = first; i < min(first + STEP_RUN, adam.count); i++) {
    var p = param[i];
    var g = grad[i];
    if (decay != 1.0) { p = p * decay; }
    if (adam.weightDecay != 0.0) { g = g + adam.weightDecay * p; }
    let previousM = expAvg[i];
    let m = previousM + adam.oneMinusBeta1 * (g - previousM);
    let v = adam.beta2 * expAvgSq[i] + adam.oneMinusBeta2 * g * g;
    expAvg[i] = m;
    expAvgSq[i] = v;
    let denom = sqrt(v) / biasCorrection2Sqrt + adam.eps;
    param[i] = p - stepSize * (m / denom);
  }
}
