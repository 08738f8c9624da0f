// Strided copies: makes views dense (contiguous), writes into slices (concat), for any dtype.
// Elements are moved as raw words: 32-bit for f32/i32/u32, 16-bit for f16.

//#variant b32
alias Word = u32;
//#variant b16
enable f16;
alias Word = f16;
//#end

// Shapes and strides of up to 8 axes, padded with leading 1s (shape) and 0s (strides), packed
// into two vec4 each because uniform arrays would need a 16-byte stride per element.
struct CopyParams {
  count: u32,
  srcOffset: u32,
  dstOffset: u32,
  _pad: u32,
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
  var rest = i;
  var s = params.srcOffset;
  var d = params.dstOffset;
  for (var step = 0u; step < 8u; step++) {
    let axis = 7u - step;
    let dim = axisValue(params.shapeLo, params.shapeHi, axis);
    let coord = rest % dim;
    rest = rest / dim;
    s += coord * axisValue(params.srcStridesLo, params.srcStridesHi, axis);
    d += coord * axisValue(params.dstStridesLo, params.dstStridesHi, axis);
  }
  dst[d] = src[s];
}
