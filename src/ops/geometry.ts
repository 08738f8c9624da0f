/** Sliding-window geometry shared by convolution and pooling. */

/** Positions a window of `kernel` takes along an axis of `size`, padded by `pad` each side, at `stride`. */
export function windowPositions(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}
