// Multi-head scaled dot-product attention, O = softmax(Q K^T * scale) V, and its derivative rule.
// q is [B, H, Tq, D], k and v are [B, H, Tk, D], all dense row-major f32.
//
// The forward pass streams over keys with an online softmax (running max m and running sum l,
// as in FlashAttention, https://arxiv.org/abs/2205.14135), so the Tq x Tk score matrix is never
// stored; it also writes each query row's log-sum-exp L = m + log(l). The backward pass
// recomputes P_ij = exp(s_ij - L_i) from q, k and L, and is organised as two gathers (dQ over
// keys per query row; dK and dV over queries per key row), so no thread ever adds into another
// thread's output and no atomics are needed.
//
// One thread owns one row (a query row, or a key row in attentionBackwardKeyValue). The rows of
// a workgroup share one (batch, head), so the streamed operand is staged in workgroup memory in
// tiles of TILE_ROWS rows and read by all WG rows of the workgroup.

// Rows (threads) per workgroup.
override WG: u32 = 64u;
// Rows of the streamed operand per workgroup-memory tile; the host sizes it from
// maxComputeWorkgroupStorageSize.
override TILE_ROWS: u32 = 16u;

// Head dim in vec4 chunks that per-thread arrays hold. WGSL needs a constant size for private
// arrays; the host picks the smallest variant with 4 * HEAD_CHUNKS >= D. Chunks past D hold
// zeros, so a loop may run to the constant and stay exact.
//
// chunkCount() is the loop bound. Up to d32 it is the constant: the loops unroll and the arrays
// live in registers (about 2x faster on lavapipe). From d64 on it is the head dim's own count:
// unrolled, lavapipe's LLVM spends 20-60 s compiling the backward kernels (measured, Mesa 25.0,
// register spills), while a counted loop compiles in about a second.
//#variant d4
const HEAD_CHUNKS: u32 = 1u;
fn chunkCount() -> u32 { return HEAD_CHUNKS; }
//#variant d8
const HEAD_CHUNKS: u32 = 2u;
fn chunkCount() -> u32 { return HEAD_CHUNKS; }
//#variant d16
const HEAD_CHUNKS: u32 = 4u;
fn chunkCount() -> u32 { return HEAD_CHUNKS; }
//#variant d32
const HEAD_CHUNKS: u32 = 8u;
fn chunkCount() -> u32 { return HEAD_CHUNKS; }
//#variant d64
const HEAD_CHUNKS: u32 = 16u;
fn chunkCount() -> u32 { return (params.headDim + 3u) / 4u; }
//#variant d128
const HEAD_CHUNKS: u32 = 32u;
fn chunkCount() -> u32 { return (params.headDim + 3u) / 4u; }
//#end

struct Params {
  batchHeads: u32,
  queryLength: u32,
  keyLength: u32,
  headDim: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> logSumExp: array<f32>;
// Backward inputs: the upstream gradient, and the forward's outputs read back.
@group(0) @binding(5) var<storage, read> dOut: array<f32>;
@group(0) @binding(6) var<storage, read> forwardOut: array<f32>;
@group(0) @binding(7) var<storage, read> forwardLogSumExp: array<f32>;
// delta_i = dO_i . O_i, written by attentionRowDelta and read by both gathers.
@group(0) @binding(8) var<storage, read_write> rowDeltaOut: array<f32>;
@group(0) @binding(9) var<storage, read> rowDelta: array<f32>;
@group(0) @binding(10) var<storage, read_write> dq: array<f32>;
@group(0) @binding(11) var<storage, read_write> dk: array<f32>;
@group(0) @binding(12) var<storage, read_write> dv: array<f32>;
@group(0) @binding(13) var<uniform> params: Params;

// Two tiles of the streamed operand (K and V in the forward and dQ passes, Q and dO in the dK/dV
// pass), plus the per-query scalars the dK/dV pass needs.
var<workgroup> tileA: array<vec4<f32>, TILE_ROWS * HEAD_CHUNKS>;
var<workgroup> tileB: array<vec4<f32>, TILE_ROWS * HEAD_CHUNKS>;
var<workgroup> tileLogSumExp: array<f32, TILE_ROWS>;
var<workgroup> tileDelta: array<f32, TILE_ROWS>;

// One vec4 chunk of a row (element offset rowBase), zero past the head dim. One function per
// buffer: WGSL cannot pass a storage array by pointer without an extension, and a buffer an
// entry point does not reach must not appear in its bindings.
fn chunkOfQ(rowBase: u32, chunk: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    let d = 4u * chunk + t;
    if (d < params.headDim) { r[t] = q[rowBase + d]; }
  }
  return r;
}

fn chunkOfK(rowBase: u32, chunk: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    let d = 4u * chunk + t;
    if (d < params.headDim) { r[t] = k[rowBase + d]; }
  }
  return r;
}

fn chunkOfV(rowBase: u32, chunk: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    let d = 4u * chunk + t;
    if (d < params.headDim) { r[t] = v[rowBase + d]; }
  }
  return r;
}

fn chunkOfDOut(rowBase: u32, chunk: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    let d = 4u * chunk + t;
    if (d < params.headDim) { r[t] = dOut[rowBase + d]; }
  }
  return r;
}

// The (batch, head) pair of a workgroup: y, folded into z when B * H exceeds the y limit.
fn batchHeadOf(wid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return wid.y + wid.z * groups.y;
}

// Stages rows [first, first + TILE_ROWS) of K and V for one (batch, head) into tileA / tileB.
fn stageKeysAndValues(bh: u32, first: u32, lid: u32) {
  for (var e = lid; e < TILE_ROWS * HEAD_CHUNKS; e += WG) {
    let key = first + e / HEAD_CHUNKS;
    let chunk = e % HEAD_CHUNKS;
    var kc = vec4<f32>(0.0);
    var vc = vec4<f32>(0.0);
    if (key < params.keyLength) {
      let base = (bh * params.keyLength + key) * params.headDim;
      kc = chunkOfK(base, chunk);
      vc = chunkOfV(base, chunk);
    }
    tileA[e] = kc;
    tileB[e] = vc;
  }
}

// Forward: one thread per query row, streaming over keys with a running max and sum.
@compute @workgroup_size(WG)
fn attentionForward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let bh = batchHeadOf(wid, groups);
  let chunks = chunkCount();
  if (bh >= params.batchHeads) { return; } // workgroup-uniform, so the barriers below stay legal
  let row = wid.x * WG + lid;
  let rowValid = row < params.queryLength;
  let rowBase = (bh * params.queryLength + row) * params.headDim;

  var query: array<vec4<f32>, HEAD_CHUNKS>;
  var acc: array<vec4<f32>, HEAD_CHUNKS>;
  for (var c = 0u; c < chunks; c++) {
    query[c] = vec4<f32>(0.0);
    acc[c] = vec4<f32>(0.0);
    if (rowValid) { query[c] = chunkOfQ(rowBase, c); }
  }
  // The lowest finite f32 rather than -inf (WGSL has no infinite constants); the first key's
  // correction exp(m - s) still underflows to exactly 0.
  var runningMax = -3.4028234e38;
  var runningSum = 0.0;

  for (var first = 0u; first < params.keyLength; first += TILE_ROWS) {
    workgroupBarrier(); // the previous tile is no longer read
    stageKeysAndValues(bh, first, lid);
    workgroupBarrier();
    if (rowValid) {
      let count = min(TILE_ROWS, params.keyLength - first);
      for (var r = 0u; r < count; r++) {
        var score = 0.0;
        for (var c = 0u; c < chunks; c++) { score += dot(query[c], tileA[r * HEAD_CHUNKS + c]); }
        score *= params.scale;
        let newMax = max(runningMax, score);
        // Rescale what was summed under the old max, so every exponent stays <= 0.
        let correction = exp(runningMax - newMax);
        let p = exp(score - newMax);
        runningSum = runningSum * correction + p;
        for (var c = 0u; c < chunks; c++) { acc[c] = acc[c] * correction + p * tileB[r * HEAD_CHUNKS + c]; }
        runningMax = newMax;
      }
    }
  }

  if (!rowValid) { return; }
  let inverseSum = 1.0 / runningSum;
  for (var c = 0u; c < chunks; c++) {
    let value = acc[c] * inverseSum;
    for (var t = 0u; t < 4u; t++) {
      let d = 4u * c + t;
      if (d < params.headDim) { out[rowBase + d] = value[t]; }
    }
  }
  logSumExp[bh * params.queryLength + row] = runningMax + log(runningSum);
}

// Backward, step 1: delta_i = sum_d dO_id O_id, which equals sum_j P_ij dP_ij (the softmax
// Jacobian's row term), one thread per query row over all B * H * Tq rows (folded over x, y).
@compute @workgroup_size(WG)
fn attentionRowDelta(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let row = gid.x + gid.y * groups.x * WG;
  if (row >= params.batchHeads * params.queryLength) { return; }
  let base = row * params.headDim;
  var sum = 0.0;
  for (var d = 0u; d < params.headDim; d++) { sum += dOut[base + d] * forwardOut[base + d]; }
  rowDeltaOut[row] = sum;
}

// Backward, step 2: dQ_i = scale * sum_j dS_ij K_j, with dS_ij = P_ij (dO_i . V_j - delta_i).
// One thread per query row, streaming K and V tiles as the forward does.
@compute @workgroup_size(WG)
fn attentionBackwardQuery(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let bh = batchHeadOf(wid, groups);
  let chunks = chunkCount();
  if (bh >= params.batchHeads) { return; }
  let row = wid.x * WG + lid;
  let rowValid = row < params.queryLength;
  let rowIndex = bh * params.queryLength + row;
  let rowBase = rowIndex * params.headDim;

  var query: array<vec4<f32>, HEAD_CHUNKS>;
  var upstream: array<vec4<f32>, HEAD_CHUNKS>;
  var grad: array<vec4<f32>, HEAD_CHUNKS>;
  for (var c = 0u; c < chunks; c++) {
    query[c] = vec4<f32>(0.0);
    upstream[c] = vec4<f32>(0.0);
    grad[c] = vec4<f32>(0.0);
    if (rowValid) {
      query[c] = chunkOfQ(rowBase, c);
      upstream[c] = chunkOfDOut(rowBase, c);
    }
  }
  var rowLogSumExp = 0.0;
  var delta = 0.0;
  if (rowValid) {
    rowLogSumExp = forwardLogSumExp[rowIndex];
    delta = rowDelta[rowIndex];
  }

  for (var first = 0u; first < params.keyLength; first += TILE_ROWS) {
    workgroupBarrier();
    stageKeysAndValues(bh, first, lid);
    workgroupBarrier();
    if (rowValid) {
      let count = min(TILE_ROWS, params.keyLength - first);
      for (var r = 0u; r < count; r++) {
        var score = 0.0;
        var upstreamDotValue = 0.0;
        for (var c = 0u; c < chunks; c++) {
          score += dot(query[c], tileA[r * HEAD_CHUNKS + c]);
          upstreamDotValue += dot(upstream[c], tileB[r * HEAD_CHUNKS + c]);
        }
        let p = exp(score * params.scale - rowLogSumExp);
        let dScore = p * (upstreamDotValue - delta);
        for (var c = 0u; c < chunks; c++) { grad[c] += dScore * tileA[r * HEAD_CHUNKS + c]; }
      }
    }
  }

  if (!rowValid) { return; }
  for (var c = 0u; c < chunks; c++) {
    let value = grad[c] * params.scale;
    for (var t = 0u; t < 4u; t++) {
      let d = 4u * c + t;
      if (d < params.headDim) { dq[rowBase + d] = value[t]; }
    }
  }
}

// Stages query rows [first, first + TILE_ROWS) of Q and dO, and their L and delta.
fn stageQueries(bh: u32, first: u32, lid: u32) {
  for (var e = lid; e < TILE_ROWS * HEAD_CHUNKS; e += WG) {
    let query = first + e / HEAD_CHUNKS;
    let chunk = e % HEAD_CHUNKS;
    var qc = vec4<f32>(0.0);
    var gc = vec4<f32>(0.0);
    if (query < params.queryLength) {
      let base = (bh * params.queryLength + query) * params.headDim;
      qc = chunkOfQ(base, chunk);
      gc = chunkOfDOut(base, chunk);
    }
    tileA[e] = qc;
    tileB[e] = gc;
  }
  for (var r = lid; r < TILE_ROWS; r += WG) {
    let query = first + r;
    var l = 0.0;
    var delta = 0.0;
    if (query < params.queryLength) {
      l = forwardLogSumExp[bh * params.queryLength + query];
      delta = rowDelta[bh * params.queryLength + query];
    }
    tileLogSumExp[r] = l;
    tileDelta[r] = delta;
  }
}

// Backward, step 3: dV_j = sum_i P_ij dO_i and dK_j = scale * sum_i dS_ij Q_i. One thread per
// key row, streaming Q and dO tiles.
@compute @workgroup_size(WG)
fn attentionBackwardKeyValue(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let bh = batchHeadOf(wid, groups);
  let chunks = chunkCount();
  if (bh >= params.batchHeads) { return; }
  let row = wid.x * WG + lid;
  let rowValid = row < params.keyLength;
  let rowBase = (bh * params.keyLength + row) * params.headDim;

  var key: array<vec4<f32>, HEAD_CHUNKS>;
  var value: array<vec4<f32>, HEAD_CHUNKS>;
  var keyGrad: array<vec4<f32>, HEAD_CHUNKS>;
  var valueGrad: array<vec4<f32>, HEAD_CHUNKS>;
  for (var c = 0u; c < chunks; c++) {
    key[c] = vec4<f32>(0.0);
    value[c] = vec4<f32>(0.0);
    keyGrad[c] = vec4<f32>(0.0);
    valueGrad[c] = vec4<f32>(0.0);
    if (rowValid) {
      key[c] = chunkOfK(rowBase, c);
      value[c] = chunkOfV(rowBase, c);
    }
  }

  for (var first = 0u; first < params.queryLength; first += TILE_ROWS) {
    workgroupBarrier();
    stageQueries(bh, first, lid);
    workgroupBarrier();
    if (rowValid) {
      let count = min(TILE_ROWS, params.queryLength - first);
      for (var r = 0u; r < count; r++) {
        var score = 0.0;
        var upstreamDotValue = 0.0;
        for (var c = 0u; c < chunks; c++) {
          score += dot(tileA[r * HEAD_CHUNKS + c], key[c]);
          upstreamDotValue += dot(tileB[r * HEAD_CHUNKS + c], value[c]);
        }
        let p = exp(score * params.scale - tileLogSumExp[r]);
        let dScore = p * (upstreamDotValue - tileDelta[r]);
        for (var c = 0u; c < chunks; c++) {
          valueGrad[c] += p * tileB[r * HEAD_CHUNKS + c];
          keyGrad[c] += dScore * tileA[r * HEAD_CHUNKS + c];
        }
      }
    }
  }

  if (!rowValid) { return; }
  for (var c = 0u; c < chunks; c++) {
    let scaledKeyGrad = keyGrad[c] * params.scale;
    for (var t = 0u; t < 4u; t++) {
      let d = 4u * c + t;
      if (d < params.headDim) {
        dk[rowBase + d] = scaledKeyGrad[t];
        dv[rowBase + d] = valueGrad[c][t];
      }
    }
  }
}
