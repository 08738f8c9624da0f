/** Sliding-window geometry shared by convolution and pooling. */
import { ShapeError } from '../gpu/errors.js';

/** Positions a window of `kernel` takes along an axis of `size`, padded by `pad` each side, at `stride`. */
export function windowPositions(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

/** A size given once for both axes, or as [height, width]. */
export type SpatialPair = number | readonly [number, number];

/** Resolves a SpatialPair, checking it is made of integers at least `min`. */
export function spatialPair(op: string, name: string, value: SpatialPair, min: number): [number, number] {
  const pair: [number, number] = typeof value === 'number' ? [value, value] : [value[0], value[1]];
  if (!pair.every((v) => Number.isInteger(v) && v >= min)) {
    throw new ShapeError(`${op}: ${name} ${JSON.stringify(value)} must be integers >= ${min}`);
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
