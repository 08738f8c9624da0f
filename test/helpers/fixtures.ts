/** Byte fixtures shared by the data-file tests: IDX files, seeded bytes, and error capture. */
import { expect } from 'vitest';
import { SeededRandom } from '../../src/data/batches.js';

/** An IDX file: magic, big-endian sizes, data. */
export function idxFile(magic: number, dims: number[], data: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  bytes.set(data, 4 + 4 * dims.length);
  return bytes;
}

/** Deterministic test bytes (never Math.random, so a failure reproduces). */
export function randomBytes(n: number, random: SeededRandom | number): Uint8Array {
  const source = typeof random === 'number' ? new SeededRandom(random) : random;
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = source.nextUint32() & 0xff;
  return bytes;
}

/** The message of the Error `fn` throws (fails when it does not throw an Error). */
export function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return (error as Error).message;
  }
  throw new Error('expected an error, none was thrown');
}
