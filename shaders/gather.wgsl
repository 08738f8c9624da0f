// Rows of a table picked by index: out[r, j] = table[index[r], j]. DRTP's learning signal is the
// one-hot target times a fixed matrix B, that is B's row of each label: one read per element
// instead of a [rows, K] one-hot and a matmul. An index outside [0, tableRows) gives NaN, so a
// bad label is caught by the non-finite guard instead of reading another row.

struct GatherParams {
  count: u32,
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

@compute @workgroup_size(WG)
fn gatherRows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * WG;
  if (i >= params.count) { return; }
  let r = i / params.cols;
  let j = i - r * params.cols;
  let k = index[r];
  if (k < 0 || u32(k) >= params.tableRows) {
    out[i] = bitcast<f32>(params.nanBits);
    return;
  }
  out[i] = table[u32(k) * params.cols + j];
}
