// Counter-based random fills: Philox4x32-10 (lib/philox.wgsl).
//
// The stream, identical to src/reference/random.ts (which documents it in full):
//   word w = component (w mod 4) of Philox4x32-10(key = (seedLo, seedHi),
//                                                 counter = (lo32(w / 4), hi32(w / 4), 0, 0)).
//   bits, uniform, bernoulli: element i <- word (offset + i).
//   normal: element i <- words (offset + 2i, offset + 2i + 1), Box-Muller, cosine branch.
//
// One thread per Philox block (4 words) of the stream, aligned to absolute block numbers, so each
// block is computed once however the offset falls; a thread writes the elements whose words lie
// in its block. `phase` = offset mod 4 is where the fill starts inside the first block.

override WG: u32 = 256u;

const TWO_POW_NEG_24: f32 = 5.9604644775390625e-8;

struct FillParams {
  // Elements to write.
  count: u32,
  seedLo: u32,
  seedHi: u32,
  // First block of the fill, floor(offset / 4), as a 64-bit number.
  blockLo: u32,
  blockHi: u32,
  // offset mod 4.
  phase: u32,
  // Bernoulli: 1 where (word >> 8) < threshold (threshold = ceil(p * 2^24)).
  threshold: u32,
  // Uniform: low + scale * u. Normal: mean + std * z.
  low: f32,
  scale: f32,
  mean: f32,
  stdDev: f32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> values: array<f32>;
@group(0) @binding(1) var<storage, read_write> bits: array<u32>;
@group(0) @binding(2) var<uniform> fill: FillParams;

fn threadIndex(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}

// The four words of block (first block + t), with the 64-bit carry.
fn blockWords(t: u32) -> vec4<u32> {
  let lo = fill.blockLo + t;
  let hi = fill.blockHi + select(0u, 1u, lo < t);
  return philox(vec4<u32>(lo, hi, 0u, 0u), vec2<u32>(fill.seedLo, fill.seedHi));
}

// Position, relative to the start of the fill, of component c of this thread's block.
// Negative positions (before the fill) come out as huge u32 values and fail `< count` tests.
fn relativeWord(t: u32, c: u32) -> u32 {
  return 4u * t + c - fill.phase;
}

fn unitFloat(word: u32) -> f32 {
  return f32(word >> 8u) * TWO_POW_NEG_24;
}

@compute @workgroup_size(WG)
fn randomBits(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = threadIndex(gid, groups);
  if (4u * t >= fill.count + fill.phase) { return; }
  let words = blockWords(t);
  for (var c = 0u; c < 4u; c++) {
    let i = relativeWord(t, c);
    if (i < fill.count) { bits[i] = words[c]; }
  }
}

@compute @workgroup_size(WG)
fn uniformFill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = threadIndex(gid, groups);
  if (4u * t >= fill.count + fill.phase) { return; }
  let words = blockWords(t);
  for (var c = 0u; c < 4u; c++) {
    let i = relativeWord(t, c);
    if (i < fill.count) { values[i] = fill.low + fill.scale * unitFloat(words[c]); }
  }
}

// u < p  <=>  (word >> 8) < ceil(p * 2^24) on the 2^-24 grid: an integer test, exact for any p.
@compute @workgroup_size(WG)
fn bernoulliFill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = threadIndex(gid, groups);
  if (4u * t >= fill.count + fill.phase) { return; }
  let words = blockWords(t);
  for (var c = 0u; c < 4u; c++) {
    let i = relativeWord(t, c);
    if (i < fill.count) { values[i] = select(0.0, 1.0, (words[c] >> 8u) < fill.threshold); }
  }
}

@compute @workgroup_size(WG)
fn bernoulliMask(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = threadIndex(gid, groups);
  if (4u * t >= fill.count + fill.phase) { return; }
  let words = blockWords(t);
  for (var c = 0u; c < 4u; c++) {
    let i = relativeWord(t, c);
    if (i < fill.count) { bits[i] = select(0u, 1u, (words[c] >> 8u) < fill.threshold); }
  }
}

// Box-Muller, cosine branch: z = sqrt(-2 ln u1) cos(2 pi u2), u1 = ((w0 >> 8) + 1) 2^-24 in
// (0, 1] (so the log is finite) and u2 = (w1 >> 8) 2^-24 in [0, 1).
//
// WGSL's builtin log and cos are not used: the spec lets log err by 2^-21 absolute on [0.5, 2]
// and cos by 2^-11 absolute on [-pi, pi], and near u1 = 1 (where ln u1 ~ -1e-7) lavapipe's log
// put z off by hundreds of ulp. Both are evaluated below from +, -, *, / and exact reductions
// instead, so every adapter lands within a few ulp of the exact value (test/random.test.ts).

const SQRT_2: f32 = 1.41421356237309505;
// ln 2 split so that e * LN2_HI is exact for |e| < 2^8 (fdlibm's e_logf.c constants).
const LN2_HI: f32 = 6.9313812256e-01;
const LN2_LO: f32 = 9.0580006145e-06;
const TWO_PI: f32 = 6.28318530717958648;

// ln(x) for normal positive x. x = f 2^e exactly with f in [sqrt(1/2), sqrt(2)], and
// ln f = 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ...), s = (f - 1) / (f + 1), |s| <= 0.172: six
// terms leave a truncation error below 1e-10 relative. f - 1 is exact (Sterbenz), so ln x keeps
// its relative accuracy next to x = 1.
fn logPositive(x: f32) -> f32 {
  let bits = bitcast<u32>(x);
  var e = i32(bits >> 23u) - 127;
  var f = bitcast<f32>((bits & 0x007FFFFFu) | 0x3F800000u);
  if (f > SQRT_2) {
    f = 0.5 * f;
    e = e + 1;
  }
  let s = (f - 1.0) / (f + 1.0);
  let z = s * s;
  let series = 1.0 + z * (1.0 / 3.0 + z * (1.0 / 5.0 + z * (1.0 / 7.0 + z * (1.0 / 9.0 + z * (1.0 / 11.0)))));
  let k = f32(e);
  return k * LN2_HI + (k * LN2_LO + 2.0 * s * series);
}

// cos(2 pi u) for u in [0, 1) on the 2^-24 grid. The quadrant is split off in turns, where it is
// exact (x = u - q/4 needs no rounding), leaving an angle in [-pi/4, pi/4] for short Taylor
// polynomials (truncation below 3e-9 relative).
fn cosTurns(u: f32) -> f32 {
  let q = round(4.0 * u);
  let x = u - 0.25 * q;
  let a = TWO_PI * x;
  let a2 = a * a;
  let c = 1.0 + a2 * (-1.0 / 2.0 + a2 * (1.0 / 24.0 + a2 * (-1.0 / 720.0 + a2 * (1.0 / 40320.0 + a2 * (-1.0 / 3628800.0)))));
  let s = a * (1.0 + a2 * (-1.0 / 6.0 + a2 * (1.0 / 120.0 + a2 * (-1.0 / 5040.0 + a2 * (1.0 / 362880.0)))));
  // 2 pi u = a + q pi / 2.
  switch (u32(q) & 3u) {
    case 0u: { return c; }
    case 1u: { return -s; }
    case 2u: { return -c; }
    default: { return s; }
  }
}

fn boxMuller(w0: u32, w1: u32) -> f32 {
  let u1 = f32((w0 >> 8u) + 1u) * TWO_POW_NEG_24;
  let u2 = unitFloat(w1);
  return sqrt(-2.0 * logPositive(u1)) * cosTurns(u2);
}

// Element e takes relative words 2e and 2e + 1. With an odd phase a pair can start in the last
// component of this block and end in the first word of the next, which is then computed too.
@compute @workgroup_size(WG)
fn normalFill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = threadIndex(gid, groups);
  if (4u * t >= 2u * fill.count + fill.phase) { return; }
  let words = blockWords(t);
  for (var c = 0u; c < 4u; c++) {
    let r = relativeWord(t, c);
    if ((r & 1u) != 0u || r / 2u >= fill.count) { continue; }
    var second: u32;
    if (c < 3u) {
      second = words[c + 1u];
    } else {
      second = blockWords(t + 1u).x;
    }
    values[r / 2u] = fill.mean + fill.stdDev * boxMuller(words[c], second);
  }
}

//#include lib/philox
