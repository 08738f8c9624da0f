/**
 * Host transfers: numbers from JavaScript on their way into a tensor, and bytes read back on
 * their way out. The checks an upload runs on what it is handed (an array or a typed array of
 * numbers; integers that fit an i32 or u32 tensor, since anything else would be truncated or
 * wrapped without a word), the codecs between host numbers and a dtype's bytes (f16 is packed
 * and widened here, on the CPU), and the queue write of an upload. The device decides when
 * bytes travel (an upload after the commands encoded before it, a readback after a submit);
 * this module decides what they are.
 */
import { describeValue, f16BitsToF32, f32ToF16Bits, type DType, type HostData } from './dtype.js';
import type { Tensor } from './tensor.js';

/** Host data is a plain array of numbers or a typed array of numbers (not BigInts). */
export function checkHostData(op: string, data: HostData): void {
  if (Array.isArray(data)) {
    const at = data.findIndex((v) => typeof v !== 'number');
    if (at >= 0) throw new TypeError(`${op}: data[${at}] is ${describeValue(data[at])}, not a number`);
    return;
  }
  const typed = ArrayBuffer.isView(data) && !(data instanceof DataView) && !(data instanceof BigInt64Array) && !(data instanceof BigUint64Array);
  if (!typed) throw new TypeError(`${op}: data must be an array or a typed array of numbers (e.g. Float32Array), got ${describeValue(data)}`);
}

/** i32 and u32 tensors hold integers in their range; anything else would be silently truncated or wrapped. */
export function checkValuesFit(op: string, data: HostData, dtype: DType): void {
  if (dtype === 'f32' || dtype === 'f16' || (dtype === 'i32' && data instanceof Int32Array) || (dtype === 'u32' && data instanceof Uint32Array)) return;
  const [min, max] = dtype === 'i32' ? [-0x80000000, 0x7fffffff] : [0, 0xffffffff];
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new RangeError(`${op}: value ${v} at index ${i} does not fit dtype ${dtype} (integers from ${min} to ${max})`);
    }
  }
}

export function roundUp(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}

/** Writes checked host data (as many values as `t` has) into the contiguous tensor `t`, through the queue. */
export function writeHost(queue: GPUQueue, t: Tensor, data: HostData): void {
  if (t.size === 0) return;
  const bytes = encodeHost(data, t.dtype);
  queue.writeBuffer(t.buffer, 0, bytes.buffer, bytes.byteOffset, roundUp(bytes.byteLength, 4));
}

function encodeHost(data: HostData, dtype: DType): Uint8Array {
  switch (dtype) {
    case 'f32':
      if (data instanceof Float32Array) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      return new Uint8Array(Float32Array.from(data as ArrayLike<number>).buffer);
    case 'i32':
      return new Uint8Array(Int32Array.from(data as ArrayLike<number>).buffer);
    case 'u32':
      return new Uint8Array(Uint32Array.from(data as ArrayLike<number>).buffer);
    case 'f16': {
      const bits = new Uint16Array(roundUp(data.length, 2));
      for (let i = 0; i < data.length; i++) bits[i] = f32ToF16Bits(data[i]!);
      return new Uint8Array(bits.buffer);
    }
  }
}

/** The elements of `size` values of `dtype` read back into `bytes` (f16 widened to f32). */
export function decodeHost(bytes: ArrayBuffer, dtype: DType, size: number): Float32Array | Int32Array | Uint32Array {
  switch (dtype) {
    case 'f32':
      return new Float32Array(bytes, 0, size);
    case 'i32':
      return new Int32Array(bytes, 0, size);
    case 'u32':
      return new Uint32Array(bytes, 0, size);
    case 'f16': {
      const bits = new Uint16Array(bytes, 0, size);
      const out = new Float32Array(size);
      for (let i = 0; i < size; i++) out[i] = f16BitsToF32(bits[i]!);
      return out;
    }
  }
}

/** What reading a tensor of no elements gives. */
export function emptyHost(dtype: DType): Float32Array | Int32Array | Uint32Array {
  return dtype === 'i32' ? new Int32Array(0) : dtype === 'u32' ? new Uint32Array(0) : new Float32Array(0);
}
