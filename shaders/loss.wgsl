// Row-wise losses with their gradients fused in: cross-entropy, the Bhattacharyya divergence
// that SLL aligns adjacent blocks with (docs/algorithm.md, "Analytic gradients"), and the
// two together (SLL's class-mode local loss).
//
// One workgroup per row, as in softmax.wgsl: each thread folds a strided slice of the row into
// a running (max, sum of exp) pair, and a tree in workgroup memory combines the pairs. Every
// log-probability is taken as (z - max) - log(sum), never as log(softmax), so nothing overflows
// and nothing underflows to log(0).

// Threads per workgroup; a power of two, because the tree halves it at every step.
override WG: u32 = 256u;

struct LossParams {
  rows: u32,
  cols: u32,
  // 1 / temperature: probabilities are softmax(logits * invTau).
  invTau: f32,
  // Multiplies every gradient element (1 / rows by default: the batch mean).
  scale: f32,
  // The bits of a quiet NaN, written where a label is out of range. Passed in rather than
  // spelled in WGSL, where a NaN constant is a shader-creation error.
  nanBits: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> logQ: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> likelihood: array<f32>;
@group(0) @binding(6) var<storage, read_write> alignment: array<f32>;
@group(0) @binding(7) var<storage, read_write> logPi: array<f32>;
@group(0) @binding(8) var<uniform> params: LossParams;

//#include lib/rowReduce

// log sum_j exp(z_j) of row `base`, z = logits * invTau, as (max, log sum exp(z - max)); the
// pair keeps z_j - max exact for log-probabilities of large logits.
struct LogNormalizer {
  m: f32,
  logSum: f32,
}

fn logitsNormalizer(lid: u32, base: u32) -> LogNormalizer {
  var acc = MaxSum(LOWEST, 0.0);
  for (var j = lid; j < params.cols; j += WG) {
    acc = foldValue(acc, logits[base + j] * params.invTau);
  }
  let total = reduceMaxSum(lid, acc);
  return LogNormalizer(total.m, log(total.s));
}

// log pi_j = (z_j - max) - log sum exp(z - max).
fn logProbability(n: LogNormalizer, index: u32) -> f32 {
  return (logits[index] * params.invTau - n.m) - n.logSum;
}

// log s = log sum_k sqrt(pi_k q_k) = logsumexp_k((log pi_k + log q_k) / 2), in log space so
// that a nearly one-hot q (log q = -80) neither underflows nor loses the small terms.
fn logBhattacharyyaCoefficient(lid: u32, base: u32, n: LogNormalizer) -> f32 {
  var acc = MaxSum(LOWEST, 0.0);
  for (var j = lid; j < params.cols; j += WG) {
    acc = foldValue(acc, 0.5 * (logProbability(n, base + j) + logQ[base + j]));
  }
  let total = reduceMaxSum(lid, acc);
  return total.m + log(total.s);
}

fn labelIsValid(label: i32) -> bool {
  return label >= 0 && u32(label) < params.cols;
}

// loss[row] = -log softmax(z)[label], grad = (softmax(z) - onehot(label)) * scale * invTau,
// z = logits * invTau (the invTau is the chain rule through z). A label outside [0, cols)
// makes the row's loss and gradient NaN, and no element is read at the label.
@compute @workgroup_size(WG)
fn crossEntropy(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let row = rowIndex(wid, groups);
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  let n = logitsNormalizer(lid, base);
  let label = labels[row];
  let nan = bitcast<f32>(params.nanBits);
  if (!labelIsValid(label)) {
    for (var j = lid; j < params.cols; j += WG) {
      grad[base + j] = nan;
    }
    if (lid == 0u) { loss[row] = nan; }
    return;
  }
  let gradScale = params.scale * params.invTau;
  for (var j = lid; j < params.cols; j += WG) {
    let p = exp(logProbability(n, base + j));
    grad[base + j] = (p - select(0.0, 1.0, j == u32(label))) * gradScale;
  }
  if (lid == 0u) {
    loss[row] = -logProbability(n, base + u32(label));
  }
}

// SLL's alignment term for pi = softmax(logits * invTau) and a constant q given as log q:
// loss[row] = D_B(pi, q) = -log s, s = sum_k sqrt(pi_k q_k), and
// grad_j = dD_B/dlogits_j * scale = (pi_j - r_j) * invTau / 2 * scale, r_k = sqrt(pi_k q_k) / s.
// (d log pi_k / dlogits_j = (delta_kj - pi_j) invTau, so dD_B/dlogits_j = -(1/2) sum_k r_k
// (delta_kj - pi_j) invTau = (pi_j - r_j) invTau / 2, because the r_k sum to 1.)
@compute @workgroup_size(WG)
fn bhattacharyya(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let row = rowIndex(wid, groups);
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  let n = logitsNormalizer(lid, base);
  let logS = logBhattacharyyaCoefficient(lid, base, n);
  let gradScale = 0.5 * params.invTau * params.scale;
  for (var j = lid; j < params.cols; j += WG) {
    let logP = logProbability(n, base + j);
    let r = exp(0.5 * (logP + logQ[base + j]) - logS);
    grad[base + j] = (exp(logP) - r) * gradScale;
  }
  if (lid == 0u) {
    loss[row] = -logS;
  }
}

// SLL's class-mode local loss in one pass over the row: likelihood = cross-entropy of
// pi = softmax(logits * invTau) at the label, alignment = D_B(pi, q), their summed gradient
// ((pi - onehot) + (pi - r) / 2) * invTau * scale, and log pi, which the next block takes as
// its log q. An out-of-range label makes the likelihood and gradient NaN (alignment and log pi
// do not depend on it).
@compute @workgroup_size(WG)
fn sllClassLoss(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let row = rowIndex(wid, groups);
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  let n = logitsNormalizer(lid, base);
  let logS = logBhattacharyyaCoefficient(lid, base, n);
  let label = labels[row];
  let valid = labelIsValid(label);
  let nan = bitcast<f32>(params.nanBits);
  let gradScale = params.invTau * params.scale;
  for (var j = lid; j < params.cols; j += WG) {
    let logP = logProbability(n, base + j);
    let p = exp(logP);
    let r = exp(0.5 * (logP + logQ[base + j]) - logS);
    let onehot = select(0.0, 1.0, valid && j == u32(label));
    grad[base + j] = select(nan, ((p - onehot) + 0.5 * (p - r)) * gradScale, valid);
    logPi[base + j] = logP;
  }
  if (lid == 0u) {
    alignment[row] = -logS;
    // The label is clamped into the row before it is used as an index, valid or not.
    let safeLabel = min(u32(max(label, 0)), params.cols - 1u);
    likelihood[row] = select(nan, -logProbability(n, base + safeLabel), valid);
  }
}
