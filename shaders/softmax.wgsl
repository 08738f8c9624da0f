// Softmax and log-softmax over the last axis, with a temperature, and their derivative rules.
//
// One workgroup per row. Each thread folds a strided slice of the row (so rows of any length
// work, 1 included, and rows longer than the workgroup just take more steps), then the
// workgroup combines the per-thread partials with a tree in workgroup memory. Or, with
// THREAD_PER_ROW (short rows on CPU adapters), one thread per row and no tree.
// Stability: the row max is subtracted before exp. The max and the sum of exponentials are
// found together in one sweep ("online softmax", Milakov & Gimelshein 2018,
// arXiv 1805.02867), which saves a full read of the row over a max pass then a sum pass.

// Threads per workgroup; a power of two, because the tree halves it at every step.
override WG: u32 = 256u;
// softmaxForward writes 0: softmax, 1: log-softmax.
override LOG_OUTPUT: u32 = 0u;

struct RowParams {
  rows: u32,
  cols: u32,
  // 1 / temperature: softmax(x / tau) is computed as softmax(x * invTau).
  invTau: f32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: RowParams;

//#include lib/rowReduce

// out = softmax(x * invTau) or log_softmax(x * invTau), row by row.
@compute @workgroup_size(WG)
fn softmaxForward(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let slot = rowSlot(lid, wid, groups, params.rows);
  let row = slot.row;
  let cols = params.cols;
  let base = row * cols;
  var acc = MaxSum(LOWEST, 0.0);
  for (var j = slot.first; j < cols; j += slot.stride) {
    acc = foldValue(acc, x[base + j] * params.invTau);
  }
  let total = reduceMaxSum(lid, acc);
  if (!slot.writes) { return; }
  if (LOG_OUTPUT == 1u) {
    // log softmax(z)_j = (z_j - m) - log(sum exp(z - m)): no exp of z itself, so no overflow,
    // and z_j - m is taken first because m + log(sum) would round at the scale of m (1e4 logits
    // would lose three decimals).
    let logSum = log(total.s);
    for (var j = slot.first; j < cols; j += slot.stride) {
      out[base + j] = (x[base + j] * params.invTau - total.m) - logSum;
    }
  } else {
    let inverseSum = 1.0 / total.s;
    for (var j = slot.first; j < cols; j += slot.stride) {
      out[base + j] = exp(x[base + j] * params.invTau - total.m) * inverseSum;
    }
  }
}

// Derivative rule of y = softmax(x / tau): dx = y * (dy - sum_k dy_k y_k) / tau.
@compute @workgroup_size(WG)
fn softmaxBackward(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let slot = rowSlot(lid, wid, groups, params.rows);
  let row = slot.row;
  let cols = params.cols;
  let base = row * cols;
  var mine = 0.0;
  for (var j = slot.first; j < cols; j += slot.stride) {
    mine += dy[base + j] * y[base + j];
  }
  let dot = reduceSum(lid, mine);
  if (!slot.writes) { return; }
  for (var j = slot.first; j < cols; j += slot.stride) {
    out[base + j] = y[base + j] * (dy[base + j] - dot) * params.invTau;
  }
}

// Derivative rule of y = log_softmax(x / tau), given y: dx = (dy - exp(y) * sum_k dy_k) / tau.
@compute @workgroup_size(WG)
fn logSoftmaxBackward(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let slot = rowSlot(lid, wid, groups, params.rows);
  let row = slot.row;
  let cols = params.cols;
  let base = row * cols;
  var mine = 0.0;
  for (var j = slot.first; j < cols; j += slot.stride) {
    mine += dy[base + j];
  }
  let total = reduceSum(lid, mine);
  if (!slot.writes) { return; }
  for (var j = slot.first; j < cols; j += slot.stride) {
    out[base + j] = (dy[base + j] - exp(y[base + j]) * total) * params.invTau;
  }
}
