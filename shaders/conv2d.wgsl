// 2-D convolution, NCHW activations and [Cout, Cin, kH, kW] weights, as implicit GEMM: every
// kernel reads its input windows straight from the activation tensor (no im2col buffer).
//
// Register blocking: a thread owns 4 * CV channels x TP = 4 positions (taps, for the weight
// gradient). The channel-side operand is first packed into rows of channel vec4s (packWeights
// for the weights, packGradient for dy), so per reduction step a thread does CV vec4 loads and
// 4 scalar gathers for 16 * CV FMAs. On lavapipe every load is executed lane by lane and costs
// far more than an FMA (docs/architecture.md, "Adapters and kernel choice"), so loads per FMA
// are the lever. On GPUs the packed-row loads are uniform across a workgroup (broadcast) and the
// gathers of neighbouring threads are adjacent (coalesced), which is why a thread's 4 positions
// are WG apart rather than consecutive. No workgroup memory: a shared-memory tiled variant for GPUs is future work.
//
// On lavapipe (the 'subgroups' variant, with C16 and WG = 8, one subgroup per workgroup) the
// packed-row operand is not loaded by every lane: each lane loads 2 of the 16 channels and
// subgroupBroadcast hands them to the others (sharedChannels below), so a reduction step costs
// 2 + 4 scalar loads per lane for 64 FMAs instead of 16 + 4. Measured on lavapipe (batch 64,
// 32 -> 64 channels, 14x14, 3x3, pad 1; medians): forward 7.2-7.9 -> 12.7 GFLOPS, and about
// the same gain (~1.5x) for the input and weight gradients, which share the helper. Since then
// the op runs the forward, the unit-stride input gradient and the weight gradient on lavapipe
// as the GEMM kernels further down (conv2dForwardGemm, conv2dBackwardWeightGemm), which load
// less again; this file's first kernels remain the portable flavour and, with sharedChannels,
// the strided input gradient.

// `enable subgroups` must be absent where the adapter lacks the feature.
//#variant subgroups
enable subgroups;
//#variant portable
//#end

override WG: u32 = 64u;
// False when the padding is 0: every tap then lands inside the input and needs no check.
override PADDED: bool = true;
// True when both strides are 1: the input gradient then needs no divisibility test.
override UNIT_STRIDE: bool = true;
// Fused epilogue of the forward kernel: 0 none, 1 relu.
override ACTIVATION: u32 = 0u;

// Channels per thread: Acc holds 4 * CV channels (a vec4, or a matrix of CV vec4 columns).
// Accumulators are plain values, one per position, not arrays: lavapipe keeps a private array
// in memory unless every loop over it is unrolled, and each access then costs a load.
//#variant C4
const CV: u32 = 1u;
alias Acc = vec4<f32>;
fn loadChannels(at: u32) -> Acc { return channelRows[at]; }
fn column(acc: Acc, c: u32) -> vec4<f32> { return acc; }
//#variant C8
const CV: u32 = 2u;
alias Acc = mat2x4<f32>;
fn loadChannels(at: u32) -> Acc { return Acc(channelRows[at], channelRows[at + 1u]); }
fn column(acc: Acc, c: u32) -> vec4<f32> { return acc[c]; }
//#variant C16
const CV: u32 = 4u;
alias Acc = mat4x4<f32>;
fn loadChannels(at: u32) -> Acc { return Acc(channelRows[at], channelRows[at + 1u], channelRows[at + 2u], channelRows[at + 3u]); }
fn column(acc: Acc, c: u32) -> vec4<f32> { return acc[c]; }
//#end
// Positions (or taps) per thread: the four lanes of a vec4, with accumulators acc0..acc3.
const TP: u32 = 4u;

struct ConvParams {
  batch: u32,
  inChannels: u32,
  inHeight: u32,
  inWidth: u32,
  outChannels: u32,
  outHeight: u32,
  outWidth: u32,
  kernelHeight: u32,
  kernelWidth: u32,
  strideY: u32,
  strideX: u32,
  padY: u32,
  padX: u32,
  // Width of one packed row (channelRows), in vec4s: the blocked channel count over 4, rounded up.
  channelVec4s: u32,
  // Positions: N * Ho * Wo (forward, packGradient), N * H * W (input gradient).
  positions: u32,
  // Packed row holding the bias (forward only; a zero row when there is no bias).
  biasRow: u32,
  // Weight gradient: images per batch chunk (workgroup z); each chunk writes its own partial sum.
  batchChunk: u32,
}

struct PackParams {
  rows: u32,
  cols: u32,
  colsPadded: u32,
  taps: u32,
  colStride: u32,
  groupStride: u32,
  count: u32,
  biasRow: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
// A packed operand in rows of channel vec4s: the weights (forward, input gradient) or dy
// (weight gradient), made by packWeights or packGradient.
@group(0) @binding(1) var<storage, read> channelRows: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> conv: ConvParams;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> dw: array<f32>;
@group(0) @binding(7) var<storage, read_write> dbias: array<f32>;
@group(0) @binding(8) var<storage, read> w: array<f32>;
@group(0) @binding(9) var<storage, read_write> packed: array<f32>;
@group(0) @binding(10) var<uniform> pack: PackParams;
@group(0) @binding(11) var<storage, read> bias: array<f32>;

// The packed-row operand at `at` (a channel vec4 index): the CV vec4s of this thread's channel
// block, the same for every thread of a workgroup.
//#variant portable
fn sharedChannels(at: u32, lane: u32) -> Acc { return loadChannels(at); }
//#variant subgroups
// The same buffer as channelRows, seen as floats.
@group(0) @binding(12) var<storage, read> channelScalars: array<f32>;

// Only with C16 (Acc = mat4x4) and an 8-lane subgroup as the workgroup: lane l loads channels
// 2l and 2l + 1, and every lane gets all 16 by broadcast. A load costs lavapipe the same per lane
// whether or not the lanes share its address, so this is 2 loads per lane instead of 16. Every
// caller is in uniform control flow (threads past the end repeat the last slot, never return).
fn sharedChannels(at: u32, lane: u32) -> Acc {
  let base = at * 4u + 2u * lane;
  let mine = vec2<f32>(channelScalars[base], channelScalars[base + 1u]);
  return mat4x4<f32>(
    vec4<f32>(subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u)),
    vec4<f32>(subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u)),
    vec4<f32>(subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u)),
    vec4<f32>(subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u)),
  );
}
//#end

// The grid is [position tiles (folded over x and z), channel blocks (y)]; a workgroup covers
// TP * WG consecutive positions, thread `lid` taking every WG-th of them.
fn tileIndex(wid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return wid.x + wid.z * groups.x;
}

// ---------------------------------------------------------------- weight packing

// packed[row][col] = w[col * colStride + (row / taps) * groupStride + row % taps], zero beyond
// `cols` and in the rows past `rows` (the bias row, filled by packBias when there is a bias).
// Forward: rows (ci, kh, kw), cols Cout. Input gradient: rows (co, kh, kw), cols Cin.
@compute @workgroup_size(WG)
fn packWeights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * WG;
  if (i >= pack.count) { return; }
  let row = i / pack.colsPadded;
  let col = i % pack.colsPadded;
  var value = 0.0;
  if (row < pack.rows && col < pack.cols) {
    value = w[col * pack.colStride + (row / pack.taps) * pack.groupStride + row % pack.taps];
  }
  packed[i] = value;
}

@compute @workgroup_size(WG)
fn packBias(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= pack.cols) { return; }
  packed[pack.biasRow * pack.colsPadded + i] = bias[i];
}

// ---------------------------------------------------------------- shared helpers

// The four positions (or taps) of thread `lid`: TP consecutive slots of its tile, each WG apart.
fn slots(tile: u32, lid: u32) -> vec4<u32> {
  return (vec4<u32>(tile * TP) + vec4<u32>(0u, 1u, 2u, 3u)) * WG + lid;
}

// x at four indices; lanes outside the input (padding) read as zero, through index 0.
fn gatherInput(at: vec4<i32>, inside: vec4<bool>) -> vec4<f32> {
  let safe = select(vec4<u32>(0u), vec4<u32>(at), inside);
  return select(vec4<f32>(0.0), vec4<f32>(x[safe.x], x[safe.y], x[safe.z], x[safe.w]), inside);
}

fn gatherGradient(at: vec4<i32>, inside: vec4<bool>) -> vec4<f32> {
  let safe = select(vec4<u32>(0u), vec4<u32>(at), inside);
  return select(vec4<f32>(0.0), vec4<f32>(dy[safe.x], dy[safe.y], dy[safe.z], dy[safe.w]), inside);
}

// packed[n, oh, ow][co] = dy[n, co, oh, ow], zero for co >= Cout: the weight gradient then reads
// the dy of 4 channels with one vec4 load instead of 4 scalar ones. One thread per position
// (N * Ho * Wo of them) walks its packed row: the index arithmetic, which CPU adapters run lane
// by lane, is paid once per position rather than once per element. On a GPU the reads of
// neighbouring threads are adjacent and their writes a row apart (an element per thread had it
// the other way round); not measured there.
@compute @workgroup_size(WG)
fn packGradient(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let position = gid.x + gid.y * groups.x * WG;
  if (position >= conv.positions) { return; }
  let width = conv.channelVec4s * 4u;
  let outPlane = conv.outHeight * conv.outWidth;
  let source = (position / outPlane) * conv.outChannels * outPlane + position % outPlane;
  let row = position * width;
  for (var co = 0u; co < width; co++) {
    var value = 0.0;
    if (co < conv.outChannels) { value = dy[source + co * outPlane]; }
    packed[row + co] = value;
  }
}

// ---------------------------------------------------------------- forward

fn storeOutput(position: u32, value: Acc, firstVec4: u32) {
  if (position >= conv.positions) { return; }
  let outPlane = conv.outHeight * conv.outWidth;
  let base = (position / outPlane) * conv.outChannels * outPlane + position % outPlane;
  for (var c = 0u; c < CV; c++) {
    var v = column(value, c);
    if (ACTIVATION == 1u) { v = max(v, vec4<f32>(0.0)); }
    for (var e = 0u; e < 4u; e++) {
      let co = (firstVec4 + c) * 4u + e;
      if (co < conv.outChannels) { y[base + co * outPlane] = v[e]; }
    }
  }
}

// y[n, co, oh, ow] = act(bias[co] + sum_{ci, kh, kw} w[co, ci, kh, kw] * x[n, ci, oh*sy - py + kh, ow*sx - px + kw])
@compute @workgroup_size(WG)
fn conv2dForward(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let inPlane = conv.inHeight * conv.inWidth;
  let outPlane = conv.outHeight * conv.outWidth;
  let tile = tileIndex(wid, groups);
  let firstVec4 = wid.y * CV;  // first channel vec4 of this thread's block
  // Per position: the input row and column of its window's top-left tap, and that tap's index
  // (it may lie in the padding, hence i32). Positions past the end repeat the last one.
  let p = min(slots(tile, lid), vec4<u32>(conv.positions - 1u));
  let r = p % outPlane;
  let top = vec4<i32>((r / conv.outWidth) * conv.strideY) - i32(conv.padY);
  let left = vec4<i32>((r % conv.outWidth) * conv.strideX) - i32(conv.padX);
  let origin = vec4<i32>((p / outPlane) * conv.inChannels * inPlane) + top * i32(conv.inWidth) + left;
  let height = vec4<u32>(conv.inHeight);
  let width = vec4<u32>(conv.inWidth);
  var acc0: Acc;
  var acc1: Acc;
  var acc2: Acc;
  var acc3: Acc;
  var k = 0u;
  for (var ci = 0u; ci < conv.inChannels; ci++) {
    for (var kh = 0u; kh < conv.kernelHeight; kh++) {
      let rowInside = vec4<u32>(top + i32(kh)) < height;
      let tapRow = origin + i32(ci * inPlane + kh * conv.inWidth);
      for (var kw = 0u; kw < conv.kernelWidth; kw++) {
        let wm = sharedChannels(k * conv.channelVec4s + firstVec4, lid);
        let at = tapRow + i32(kw);
        var v: vec4<f32>;
        if (PADDED) {
          v = gatherInput(at, rowInside & (vec4<u32>(left + i32(kw)) < width));
        } else {
          let a = vec4<u32>(at);
          v = vec4<f32>(x[a.x], x[a.y], x[a.z], x[a.w]);
        }
        acc0 += v.x * wm;
        acc1 += v.y * wm;
        acc2 += v.z * wm;
        acc3 += v.w * wm;
        k++;
      }
    }
  }
  let b = sharedChannels(conv.biasRow * conv.channelVec4s + firstVec4, lid);
  let q = slots(tile, lid);
  storeOutput(q.x, acc0 + b, firstVec4);
  storeOutput(q.y, acc1 + b, firstVec4);
  storeOutput(q.z, acc2 + b, firstVec4);
  storeOutput(q.w, acc3 + b, firstVec4);
}

// ---------------------------------------------------------------- forward as a subgroup GEMM

// The convolution as the product Y[positions, Cout] = X[positions, taps] W[taps, Cout], with X
// read through windows and W packed into rows of Cout (packWeights, zero-padded to whole groups
// of 32 columns; the bias row after the last tap). Laid out as matmulSubgroup (shaders/matmul.wgsl,
// A stored [K, M]): one workgroup is one 8-lane subgroup computing 16 positions x 32 channels;
// lane l owns channels 4 (8 g + l) .. + 3 for all 16 positions in registers. Per step of 4 taps
// a lane loads its 4 vec4 of W and gathers 8 values of X (4 positions of its half of a chunk of
// 8, at tap k0 + l % 4, for 2 chunks), which subgroupBroadcast hands to every lane: 4 + 8 loads
// and 16 broadcasts for 256 FMAs, where conv2dForward's subgroup flavour does 8 + 16 loads and
// 32 broadcasts. Each accumulator adds its taps in ascending order, as conv2dForward does.
//
// taps[k] = (offset of tap k = (ci, kh, kw) from a window's top-left corner in x, kh, kw, 0):
// a table, so that the loop needs no division to find a tap (packTaps makes it per call).
// FLIP_TAPS lists each channel's taps from the far corner of the window: the input gradient's
// order, when it runs as a convolution of dy with the kernel turned round.
override FLIP_TAPS: bool = false;
@group(0) @binding(13) var<storage, read> taps: array<vec4<i32>>;
@group(0) @binding(14) var<storage, read_write> tapTable: array<vec4<i32>>;

@compute @workgroup_size(WG)
fn packTaps(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let k = gid.x + gid.y * groups.x * WG;
  let perChannel = conv.kernelHeight * conv.kernelWidth;
  if (k >= conv.inChannels * perChannel) { return; }
  let t = k % perChannel;
  var kh = t / conv.kernelWidth;
  var kw = t % conv.kernelWidth;
  if (FLIP_TAPS) {
    kh = conv.kernelHeight - 1u - kh;
    kw = conv.kernelWidth - 1u - kw;
  }
  tapTable[k] = vec4<i32>(i32((k / perChannel) * conv.inHeight * conv.inWidth + kh * conv.inWidth + kw), i32(kh), i32(kw), 0);
}

//#variant subgroups
const GEMM_ROWS: u32 = 16u;
alias GemmAccumulators = array<vec4<f32>, GEMM_ROWS>;

// Rows r..r+3 (values v) times one tap's row of W. As matmul.wgsl's rank1, but written as the
// conv kernels before it wrote their updates (a product, then a sum), not fma(): the same
// rounding, so the GEMM kernels' results are bitwise those of the kernels they replaced.
fn gemmRank1(acc: ptr<function, GemmAccumulators>, r: u32, v: vec4<f32>, wRow: vec4<f32>) {
  (*acc)[r + 0u] = (*acc)[r + 0u] + v.x * wRow;
  (*acc)[r + 1u] = (*acc)[r + 1u] + v.y * wRow;
  (*acc)[r + 2u] = (*acc)[r + 2u] + v.z * wRow;
  (*acc)[r + 3u] = (*acc)[r + 3u] + v.w * wRow;
}

// Chunk j's 8 rows: lanes 0-3 hold rows 8j..8j+3 at taps k0..k0+3, lanes 4-7 rows 8j+4..8j+7.
fn gemmChunk(acc: ptr<function, GemmAccumulators>, r: u32, f: vec4<f32>, wk: array<vec4<f32>, 4>) {
  gemmRank1(acc, r, subgroupBroadcast(f, 0u), wk[0]);
  gemmRank1(acc, r, subgroupBroadcast(f, 1u), wk[1]);
  gemmRank1(acc, r, subgroupBroadcast(f, 2u), wk[2]);
  gemmRank1(acc, r, subgroupBroadcast(f, 3u), wk[3]);
  gemmRank1(acc, r + 4u, subgroupBroadcast(f, 4u), wk[0]);
  gemmRank1(acc, r + 4u, subgroupBroadcast(f, 5u), wk[1]);
  gemmRank1(acc, r + 4u, subgroupBroadcast(f, 6u), wk[2]);
  gemmRank1(acc, r + 4u, subgroupBroadcast(f, 7u), wk[3]);
}

// Where a lane's 8 rows (chunk 0, then chunk 1) gather from: each row's index in x and the row
// and column of its window's corner (taps: the tap's offsets from a corner), before the step's
// table entry moves them.
struct GemmRows {
  origin0: vec4<i32>,
  origin1: vec4<i32>,
  top0: vec4<i32>,
  top1: vec4<i32>,
  left0: vec4<i32>,
  left1: vec4<i32>,
}

// One step of 4 along the reduction (indices k0..k0+3, those from `end` on counting zero): lane l
// gathers its 8 rows at index k0 + l % 4, moved by that index's table entry (offset in x, row,
// column), and every lane adds the 4 packed rows k0..k0+3 of its columns.
fn gemmStep(acc: ptr<function, GemmAccumulators>, k0: u32, end: u32, lane: u32, col4: u32, entry: vec4<i32>, rows: GemmRows) {
  let valid = vec4<bool>(k0 + lane % 4u < end);
  var f0: vec4<f32>;
  var f1: vec4<f32>;
  if (PADDED) {
    let height = vec4<u32>(conv.inHeight);
    let width = vec4<u32>(conv.inWidth);
    f0 = gatherInput(rows.origin0 + entry.x, valid & (vec4<u32>(rows.top0 + entry.y) < height) & (vec4<u32>(rows.left0 + entry.z) < width));
    f1 = gatherInput(rows.origin1 + entry.x, valid & (vec4<u32>(rows.top1 + entry.y) < height) & (vec4<u32>(rows.left1 + entry.z) < width));
  } else {
    f0 = gatherInput(rows.origin0 + entry.x, valid);
    f1 = gatherInput(rows.origin1 + entry.x, valid);
  }
  var wk: array<vec4<f32>, 4>;
  for (var i = 0u; i < 4u; i++) {
    let kk = k0 + i;
    wk[i] = select(vec4<f32>(0.0), channelRows[min(kk, end - 1u) * conv.channelVec4s + col4], kk < end);
  }
  gemmChunk(acc, 0u, f0, wk);
  gemmChunk(acc, 8u, f1, wk);
}

@compute @workgroup_size(8)
fn conv2dForwardGemm(
  @builtin(local_invocation_index) lane: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let inPlane = conv.inHeight * conv.inWidth;
  let outPlane = conv.outHeight * conv.outWidth;
  let tapCount = conv.inChannels * conv.kernelHeight * conv.kernelWidth;
  let row0 = (wid.y + wid.z * groups.y) * GEMM_ROWS;
  let col4 = wid.x * 8u + lane;
  // The positions this lane gathers for (chunk 0, then chunk 1), clamped to the last one.
  let mine = vec4<u32>(row0 + 4u * (lane / 4u)) + vec4<u32>(0u, 1u, 2u, 3u);
  let last = vec4<u32>(conv.positions - 1u);
  let p0 = min(mine, last);
  let p1 = min(mine + vec4<u32>(8u), last);
  let r0 = p0 % outPlane;
  let r1 = p1 % outPlane;
  let top0 = vec4<i32>((r0 / conv.outWidth) * conv.strideY) - i32(conv.padY);
  let top1 = vec4<i32>((r1 / conv.outWidth) * conv.strideY) - i32(conv.padY);
  let left0 = vec4<i32>((r0 % conv.outWidth) * conv.strideX) - i32(conv.padX);
  let left1 = vec4<i32>((r1 % conv.outWidth) * conv.strideX) - i32(conv.padX);
  let rows = GemmRows(
    vec4<i32>((p0 / outPlane) * conv.inChannels * inPlane) + top0 * i32(conv.inWidth) + left0,
    vec4<i32>((p1 / outPlane) * conv.inChannels * inPlane) + top1 * i32(conv.inWidth) + left1,
    top0, top1, left0, left1,
  );
  var acc: GemmAccumulators;
  for (var k0 = 0u; k0 < tapCount; k0 += 4u) {
    gemmStep(&acc, k0, tapCount, lane, col4, taps[min(k0 + lane % 4u, tapCount - 1u)], rows);
  }
  let b = channelRows[conv.biasRow * conv.channelVec4s + col4];
  var n = row0 / outPlane;
  var rest = row0 % outPlane;
  for (var r = 0u; r < GEMM_ROWS; r++) {
    if (row0 + r < conv.positions) {
      var v = acc[r] + b;
      if (ACTIVATION == 1u) { v = max(v, vec4<f32>(0.0)); }
      let base = n * conv.outChannels * outPlane + rest;
      for (var e = 0u; e < 4u; e++) {
        let co = col4 * 4u + e;
        if (co < conv.outChannels) { y[base + co * outPlane] = v[e]; }
      }
    }
    rest++;
    if (rest == outPlane) { rest = 0u; n++; }
  }
}
//#variant portable
//#end

// ---------------------------------------------------------------- input gradient

fn storeInputGradient(position: u32, value: Acc, firstVec4: u32) {
  if (position >= conv.positions) { return; }
  let inPlane = conv.inHeight * conv.inWidth;
  let base = (position / inPlane) * conv.inChannels * inPlane + position % inPlane;
  for (var c = 0u; c < CV; c++) {
    let v = column(value, c);
    for (var e = 0u; e < 4u; e++) {
      let ci = (firstVec4 + c) * 4u + e;
      if (ci < conv.inChannels) { dx[base + ci * inPlane] = v[e]; }
    }
  }
}

// dx[n, ci, ih, iw] = sum_{co, kh, kw} w[co, ci, kh, kw] * dy[n, co, oh, ow] over the taps with
// oh * sy - py + kh = ih and ow * sx - px + kw = iw. Weights are packed with rows (co, kh, kw)
// and columns ci. With stride > 1 only the taps whose offsets divide evenly contribute; they
// are found by a test per tap (simple, and wasteful by a factor sy * sx).
@compute @workgroup_size(WG)
fn conv2dBackwardInput(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let inPlane = conv.inHeight * conv.inWidth;
  let outPlane = conv.outHeight * conv.outWidth;
  let tile = tileIndex(wid, groups);
  let firstVec4 = wid.y * CV;
  // Per position: ih + py and iw + px (tap kh reaches output row (ih + py - kh) / sy), and the
  // offset of image n in dy.
  let p = min(slots(tile, lid), vec4<u32>(conv.positions - 1u));
  let r = p % inPlane;
  let row = vec4<i32>(r / conv.inWidth + conv.padY);
  let col = vec4<i32>(r % conv.inWidth + conv.padX);
  let image = vec4<i32>((p / inPlane) * conv.outChannels * outPlane);
  let sy = i32(conv.strideY);
  let sx = i32(conv.strideX);
  let height = vec4<u32>(conv.outHeight);
  let width = vec4<u32>(conv.outWidth);
  var acc0: Acc;
  var acc1: Acc;
  var acc2: Acc;
  var acc3: Acc;
  var k = 0u;
  for (var co = 0u; co < conv.outChannels; co++) {
    let channel = image + i32(co * outPlane);
    for (var kh = 0u; kh < conv.kernelHeight; kh++) {
      for (var kw = 0u; kw < conv.kernelWidth; kw++) {
        let wm = sharedChannels(k * conv.channelVec4s + firstVec4, lid);
        var oh = row - i32(kh);
        var ow = col - i32(kw);
        var inside = vec4<bool>(true);
        if (!UNIT_STRIDE) {
          inside = (oh >= vec4<i32>(0)) & (ow >= vec4<i32>(0)) & (oh % sy == vec4<i32>(0)) & (ow % sx == vec4<i32>(0));
          oh = oh / sy;
          ow = ow / sx;
        }
        inside = inside & (vec4<u32>(oh) < height) & (vec4<u32>(ow) < width);
        let v = gatherGradient(channel + oh * i32(conv.outWidth) + ow, inside);
        acc0 += v.x * wm;
        acc1 += v.y * wm;
        acc2 += v.z * wm;
        acc3 += v.w * wm;
        k++;
      }
    }
  }
  let q = slots(tile, lid);
  storeInputGradient(q.x, acc0, firstVec4);
  storeInputGradient(q.y, acc1, firstVec4);
  storeInputGradient(q.z, acc2, firstVec4);
  storeInputGradient(q.w, acc3, firstVec4);
}

// ---------------------------------------------------------------- weight gradient

// dw holds one [Cout, taps] partial per batch chunk (just dw itself when there is one chunk).
fn storeWeightGradient(chunk: u32, tap: u32, value: Acc, firstVec4: u32) {
  let tapCount = conv.inChannels * conv.kernelHeight * conv.kernelWidth;
  if (tap >= tapCount) { return; }
  let base = chunk * conv.outChannels * tapCount;
  for (var c = 0u; c < CV; c++) {
    let v = column(value, c);
    for (var e = 0u; e < 4u; e++) {
      let co = (firstVec4 + c) * 4u + e;
      if (co < conv.outChannels) { dw[base + co * tapCount + tap] = v[e]; }
    }
  }
}

// dw[co, ci, kh, kw] = sum_{n, oh, ow} dy[n, co, oh, ow] * x[n, ci, oh*sy - py + kh, ow*sx - px + kw].
// A thread owns 4 * CV output channels x TP taps (ci, kh, kw) and reduces over the output
// positions of one chunk of images; the grid is [tap tiles (x), channel blocks (y), batch chunks
// (z)]. There are few taps and many positions (3x3 x 32 channels against 128 x 28 x 28), so
// without the chunks a GPU would get a handful of workgroups, each with a 100k-step loop; the op
// adds the chunks' partials up afterwards.
@compute @workgroup_size(WG)
fn conv2dBackwardWeight(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let inPlane = conv.inHeight * conv.inWidth;
  let outPlane = conv.outHeight * conv.outWidth;
  let taps = conv.kernelHeight * conv.kernelWidth;
  let tile = wid.x;
  let chunk = wid.z;
  let firstImage = chunk * conv.batchChunk;
  let lastImage = min(conv.batch, firstImage + conv.batchChunk);
  let firstVec4 = wid.y * CV;
  // Per tap: its row and column offset from a window's top-left corner (padding included), and
  // its index offset in x. Taps past the end repeat the last one.
  let t = min(slots(tile, lid), vec4<u32>(conv.inChannels * taps - 1u));
  let r = t % taps;
  let tapTop = vec4<i32>(r / conv.kernelWidth) - i32(conv.padY);
  let tapLeft = vec4<i32>(r % conv.kernelWidth) - i32(conv.padX);
  let tapOffset = vec4<i32>((t / taps) * inPlane) + tapTop * i32(conv.inWidth) + tapLeft;
  let height = vec4<u32>(conv.inHeight);
  let width = vec4<u32>(conv.inWidth);
  var acc0: Acc;
  var acc1: Acc;
  var acc2: Acc;
  var acc3: Acc;
  for (var n = firstImage; n < lastImage; n++) {
    let image = i32(n * conv.inChannels * inPlane);
    let gradImage = n * outPlane;
    for (var oh = 0u; oh < conv.outHeight; oh++) {
      let top = i32(oh * conv.strideY);
      let rowInside = vec4<u32>(tapTop + top) < height;
      for (var ow = 0u; ow < conv.outWidth; ow++) {
        let left = i32(ow * conv.strideX);
        let g = sharedChannels((gradImage + oh * conv.outWidth + ow) * conv.channelVec4s + firstVec4, lid);
        let at = tapOffset + (image + top * i32(conv.inWidth) + left);
        var v: vec4<f32>;
        if (PADDED) {
          v = gatherInput(at, rowInside & (vec4<u32>(tapLeft + left) < width));
        } else {
          let a = vec4<u32>(at);
          v = vec4<f32>(x[a.x], x[a.y], x[a.z], x[a.w]);
        }
        acc0 += v.x * g;
        acc1 += v.y * g;
        acc2 += v.z * g;
        acc3 += v.w * g;
      }
    }
  }
  let q = slots(tile, lid);
  storeWeightGradient(chunk, q.x, acc0, firstVec4);
  storeWeightGradient(chunk, q.y, acc1, firstVec4);
  storeWeightGradient(chunk, q.z, acc2, firstVec4);
  storeWeightGradient(chunk, q.w, acc3, firstVec4);
}

// ---------------------------------------------------------------- weight gradient as a subgroup GEMM

// The weight gradient as the product dW^T[taps, Cout] = X^T[taps, positions] dY[positions, Cout],
// over the positions of one batch chunk: dY packed position-major by packGradient (rows of Cout
// zero-padded to whole groups of 32), X read through windows. The layout is conv2dForwardGemm's,
// with taps for positions and positions for taps: a workgroup computes 16 taps x 32 channels; per
// step of 4 positions a lane loads its 4 vec4 of dY and gathers 8 values of X (4 taps of its half
// of a chunk of 8, at position k0 + l % 4, for 2 chunks). Each accumulator adds the chunk's
// positions in ascending order, as conv2dBackwardWeight does.
//
// windows[p] = (offset of position p's window corner in x, before padding; its row; its column; 0),
// so that the loop needs no division to find a position (packPositions makes it per call).
@group(0) @binding(15) var<storage, read> windows: array<vec4<i32>>;
@group(0) @binding(16) var<storage, read_write> windowTable: array<vec4<i32>>;

@compute @workgroup_size(WG)
fn packPositions(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = gid.x + gid.y * groups.x * WG;
  if (p >= conv.positions) { return; }
  let outPlane = conv.outHeight * conv.outWidth;
  let r = p % outPlane;
  let top = (r / conv.outWidth) * conv.strideY;
  let left = (r % conv.outWidth) * conv.strideX;
  windowTable[p] = vec4<i32>(i32((p / outPlane) * conv.inChannels * conv.inHeight * conv.inWidth + top * conv.inWidth + left), i32(top), i32(left), 0);
}

//#variant subgroups
@compute @workgroup_size(8)
fn conv2dBackwardWeightGemm(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let inPlane = conv.inHeight * conv.inWidth;
  let perChannel = conv.kernelHeight * conv.kernelWidth;
  let tapCount = conv.inChannels * perChannel;
  let outPlane = conv.outHeight * conv.outWidth;
  let row0 = wid.y * GEMM_ROWS;
  let col4 = wid.x * 8u + lane;
  let chunk = wid.z;
  let first = chunk * conv.batchChunk * outPlane;
  let end = min(conv.batch, (chunk + 1u) * conv.batchChunk) * outPlane;
  // The taps this lane gathers for (chunk 0, then chunk 1), clamped to the last one: their row
  // and column offsets from a window's corner (padding included) and their offset in x.
  let mine = vec4<u32>(row0 + 4u * (lane / 4u)) + vec4<u32>(0u, 1u, 2u, 3u);
  let lastTap = vec4<u32>(tapCount - 1u);
  let t0 = min(mine, lastTap);
  let t1 = min(mine + vec4<u32>(8u), lastTap);
  let r0 = t0 % perChannel;
  let r1 = t1 % perChannel;
  let tapTop0 = vec4<i32>(r0 / conv.kernelWidth) - i32(conv.padY);
  let tapTop1 = vec4<i32>(r1 / conv.kernelWidth) - i32(conv.padY);
  let tapLeft0 = vec4<i32>(r0 % conv.kernelWidth) - i32(conv.padX);
  let tapLeft1 = vec4<i32>(r1 % conv.kernelWidth) - i32(conv.padX);
  let rows = GemmRows(
    vec4<i32>((t0 / perChannel) * inPlane) + tapTop0 * i32(conv.inWidth) + tapLeft0,
    vec4<i32>((t1 / perChannel) * inPlane) + tapTop1 * i32(conv.inWidth) + tapLeft1,
    tapTop0, tapTop1, tapLeft0, tapLeft1,
  );
  var acc: GemmAccumulators;
  for (var k0 = first; k0 < end; k0 += 4u) {
    gemmStep(&acc, k0, end, lane, col4, windows[min(k0 + lane % 4u, end - 1u)], rows);
  }
  let base = chunk * conv.outChannels * tapCount;
  for (var r = 0u; r < GEMM_ROWS; r++) {
    let tap = row0 + r;
    if (tap < tapCount) {
      for (var e = 0u; e < 4u; e++) {
        let co = col4 * 4u + e;
        if (co < conv.outChannels) { dw[base + co * tapCount + tap] = acc[r][e]; }
      }
    }
  }
}
//#variant portable
//#end

// ---------------------------------------------------------------- bias gradient

// dbias[co] = sum_{n, oh, ow} dy[n, co, oh, ow]: one workgroup per channel, a strided partial
// sum per thread, then a tree in workgroup memory (WG must be a power of two).
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn conv2dBackwardBias(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let co = wid.x;
  let outPlane = conv.outHeight * conv.outWidth;
  let count = conv.batch * outPlane;
  var sum = 0.0;
  // Thread lid sums the values at flat positions lid, lid + WG, ... of [N, Ho Wo], in that order;
  // it carries its sample n and position p along instead of dividing for them (a u32 division
  // and remainder per value made this 2.7x slower on lavapipe).
  var n = 0u;
  var p = lid;
  while (p >= outPlane) { p -= outPlane; n++; }
  for (var i = lid; i < count; i += WG) {
    sum += dy[(n * conv.outChannels + co) * outPlane + p];
    p += WG;
    while (p >= outPlane) { p -= outPlane; n++; }
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) { partial[lid] += partial[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u) { dbias[co] = partial[0]; }
}
