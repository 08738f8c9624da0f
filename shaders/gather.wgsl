// Rows of a table picked by index: out[r, j] = table[index[r], j]. DRTP's learning signal is the
// one-hot target times a fixed matrix B, that is B's row of each label: one read per element
// instead of a [rows, K] one-hot and a matmul. An index outside [0, tableRows) gives NaN, so a
// bad label is caught by the non-finite guard instead of reading another row.

struct GatherParams {
  rows: u32,
  cols: u32,
  tableRows: u32,
  // 0x7fc00000, a quiet NaN's bits: WGSL may assume no NaN arises from arithmetic, so 0/0 is no way to make one.
  nanBits: u32,
}

@group(0) @binding(0) var<storage, read> table: array<f32>;
@group(0) @binding(1) var<storage, read> index: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: GatherParams;

override WG: u32 = 256u;

// A workgroup per output row, its threads striding along the row: neighbouring threads copy
// neighbouring values (one vector on a CPU adapter, coalesced on a GPU), and no thread divides
// to find its row (a u32 division per element made the copy 6x slower on lavapipe).
@compute @workgroup_size(WG)
fn gatherRows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let r = wid.x + wid.y * groups.x;
  if (r >= params.rows) { return; }
  let k = index[r];
  let to = r * params.cols;
  if (k < 0 || u32(k) >= params.tableRows) {
    for (var j = lid.x; j < params.cols; j += WG) { out[to + j] = bitcast<f32>(params.nanBits); }
    return;
  }
  let src = u32(k) * params.cols;
  for (var j = lid.x; j < params.cols; j += WG) { out[to + j] = table[src + j]; }
}
