// Forward-Forward's negative labels (src/sll/forwardForward.ts, LabelEmbedding): for row i of a
// batch at training step s, the row of the wrong-label table that gives it a wrong label drawn
// uniformly from the K - 1 others,
//   row = y_i (K - 1) + j,  j = word 0 of Philox4x32-10(key = seed, counter = (lo32(s), hi32(s), i, 0)) mod (K - 1),
// the table's row y (K - 1) + j being the one-hot of (y + 1 + j) mod K. Drawn on the GPU so that
// a recorded training step replays with the step written into its uniforms (src/gpu/recording.ts).

override WG: u32 = 64u;

struct NegativeParams {
  // Rows of the batch.
  count: u32,
  seedLo: u32,
  seedHi: u32,
  // The training step, as a 64-bit number.
  stepLo: u32,
  stepHi: u32,
  // K - 1: the wrong labels of each row.
  wrong: u32,
}

@group(0) @binding(0) var<storage, read> labels: array<i32>;
@group(0) @binding(1) var<storage, read_write> rows: array<i32>;
@group(0) @binding(2) var<uniform> params: NegativeParams;

@compute @workgroup_size(WG)
fn wrongLabelRows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * WG;
  if (i >= params.count) { return; }
  let j = philox(vec4<u32>(params.stepLo, params.stepHi, i, 0u), vec2<u32>(params.seedLo, params.seedHi)).x % params.wrong;
  rows[i] = labels[i] * i32(params.wrong) + i32(j);
}

//#include lib/philox
