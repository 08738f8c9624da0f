// Row reductions for the row kernels (softmax, losses, layer norm). Either each row gets one
// workgroup, whose threads fold strided slices of it and combine their partials with the tree
// below, or (THREAD_PER_ROW) each thread owns a whole row and the reductions return its own
// values. The including file declares `override WG: u32`, a power of two (the tree halves it).
// The tree functions hold barriers: call them from workgroup-uniform control flow.

// True: each thread owns a whole row and the reductions below return its own values (no tree,
// no barrier). The host picks it for short rows on CPU adapters, where a tree's barriers cost
// more than a short row's arithmetic. False: one workgroup per row, combined by the tree.
override THREAD_PER_ROW: bool = false;

var<workgroup> partialA: array<f32, WG>;
var<workgroup> partialB: array<f32, WG>;

// The lowest finite f32: the max of an empty slice. Finite rather than -inf so that
// exp(LOWEST - LOWEST) = 1 and an empty partial (LOWEST, 0) combines without a NaN.
const LOWEST: f32 = -0x1.fffffep+127f;

// A running max m and s = sum of exp(z - m) over the values folded in so far: max and sum of
// exponentials in one sweep ("online softmax", Milakov & Gimelshein 2018, arXiv 1805.02867).
struct MaxSum {
  m: f32,
  s: f32,
}

// Adds one value: one exp per value (the partial sum is rescaled only when the max moves).
fn foldValue(acc: MaxSum, z: f32) -> MaxSum {
  if (z > acc.m) {
    return MaxSum(z, acc.s * exp(acc.m - z) + 1.0);
  }
  return MaxSum(acc.m, acc.s + exp(z - acc.m));
}

fn combine(a: MaxSum, b: MaxSum) -> MaxSum {
  let m = max(a.m, b.m);
  return MaxSum(m, a.s * exp(a.m - m) + b.s * exp(b.m - m));
}

// Combines every thread's (max, sum) partial; all threads get the row's.
fn reduceMaxSum(lid: u32, mine: MaxSum) -> MaxSum {
  if (THREAD_PER_ROW) { return mine; }
  partialA[lid] = mine.m;
  partialB[lid] = mine.s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      let c = combine(MaxSum(partialA[lid], partialB[lid]), MaxSum(partialA[lid + stride], partialB[lid + stride]));
      partialA[lid] = c.m;
      partialB[lid] = c.s;
    }
    workgroupBarrier();
  }
  let total = MaxSum(partialA[0], partialB[0]);
  // The arrays are free for the next reduction only once every thread has read the result.
  workgroupBarrier();
  return total;
}

// Sums every thread's pair of values; all threads get both totals.
fn reducePair(lid: u32, a: f32, b: f32) -> vec2<f32> {
  if (THREAD_PER_ROW) { return vec2<f32>(a, b); }
  partialA[lid] = a;
  partialB[lid] = b;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      partialA[lid] = partialA[lid] + partialA[lid + stride];
      partialB[lid] = partialB[lid] + partialB[lid + stride];
    }
    workgroupBarrier();
  }
  let total = vec2<f32>(partialA[0], partialB[0]);
  workgroupBarrier();
  return total;
}

// The plain sum of every thread's value.
fn reduceSum(lid: u32, mine: f32) -> f32 {
  return reducePair(lid, mine, 0.0).x;
}

// The row of this workgroup: more rows than one grid dimension holds are folded over x and y
// (see foldWorkgroups).
fn rowIndex(wid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return wid.x + wid.y * groups.x;
}

// A thread's row, its first element and step along the row, and whether it writes. Threads
// past the last row work on the last one and write nothing instead of returning, so that the
// reductions' barriers stay in uniform control flow (rows > 0: the host dispatches nothing
// for an empty tensor).
struct RowSlot {
  row: u32,
  first: u32,
  stride: u32,
  writes: bool,
}

fn rowSlot(lid: u32, wid: vec3<u32>, groups: vec3<u32>, rows: u32) -> RowSlot {
  let group = rowIndex(wid, groups);
  if (THREAD_PER_ROW) {
    let row = group * WG + lid;
    return RowSlot(min(row, rows - 1u), 0u, 1u, row < rows);
  }
  return RowSlot(min(group, rows - 1u), lid, WG, group < rows);
}
