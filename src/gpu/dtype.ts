/**
 * Element types a tensor can hold on the GPU. f32 is the working type; i32/u32 carry labels and
 * indices; f16 is a storage type only (kernels accumulate in f32), available where the adapter
 * has the `shader-f16` feature.
 */
export type DType = 'f32' | 'f16' | 'i32' | 'u32';

export const DTYPES: readonly DType[] = ['f32', 'f16', 'i32', 'u32'];

export function bytesPerElement(dtype: DType): number {
  return dtype === 'f16' ? 2 : 4;
}

export type HostData = Float32Array | Int32Array | Uint32Array | Float64Array | number[];

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

/** Throws a TypeError naming `value` and the valid dtypes unless it is one. */
export function assertDType(value: unknown, op: string): asserts value is DType {
  if (!isDType(value)) throw new TypeError(`${op}: dtype ${describeValue(value)} is not one of ${DTYPES.join(', ')}`);
}

/** A short description of a value of unknown type, for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === null || value === undefined || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  const name: string = value.constructor?.name ?? 'Object';
  return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
}

// f16 conversion (Node 20 has no Float16Array). Round-to-nearest-even, with subnormals,
// infinities and NaN, so an upload followed by a download is exactly the f16 rounding.
const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0); // inf / NaN
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow to infinity
  if (e <= 0) {
    if (e < -10) return sign; // underflow to signed zero
    mantissa |= 0x800000; // implicit leading one
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let result = mantissa >>> shift;
    if (rest > half || (rest === half && (result & 1) !== 0)) result += 1;
    return sign | result;
  }
  let result = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (result & 1) !== 0)) result += 1; // may carry into exponent: correct
  return sign | result;
}

export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Rounds every value to the nearest f16, as an f16 upload would. */
export function roundToF16(values: ArrayLike<number>): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f16BitsToF32(f32ToF16Bits(values[i]!));
  return out;
}
