// Layer norm over the last axis, and its derivative rules (as llm.c pairs layernorm_forward
// with layernorm_backward).
//
//   mean = sum(x) / D, var = sum((x - mean)^2) / D, rstd = 1 / sqrt(var + eps)
//   xhat = (x - mean) * rstd, y = xhat * gamma + beta
//
// Per-row work (forward, dx) gives each row one workgroup with tree reductions in workgroup
// memory, or one thread per short row on CPU adapters (THREAD_PER_ROW, lib/rowReduce). dgamma and dbeta sum over all rows; that is done in two deterministic stages (fixed
// chunks of rows, then the chunk partials in order), never with atomics, so a step is
// bit-for-bit repeatable.

// Threads per workgroup of the row kernels; a power of two (the tree halves it).
override WG: u32 = 256u;
// Threads per workgroup of the column kernels (one thread per column).
override COLUMN_WG: u32 = 256u;

struct NormParams {
  rows: u32,
  cols: u32,
  eps: f32,
  // Rows per chunk in the first stage of the dgamma/dbeta reduction.
  chunkRows: u32,
  // Number of chunks (the partials' row count).
  chunks: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> meanIn: array<f32>;
@group(0) @binding(5) var<storage, read> rstdIn: array<f32>;
@group(0) @binding(6) var<storage, read> partialGammaIn: array<f32>;
@group(0) @binding(7) var<storage, read> partialBetaIn: array<f32>;
@group(0) @binding(8) var<storage, read_write> y: array<f32>;
@group(0) @binding(9) var<storage, read_write> meanOut: array<f32>;
@group(0) @binding(10) var<storage, read_write> rstdOut: array<f32>;
@group(0) @binding(11) var<storage, read_write> dx: array<f32>;
@group(0) @binding(12) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(13) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(14) var<uniform> params: NormParams;

//#include lib/rowReduce

// The variance is taken from deviations about the mean (two passes over the row), not as
// E[x^2] - mean^2, which cancels catastrophically when |mean| >> std.
@compute @workgroup_size(WG)
fn layerNormForward(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let slot = rowSlot(lid, wid, groups, params.rows);
  let row = slot.row;
  let cols = params.cols;
  let base = row * cols;
  var sum = 0.0;
  for (var j = slot.first; j < cols; j += slot.stride) {
    sum += x[base + j];
  }
  let mean = reducePair(lid, sum, 0.0).x / f32(cols);
  var squares = 0.0;
  for (var j = slot.first; j < cols; j += slot.stride) {
    let d = x[base + j] - mean;
    squares += d * d;
  }
  let variance = reducePair(lid, squares, 0.0).x / f32(cols);
  let rstd = inverseSqrt(variance + params.eps);
  if (!slot.writes) { return; }
  for (var j = slot.first; j < cols; j += slot.stride) {
    y[base + j] = (x[base + j] - mean) * rstd * gamma[j] + beta[j];
  }
  if (slot.first == 0u) {
    meanOut[row] = mean;
    rstdOut[row] = rstd;
  }
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma: the derivative of
// y = xhat * gamma + beta through xhat's dependence on the row's mean and variance.
@compute @workgroup_size(WG)
fn layerNormBackwardInput(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let slot = rowSlot(lid, wid, groups, params.rows);
  let row = slot.row;
  let cols = params.cols;
  let base = row * cols;
  let mean = meanIn[row];
  let rstd = rstdIn[row];
  var sumG = 0.0;
  var sumGXhat = 0.0;
  for (var j = slot.first; j < cols; j += slot.stride) {
    let g = dy[base + j] * gamma[j];
    sumG += g;
    sumGXhat += g * (x[base + j] - mean) * rstd;
  }
  let totals = reducePair(lid, sumG, sumGXhat) / f32(cols);
  // A row of one element normalizes to 0 whatever x is, so its dx is exactly 0. The general
  // formula would give rstd = 1/sqrt(eps) times the rounding left in g - mean(g), and GPUs that
  // fuse g's multiply into that subtraction (NVIDIA does) leave it nonzero.
  let degenerate = cols == 1u;
  if (!slot.writes) { return; }
  for (var j = slot.first; j < cols; j += slot.stride) {
    let g = dy[base + j] * gamma[j];
    let xhat = (x[base + j] - mean) * rstd;
    dx[base + j] = select(rstd * (g - totals.x - xhat * totals.y), 0.0, degenerate);
  }
}

// Stage 1 of dgamma = sum_rows dy * xhat and dbeta = sum_rows dy: thread (column j, chunk c)
// sums its column over the chunk's rows, in row order. Grid: x over columns, y over chunks.
// With one chunk this writes dgamma and dbeta themselves (the host binds them here).
@compute @workgroup_size(COLUMN_WG)
fn layerNormBackwardParamsPartial(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let chunk = gid.y;
  if (j >= params.cols || chunk >= params.chunks) { return; }
  let first = chunk * params.chunkRows;
  let last = min(first + params.chunkRows, params.rows);
  var sumGamma = 0.0;
  var sumBeta = 0.0;
  for (var row = first; row < last; row++) {
    let d = dy[row * params.cols + j];
    sumGamma += d * (x[row * params.cols + j] - meanIn[row]) * rstdIn[row];
    sumBeta += d;
  }
  dgamma[chunk * params.cols + j] = sumGamma;
  dbeta[chunk * params.cols + j] = sumBeta;
}

// Stage 2: each column's chunk partials, summed in chunk order (deterministic).
@compute @workgroup_size(COLUMN_WG)
fn layerNormBackwardParamsFinish(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= params.cols) { return; }
  var sumGamma = 0.0;
  var sumBeta = 0.0;
  for (var chunk = 0u; chunk < params.chunks; chunk++) {
    sumGamma += partialGammaIn[chunk * params.cols + j];
    sumBeta += partialBetaIn[chunk * params.cols + j];
  }
  dgamma[j] = sumGamma;
  dbeta[j] = sumBeta;
}
