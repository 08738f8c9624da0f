/** Sliding-window geometry shared by convolution and pooling. */
import { describeValue } from '../gpu/dtype.js';
import { ShapeError } from '../gpu/errors.js';

/** Positions a window of `kernel` takes along an axis of `size`, padded by `pad` each side, at `stride`. */
export function windowPositions(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

/** A size given once for both axes, or as [height, width]. */
export type SpatialPair = number | readonly [number, number];

/** The largest window size, stride or padding: the kernels read them as i32. */
const MAX_WINDOW = 2 ** 31 - 1;

/** Resolves a SpatialPair, checking it is made of integers at least `min` (and that an i32 holds them). */
export function spatialPair(op: string, name: string, value: SpatialPair, min: number): [number, number] {
  const shaped = typeof value === 'number' || (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number'));
  if (!shaped) throw new TypeError(`${op}: ${name} must be a number or [height, width], got ${describeValue(value)}`);
  const pair: [number, number] = typeof value === 'number' ? [value, value] : [value[0], value[1]];
  if (!pair.every((v) => Number.isInteger(v) && v >= min && v <= MAX_WINDOW)) {
    const shown = typeof value === 'number' ? String(value) : `[${pair.join(', ')}]`;
    throw new ShapeError(`${op}: ${name} ${shown} must be integers >= ${min}${pair.some((v) => v > MAX_WINDOW) ? ` and at most ${MAX_WINDOW}` : ''}`);
  }
  return pair;
}

/** Where a window slides over an H x W input: its size, stride and padding, and the output size. */
export interface WindowGeometry {
  inHeight: number;
  inWidth: number;
  outHeight: number;
  outWidth: number;
  kernelHeight: number;
  kernelWidth: number;
  strideY: number;
  strideX: number;
  padY: number;
  padX: number;
}

export function windowGeometry(inHeight: number, inWidth: number, [kernelHeight, kernelWidth]: [number, number], [strideY, strideX]: [number, number], [padY, padX]: [number, number]): WindowGeometry {
  return {
    inHeight,
    inWidth,
    outHeight: windowPositions(inHeight, kernelHeight, strideY, padY),
    outWidth: windowPositions(inWidth, kernelWidth, strideX, padX),
    kernelHeight,
    kernelWidth,
    strideY,
    strideX,
    padY,
    padX,
  };
}
