// Elementwise arithmetic and activations, with their derivative rules.
// One thread per element; large counts fold the grid over x and y (see foldWorkgroups).

override WG: u32 = 256u;
// Binary op, fixed at pipeline creation: 0 add (a + alpha * b), 1 mul, 2 div, 3 max, 4 min.
override BINARY_OP: u32 = 0u;
// Unary op: 0 affine (alpha * x + beta), 1 relu, 2 gelu (exact, erf form), 3 exp, 4 log,
// 5 sqrt, 6 abs, 7 square, 8 tanh, 9 leaky relu (slope alpha).
override UNARY_OP: u32 = 0u;

struct BinaryParams {
  count: u32,
  alpha: f32,
  // Axes binaryBroadcast walks: the last `rank` of the 8 (the host merges what it can).
  rank: u32,
  _pad1: u32,
  // Output shape and operand strides over 8 axes (broadcast axes have stride 0).
  shapeLo: vec4<u32>,
  shapeHi: vec4<u32>,
  aStridesLo: vec4<u32>,
  aStridesHi: vec4<u32>,
  bStridesLo: vec4<u32>,
  bStridesHi: vec4<u32>,
}

struct UnaryParams {
  count: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> binary: BinaryParams;
@group(0) @binding(4) var<uniform> unary: UnaryParams;
// The same buffers as a, b and out, seen as vec4s (binaryRows4; the host binds each under both names).
@group(0) @binding(5) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> out4: array<vec4<f32>>;

fn index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}

fn applyBinary(x: f32, y: f32, alpha: f32) -> f32 {
  switch BINARY_OP {
    case 0u: { return x + alpha * y; }
    case 1u: { return x * y; }
    case 2u: { return x / y; }
    case 3u: { return max(x, y); }
    default: { return min(x, y); }
  }
}

// applyBinary on four lanes (WGSL has no generic functions; a scalar op through this one would
// cost CPU adapters four lanes' work).
fn applyBinary4(x: vec4<f32>, y: vec4<f32>, alpha: f32) -> vec4<f32> {
  switch BINARY_OP {
    case 0u: { return x + alpha * y; }
    case 1u: { return x * y; }
    case 2u: { return x / y; }
    case 3u: { return max(x, y); }
    default: { return min(x, y); }
  }
}

//#include lib/normal

fn applyUnary(x: f32) -> f32 {
  switch UNARY_OP {
    case 0u: { return unary.alpha * x + unary.beta; }
    case 1u: { return max(x, 0.0); }
    case 2u: { return gelu(x); }
    case 3u: { return exp(x); }
    case 4u: { return log(x); }
    case 5u: { return sqrt(x); }
    case 6u: { return abs(x); }
    case 7u: { return x * x; }
    // LeakyReLU with negative slope alpha (PredSim's blocks: 0.01, as PyTorch's default).
    case 9u: { return select(unary.alpha * x, x, x > 0.0); }
    // Clamped first: some drivers build tanh from exponentials that overflow to NaN for large
    // |x|, and tanh(10) is already 1 in f32.
    default: { return tanh(clamp(x, -10.0, 10.0)); }
  }
}

fn axisValue(lo: vec4<u32>, hi: vec4<u32>, axis: u32) -> u32 {
  if (axis < 4u) { return lo[axis]; }
  return hi[axis - 4u];
}

// out = op(a, b) for operands of the output's shape (no index arithmetic).
@compute @workgroup_size(WG)
fn binarySame(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= binary.count) { return; }
  out[i] = applyBinary(a[i], b[i], binary.alpha);
}

// out = op(a, b) with NumPy broadcasting, through per-operand strides.
@compute @workgroup_size(WG)
fn binaryBroadcast(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= binary.count) { return; }
  var rest = i;
  var ia = 0u;
  var ib = 0u;
  // An integer division and remainder per axis but the outermost: on CPU adapters they
  // dominate the op, hence the merged axes (a bias over [N, T, C] is a walk over 2 axes, not 8)
  // and no division for the outermost axis, whose coordinate is what is left of the index
  // (i < count, the product of the dims).
  if (binary.rank > 0u) { // always, from binary(); rank 0 would underflow the loop bound
    for (var step = 0u; step + 1u < binary.rank; step++) {
      let axis = 7u - step;
      let dim = axisValue(binary.shapeLo, binary.shapeHi, axis);
      let coord = rest % dim;
      rest = rest / dim;
      ia += coord * axisValue(binary.aStridesLo, binary.aStridesHi, axis);
      ib += coord * axisValue(binary.bStridesLo, binary.bStridesHi, axis);
    }
    let outer = 8u - binary.rank;
    ia += rest * axisValue(binary.aStridesLo, binary.aStridesHi, outer);
    ib += rest * axisValue(binary.bStridesLo, binary.bStridesHi, outer);
  }
  out[i] = applyBinary(a[ia], b[ib], binary.alpha);
}

// binaryRows' rows: 0 for wide ones (a workgroup row of column blocks per output row), else
// log2 of the threads per row, a power of two at least the row's length: a workgroup then covers
// WG >> ROW_THREADS_LOG2 short rows, so that few of its threads sit past a row's end.
override ROW_THREADS_LOG2: u32 = 0u;

// A binaryRows thread's place: (its column, or column vec4, within the row; its row), from the
// workgroup and thread ids alone. Wide rows: a workgroup row of column blocks per output row,
// the rows folded over y and z. Short ones: a workgroup holds WG >> ROW_THREADS_LOG2 rows.
fn rowSlot(lid: u32, wid: vec3<u32>, groups: vec3<u32>) -> vec2<u32> {
  let group = wid.y + wid.z * groups.y;
  if (ROW_THREADS_LOG2 > 0u) {
    return vec2<u32>(lid & ((1u << ROW_THREADS_LOG2) - 1u), group * (WG >> ROW_THREADS_LOG2) + (lid >> ROW_THREADS_LOG2));
  }
  return vec2<u32>(wid.x * WG + lid, group);
}

// out = op(a, b) over two merged axes [rows, cols] (the host's choice when broadcasting leaves
// two: a bias row over a batch, a column of row statistics over a matrix): each operand's index
// is row * its row stride + col * its col stride, read from axes 6 and 7 of the params. A thread
// per element, placed by rowSlot, so no element pays the division and remainder of
// binaryBroadcast, which on CPU adapters cost more than the op itself.
@compute @workgroup_size(WG)
fn binaryRows(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let rows = binary.shapeHi.z;
  let cols = binary.shapeHi.w;
  let slot = rowSlot(lid, wid, groups);
  let col = slot.x;
  let row = slot.y;
  if (col >= cols || row >= rows) { return; }
  let ia = row * binary.aStridesHi.z + col * binary.aStridesHi.w;
  let ib = row * binary.bStridesHi.z + col * binary.bStridesHi.w;
  out[row * cols + col] = applyBinary(a[ia], b[ib], binary.alpha);
}

// binaryRows four columns at a time, for rows whose length is a multiple of 4: an operand dense
// along the row (column stride 1) is read as vec4s, one constant along it (column stride 0, a
// column broadcast) as a scalar repeated. On CPU adapters a load costs about the same per lane
// whatever its width, so a vec4 per lane is a quarter of the loads and stores; ROW_THREADS_LOG2
// counts threads per row here too, each owning a vec4.
@compute @workgroup_size(WG)
fn binaryRows4(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let rows = binary.shapeHi.z;
  let quads = binary.shapeHi.w / 4u;
  let slot = rowSlot(lid, wid, groups);
  let quad = slot.x;
  let row = slot.y;
  if (quad >= quads || row >= rows) { return; }
  // A dense or row-broadcast operand's row starts at a multiple of 4 (its row stride is the
  // row's length or 0); a column-broadcast one's row is one value.
  let rowA = row * binary.aStridesHi.z;
  let rowB = row * binary.bStridesHi.z;
  var x: vec4<f32>;
  if (binary.aStridesHi.w == 1u) { x = a4[rowA / 4u + quad]; } else { x = vec4<f32>(a[rowA]); }
  var y: vec4<f32>;
  if (binary.bStridesHi.w == 1u) { y = b4[rowB / 4u + quad]; } else { y = vec4<f32>(b[rowB]); }
  out4[row * quads + quad] = applyBinary4(x, y, binary.alpha);
}

// out = op(out, b) in place, b of the same shape (gradient accumulation, residual adds).
@compute @workgroup_size(WG)
fn binaryInPlace(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= binary.count) { return; }
  out[i] = applyBinary(out[i], b[i], binary.alpha);
}

@compute @workgroup_size(WG)
fn unaryMap(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= unary.count) { return; }
  out[i] = applyUnary(a[i]);
}

// Derivative rules, each beside its forward rule above. a = upstream gradient dy, b = input x.
// relu'(x) = 1 for x > 0, else 0 (0 at x = 0, as PyTorch).
@compute @workgroup_size(WG)
fn reluBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= unary.count) { return; }
  out[i] = select(0.0, a[i], b[i] > 0.0);
}

// leaky'(x) = 1 for x > 0, else the slope alpha (alpha at x = 0, as PyTorch).
@compute @workgroup_size(WG)
fn leakyReluBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= unary.count) { return; }
  out[i] = select(unary.alpha * a[i], a[i], b[i] > 0.0);
}

// tanh'(x) = 1 - tanh(x)^2: here b is the forward OUTPUT y = tanh(x), which is all it needs.
@compute @workgroup_size(WG)
fn tanhBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= unary.count) { return; }
  out[i] = a[i] * (1.0 - b[i] * b[i]);
}

// gelu(x) = x * Phi(x)  =>  gelu'(x) = Phi(x) + x * phi(x) (shaders/lib/normal.wgsl).
@compute @workgroup_size(WG)
fn geluBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= unary.count) { return; }
  out[i] = a[i] * geluDerivative(b[i]);
}
