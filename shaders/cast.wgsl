// Conversions between f32 and f16 storage (f16 tensors exist only where the adapter has
// 'shader-f16'; arithmetic stays in f32).
enable f16;

struct CastParams {
  count: u32,
}

@group(0) @binding(0) var<storage, read> srcF32: array<f32>;
@group(0) @binding(1) var<storage, read_write> dstF16: array<f16>;
@group(0) @binding(2) var<storage, read> srcF16: array<f16>;
@group(0) @binding(3) var<storage, read_write> dstF32: array<f32>;
@group(0) @binding(4) var<uniform> params: CastParams;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn f32ToF16(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * WG;
  if (i < params.count) { dstF16[i] = f16(srcF32[i]); }
}

@compute @workgroup_size(WG)
fn f16ToF32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * WG;
  if (i < params.count) { dstF32[i] = f32(srcF16[i]); }
}
