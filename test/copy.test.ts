import { describe, expect, it } from 'vitest';
import { ops, reference, ShapeError } from '../src/index.js';
import { testDevice } from './helpers/device.js';
import { expectClose, uniform } from './helpers/numeric.js';
import { expectOp, runOp } from './helpers/ops.js';

const device = await testDevice();

describe('views and copies', () => {
  it.each([
    [[1, 1], [1, 0]],
    [[3, 17], [1, 0]],
    [[2, 63, 5], [2, 0, 1]],
    [[4, 3, 65, 2], [3, 1, 0, 2]],
    // The last axis stays: whole runs per thread on CPU adapters (the attention heads' permute).
    [[3, 5, 7, 17], [0, 2, 1, 3]],
    [[2, 1, 3, 4, 65], [2, 1, 0, 3, 4]],
  ])('permute %j by %j matches the reference', async (shape, axes) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = uniform(n, 7);
    const x = device.tensor(data, shape);
    const view = x.permute(axes);
    const dense = ops.contiguous(view);
    expect(dense.isContiguous).toBe(true);
    expect(Array.from(await dense.read())).toEqual(Array.from(reference.permute(data, shape, axes)).map(Math.fround));
    for (const t of [x, view, dense]) t.dispose();
  });

  it('collapses axes that both sides walk contiguously, and drops axes of size 1', () => {
    // A dense [2, 3, 4] into a dense [2, 3, 4]: one run of 24.
    expect(ops.collapseAxes([2, 3, 4], [12, 4, 1], [12, 4, 1])).toEqual({ shape: [24], src: [1], dst: [1] });
    // The heads' permute [B, T, H, D] -> [B, H, T, D] keeps B, T, H and D apart (T and H swap).
    expect(ops.collapseAxes([2, 4, 5, 8], [160, 8, 32, 1], [160, 40, 8, 1])).toEqual({ shape: [2, 4, 5, 8], src: [160, 8, 32, 1], dst: [160, 40, 8, 1] });
    // A slice of the middle axis: the leading axes merge, the sliced run stays.
    expect(ops.collapseAxes([1, 3, 1, 6], [99, 18, 5, 1], [18, 6, 6, 1])).toEqual({ shape: [3, 6], src: [18, 1], dst: [6, 1] });
    expect(ops.collapseAxes([1, 1], [0, 0], [0, 0])).toEqual({ shape: [1], src: [0], dst: [0] });
  });

  it('copies runs of a sliced inner axis and f16 permutes exactly', async () => {
    const shape = [5, 7, 9];
    const data = uniform(315, 3);
    const x = device.tensor(data, shape);
    const s = ops.contiguous(x.slice(1, 2, 6));
    expectClose(await s.read(), reference.slice(data, shape, 1, 2, 6), { rtol: 0, atol: 0 });
    if (device.hasF16) {
      const h = ops.cast(x, 'f16');
      const p = ops.contiguous(h.permute([1, 0, 2]));
      const back = ops.cast(p, 'f32');
      const want = reference.permute(Array.from(await ops.cast(h, 'f32').read()), shape, [1, 0, 2]);
      expect(Array.from(await back.read())).toEqual(Array.from(want));
      for (const t of [h, p, back]) t.dispose();
    }
    for (const t of [x, s]) t.dispose();
  });

  it('slices along any axis and reads the slice', async () => {
    const shape = [5, 7, 3];
    const data = uniform(105, 1);
    const x = device.tensor(data, shape);
    for (const [axis, start, end] of [[0, 1, 4], [1, 2, 7], [2, 0, 1]] as const) {
      const s = x.slice(axis, start, end);
      expectClose(await s.read(), reference.slice(data, shape, axis, start, end), { rtol: 0, atol: 0 });
      s.dispose();
    }
    expect(() => x.slice(1, 3, 9)).toThrow(/outside axis 1 of size 7/);
    x.dispose();
  });

  it('concatenates along an axis, including views', async () => {
    const a = uniform(2 * 3 * 4, 2);
    const b = uniform(2 * 5 * 4, 3);
    const operands = [[a, [2, 3, 4]], [b, [2, 5, 4]]] as const;
    const expected = reference.concat([{ data: a, shape: [2, 3, 4] }, { data: b, shape: [2, 5, 4] }], 1);
    const out = await expectOp(device, (ta, tb) => ops.concat([ta, tb], 1), operands, expected, { rtol: 0, atol: 0 });
    expect(out.shape).toEqual([2, 8, 4]);
    await expect(runOp(device, (ta, tb) => ops.concat([ta, tb], 0), operands)).rejects.toThrow(ShapeError);
  });

  it.each([
    // [source shape, target shape]: repeated runs (copyRuns on CPU), a new leading axis, short runs (copyStrided).
    [[3, 1, 17], [2, 3, 5, 17]],
    [[1, 63], [65, 63]],
    [[4, 1], [4, 3]],
    [[1], [127]],
  ])('expand %j to %j repeats size-1 axes at stride 0, and copies as broadcasting does', async (shape, target) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = uniform(n, 5);
    const x = device.tensor(data, shape);
    const view = x.expand(target);
    expect(view.shape).toEqual(target);
    const dense = ops.contiguous(view);
    const lead = target.length - shape.length;
    const want: number[] = [];
    const total = target.reduce((a, b) => a * b, 1);
    for (let i = 0; i < total; i++) {
      // Row-major coordinates of i in `target`, mapped to the source (coordinate 0 on size-1 axes).
      let rest = i;
      let source = 0;
      let stride = 1;
      for (let axis = target.length - 1; axis >= lead; axis--) {
        const coord = rest % target[axis]!;
        rest = Math.floor(rest / target[axis]!);
        const size = shape[axis - lead]!;
        source += (size === 1 ? 0 : coord) * stride;
        stride *= size;
      }
      want.push(Math.fround(data[source]!));
    }
    expect(Array.from(await dense.read())).toEqual(want);
    for (const t of [x, view, dense]) t.dispose();
  });

  it('expand refuses axes that neither match nor are 1, and a copy into an expanded view', () => {
    const x = device.zeros([3, 2]);
    expect(() => x.expand([3, 4])).toThrow(/expand: cannot broadcast \[3, 2\] f32 to \[3, 4\]/);
    expect(() => x.expand([2])).toThrow(/cannot broadcast/);
    const row = device.zeros([1, 2]);
    const repeated = row.expand([3, 2]);
    expect(() => ops.copyInto(repeated, x)).toThrow(/copyInto: destination .* repeats elements/);
    for (const t of [x, row, repeated]) t.dispose();
  });

  it('reshapes dense tensors and refuses strided ones', () => {
    const x = device.zeros([4, 6]);
    const r = x.reshape([2, -1, 3]);
    expect(r.shape).toEqual([2, 4, 3]);
    const t = x.transpose();
    expect(() => t.reshape([24])).toThrow(/strided view; call contiguous/);
    expect(() => x.reshape([5, 5])).toThrow(/cannot view \[4, 6\]/);
    for (const v of [x, r, t]) v.dispose();
  });

  it('moves i32 and u32 data unchanged', async () => {
    const labels = device.tensor([3, -1, 7, 2147483647], [2, 2], 'i32');
    const t = ops.contiguous(labels.transpose());
    expect(Array.from(await t.read())).toEqual([3, 7, -1, 2147483647]);
    const u = device.tensor([0, 4294967295, 5], [3], 'u32');
    expect(Array.from(await u.read())).toEqual([0, 4294967295, 5]);
    for (const v of [labels, t, u]) v.dispose();
  });
});

describe.runIf(device.hasF16)('f16 storage', () => {
  it('round-trips through f16 with f16 rounding (relative error <= 2^-11)', async () => {
    const data = uniform(129, 4, -100, 100);
    const x = device.tensor(data, [129]);
    const h = ops.cast(x, 'f16');
    expect(h.dtype).toBe('f16');
    expect(h.bytes).toBe(258);
    const back = ops.cast(h, 'f32');
    expectClose(await back.read(), data, { rtol: 2 ** -11, atol: 0 }, 'f32 -> f16 -> f32');
    const direct = device.tensor(data, [129], 'f16');
    expectClose(await direct.read(), await back.read(), { rtol: 0, atol: 0 }, 'host f16 rounding vs GPU f16 rounding');
    const view = ops.contiguous(device.tensor(data.slice(0, 12), [3, 4], 'f16').transpose());
    expectClose(await view.read(), reference.permute(await direct.read().then((v) => v.slice(0, 12)), [3, 4], [1, 0]), { rtol: 0, atol: 0 }, 'f16 transpose');
    for (const t of [x, h, back, direct, view]) t.dispose();
  });
});

describe('gatherRows', () => {
  it.each([
    ['one row of one column', 1, 1, [0]],
    ['ten classes, 33 features, labels repeated and out of order', 10, 33, [3, 0, 9, 3, 3, 7]],
    ['a batch larger than a workgroup', 4, 5, Array.from({ length: 301 }, (_, i) => (i * 7) % 4)],
  ])('%s: picks each index\'s row, as the reference does', async (_, rows, cols, index) => {
    const data = uniform(rows * cols, 3);
    const table = device.tensor(data, [rows, cols]);
    const idx = device.tensor(index, [index.length], 'i32');
    const out = ops.gatherRows(table, idx);
    expect(out.shape).toEqual([index.length, cols]);
    expect(Array.from(await out.read())).toEqual(Array.from(reference.gatherRows(data, rows, cols, index)).map(Math.fround));
    for (const t of [table, idx, out]) t.dispose();
  });

  it('gives a row of NaN for an index outside the table (never another row), and refuses operands of the wrong kind', async () => {
    const table = device.tensor([1, 2, 3, 4], [2, 2]);
    const idx = device.tensor([1, 2, -1, 0], [4], 'i32');
    const out = ops.gatherRows(table, idx);
    const values = Array.from(await out.read());
    expect(values.slice(0, 2)).toEqual([3, 4]);
    expect(values.slice(2, 6).every(Number.isNaN)).toBe(true);
    expect(values.slice(6)).toEqual([1, 2]);
    expect(() => ops.gatherRows(table, table)).toThrow(/^gatherRows: index \[2, 2\] f32 must be a vector \[n\] of i32 row indices/);
    expect(() => ops.gatherRows(idx, idx)).toThrow(/^gatherRows: table .* must be a matrix \[rows, cols\] of f32/);
    for (const t of [table, idx, out]) t.dispose();
  });
});
