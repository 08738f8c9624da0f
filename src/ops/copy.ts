/**
 * Layout ops: contiguous copies of views, writes into views, concat and f32/f16 casts.
 * Views themselves (reshape, transpose, slice) are free and live on Tensor.
 */
import type { DType } from '../gpu/dtype.js';
import { ShapeError } from '../gpu/errors.js';
import type { MemoryCategory } from '../gpu/pool.js';
import { formatShape, normalizeAxis, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { columnWorkgroupSize, elementWorkgroups, isSoftwareAdapter, requireDtype, requireSameDevice, withDense } from './util.js';

const MAX_RANK = 8;

function pad8(values: readonly number[], fill: number): number[] {
  if (values.length > MAX_RANK) throw new ShapeError(`copy: rank ${values.length} exceeds the supported ${MAX_RANK}`);
  return [...new Array<number>(MAX_RANK - values.length).fill(fill), ...values];
}

/**
 * The same element walk over fewer axes: size-1 axes dropped, and each axis merged into the one
 * before it when both tensors step over it contiguously (stride[i] = stride[i+1] * shape[i+1]).
 */
export function collapseAxes(shape: readonly number[], srcStrides: readonly number[], dstStrides: readonly number[]): { shape: number[]; src: number[]; dst: number[] } {
  const out = { shape: [] as number[], src: [] as number[], dst: [] as number[] };
  shape.forEach((size, axis) => {
    if (size === 1) return;
    const last = out.shape.length - 1;
    if (last >= 0 && out.src[last] === srcStrides[axis]! * size && out.dst[last] === dstStrides[axis]! * size) {
      out.shape[last]! *= size;
      out.src[last] = srcStrides[axis]!;
      out.dst[last] = dstStrides[axis]!;
    } else {
      out.shape.push(size);
      out.src.push(srcStrides[axis]!);
      out.dst.push(dstStrides[axis]!);
    }
  });
  if (out.shape.length === 0) return { shape: [1], src: [0], dst: [0] };
  return out;
}

/** Runs shorter than this are copied element by element even on CPU adapters. */
const MIN_RUN = 4;

/** Copies the elements of `src` (any view) into `dst` (any view of the same shape and dtype). */
export function copyInto(dst: Tensor, src: Tensor): void {
  const device = requireSameDevice('copyInto', [dst, src]);
  if (dst.dtype !== src.dtype) throw new ShapeError(`copyInto: dtypes differ (${dst.describe()} <- ${src.describe()})`);
  if (dst.shape.length !== src.shape.length || dst.shape.some((d, i) => d !== src.shape[i])) {
    throw new ShapeError(`copyInto: shapes differ (${formatShape(dst.shape)} <- ${formatShape(src.shape)})`);
  }
  if (dst.storage === src.storage) throw new ShapeError('copyInto: source and destination share storage; copy the source first');
  if (dst.shape.some((d, i) => d > 1 && dst.strides[i] === 0)) throw new ShapeError(`copyInto: destination ${dst.toString()} repeats elements (an expand view); write into a dense tensor`);
  const count = src.size;
  if (count === 0) return;
  const wg = columnWorkgroupSize(device);
  const axes = collapseAxes(src.shape, src.strides, dst.strides);
  const rank = axes.shape.length;
  const runLength = axes.shape[rank - 1]!;
  // Whole runs per thread on CPU adapters (GPUs prefer neighbouring threads on neighbouring words).
  const byRuns = isSoftwareAdapter(device) && rank > 1 && runLength >= MIN_RUN && axes.src[rank - 1] === 1 && axes.dst[rank - 1] === 1;
  const entry = byRuns ? 'copyRuns' : 'copyStrided';
  const threads = byRuns ? count / runLength : count;
  const kernel = device.kernel({ file: 'copy', entry, variant: [src.dtype === 'f16' ? 'b16' : 'b32'], overrides: { WG: wg } });
  const shape = pad8(axes.shape, 1);
  const srcStrides = pad8(axes.src, 0);
  const dstStrides = pad8(axes.dst, 0);
  device.dispatch(
    kernel,
    { src: src.storage.buffer, dst: dst.storage.buffer },
    {
      count: threads,
      srcOffset: src.offset,
      dstOffset: dst.offset,
      rank,
      shapeLo: shape.slice(0, 4),
      shapeHi: shape.slice(4),
      srcStridesLo: srcStrides.slice(0, 4),
      srcStridesHi: srcStrides.slice(4),
      dstStridesLo: dstStrides.slice(0, 4),
      dstStridesHi: dstStrides.slice(4),
    },
    elementWorkgroups(threads, wg),
  );
}

/** A dense copy of a tensor (a new tensor even when the input is already dense). */
export function copy(t: Tensor, category: MemoryCategory = 'activation'): Tensor {
  t.assertAlive('copy');
  const out = t.device.empty(t.shape, t.dtype, category);
  copyInto(out, t);
  return out;
}

/** The tensor itself when dense (with its own reference), else a dense copy. Dispose the result. */
export function contiguous(t: Tensor, category: MemoryCategory = 'activation'): Tensor {
  t.assertAlive('contiguous');
  if (t.isContiguous) return t.reshape(t.shape);
  return copy(t, category);
}

/** Joins tensors along an axis. All other dimensions and the dtype must agree. */
export function concat(tensors: readonly Tensor[], axis = 0, category: MemoryCategory = 'activation'): Tensor {
  if (tensors.length === 0) throw new ShapeError('concat: no tensors given');
  const device = requireSameDevice('concat', tensors);
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

/** Converts between f32 and f16 storage. */
export function cast(t: Tensor, dtype: Extract<DType, 'f32' | 'f16'>, category: MemoryCategory = 'activation'): Tensor {
  requireDtype('cast', 'input', t, ['f32', 'f16']);
  if (t.dtype === dtype) return copy(t, category);
  return withDense([t], (src) => {
    const device = src.device;
    const out = device.empty(src.shape as Shape, dtype, category);
    const toHalf = dtype === 'f16';
    const wg = columnWorkgroupSize(device);
    const kernel = device.kernel({ file: 'cast', entry: toHalf ? 'f32ToF16' : 'f16ToF32', overrides: { WG: wg } });
    device.dispatch(kernel, toHalf ? { srcF32: src, dstF16: out } : { srcF16: src, dstF32: out }, { count: src.size }, elementWorkgroups(src.size, wg));
    return out;
  }, (v) => copy(v, 'scratch'));
}
