/**
 * Layout ops: contiguous copies of views, writes into views, concat and f32/f16 casts.
 * Views themselves (reshape, transpose, slice) are free and live on Tensor; the strided copy
 * itself is the runtime's (src/gpu/strided.ts), re-exported here as an op.
 */
import type { DType } from '../gpu/dtype.js';
import { ShapeError } from '../gpu/errors.js';
import type { MemoryCategory } from '../gpu/bufferPool.js';
import { normalizeAxis, type Shape } from '../gpu/shape.js';
import { copy, copyInto, withDense } from '../gpu/strided.js';
import type { Tensor } from '../gpu/tensor.js';
import { columnWorkgroupSize, elementWorkgroups } from '../gpu/workgroups.js';
import { requireDtype, requireSameDevice } from './checks.js';

export { collapseAxes, contiguous, copy, copyInto } from '../gpu/strided.js';

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
  });
}
