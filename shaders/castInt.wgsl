// Value conversions between f32 and the integer dtypes, and between i32 and u32 (ops.cast):
// never a reinterpretation of bits. Float to integer truncates toward zero (as WGSL's i32(f32),
// C's (int)x and PyTorch's .to(torch.int32)) and saturates at the integer's range; NaN becomes 0.
// NaN is found from its bits (a compiler may fold x != x away); the range is compared in f32
// before converting, so nothing depends on how a driver converts values outside it. Integer to f32 is exact up to 2^24 in magnitude; larger integers become a
// neighbouring f32. No `enable f16`: these run on every adapter.

struct CastParams {
  count: u32,
}

@group(0) @binding(0) var<storage, read> srcF32: array<f32>;
@group(0) @binding(1) var<storage, read> srcI32: array<i32>;
@group(0) @binding(2) var<storage, read> srcU32: array<u32>;
@group(0) @binding(3) var<storage, read_write> dstF32: array<f32>;
@group(0) @binding(4) var<storage, read_write> dstI32: array<i32>;
@group(0) @binding(5) var<storage, read_write> dstU32: array<u32>;
@group(0) @binding(6) var<uniform> params: CastParams;

override WG: u32 = 256u;

fn isNaN(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

/** Truncation toward zero, saturating at [-2^31, 2^31 - 1]; NaN -> 0. */
fn f32ToI32Value(x: f32) -> i32 {
  if (isNaN(x)) { return 0i; }
  if (x >= 2147483648.0) { return 2147483647i; }
  if (x <= -2147483648.0) { return -2147483647i - 1i; }
  return i32(x);
}

/** Truncation toward zero, saturating at [0, 2^32 - 1] (so -0.5 and -7 give 0); NaN -> 0. */
fn f32ToU32Value(x: f32) -> u32 {
  if (isNaN(x) || x <= 0.0) { return 0u; }
  if (x >= 4294967296.0) { return 4294967295u; }
  return u32(x);
}

fn elementIndex(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}

@compute @workgroup_size(WG)
fn f32ToI32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = elementIndex(gid, groups);
  if (i < params.count) { dstI32[i] = f32ToI32Value(srcF32[i]); }
}

@compute @workgroup_size(WG)
fn f32ToU32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = elementIndex(gid, groups);
  if (i < params.count) { dstU32[i] = f32ToU32Value(srcF32[i]); }
}

@compute @workgroup_size(WG)
fn i32ToF32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = elementIndex(gid, groups);
  if (i < params.count) { dstF32[i] = f32(srcI32[i]); }
}

@compute @workgroup_size(WG)
fn u32ToF32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = elementIndex(gid, groups);
  if (i < params.count) { dstF32[i] = f32(srcU32[i]); }
}

/** Negative values saturate at 0. */
@compute @workgroup_size(WG)
fn i32ToU32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = elementIndex(gid, groups);
  if (i < params.count) { dstU32[i] = u32(max(srcI32[i], 0i)); }
}

/** Values above 2^31 - 1 saturate there. */
@compute @workgroup_size(WG)
fn u32ToI32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = elementIndex(gid, groups);
  if (i < params.count) { dstI32[i] = i32(min(srcU32[i], 2147483647u)); }
}
