// Sums over an (outer, length, inner) view of a dense tensor, argmax over the last axis, a
// count of the rows whose argmax is their label, and a trainer's window metrics in one dispatch.
//
// A sum pass writes [outer, chunks, inner]: each output is the sum of one chunk of the reduced
// run. The host repeats passes until one chunk is left, so a long sum becomes a tree of short
// sums (f32 error grows with the tree's depth, not with the number of terms).

// Threads per workgroup of the row kernels; a power of two (the tree halves it).
override WG: u32 = 256u;
// Threads per workgroup of the strided kernel (one thread per output).
override STRIDED_WG: u32 = 256u;

struct SumParams {
  outer: u32,
  length: u32,
  inner: u32,
  chunks: u32,
  // Elements of the reduced run per chunk.
  chunkLength: u32,
  // Multiplies every output (1 / count on the last pass of a mean, else 1).
  scale: f32,
  _pad0: u32,
  _pad1: u32,
}

struct RowParams {
  rows: u32,
  cols: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> indices: array<i32>;
@group(0) @binding(3) var<uniform> sums: SumParams;
@group(0) @binding(4) var<uniform> rowParams: RowParams;
@group(0) @binding(5) var<storage, read> labels: array<i32>;
// One counter, added to and never cleared here (a trainer sums a window of steps into it).
@group(0) @binding(6) var<storage, read_write> correct: array<atomic<u32>>;

var<workgroup> partialSum: array<f32, WG>;
var<workgroup> partialIndex: array<u32, WG>;

struct MetricParams {
  rows: u32,
  cols: u32,
  // Elements of each sum's terms (0 where the trainer has no such term).
  likelihoodCount: u32,
  alignmentCount: u32,
}

@group(0) @binding(7) var<storage, read> likelihood: array<f32>;
@group(0) @binding(8) var<storage, read> alignment: array<f32>;
// [likelihood sum, alignment sum] and [rows counted], added to and never cleared here.
@group(0) @binding(9) var<storage, read_write> metricSums: array<f32>;
@group(0) @binding(10) var<storage, read_write> metricCorrect: array<u32>;
@group(0) @binding(11) var<uniform> metricParams: MetricParams;
var<workgroup> partialSum2: array<f32, WG>;

// One workgroup per (row, chunk) of a contiguous run (inner = 1): each thread adds a strided
// slice of the chunk, then the workgroup adds the partials with a tree.
@compute @workgroup_size(WG)
fn reduceRowChunks(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let group = wid.x + wid.y * groups.x;
  if (group >= sums.outer * sums.chunks) { return; }
  let row = group / sums.chunks;
  let chunk = group % sums.chunks;
  let start = chunk * sums.chunkLength;
  let end = min(start + sums.chunkLength, sums.length);
  let base = row * sums.length;
  var mine = 0.0;
  for (var j = start + lid; j < end; j += WG) {
    mine += x[base + j];
  }
  partialSum[lid] = mine;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      partialSum[lid] = partialSum[lid] + partialSum[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    out[group] = partialSum[0] * sums.scale;
  }
}

// One thread per (outer, chunk, inner): a short sequential sum down a strided run. Used for
// runs followed by other axes (inner > 1), and for short runs, where a workgroup per output
// would be mostly idle.
@compute @workgroup_size(STRIDED_WG)
fn reduceStridedChunks(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * STRIDED_WG;
  let perOuter = sums.chunks * sums.inner;
  if (i >= sums.outer * perOuter) { return; }
  let o = i / perOuter;
  let chunk = (i % perOuter) / sums.inner;
  let n = i % sums.inner;
  let start = chunk * sums.chunkLength;
  let end = min(start + sums.chunkLength, sums.length);
  var total = 0.0;
  for (var r = start; r < end; r++) {
    total += x[(o * sums.length + r) * sums.inner + n];
  }
  out[i] = total * sums.scale;
}

// True when candidate (value b at index ib) beats (a, ia) in argmax's order: NaN above every
// number (as torch.argmax has it), then larger, then, between equals (two NaN too), earlier.
// A total order, so any split of a row among threads, or a thread per row, finds the same index.
// An index >= cols marks an empty slot (a thread with no values).
fn beats(b: f32, ib: u32, a: f32, ia: u32, cols: u32) -> bool {
  if (ib >= cols) { return false; }
  if (ia >= cols) { return true; }
  let bNan = isNan(b);
  let aNan = isNan(a);
  if (bNan != aNan) { return bNan; }
  if (bNan) { return ib < ia; }
  return b > a || (b == a && ib < ia);
}

// NaN tested on the bits (an all-ones exponent and a nonzero mantissa), since a compiler allowed
// to assume finite math may fold `x != x` away.
fn isNan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7FFFFFFFu) > 0x7F800000u;
}

// The index of the first maximum of one row, found by one workgroup: each thread scans a
// strided slice (indices ascending, so a strict > keeps the first maximum), then the tree keeps
// the better of each pair. Every thread gets the row's index. Holds barriers: call it from
// workgroup-uniform control flow.
fn rowArgmax(row: u32, lid: u32) -> u32 {
  let cols = rowParams.cols;
  let base = row * cols;
  var best = 0.0;
  var bestIndex = cols;
  for (var j = lid; j < cols; j += WG) {
    let v = x[base + j];
    if (beats(v, j, best, bestIndex, cols)) {
      best = v;
      bestIndex = j;
    }
  }
  partialSum[lid] = best;
  partialIndex[lid] = bestIndex;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      if (beats(partialSum[lid + stride], partialIndex[lid + stride], partialSum[lid], partialIndex[lid], cols)) {
        partialSum[lid] = partialSum[lid + stride];
        partialIndex[lid] = partialIndex[lid + stride];
      }
    }
    workgroupBarrier();
  }
  return partialIndex[0];
}

// One workgroup per row.
@compute @workgroup_size(WG)
fn argmaxRows(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let row = wid.x + wid.y * groups.x;
  if (row >= rowParams.rows) { return; }
  let best = rowArgmax(row, lid);
  if (lid == 0u) {
    indices[row] = i32(best);
  }
}

// Adds to correct[0] the rows whose argmax equals their label: one workgroup per row, the same
// search as argmaxRows (so ties and NaN go exactly as argmax's), and one atomic add per counted
// row. The index is in [0, cols), so a label outside [0, cols) never matches.
@compute @workgroup_size(WG)
fn countCorrectRows(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let row = wid.x + wid.y * groups.x;
  if (row >= rowParams.rows) { return; }
  let best = rowArgmax(row, lid);
  if (lid == 0u && i32(best) == labels[row]) {
    atomicAdd(&correct[0], 1u);
  }
}

// A trainer's window metrics for one step, in one workgroup: adds the sum of the likelihood
// terms to metricSums[0], of the alignment terms to metricSums[1], and to metricCorrect[0] the
// rows of x whose argmax (beats' order, so the index argmaxRows gives) is their label. A thread
// per row and a strided slice of each sum per thread, then one tree for all three.
@compute @workgroup_size(WG)
fn windowMetrics(@builtin(local_invocation_index) lid: u32) {
  let rows = metricParams.rows;
  let cols = metricParams.cols;
  var counted = 0u;
  for (var r = lid; r < rows; r += WG) {
    let base = r * cols;
    var best = x[base];
    var bestIndex = 0u;
    for (var j = 1u; j < cols; j++) {
      let v = x[base + j];
      if (beats(v, j, best, bestIndex, cols)) {
        best = v;
        bestIndex = j;
      }
    }
    if (i32(bestIndex) == labels[r]) { counted++; }
  }
  var likelihoodSum = 0.0;
  for (var i = lid; i < metricParams.likelihoodCount; i += WG) { likelihoodSum += likelihood[i]; }
  var alignmentSum = 0.0;
  for (var i = lid; i < metricParams.alignmentCount; i += WG) { alignmentSum += alignment[i]; }
  partialSum[lid] = likelihoodSum;
  partialSum2[lid] = alignmentSum;
  partialIndex[lid] = counted;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      partialSum[lid] += partialSum[lid + stride];
      partialSum2[lid] += partialSum2[lid + stride];
      partialIndex[lid] += partialIndex[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    metricSums[0] = metricSums[0] + partialSum[0];
    metricSums[1] = metricSums[1] + partialSum2[0];
    metricCorrect[0] = metricCorrect[0] + partialIndex[0];
  }
}
