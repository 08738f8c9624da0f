// Batched matrix products out[z] = act(A[z] B[z] + bias), in five kernel shapes chosen per
// adapter by src/ops/matmul.ts (chooseMatmulVariant):
//   matmulPlain            one thread per output; any shape, any adapter (the fallback).
//   matmulBlocked          4 x 4 outputs per thread, no workgroup memory: for SwiftShader.
//   matmulTiled            workgroup-memory tiles and 4x4 register blocks: for real GPUs.
//   matmulSkinny           split-K with a workgroup reduction: when N (after an optional swap
//                          of roles) is small, e.g. the 256x1000 x 1000x10 projection head.
//   matmulSubgroup         one 8-lane subgroup per workgroup, A handed to every lane by
//                          subgroupBroadcast: for lavapipe, whose cost is loads, not FLOPs
//                          (docs/architecture.md, "Adapters and kernel choice"). Handles
//                          thin products too.
// Transposes are read in place (TRANSPOSE_A: a is stored [K, M]; TRANSPOSE_B: b is stored
// [N, K]); nothing is materialized. The bias + activation epilogue is fused.

// `enable subgroups` must be absent for adapters without the feature, so the subgroup kernels
// and their directive live in the 'subgroups' variant and every other kernel in 'portable'.
//#variant subgroups
enable subgroups;
//#variant portable
//#end

override TRANSPOSE_A: bool = false;
override TRANSPOSE_B: bool = false;
override HAS_BIAS: bool = false;
// 0 none, 1 relu, 2 gelu (exact, erf form).
override ACTIVATION: u32 = 0u;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  // Elements between consecutive batches of a and b (0 when one matrix serves every batch).
  aBatchStride: u32,
  bBatchStride: u32,
  // Where out[z, row, col] goes, and whether the bias follows rows or columns: the skinny
  // kernel may compute the transposed product (out^T = B^T A^T) and write it back transposed.
  outBatchStride: u32,
  outRowStride: u32,
  outColStride: u32,
  biasAlongRows: u32,
  // Tiled kernel with SPLIT_K: the depth of each workgroup z's slice of K (a multiple of TILE_K).
  kChunk: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
// When HAS_BIAS is false the op binds `a` here as a stand-in (the reflected bind group layout
// counts `bias` as used either way); it is never read.
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
// The same buffers as a and b, seen as vec4 (the subgroup kernel reads them where rows are
// 16-byte aligned: A_VEC4, B_VEC4).
@group(0) @binding(5) var<storage, read> aVec: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> bVec: array<vec4<f32>>;

// ---------------------------------------------------------------- epilogue

// The same erf-form GELU as the standalone op (elementwise.wgsl), so fused and unfused agree.
//#include lib/normal

fn activate(x: f32) -> f32 {
  switch ACTIVATION {
    case 1u: { return max(x, 0.0); }
    case 2u: { return gelu(x); }
    default: { return x; }
  }
}

// Adds the bias, applies the activation and stores one output (callers check the bounds).
fn finish(batch: u32, row: u32, col: u32, sum: f32) {
  var x = sum;
  if (HAS_BIAS) {
    x += bias[select(col, row, params.biasAlongRows != 0u)];
  }
  out[batch * params.outBatchStride + row * params.outRowStride + col * params.outColStride] = activate(x);
}

// ---------------------------------------------------------------- element access

// A[row, k] and B[k, col] of the logical operands, through the stored layouts.
fn loadA(base: u32, row: u32, k: u32) -> f32 {
  if (TRANSPOSE_A) { return a[base + k * params.M + row]; }
  return a[base + row * params.K + k];
}

fn loadB(base: u32, k: u32, col: u32) -> f32 {
  if (TRANSPOSE_B) { return b[base + col * params.K + k]; }
  return b[base + k * params.N + col];
}

// Zero outside the matrix; the index is clamped so that no load leaves the buffer.
fn loadAGuarded(base: u32, row: u32, k: u32) -> f32 {
  let v = loadA(base, min(row, params.M - 1u), min(k, params.K - 1u));
  return select(0.0, v, row < params.M && k < params.K);
}

fn loadBGuarded(base: u32, k: u32, col: u32) -> f32 {
  let v = loadB(base, min(k, params.K - 1u), min(col, params.N - 1u));
  return select(0.0, v, k < params.K && col < params.N);
}

// ---------------------------------------------------------------- plain

override PLAIN_WG_X: u32 = 16u;
override PLAIN_WG_Y: u32 = 16u;

// One thread per output: simple, correct for any shape, and the baseline the others beat.
@compute @workgroup_size(PLAIN_WG_X, PLAIN_WG_Y)
fn matmulPlain(@builtin(global_invocation_id) gid: vec3<u32>) {
  let col = gid.x;
  let row = gid.y;
  let batch = gid.z;
  if (row >= params.M || col >= params.N) { return; }
  let aBase = batch * params.aBatchStride;
  let bBase = batch * params.bBatchStride;
  var sum = 0.0;
  for (var k = 0u; k < params.K; k++) {
    sum = fma(loadA(aBase, row, k), loadB(bBase, k, col), sum);
  }
  finish(batch, row, col, sum);
}

// ---------------------------------------------------------------- blocked (SwiftShader)

// Each thread computes a 4 x 4 block of outputs in registers, reading A and B straight from
// storage: no workgroup memory and no barrier, which SwiftShader pays for dearly (it runs a
// workgroup's invocations as coroutines and switches them at every barrier). Per k a thread
// loads 4 values of A and 4 of B for 16 multiply-adds, 4 times the plain kernel's ratio. A
// thread's rows are consecutive; its columns are BLOCKED_WG_X apart, so that the lanes of one
// SIMD group (consecutive x) read consecutive columns of B.
override BLOCKED_WG_X: u32 = 8u;
override BLOCKED_WG_Y: u32 = 8u;
// Written out by hand below: a loop over the rows ran at half the speed on SwiftShader.
const BLOCKED_ROWS: u32 = 4u;

// One k of a block: the outer product of A's 4 rows and B's 4 columns added in.
fn blockedUpdate(acc: ptr<function, array<vec4<f32>, BLOCKED_ROWS>>, aCol: vec4<f32>, bRow: vec4<f32>) {
  (*acc)[0] = fma(vec4(aCol.x), bRow, (*acc)[0]);
  (*acc)[1] = fma(vec4(aCol.y), bRow, (*acc)[1]);
  (*acc)[2] = fma(vec4(aCol.z), bRow, (*acc)[2]);
  (*acc)[3] = fma(vec4(aCol.w), bRow, (*acc)[3]);
}

@compute @workgroup_size(BLOCKED_WG_X, BLOCKED_WG_Y)
fn matmulBlocked(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let batch = wg.z;
  let row0 = (wg.y * BLOCKED_WG_Y + lid.y) * BLOCKED_ROWS;
  let c0 = wg.x * BLOCKED_WG_X * 4u + lid.x;
  let cols = vec4(c0, c0 + BLOCKED_WG_X, c0 + 2u * BLOCKED_WG_X, c0 + 3u * BLOCKED_WG_X);
  if (row0 >= params.M || c0 >= params.N) { return; }
  let aBase = batch * params.aBatchStride;
  let bBase = batch * params.bBatchStride;
  var acc: array<vec4<f32>, BLOCKED_ROWS>;
  if (row0 + BLOCKED_ROWS - 1u < params.M && cols.w < params.N) {
    for (var k = 0u; k < params.K; k++) {
      let aCol = vec4(loadA(aBase, row0, k), loadA(aBase, row0 + 1u, k), loadA(aBase, row0 + 2u, k), loadA(aBase, row0 + 3u, k));
      blockedUpdate(&acc, aCol, vec4(loadB(bBase, k, cols.x), loadB(bBase, k, cols.y), loadB(bBase, k, cols.z), loadB(bBase, k, cols.w)));
    }
  } else {
    // A block on the matrix's edge: loads outside it read zero.
    for (var k = 0u; k < params.K; k++) {
      let aCol = vec4(loadAGuarded(aBase, row0, k), loadAGuarded(aBase, row0 + 1u, k), loadAGuarded(aBase, row0 + 2u, k), loadAGuarded(aBase, row0 + 3u, k));
      blockedUpdate(&acc, aCol, vec4(loadBGuarded(bBase, k, cols.x), loadBGuarded(bBase, k, cols.y), loadBGuarded(bBase, k, cols.z), loadBGuarded(bBase, k, cols.w)));
    }
  }
  for (var i = 0u; i < BLOCKED_ROWS; i++) {
    let row = row0 + i;
    if (row >= params.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      if (cols[j] < params.N) { finish(batch, row, cols[j], acc[i][j]); }
    }
  }
}

// ---------------------------------------------------------------- tiled (GPUs)

// A 64 x 64 output tile per workgroup of 16 x 16 threads, each thread a 4 x 4 register block
// (4 rows x one vec4 of columns). TILE_K, the depth of the workgroup-memory tiles, is set from
// maxComputeWorkgroupStorageSize (2 * TILE_K * 64 floats).
//
// SPLIT_K (one batch only, no bias, no activation): workgroup z sums k in [z * kChunk, (z + 1) *
// kChunk) and writes its partial product to out[z]; the op adds the partials up. A weight
// gradient such as 6,272 token rows into a 64 x 192 matrix is 3 output tiles, far too few
// workgroups for a GPU without it. kChunk is a multiple of TILE_K, so a slice's last tile never
// reaches into the next slice, and the bounds checks against K stay the only ones needed.
const TILE: u32 = 64u;
const TILE_THREADS: u32 = 256u;
override TILE_K: u32 = 16u;
override SPLIT_K: bool = false;

// tileA[kk * 16 + r / 4][r % 4] = A[tile row r, k0 + kk]: four rows of one k as a vec4.
var<workgroup> tileA: array<vec4<f32>, TILE_K * 16u>;
// tileB[kk * 16 + c / 4][c % 4] = B[k0 + kk, tile column c].
var<workgroup> tileB: array<vec4<f32>, TILE_K * 16u>;

@compute @workgroup_size(16, 16)
fn matmulTiled(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
) {
  let batch = select(wg.z, 0u, SPLIT_K);
  let row0 = wg.y * TILE;
  let col0 = wg.x * TILE;
  let aBase = batch * params.aBatchStride;
  let bBase = batch * params.bBatchStride;
  var kBegin = 0u;
  var kEnd = params.K;
  if (SPLIT_K) {
    kBegin = wg.z * params.kChunk;
    kEnd = min(params.K, kBegin + params.kChunk);
  }
  var acc: array<vec4<f32>, 4>;
  for (var k0 = kBegin; k0 < kEnd; k0 += TILE_K) {
    // Consecutive threads load consecutive addresses of the stored layout (coalescing).
    for (var e = tid; e < TILE * TILE_K; e += TILE_THREADS) {
      var r: u32;
      var kk: u32;
      if (TRANSPOSE_A) { kk = e / TILE; r = e % TILE; } else { r = e / TILE_K; kk = e % TILE_K; }
      tileA[kk * 16u + r / 4u][r % 4u] = loadAGuarded(aBase, row0 + r, k0 + kk);
      var c: u32;
      if (TRANSPOSE_B) { c = e / TILE_K; kk = e % TILE_K; } else { kk = e / TILE; c = e % TILE; }
      tileB[kk * 16u + c / 4u][c % 4u] = loadBGuarded(bBase, k0 + kk, col0 + c);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let rows = tileA[kk * 16u + lid.y];
      let cols = tileB[kk * 16u + lid.x];
      acc[0] = fma(vec4(rows.x), cols, acc[0]);
      acc[1] = fma(vec4(rows.y), cols, acc[1]);
      acc[2] = fma(vec4(rows.z), cols, acc[2]);
      acc[3] = fma(vec4(rows.w), cols, acc[3]);
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + lid.y * 4u + i;
    for (var c = 0u; c < 4u; c++) {
      let col = col0 + lid.x * 4u + c;
      if (row < params.M && col < params.N) { finish(wg.z, row, col, acc[i][c]); }
    }
  }
}

// ---------------------------------------------------------------- skinny

// For N <= 16 (the op swaps roles when M is the small side): a workgroup computes SKINNY_ROWS
// rows x 16 columns, its SKINNY_WG threads split K between them, and the partial sums are added
// up in workgroup memory. A long, thin product then still spreads over many threads.
const SKINNY_ROWS: u32 = 4u;
override SKINNY_WG: u32 = 64u;

var<workgroup> skinnyPartial: array<array<vec4<f32>, 4>, SKINNY_WG * SKINNY_ROWS>;

@compute @workgroup_size(SKINNY_WG)
fn matmulSkinny(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let batch = wg.z;
  let row0 = wg.y * SKINNY_ROWS;
  let col0 = wg.x * 16u;
  let aBase = batch * params.aBatchStride;
  let bBase = batch * params.bBatchStride;
  var acc: array<array<vec4<f32>, 4>, SKINNY_ROWS>;
  for (var k = tid; k < params.K; k += SKINNY_WG) {
    var bRow: array<vec4<f32>, 4>;
    for (var q = 0u; q < 4u; q++) {
      let c = col0 + 4u * q;
      bRow[q] = vec4(loadBGuarded(bBase, k, c), loadBGuarded(bBase, k, c + 1u), loadBGuarded(bBase, k, c + 2u), loadBGuarded(bBase, k, c + 3u));
    }
    for (var r = 0u; r < SKINNY_ROWS; r++) {
      let x = vec4(loadAGuarded(aBase, row0 + r, k));
      for (var q = 0u; q < 4u; q++) { acc[r][q] = fma(x, bRow[q], acc[r][q]); }
    }
  }
  for (var r = 0u; r < SKINNY_ROWS; r++) { skinnyPartial[tid * SKINNY_ROWS + r] = acc[r]; }
  workgroupBarrier();
  // Thread t adds up the threads' partials of output (t / 16, t % 16) of the tile, looping when
  // the workgroup is small. One barrier in all: a tree of barriers made lavapipe take about 25 s
  // to compile this kernel (it splits a shader at every barrier inside a loop).
  for (var e = tid; e < SKINNY_ROWS * 16u; e += SKINNY_WG) {
    let r = e / 16u;
    let c = e % 16u;
    var total = 0.0;
    for (var t = 0u; t < SKINNY_WG; t++) { total += skinnyPartial[t * SKINNY_ROWS + r][c / 4u][c % 4u]; }
    let row = row0 + r;
    let col = col0 + c;
    if (row < params.M && col < params.N) { finish(batch, row, col, total); }
  }
}

// ---------------------------------------------------------------- subgroup (lavapipe)

//#variant subgroups
// One workgroup is one subgroup of 8 lanes and computes SG_ROWS rows x 32 columns. Each lane
// holds all SG_ROWS rows of one vec4 of columns in registers. Per step of 4 k, a lane loads 4
// vec4 of B (its own columns) and SG_ROWS / 8 vec4 of A; the A values every lane needs are
// passed around with subgroupBroadcast instead of being loaded 8 times, because on lavapipe a
// load costs the same per lane whether or not the lanes share the address.
const SG_LANES: u32 = 8u;
const SG_ROWS: u32 = 16u;
const SG_CHUNKS: u32 = SG_ROWS / 8u;
alias Accumulators = array<vec4<f32>, SG_ROWS>;
// A lane's share of the A values for 4 consecutive k (layout: see accumulate* below).
alias AFragment = array<vec4<f32>, SG_CHUNKS>;
// B[k0 + i, this lane's 4 columns] for i = 0..3.
alias BFragment = array<vec4<f32>, 4>;

// A stored [M, K]: fragment j of lane l holds row 8j + l at k0..k0+3.
fn accumulateRowsAlongK(acc: ptr<function, Accumulators>, frag: AFragment, bk: BFragment) {
  for (var j = 0u; j < SG_CHUNKS; j++) {
    let f = frag[j];
    let r = 8u * j;
    (*acc)[r + 0u] = dot4(subgroupBroadcast(f, 0u), bk, (*acc)[r + 0u]);
    (*acc)[r + 1u] = dot4(subgroupBroadcast(f, 1u), bk, (*acc)[r + 1u]);
    (*acc)[r + 2u] = dot4(subgroupBroadcast(f, 2u), bk, (*acc)[r + 2u]);
    (*acc)[r + 3u] = dot4(subgroupBroadcast(f, 3u), bk, (*acc)[r + 3u]);
    (*acc)[r + 4u] = dot4(subgroupBroadcast(f, 4u), bk, (*acc)[r + 4u]);
    (*acc)[r + 5u] = dot4(subgroupBroadcast(f, 5u), bk, (*acc)[r + 5u]);
    (*acc)[r + 6u] = dot4(subgroupBroadcast(f, 6u), bk, (*acc)[r + 6u]);
    (*acc)[r + 7u] = dot4(subgroupBroadcast(f, 7u), bk, (*acc)[r + 7u]);
  }
}

// acc + x.x * bk[0] + ... + x.w * bk[3]: one row's update for 4 k.
fn dot4(x: vec4<f32>, bk: BFragment, acc: vec4<f32>) -> vec4<f32> {
  return fma(vec4(x.w), bk[3], fma(vec4(x.z), bk[2], fma(vec4(x.y), bk[1], fma(vec4(x.x), bk[0], acc))));
}

// A stored [K, M]: fragment j of lane l holds rows 8j + 4 * (l / 4) + 0..3 at k0 + l % 4.
fn accumulateRowsAlongM(acc: ptr<function, Accumulators>, frag: AFragment, bk: BFragment) {
  for (var j = 0u; j < SG_CHUNKS; j++) {
    let f = frag[j];
    let r = 8u * j;
    rank1(acc, r, subgroupBroadcast(f, 0u), bk[0]);
    rank1(acc, r, subgroupBroadcast(f, 1u), bk[1]);
    rank1(acc, r, subgroupBroadcast(f, 2u), bk[2]);
    rank1(acc, r, subgroupBroadcast(f, 3u), bk[3]);
    rank1(acc, r + 4u, subgroupBroadcast(f, 4u), bk[0]);
    rank1(acc, r + 4u, subgroupBroadcast(f, 5u), bk[1]);
    rank1(acc, r + 4u, subgroupBroadcast(f, 6u), bk[2]);
    rank1(acc, r + 4u, subgroupBroadcast(f, 7u), bk[3]);
  }
}

// Rows r..r+3 (values x) times one k's B columns.
fn rank1(acc: ptr<function, Accumulators>, r: u32, x: vec4<f32>, bRow: vec4<f32>) {
  (*acc)[r + 0u] = fma(vec4(x.x), bRow, (*acc)[r + 0u]);
  (*acc)[r + 1u] = fma(vec4(x.y), bRow, (*acc)[r + 1u]);
  (*acc)[r + 2u] = fma(vec4(x.z), bRow, (*acc)[r + 2u]);
  (*acc)[r + 3u] = fma(vec4(x.w), bRow, (*acc)[r + 3u]);
}

fn accumulate(acc: ptr<function, Accumulators>, frag: AFragment, bk: BFragment) {
  if (TRANSPOSE_A) { accumulateRowsAlongM(acc, frag, bk); } else { accumulateRowsAlongK(acc, frag, bk); }
}

// Whether each operand is read through its vec4 view: the op sets these when the stored rows are
// 16-byte aligned (row lengths that are multiples of 4); otherwise the same fragments are gathered
// from guarded scalar loads. The op binds each buffer under both names.
override A_VEC4: bool = false;
override B_VEC4: bool = false;

// A's fragment for k0..k0+3. `clampEdges` keeps the rows of a ragged tile inside the matrix
// (their results are never stored); `guardK` zeroes k >= K (the last, partial step). Both are
// literals at the call sites, so the compiler drops the checks from the interior loop.
fn loadAFragment(aBase: u32, row0: u32, k0: u32, lane: u32, clampEdges: bool, guardK: bool) -> AFragment {
  var frag: AFragment;
  for (var j = 0u; j < SG_CHUNKS; j++) {
    if (TRANSPOSE_A) {
      let k = k0 + lane % 4u;
      let row = row0 + 8u * j + 4u * (lane / 4u);
      if (A_VEC4) {
        let M4 = params.M / 4u;
        var quad = row / 4u;
        if (clampEdges) { quad = min(quad, M4 - 1u); }
        var kk = k;
        if (guardK) { kk = min(k, params.K - 1u); }
        frag[j] = select(vec4(0.0), aVec[aBase / 4u + kk * M4 + quad], !guardK || k < params.K);
      } else {
        frag[j] = vec4(loadAGuarded(aBase, row, k), loadAGuarded(aBase, row + 1u, k), loadAGuarded(aBase, row + 2u, k), loadAGuarded(aBase, row + 3u, k));
      }
    } else {
      let row = row0 + 8u * j + lane;
      if (A_VEC4) {
        // K is a multiple of 4 here, so k0..k0+3 are all inside.
        var r = row;
        if (clampEdges) { r = min(r, params.M - 1u); }
        frag[j] = aVec[(aBase + r * params.K + k0) / 4u];
      } else {
        frag[j] = vec4(loadAGuarded(aBase, row, k0), loadAGuarded(aBase, row, k0 + 1u), loadAGuarded(aBase, row, k0 + 2u), loadAGuarded(aBase, row, k0 + 3u));
      }
    }
  }
  return frag;
}

// B[k0..k0+3, this lane's 4 columns].
fn loadBFragment(bBase: u32, col4: u32, k0: u32, clampEdges: bool, guardK: bool) -> BFragment {
  var bk: BFragment;
  let col = col4 * 4u;
  if (!B_VEC4) {
    for (var i = 0u; i < 4u; i++) {
      let k = k0 + i;
      bk[i] = vec4(loadBGuarded(bBase, k, col), loadBGuarded(bBase, k, col + 1u), loadBGuarded(bBase, k, col + 2u), loadBGuarded(bBase, k, col + 3u));
    }
  } else if (TRANSPOSE_B) {
    // Four columns' runs of 4 k (K is a multiple of 4 here), transposed in registers.
    var v: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) {
      var c = col + i;
      if (clampEdges) { c = min(c, params.N - 1u); }
      v[i] = bVec[(bBase + c * params.K + k0) / 4u];
    }
    for (var i = 0u; i < 4u; i++) { bk[i] = vec4(v[0][i], v[1][i], v[2][i], v[3][i]); }
  } else {
    let N4 = params.N / 4u;
    var c = col4;
    if (clampEdges) { c = min(c, N4 - 1u); }
    for (var i = 0u; i < 4u; i++) {
      let k = k0 + i;
      var kk = k;
      if (guardK) { kk = min(k, params.K - 1u); }
      bk[i] = select(vec4(0.0), bVec[bBase / 4u + kk * N4 + c], !guardK || k < params.K);
    }
  }
  return bk;
}

@compute @workgroup_size(8)
fn matmulSubgroup(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let batch = wg.z;
  let row0 = wg.y * SG_ROWS;
  let col4 = wg.x * SG_LANES + lane;
  let aBase = batch * params.aBatchStride;
  let bBase = batch * params.bBatchStride;
  var acc: Accumulators;
  let kMain = params.K & ~3u;
  let interior = row0 + SG_ROWS <= params.M && (wg.x + 1u) * SG_LANES * 4u <= params.N;
  if (interior) {
    for (var k0 = 0u; k0 < kMain; k0 += 4u) {
      accumulate(&acc, loadAFragment(aBase, row0, k0, lane, false, false), loadBFragment(bBase, col4, k0, false, false));
    }
  } else {
    for (var k0 = 0u; k0 < kMain; k0 += 4u) {
      accumulate(&acc, loadAFragment(aBase, row0, k0, lane, true, false), loadBFragment(bBase, col4, k0, true, false));
    }
  }
  if (kMain < params.K) {
    accumulate(&acc, loadAFragment(aBase, row0, kMain, lane, true, true), loadBFragment(bBase, col4, kMain, true, true));
  }
  for (var r = 0u; r < SG_ROWS; r++) {
    let row = row0 + r;
    for (var c = 0u; c < 4u; c++) {
      let col = col4 * 4u + c;
      if (row < params.M && col < params.N) { finish(batch, row, col, acc[r][c]); }
    }
  }
}
//#variant portable
//#end
