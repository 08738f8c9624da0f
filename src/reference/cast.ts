/**
 * The value conversions of ops.cast, on the CPU: float to integer truncates toward zero and
 * saturates at the integer's range (NaN -> 0); integer to f32 and f32 to f16 round to the nearest
 * (ties to even); i32 <-> u32 saturates. Never a reinterpretation of the bits.
 */
import { f16BitsToF32, f32ToF16Bits, type DType } from '../gpu/dtype.js';

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;
const U32_MAX = 2 ** 32 - 1;

/** One value of dtype `from` (as a JavaScript number) converted to dtype `to`. */
export function castValue(value: number, from: DType, to: DType): number {
  if (from === to) return value;
  switch (to) {
    case 'f32':
      return Math.fround(value);
    case 'f16':
      return f16BitsToF32(f32ToF16Bits(Math.fround(value)));
    case 'i32':
      return saturate(value, I32_MIN, I32_MAX);
    case 'u32':
      return saturate(value, 0, U32_MAX);
  }
}

/** Truncation toward zero, clamped to [low, high]; NaN -> 0. */
function saturate(value: number, low: number, high: number): number {
  if (Number.isNaN(value)) return 0;
  const t = Math.trunc(value);
  return t < low ? low : t > high ? high : t === 0 ? 0 : t;
}

/** ops.cast on host values. */
export function cast(values: ArrayLike<number>, from: DType, to: DType): Float64Array {
  return Float64Array.from(values as ArrayLike<number>, (v) => castValue(v, from, to));
}
