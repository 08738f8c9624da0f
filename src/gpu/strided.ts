/**
 * Strided copies: a view (a transpose, a slice, an expand) made dense. The runtime owns them
 * because reading a view back to the host needs one, and because every kernel binds whole
 * buffers from element 0, so an op handed a view copies it first (withDense).
 */
import { assertMemoryCategory, type MemoryCategory } from './bufferPool.js';
import { ShapeError } from './errors.js';
import { formatShape } from './shape.js';
import { assertTensor, type Tensor } from './tensor.js';
import { columnWorkgroupSize, elementWorkgroups, isSoftwareAdapter } from './workgroups.js';

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
  assertTensor(dst, 'copyInto', 'operand dst');
  assertTensor(src, 'copyInto', 'operand src');
  if (dst.device !== src.device) throw new ShapeError('copyInto: operands live on different devices');
  const device = dst.device;
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
  assertTensor(t, 'copy', 'operand t');
  assertMemoryCategory(category, 'copy');
  const out = t.device.empty(t.shape, t.dtype, category);
  copyInto(out, t);
  return out;
}

/** The tensor itself when dense (with its own reference), else a dense copy. Dispose the result. */
export function contiguous(t: Tensor, category: MemoryCategory = 'activation'): Tensor {
  assertTensor(t, 'contiguous', 'operand t');
  assertMemoryCategory(category, 'contiguous');
  if (t.isContiguous) return t.reshape(t.shape);
  return copy(t, category);
}

/**
 * Runs `fn` with dense versions of the given tensors, disposing of any copy it had to make.
 * Kernels bind whole buffers from element 0, so views are copied first (as scratch).
 */
export function withDense<R>(tensors: readonly Tensor[], fn: (...dense: Tensor[]) => R): R {
  const dense = tensors.map((t) => (t.isContiguous ? t : copy(t, 'scratch')));
  try {
    return fn(...dense);
  } finally {
    dense.forEach((d, i) => {
      if (d !== tensors[i]) d.dispose();
    });
  }
}
