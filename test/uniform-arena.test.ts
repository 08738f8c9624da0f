/**
 * The uniform arena packs every dispatch's uniforms by the struct layout reflected from the WGSL:
 * each scalar type's words land where the kernel reads them (an f32, an i32 and u32 vectors of
 * one struct, read back through a kernel that copies them out), and a missing, unknown,
 * mis-sized or out-of-range value is a KernelError naming it, before anything is encoded.
 */
import { describe, expect, it } from 'vitest';
import { KernelError } from '../src/node.js';
import { registerShaderSource } from '../src/gpu/shaderLibrary.js';
import { testDevice } from './helpers/device.js';

const device = await testDevice();

registerShaderSource(
  'test/uniformEcho',
  `struct Params {
  scale: f32,
  shift: i32,
  counts: vec2<u32>,
  corner: vec4<u32>,
}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
@compute @workgroup_size(1)
fn echo() {
  out[0] = params.scale;
  out[1] = f32(params.shift);
  out[2] = f32(params.counts.x);
  out[3] = f32(params.counts.y);
  out[4] = f32(params.corner.x);
  out[5] = f32(params.corner.w);
}
`,
);
const kernel = device.kernel({ file: 'test/uniformEcho', entry: 'echo' });
const good = { scale: -2.5, shift: -7, counts: [3, 4294967295], corner: [9, 0, 0, 65536] };

describe('uniform arena', () => {
  it('puts each value where the kernel reads it, for every scalar type, in every slot of a submit', async () => {
    const outs = [0, 1, 2].map(() => device.zeros([6]));
    // Three dispatches in one submit: three slots of the arena, each at its own offset.
    outs.forEach((out, i) => device.dispatch(kernel, { out }, { ...good, scale: good.scale * (i + 1) }, 1));
    for (const [i, out] of outs.entries()) expect(Array.from(await out.read())).toEqual([-2.5 * (i + 1), -7, 3, 4294967296, 9, 65536]);
    for (const out of outs) out.dispose();
  });

  it.each([
    ['a missing value', { scale: 1, shift: 0, counts: [1, 1] }, /test\/uniformEcho.*uniform 'corner' not provided/],
    ['an unknown name', { ...good, sclae: 1 }, /unknown uniform 'sclae'/],
    ['a vector of the wrong length', { ...good, counts: [1, 2, 3] }, /uniform 'counts' needs 2 value\(s\), got 3/],
    ['a scalar given as a list', { ...good, scale: [1, 2] }, /uniform 'scale' needs 1 value\(s\), got 2/],
    ['a negative u32', { ...good, corner: [0, 0, 0, -1] }, /uniform 'corner' = -1 is not a u32/],
    ['a fractional u32', { ...good, counts: [1.5, 0] }, /uniform 'counts' = 1\.5 is not a u32/],
    ['a u32 past 2^32 - 1', { ...good, counts: [2 ** 32, 0] }, /uniform 'counts' = 4294967296 is not a u32/],
  ])('refuses %s, naming it', (_, values, says) => {
    const out = device.zeros([6]);
    try {
      expect(() => device.dispatch(kernel, { out }, values as never, 1)).toThrow(KernelError);
      expect(() => device.dispatch(kernel, { out }, values as never, 1)).toThrow(says);
    } finally {
      out.dispose();
    }
  });
});

describe("a dispatch's bindings and grid", () => {
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  it.each([
    ['a storage binding left out', () => ({}), 1, /test\/uniformEcho.*storage binding 'out' not provided/],
    ['a binding the entry point does not use', (out: unknown) => ({ out, extra: out }), 1, /binding 'extra' is not used by this entry point \(uses: out\)/],
    ['an offset view', (out: { slice: (a: number, s: number, e: number) => unknown }) => ({ out: out.slice(0, 1, 6) }), 1, /binding 'out' is an offset view; make it contiguous first/],
    ['more workgroups along y than the limit', (out: unknown) => ({ out }), [1, max + 1, 1], new RegExp(`${max + 1} workgroups along y exceed maxComputeWorkgroupsPerDimension \\(${max}\\)`)],
    ['more workgroups along z than the limit', (out: unknown) => ({ out }), [1, 1, max + 1], new RegExp(`${max + 1} workgroups along z exceed maxComputeWorkgroupsPerDimension`)],
  ])('refuses %s, naming it', (_, bindings, grid, says) => {
    const out = device.zeros([6]);
    try {
      expect(() => device.dispatch(kernel, bindings(out as never) as never, good, grid as never)).toThrow(says);
    } finally {
      out.dispose();
    }
  });

  it("takes a binding from the bindings object's prototype, and refuses an own name the entry point does not use beside it", async () => {
    const out = device.zeros([6]);
    try {
      device.dispatch(kernel, Object.create({ out }), good, 1);
      expect(Array.from(await out.read())).toEqual([-2.5, -7, 3, 4294967296, 9, 65536]);
      expect(() => device.dispatch(kernel, Object.assign(Object.create({ out }), { extra: out }), good, 1)).toThrow(/binding 'extra' is not used by this entry point \(uses: out\)/);
    } finally {
      out.dispose();
    }
  });

  it('folds a count past the per-dimension limit over x and y, and dispatches nothing for an empty grid', async () => {
    const out = device.zeros([6]);
    const before = device.dispatchCount;
    device.dispatch(kernel, { out }, good, [0, 1, 1]);
    expect(device.dispatchCount).toBe(before);
    // A count of workgroups beyond the limit is folded, not refused (the kernel writes the same word each time).
    device.dispatch(kernel, { out }, good, max + 1);
    expect(device.dispatchCount).toBe(before + 1);
    expect(Array.from(await out.read())).toEqual([-2.5, -7, 3, 4294967296, 9, 65536]);
    out.dispose();
  });
});
