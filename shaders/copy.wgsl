// Strided copies: makes views dense (contiguous), writes into slices (concat), for any dtype.
// Elements are moved as raw words: 32-bit for f32/i32/u32, 16-bit for f16.

//#variant b32
alias Word = u32;
//#variant b16
enable f16;
alias Word = f16;
//#end

// Shapes and strides of up to 8 axes, padded with leading 1s (shape) and 0s (strides), packed
// into two vec4 each because uniform arrays would need a 16-byte stride per element. The host
// first merges axes that are contiguous in both tensors and drops axes of size 1, so `rank`
// (the axes that remain, at the end of the arrays) is usually small.
struct CopyParams {
  // Elements (copyStrided) or innermost runs (copyRuns).
  count: u32,
  srcOffset: u32,
  dstOffset: u32,
  rank: u32,
  shapeLo: vec4<u32>,
  shapeHi: vec4<u32>,
  srcStridesLo: vec4<u32>,
  srcStridesHi: vec4<u32>,
  dstStridesLo: vec4<u32>,
  dstStridesHi: vec4<u32>,
}

@group(0) @binding(0) var<storage, read> src: array<Word>;
@group(0) @binding(1) var<storage, read_write> dst: array<Word>;
@group(0) @binding(2) var<uniform> params: CopyParams;

override WG: u32 = 256u;

fn axisValue(lo: vec4<u32>, hi: vec4<u32>, axis: u32) -> u32 {
  if (axis < 4u) { return lo[axis]; }
  return hi[axis - 4u];
}

@compute @workgroup_size(WG)
fn copyStrided(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * WG;
  if (i >= params.count) { return; }
  let at = offsetsOf(i, 0u);
  dst[at.y] = src[at.x];
}

// Source and destination offsets of flat index `i` over the axes before the last `skip` ones.
fn offsetsOf(i: u32, skip: u32) -> vec2<u32> {
  var rest = i;
  var s = params.srcOffset;
  var d = params.dstOffset;
  for (var step = skip; step < params.rank; step++) {
    let axis = 7u - step;
    let dim = axisValue(params.shapeLo, params.shapeHi, axis);
    let coord = rest % dim;
    rest = rest / dim;
    s += coord * axisValue(params.srcStridesLo, params.srcStridesHi, axis);
    d += coord * axisValue(params.dstStridesLo, params.dstStridesHi, axis);
  }
  return vec2<u32>(s, d);
}

// One thread per run of the innermost axis, when that axis is dense in both tensors: the index
// arithmetic (a division per axis) is paid once per run, not per element. For CPU adapters,
// where it was most of the cost of the attention heads' permutes (21 ms for 800k elements).
@compute @workgroup_size(WG)
fn copyRuns(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let run = gid.x + gid.y * groups.x * WG;
  if (run >= params.count) { return; }
  let at = offsetsOf(run, 1u);
  let length = params.shapeHi.w;
  for (var j = 0u; j < length; j++) {
    dst[at.y + j] = src[at.x + j];
  }
}
