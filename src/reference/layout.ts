/** CPU references for layout ops (src/ops/copy.ts): permutations, slices, concatenation. */
import { contiguousStrides, sizeOf, type Shape } from '../gpu/shape.js';

/** The elements of a row-major tensor of `shape`, read with its axes permuted. */
export function permute(x: ArrayLike<number>, shape: Shape, axes: readonly number[]): Float64Array {
  const strides = contiguousStrides(shape);
  const outShape = axes.map((a) => shape[a]!);
  const out = new Float64Array(sizeOf(shape));
  for (let i = 0; i < out.length; i++) {
    let rest = i;
    let source = 0;
    for (let k = outShape.length - 1; k >= 0; k--) {
      const coord = rest % outShape[k]!;
      rest = Math.floor(rest / outShape[k]!);
      source += coord * strides[axes[k]!]!;
    }
    out[i] = x[source]!;
  }
  return out;
}

/** Elements [start, end) along `axis`. */
export function slice(x: ArrayLike<number>, shape: Shape, axis: number, start: number, end: number): Float64Array {
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  const dim = shape[axis]!;
  const out = new Float64Array(outer * (end - start) * inner);
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (let j = start; j < end; j++) for (let i = 0; i < inner; i++) out[k++] = x[(o * dim + j) * inner + i]!;
  }
  return out;
}

/** Concatenation along `axis` of row-major tensors whose other dimensions agree. */
export function concat(parts: ReadonlyArray<{ data: ArrayLike<number>; shape: Shape }>, axis: number): Float64Array {
  const first = parts[0]!.shape;
  const outer = sizeOf(first.slice(0, axis));
  const inner = sizeOf(first.slice(axis + 1));
  const total = parts.reduce((n, p) => n + p.data.length, 0);
  const out = new Float64Array(total);
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (const p of parts) {
      const block = p.shape[axis]! * inner;
      for (let i = 0; i < block; i++) out[k++] = p.data[o * block + i]!;
    }
  }
  return out;
}

/** out[r, :] = table[index[r], :] for a row-major table [tableRows, cols]; NaN for an index outside the table. */
export function gatherRows(table: ArrayLike<number>, tableRows: number, cols: number, index: ArrayLike<number>): Float64Array {
  const out = new Float64Array(index.length * cols);
  for (let r = 0; r < index.length; r++) {
    const k = index[r]!;
    for (let j = 0; j < cols; j++) out[r * cols + j] = Number.isInteger(k) && k >= 0 && k < tableRows ? table[k * cols + j]! : NaN;
  }
  return out;
}
