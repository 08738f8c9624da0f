// 2-D max and average pooling over NCHW planes, global average pooling, and their derivative
// rules. One thread per output element (forward) or per input element (backward): the
// backward kernels gather from the windows that contain their element, so no two threads
// write the same place and no atomics are needed. The exception, maxPool2dBackwardTiled, has
// a thread per window where the windows tile the input, so each element still has one writer.
// Large counts fold the grid over x and y.

override WG: u32 = 256u;

struct PoolParams {
  count: u32,
  inHeight: u32,
  inWidth: u32,
  outHeight: u32,
  outWidth: u32,
  kernelHeight: u32,
  kernelWidth: u32,
  strideY: u32,
  strideX: u32,
  padY: u32,
  padX: u32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> pool: PoolParams;

fn index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}

// Index in x of the first maximum of window (oh, ow) of a plane, in row-major window order
// (a later equal value does not replace it). Taps in the padding are skipped, as PyTorch pads
// max pooling with -inf; padding <= kernel / 2 guarantees every window has a real tap.
fn firstMaxIndex(planeBase: u32, oh: u32, ow: u32) -> u32 {
  let top = i32(oh * pool.strideY) - i32(pool.padY);
  let left = i32(ow * pool.strideX) - i32(pool.padX);
  let rowStart = u32(max(top, 0));
  let rowEnd = u32(min(top + i32(pool.kernelHeight), i32(pool.inHeight)));
  let colStart = u32(max(left, 0));
  let colEnd = u32(min(left + i32(pool.kernelWidth), i32(pool.inWidth)));
  var best = planeBase + rowStart * pool.inWidth + colStart;
  var bestValue = x[best];
  for (var ih = rowStart; ih < rowEnd; ih++) {
    for (var iw = colStart; iw < colEnd; iw++) {
      let at = planeBase + ih * pool.inWidth + iw;
      let v = x[at];
      if (v > bestValue) {
        best = at;
        bestValue = v;
      }
    }
  }
  return best;
}

// The range of output rows (or columns) whose windows contain input row `i`:
// o * stride - pad <= i <= o * stride - pad + kernel - 1, clipped to [0, outSize).
fn coveringRange(i: u32, pad: u32, kernel: u32, stride: u32, outSize: u32) -> vec2<u32> {
  let last = i32(i + pad) - i32(kernel) + 1;
  let first = select(0u, (u32(last) + stride - 1u) / stride, last > 0);
  let end = min((i + pad) / stride + 1u, outSize);
  return vec2<u32>(first, end);
}

@compute @workgroup_size(WG)
fn maxPool2dForward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= pool.count) { return; }
  let outPlane = pool.outHeight * pool.outWidth;
  let r = i % outPlane;
  y[i] = x[firstMaxIndex((i / outPlane) * pool.inHeight * pool.inWidth, r / pool.outWidth, r % pool.outWidth)];
}

// Window sizes as pipeline constants, for the tiled kernels on CPU adapters below: the compiler
// then unrolls the window's loops (a 2x2 window is four loads and three compares).
override TILE_H: u32 = 2u;
override TILE_W: u32 = 2u;

// The first maximum of the window whose top-left element is `corner`, for windows that tile the
// input (stride = kernel = TILE_H x TILE_W, no padding): every tap is inside.
fn tileMaxIndex(corner: u32) -> u32 {
  var best = corner;
  var bestValue = x[corner];
  for (var kh = 0u; kh < TILE_H; kh++) {
    for (var kw = 0u; kw < TILE_W; kw++) {
      let at = corner + kh * pool.inWidth + kw;
      let v = x[at];
      if (v > bestValue) {
        best = at;
        bestValue = v;
      }
    }
  }
  return best;
}

// maxPool2dForward on CPU adapters, where the windows tile the input: one thread per output row
// (plane, oh), walking its columns. There the integer divisions that a thread per element needs
// to find its plane, row and column cost more than the window's loads (a CPU has no vector
// division: each lane divides alone), and so do the window's clipped, variable loops; a row pays
// two divisions for a whole row, and the window is unrolled. On a GPU a thread per element keeps
// neighbouring reads together.
@compute @workgroup_size(WG)
fn maxPool2dForwardTiledRows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let row = index(gid, groups);
  if (row >= pool.count) { return; }
  let oh = row % pool.outHeight;
  let rowCorner = (row / pool.outHeight) * pool.inHeight * pool.inWidth + oh * TILE_H * pool.inWidth;
  let out = row * pool.outWidth;
  for (var ow = 0u; ow < pool.outWidth; ow++) {
    y[out + ow] = x[tileMaxIndex(rowCorner + ow * TILE_W)];
  }
}

// dx[i] = sum of dy over the windows whose first maximum is element i.
@compute @workgroup_size(WG)
fn maxPool2dBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= pool.count) { return; }
  let inPlane = pool.inHeight * pool.inWidth;
  let plane = i / inPlane;
  let planeBase = plane * inPlane;
  let r = i % inPlane;
  let rows = coveringRange(r / pool.inWidth, pool.padY, pool.kernelHeight, pool.strideY, pool.outHeight);
  let cols = coveringRange(r % pool.inWidth, pool.padX, pool.kernelWidth, pool.strideX, pool.outWidth);
  let gradPlane = plane * pool.outHeight * pool.outWidth;
  var sum = 0.0;
  for (var oh = rows.x; oh < rows.y; oh++) {
    for (var ow = cols.x; ow < cols.y; ow++) {
      if (firstMaxIndex(planeBase, oh, ow) == i) { sum += dy[gradPlane + oh * pool.outWidth + ow]; }
    }
  }
  dx[i] = sum;
}

// The same rule when the windows tile the input exactly (stride = kernel, no padding, sizes
// divisible): one thread per window writes its dy at the window's first maximum and zero on
// the window's other elements, so every element of dx is written once, by the one window that
// holds it. A window's maximum is found once instead of once per element, with a quarter of
// the index arithmetic (2x2 windows), which is what costs on CPU adapters.
@compute @workgroup_size(WG)
fn maxPool2dBackwardTiled(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= pool.count) { return; }
  let outPlane = pool.outHeight * pool.outWidth;
  let r = i % outPlane;
  let oh = r / pool.outWidth;
  let ow = r % pool.outWidth;
  let planeBase = (i / outPlane) * pool.inHeight * pool.inWidth;
  let best = firstMaxIndex(planeBase, oh, ow);
  let g = dy[i];
  let corner = planeBase + oh * pool.kernelHeight * pool.inWidth + ow * pool.kernelWidth;
  for (var kh = 0u; kh < pool.kernelHeight; kh++) {
    for (var kw = 0u; kw < pool.kernelWidth; kw++) {
      let at = corner + kh * pool.inWidth + kw;
      dx[at] = select(0.0, g, at == best);
    }
  }
}

// maxPool2dBackwardTiled on CPU adapters: one thread per row of windows (plane, oh), for the
// reasons maxPool2dForwardTiledRows gives.
@compute @workgroup_size(WG)
fn maxPool2dBackwardTiledRows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let row = index(gid, groups);
  if (row >= pool.count) { return; }
  let oh = row % pool.outHeight;
  let rowCorner = (row / pool.outHeight) * pool.inHeight * pool.inWidth + oh * TILE_H * pool.inWidth;
  for (var ow = 0u; ow < pool.outWidth; ow++) {
    let corner = rowCorner + ow * TILE_W;
    let best = tileMaxIndex(corner);
    let g = dy[row * pool.outWidth + ow];
    for (var kh = 0u; kh < TILE_H; kh++) {
      for (var kw = 0u; kw < TILE_W; kw++) {
        let at = corner + kh * pool.inWidth + kw;
        dx[at] = select(0.0, g, at == best);
      }
    }
  }
}

// y = mean over the window with padded taps counted as zeros (count_include_pad = true).
@compute @workgroup_size(WG)
fn avgPool2dForward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= pool.count) { return; }
  let outPlane = pool.outHeight * pool.outWidth;
  let planeBase = (i / outPlane) * pool.inHeight * pool.inWidth;
  let r = i % outPlane;
  let top = i32((r / pool.outWidth) * pool.strideY) - i32(pool.padY);
  let left = i32((r % pool.outWidth) * pool.strideX) - i32(pool.padX);
  let rowEnd = u32(min(top + i32(pool.kernelHeight), i32(pool.inHeight)));
  let colEnd = u32(min(left + i32(pool.kernelWidth), i32(pool.inWidth)));
  var sum = 0.0;
  for (var ih = u32(max(top, 0)); ih < rowEnd; ih++) {
    for (var iw = u32(max(left, 0)); iw < colEnd; iw++) { sum += x[planeBase + ih * pool.inWidth + iw]; }
  }
  y[i] = sum / f32(pool.kernelHeight * pool.kernelWidth);
}

// dx[i] = sum of dy / (kH * kW) over the windows that contain element i.
@compute @workgroup_size(WG)
fn avgPool2dBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= pool.count) { return; }
  let inPlane = pool.inHeight * pool.inWidth;
  let r = i % inPlane;
  let rows = coveringRange(r / pool.inWidth, pool.padY, pool.kernelHeight, pool.strideY, pool.outHeight);
  let cols = coveringRange(r % pool.inWidth, pool.padX, pool.kernelWidth, pool.strideX, pool.outWidth);
  let gradPlane = (i / inPlane) * pool.outHeight * pool.outWidth;
  var sum = 0.0;
  for (var oh = rows.x; oh < rows.y; oh++) {
    for (var ow = cols.x; ow < cols.y; ow++) { sum += dy[gradPlane + oh * pool.outWidth + ow]; }
  }
  dx[i] = sum / f32(pool.kernelHeight * pool.kernelWidth);
}

// y[plane] = mean of the plane; count = N * C planes.
@compute @workgroup_size(WG)
fn globalAvgPoolForward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= pool.count) { return; }
  let inPlane = pool.inHeight * pool.inWidth;
  var sum = 0.0;
  for (var p = 0u; p < inPlane; p++) { sum += x[i * inPlane + p]; }
  y[i] = sum / f32(inPlane);
}

// dx[n, c, h, w] = dy[n, c] / (H * W); count = N * C * H * W.
@compute @workgroup_size(WG)
fn globalAvgPoolBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= pool.count) { return; }
  let inPlane = pool.inHeight * pool.inWidth;
  dx[i] = dy[i / inPlane] / f32(inPlane);
}
