/** CPU references for src/ops/reduce.ts (float64). */
import { contiguousStrides, sizeOf, type Shape } from '../gpu/shape.js';

type Values = ArrayLike<number>;

/** The shape left after reducing `axes` (sorted, non-negative) of `shape`. */
export function reducedShape(shape: Shape, axes: readonly number[], keepDims = false): number[] {
  return keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/** Sum over `axes` of a row-major tensor of `shape`; the values in row-major output order. */
export function sum(x: Values, shape: Shape, axes: readonly number[]): Float64Array {
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const outStrides = contiguousStrides(kept.map((i) => shape[i]!));
  const out = new Float64Array(sizeOf(kept.map((i) => shape[i]!)));
  const inStrides = contiguousStrides(shape);
  for (let flat = 0; flat < x.length; flat++) {
    // The output element is found from the coordinates on the kept axes.
    let target = 0;
    kept.forEach((axis, k) => {
      const coord = Math.floor(flat / inStrides[axis]!) % shape[axis]!;
      target += coord * outStrides[k]!;
    });
    out[target] = out[target]! + x[flat]!;
  }
  return out;
}

/** Mean over `axes`. */
export function mean(x: Values, shape: Shape, axes: readonly number[]): Float64Array {
  const count = sizeOf(axes.map((a) => shape[a]!));
  return sum(x, shape, axes).map((v) => v / count);
}

/** Index of the first largest element of each row of length `cols`, NaN above every number (the first NaN, where a row holds one). */
export function argmax(x: Values, cols: number): Float64Array {
  const rows = x.length / cols;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < cols && !Number.isNaN(x[r * cols + best]!); j++) {
      const v = x[r * cols + j]!;
      if (Number.isNaN(v) || v > x[r * cols + best]!) best = j;
    }
    out[r] = best;
  }
  return out;
}

/** How many rows' argmax equals the row's label (a label outside [0, cols) never does). */
export function countCorrect(x: Values, labels: ArrayLike<number>, cols: number): number {
  const predicted = argmax(x, cols);
  let count = 0;
  for (let r = 0; r < predicted.length; r++) if (predicted[r] === labels[r]) count++;
  return count;
}
