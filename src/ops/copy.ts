/**
 * Layout ops: contiguous copies of views, writes into views, concat, and casts between dtypes.
 * Views themselves (reshape, transpose, slice) are free and live on Tensor; the strided copy
 * itself is the runtime's (src/gpu/strided.ts), re-exported here as an op.
 */
import type { DType } from '../gpu/dtype.js';
import { ShapeError } from '../gpu/errors.js';
import type { MemoryCategory } from '../gpu/bufferPool.js';
import { normalizeAxis, type Shape } from '../gpu/shape.js';
import { copy, copyInto, withDense } from '../gpu/strided.js';
import type { Tensor } from '../gpu/tensor.js';
import { columnWorkgroupSize, elementWorkgroups, rowWorkgroupSize } from '../gpu/workgroups.js';
import { checkValue, requireSameDevice, requireTensor, requireTensorList } from './checks.js';

export { collapseAxes, contiguous, copy, copyInto } from '../gpu/strided.js';

/** Joins tensors along an axis. All other dimensions and the dtype must agree. */
export function concat(tensors: readonly Tensor[], axis = 0, category: MemoryCategory = 'activation'): Tensor {
  requireTensorList('concat', 'tensors', tensors);
  if (tensors.length === 0) throw new ShapeError('concat: no tensors given');
  const device = requireSameDevice('concat', Object.fromEntries(tensors.map((t, i) => [`tensors[${i}]`, t])));
  checkValue('concat', 'axis', axis, 'integer');
  checkValue('concat', 'category', category, 'category');
  const first = tensors[0]!;
  const a = normalizeAxis(axis, first.rank, 'concat');
  for (const t of tensors) {
    const same = t.rank === first.rank && t.dtype === first.dtype && t.shape.every((d, i) => i === a || d === first.shape[i]);
    if (!same) {
      throw new ShapeError(
        `concat: along axis ${a}, every tensor must match ${first.describe()} except on that axis; got ${t.describe()}`,
      );
    }
  }
  const shape: number[] = [...first.shape];
  shape[a] = tensors.reduce((n, t) => n + t.shape[a]!, 0);
  const out = device.empty(shape, first.dtype, category);
  let start = 0;
  for (const t of tensors) {
    const end = start + t.shape[a]!;
    const target = out.slice(a, start, end);
    copyInto(target, t);
    target.dispose();
    start = end;
  }
  return out;
}

/** The dtypes `cast` converts between (every pair). */
export const CAST_DTYPES: readonly DType[] = ['f32', 'f16', 'i32', 'u32'];

/** The kernel of each direct conversion: the file, the entry, and its two bindings. */
const CAST_KERNELS: Readonly<Record<string, { file: 'cast' | 'castInt'; src: string; dst: string }>> = {
  'f32>f16': { file: 'cast', src: 'srcF32', dst: 'dstF16' },
  'f16>f32': { file: 'cast', src: 'srcF16', dst: 'dstF32' },
  'f32>i32': { file: 'castInt', src: 'srcF32', dst: 'dstI32' },
  'f32>u32': { file: 'castInt', src: 'srcF32', dst: 'dstU32' },
  'i32>f32': { file: 'castInt', src: 'srcI32', dst: 'dstF32' },
  'u32>f32': { file: 'castInt', src: 'srcU32', dst: 'dstF32' },
  'i32>u32': { file: 'castInt', src: 'srcI32', dst: 'dstU32' },
  'u32>i32': { file: 'castInt', src: 'srcU32', dst: 'dstI32' },
};

/**
 * The values of `t` as another dtype, in a new dense tensor (a copy when `t` already has it).
 * A value conversion, never a reinterpretation of the bits:
 *  - f32 -> f16 rounds to the nearest f16 (ties to even; beyond the f16 range, +-Infinity), as an
 *    f16 upload does; f16 -> f32 is exact.
 *  - f32 or f16 -> i32 or u32 truncates toward zero, as WGSL's i32(f32), C's (int)x and PyTorch's
 *    .to(torch.int32) do (1.5 -> 1, -2.7 -> -2), and saturates at the integer's range instead of
 *    wrapping (1e10 -> 2147483647 for i32; any negative value -> 0 for u32); NaN becomes 0.
 *  - i32 or u32 -> f32 is exact up to 2^24 in magnitude; a larger integer becomes one of its two
 *    neighbouring f32 (WGSL leaves the rounding to the implementation). -> f16 goes through f32.
 *  - i32 <-> u32 saturates too: a negative i32 becomes 0, a u32 above 2^31 - 1 becomes 2147483647.
 * f16 needs an adapter with 'shader-f16'. A dtype outside f32, f16, i32 and u32 is a TypeError
 * naming the supported ones. src/reference/cast.ts is the CPU reference of these rules.
 */
export function cast(t: Tensor, dtype: DType, category: MemoryCategory = 'activation'): Tensor {
  requireTensor('cast', 'input', t);
  checkValue('cast', 'dtype', dtype, CAST_DTYPES);
  checkValue('cast', 'category', category, 'category');
  if (t.dtype === dtype) return copy(t, category);
  const direct = CAST_KERNELS[`${t.dtype}>${dtype}`];
  if (direct) return withDense([t], (src) => castKernel(src, dtype, category));
  // f16 <-> an integer dtype: through f32 (f16 -> f32 is exact; f32 -> f16 is the one rounding).
  const wide = cast(t, 'f32', 'scratch');
  try {
    return castKernel(wide, dtype, category);
  } finally {
    wide.dispose();
  }
}

/** One conversion kernel over a dense tensor. */
function castKernel(src: Tensor, dtype: DType, category: MemoryCategory): Tensor {
  const { file, src: srcName, dst: dstName } = CAST_KERNELS[`${src.dtype}>${dtype}`]!;
  const device = src.device;
  const out = device.empty(src.shape as Shape, dtype, category);
  if (src.size === 0) return out;
  const wg = columnWorkgroupSize(device);
  const kernel = device.kernel({ file, entry: `${src.dtype}To${dtype.toUpperCase()}`, overrides: { WG: wg } });
  device.dispatch(kernel, { [srcName]: src, [dstName]: out }, { count: src.size }, elementWorkgroups(src.size, wg));
  return out;
}

/**
 * Rows of `table` [R, C] (f32) picked by `index` [N] (i32): out [N, C], out[r] = table[index[r]].
 * An index outside [0, R) gives a row of NaN (caught by the non-finite guard, never another
 * row). DRTP's learning signal, the one-hot target times a fixed matrix, is this gather.
 */
export function gatherRows(table: Tensor, index: Tensor, category: MemoryCategory = 'activation'): Tensor {
  const op = 'gatherRows';
  const device = requireSameDevice(op, { table, index });
  checkValue(op, 'category', category, 'category');
  if (table.dtype !== 'f32' || table.rank !== 2) throw new ShapeError(`${op}: table ${table.describe()} must be a matrix [rows, cols] of f32`);
  if (index.dtype !== 'i32' || index.rank !== 1) throw new ShapeError(`${op}: index ${index.describe()} must be a vector [n] of i32 row indices`);
  const [tableRows, cols] = table.shape as [number, number];
  const out = device.empty([index.shape[0]!, cols], 'f32', category);
  if (out.size === 0) return out;
  withDense([table, index], (t, i) => {
    const wg = rowWorkgroupSize(device, cols);
    const kernel = device.kernel({ file: 'gather', entry: 'gatherRows', overrides: { WG: wg } });
    const rows = index.shape[0]!;
    device.dispatch(kernel, { table: t, index: i, out }, { rows, cols, tableRows, nanBits: 0x7fc00000 }, rows);
  });
  return out;
}

