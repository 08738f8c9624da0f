// safetensors reader and writer: byte-exact layout against hand-written files and the reference
// implementation's published vectors, round trips of every dtype, every validation error, and a
// seeded fuzz run (random bytes, truncations, bit flips, header lengths, JSON mutations) in which
// the decoder may only return or throw SafetensorsError. Host-side only: no device is opened.
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/data/batches.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  SAFETENSORS_DTYPE_BYTES,
  SafetensorsError,
  type SafetensorsDecodeOptions,
  type SafetensorsDtype,
  type SafetensorsTensorInput,
} from '../src/io/safetensors.js';

const ascii = (text: string) => Array.from(text, (c) => c.charCodeAt(0));

/** A file from a header text and data bytes; the length field is the text's length unless given. */
function rawFile(header: string, data: ArrayLike<number> = [], headerLength?: number | bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const bytes = new Uint8Array(8 + json.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(headerLength ?? json.length), true);
  bytes.set(json, 8);
  bytes.set(data, 8 + json.length);
  return bytes;
}

/** The error message of decoding, or a failure if it decodes or throws something else. */
function decodeError(bytes: Uint8Array, options: SafetensorsDecodeOptions = {}): string {
  try {
    decodeSafetensors(bytes, { source: 'model.safetensors', ...options });
  } catch (error) {
    expect(error).toBeInstanceOf(SafetensorsError);
    const message = (error as Error).message;
    expect(message.startsWith('model.safetensors: ')).toBe(true);
    return message;
  }
  throw new Error('expected decoding to fail');
}

describe('safetensors layout', () => {
  it('writes a mixed file byte for byte as the format lays it out', () => {
    // The spec's layout written out by hand: u64 LE header length, the JSON (metadata first, then
    // tensors by descending dtype, I64 > F32 > U8, offsets relative to the data), space padding to
    // a multiple of 8, then little-endian row-major data.
    const header =
      '{"__metadata__":{"framework":"pt"},' +
      '"c":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
      '"a":{"dtype":"F32","shape":[],"data_offsets":[8,12]},' +
      '"b":{"dtype":"U8","shape":[3],"data_offsets":[12,15]}}';
    expect(header.length).toBe(195);
    const expected = new Uint8Array([
      200, 0, 0, 0, 0, 0, 0, 0, // header length 200 = 195 + 5 spaces
      ...ascii(header),
      0x20, 0x20, 0x20, 0x20, 0x20,
      0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // c: I64 -2
      0x00, 0x00, 0xc0, 0x3f, // a: F32 1.5
      1, 2, 3, // b: U8
    ]);
    const bytes = encodeSafetensors(
      {
        b: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
        a: { dtype: 'F32', shape: [], data: new Float32Array([1.5]) },
        c: { dtype: 'I64', shape: [1], data: new BigInt64Array([-2n]) },
      },
      { framework: 'pt' },
    );
    expect(Array.from(bytes)).toEqual(Array.from(expected));

    const decoded = decodeSafetensors(expected);
    expect([...decoded.tensors.keys()]).toEqual(['c', 'a', 'b']);
    expect(decoded.metadata).toEqual({ framework: 'pt' });
    expect(Array.from(decoded.tensors.get('c')!.data as BigInt64Array)).toEqual([-2n]);
    expect(decoded.tensors.get('a')).toEqual({ dtype: 'F32', shape: [], data: new Float32Array([1.5]) });
    expect(decoded.tensors.get('b')).toEqual({ dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) });
  });

  it('matches the reference implementation test vectors', () => {
    // From the safetensors repository's own tests (safetensors/src/tensor.rs).
    const attn = encodeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } });
    expect(Array.from(attn)).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34, 70, 51,
      50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
      115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0,
      128, 64, 0, 0, 160, 64,
    ]);
    const padded = encodeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } });
    expect(Array.from(padded.subarray(0, 8))).toEqual([72, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(padded.subarray(73, 80))).toEqual([32, 32, 32, 32, 32, 32, 32]);
    expect(Array.from(encodeSafetensors({}))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect(Array.from(encodeSafetensors({}, { framework: 'pt' }))).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123, 34, 102, 114, 97, 109,
      101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32,
    ]);
    // Files the reference reads: scalar, zero-size, whitespace-padded header.
    const scalar = decodeSafetensors(rawFile('{"test":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}', [7, 0, 0, 0]));
    expect(scalar.tensors.get('test')).toEqual({ dtype: 'I32', shape: [], data: new Int32Array([7]) });
    const empty = decodeSafetensors(rawFile('{"test":{"dtype":"I32","shape":[2,0],"data_offsets":[0, 0]}}'));
    expect(empty.tensors.get('test')).toEqual({ dtype: 'I32', shape: [2, 0], data: new Int32Array(0) });
    expect(decodeSafetensors(rawFile('{}\r \t\n')).tensors.size).toBe(0);
  });

  it('is deterministic and aligns every tensor to its element size', () => {
    const tensors: Record<string, SafetensorsTensorInput> = {
      z: { dtype: 'U8', shape: [3], data: new Uint8Array(3) },
      '10': { dtype: 'F32', shape: [1], data: new Float32Array(1) },
      '2': { dtype: 'F64', shape: [1], data: new Float64Array(1) },
      y: { dtype: 'F16', shape: [1], data: new Uint16Array(1) },
      x: { dtype: 'I32', shape: [2], data: new Int32Array(2) },
    };
    const reversed = Object.fromEntries(Object.entries(tensors).reverse());
    const a = encodeSafetensors(tensors, { b: '1', a: '2' });
    const b = encodeSafetensors(reversed, { a: '2', b: '1' });
    expect(Array.from(a)).toEqual(Array.from(b));
    const headerLength = Number(new DataView(a.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(a.subarray(8, 8 + headerLength))) as Record<string, { dtype: SafetensorsDtype; data_offsets: [number, number] }>;
    for (const [name, info] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      expect((8 + headerLength + info.data_offsets[0]) % SAFETENSORS_DTYPE_BYTES[info.dtype]).toBe(0);
    }
    // The layout order, not JavaScript's integer-keys-first object order.
    expect(new TextDecoder().decode(a.subarray(8, 8 + headerLength)).indexOf('"2"')).toBeLessThan(
      new TextDecoder().decode(a.subarray(8, 8 + headerLength)).indexOf('"10"'),
    );
    expect([...decodeSafetensors(a).tensors.keys()]).toEqual(['2', '10', 'x', 'y', 'z']);
  });
});

describe('safetensors round trip', () => {
  const random = new SeededRandom(7);
  const arrays: Record<SafetensorsDtype, (n: number) => ArrayBufferView> = {
    BOOL: (n) => Uint8Array.from({ length: n }, () => random.nextUint32() & 1),
    U8: (n) => Uint8Array.from({ length: n }, () => random.nextUint32()),
    I8: (n) => Int8Array.from({ length: n }, () => random.nextUint32()),
    F8_E5M2: (n) => Uint8Array.from({ length: n }, () => random.nextUint32()),
    F8_E4M3: (n) => Uint8Array.from({ length: n }, () => random.nextUint32()),
    I16: (n) => Int16Array.from({ length: n }, () => random.nextUint32()),
    U16: (n) => Uint16Array.from({ length: n }, () => random.nextUint32()),
    F16: (n) => Uint16Array.from({ length: n }, () => random.nextUint32()),
    BF16: (n) => Uint16Array.from({ length: n }, () => random.nextUint32()),
    I32: (n) => Int32Array.from({ length: n }, () => random.nextUint32() | 0),
    U32: (n) => Uint32Array.from({ length: n }, () => random.nextUint32()),
    F32: (n) => Float32Array.from({ length: n }, () => random.nextUint32() / 2 ** 16 - 2 ** 15),
    F64: (n) => Float64Array.from({ length: n }, () => random.nextUint32() / 3 - 1e9),
    I64: (n) => BigInt64Array.from({ length: n }, () => BigInt.asIntN(64, (BigInt(random.nextUint32()) << 32n) | BigInt(random.nextUint32()))),
    U64: (n) => BigUint64Array.from({ length: n }, () => (BigInt(random.nextUint32()) << 32n) | BigInt(random.nextUint32())),
  };
  const expectedType: Record<SafetensorsDtype, string> = {
    BOOL: 'Uint8Array', U8: 'Uint8Array', I8: 'Int8Array', F8_E5M2: 'Uint8Array', F8_E4M3: 'Uint8Array', I16: 'Int16Array',
    U16: 'Uint16Array', F16: 'Uint16Array', BF16: 'Uint16Array', I32: 'Int32Array', U32: 'Uint32Array', F32: 'Float32Array',
    F64: 'Float64Array', I64: 'BigInt64Array', U64: 'BigUint64Array',
  };

  it('keeps every dtype, with empty and scalar shapes, and metadata', () => {
    const shapes = [[], [0], [2, 0, 3], [5], [2, 3], [1, 2, 1, 3]];
    const input: Record<string, SafetensorsTensorInput> = {};
    for (const dtype of Object.keys(arrays) as SafetensorsDtype[]) {
      shapes.forEach((shape, i) => {
        const n = shape.reduce((p, d) => p * d, 1);
        input[`${dtype.toLowerCase()}.${i}`] = { dtype, shape, data: arrays[dtype](n) };
      });
    }
    // Parsed, so that "__proto__" is an own key (in an object literal it would set the prototype).
    const metadata = JSON.parse('{"format":"pt","note":"ünïcødé ✓ \\"quoted\\" \\\\ \\n","__proto__":"a key, not a prototype","":""}') as Record<string, string>;
    expect(Object.keys(metadata)).toHaveLength(4);
    const bytes = encodeSafetensors(input, metadata);
    // Decoding from an odd offset inside a larger buffer still gives aligned, owned arrays.
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const decoded = decodeSafetensors(shifted.subarray(3));
    expect(decoded.tensors.size).toBe(Object.keys(input).length);
    for (const [name, tensor] of Object.entries(input)) {
      const got = decoded.tensors.get(name)!;
      expect(got.dtype).toBe(tensor.dtype);
      expect(got.shape).toEqual(tensor.shape);
      expect(got.data.constructor.name).toBe(expectedType[tensor.dtype]);
      expect(got.data.buffer).not.toBe(shifted.buffer);
      expect(Array.from(new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength))).toEqual(
        Array.from(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength)),
      );
    }
    expect(decoded.metadata).toEqual(metadata);
    expect(decoded.metadata.note).toBe('ünïcødé ✓ "quoted" \\ \n');
    expect(Object.getPrototypeOf(decoded.metadata)).toBe(Object.prototype);
    expect(Object.hasOwn(decoded.metadata, '__proto__')).toBe(true);
  });

  it('accepts data given as a view into a larger buffer and as a DataView', () => {
    const big = new Float32Array([9, 1, 2, 3, 9]);
    const bytes = encodeSafetensors({
      view: { dtype: 'F32', shape: [3], data: big.subarray(1, 4) },
      raw: { dtype: 'U16', shape: [2], data: new DataView(new Uint8Array([1, 0, 2, 0]).buffer) },
    });
    const decoded = decodeSafetensors(bytes, { expect: { view: { dtype: 'F32', shape: [3] }, raw: { dtype: 'U16', shape: [2] } } });
    expect(Array.from(decoded.tensors.get('view')!.data as Float32Array)).toEqual([1, 2, 3]);
    expect(Array.from(decoded.tensors.get('raw')!.data as Uint16Array)).toEqual([1, 2]);
  });
});

describe('safetensors errors', () => {
  const good = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const eight = [0, 0, 128, 63, 0, 0, 0, 64];
  const entry = (fields: string) => `{"w":{${fields}}}`;

  it('refuses bad framing: short file, header length, start, UTF-8, JSON', () => {
    expect(decodeError(new Uint8Array(5))).toMatch(/truncated: 5 bytes, too short for the 8-byte header length/);
    expect(decodeError(rawFile(good, eight, 100_000_001))).toMatch(/header length 100000001 bytes exceeds the limit of 100000000 bytes/);
    expect(decodeError(rawFile(good, eight), { maxHeaderBytes: 16 })).toMatch(/header length 54 bytes exceeds the limit of 16 bytes/);
    expect(decodeError(rawFile(good, eight, 2n ** 64n - 1n))).toMatch(/header length 18446744073709551615 bytes exceeds/);
    expect(decodeError(rawFile(good, eight, 1000))).toMatch(/truncated: the header length says 1000 bytes of JSON, the file holds 62 bytes after the length/);
    expect(decodeError(rawFile(' ' + good, eight))).toMatch(/does not begin with '\{'/);
    expect(decodeError(rawFile('', eight))).toMatch(/does not begin with '\{'/);
    expect(decodeError(rawFile('[1]'))).toMatch(/does not begin with '\{'/);
    const badUtf8 = rawFile('{"\u00ff":1}');
    badUtf8[10] = 0xff;
    expect(decodeError(badUtf8)).toMatch(/not valid UTF-8/);
    expect(decodeError(rawFile('{'))).toMatch(/not valid JSON/);
    expect(decodeError(rawFile('{} x'))).toMatch(/not valid JSON/);
    expect(decodeError(rawFile('{"w":1'))).toMatch(/not valid JSON/);
    expect(decodeError(new Uint8Array(8))).toMatch(/does not begin/);
    expect(decodeError(rawFile(good, eight), { maxHeaderBytes: -1 })).toMatch(/maxHeaderBytes -1 is not a non-negative integer/);
  });

  it('refuses bad entries', () => {
    const cases: [string, RegExp][] = [
      ['{"w":1}', /tensor "w": entry is 1, not an object/],
      ['{"w":[1]}', /tensor "w": entry is an array, not an object/],
      [entry('"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1'), /tensor "w": unknown field "extra"/],
      [entry('"dtype":"F32","shape":[2]'), /tensor "w": missing field data_offsets/],
      [entry('"dtype":"F128","shape":[2],"data_offsets":[0,8]'), /tensor "w": unknown dtype the string "F128"/],
      [entry('"dtype":"toString","shape":[2],"data_offsets":[0,8]'), /unknown dtype the string "toString"/],
      [entry('"dtype":4,"shape":[2],"data_offsets":[0,8]'), /unknown dtype 4/],
      [entry('"dtype":"F32","shape":2,"data_offsets":[0,8]'), /shape is 2, not an array/],
      [entry('"dtype":"F32","shape":[-2],"data_offsets":[0,8]'), /shape \[-2\]: dimension 0 is -2, not a non-negative integer/],
      [entry('"dtype":"F32","shape":[1.5],"data_offsets":[0,8]'), /dimension 0 is 1.5/],
      [entry('"dtype":"F32","shape":[1,"2"],"data_offsets":[0,8]'), /dimension 1 is the string "2"/],
      [entry('"dtype":"F32","shape":[2,18446744073709551614],"data_offsets":[0,8]'), /dimension 1 is 18446744073709552000, not a non-negative integer/],
      [entry('"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,8]'), /more elements than can be counted exactly/],
      [entry('"dtype":"F32","shape":[2],"data_offsets":[0]'), /data_offsets is an array, not a \[begin, end\] pair/],
      [entry('"dtype":"F32","shape":[2],"data_offsets":"0-8"'), /data_offsets is the string "0-8"/],
      [entry('"dtype":"F32","shape":[2],"data_offsets":[-1,7]'), /data_offsets begin is -1/],
      [entry('"dtype":"F32","shape":[2],"data_offsets":[0,null]'), /data_offsets end is null/],
      [entry('"dtype":"F32","shape":[2],"data_offsets":[8,0]'), /data_offsets \[8, 0\] end before they begin/],
      [entry('"dtype":"F32","shape":[2],"data_offsets":[0,16]'), /data_offsets \[0, 16\] run past the end of the 8 bytes of data/],
      [entry('"dtype":"F32","shape":[3],"data_offsets":[0,8]'), /F32 \[3\] needs 12 bytes, data_offsets \[0, 8\] hold 8/],
      ['{"__metadata__":["x"],' + good.slice(1), /__metadata__ is an array, not an object of strings/],
      ['{"__metadata__":{"epoch":3},' + good.slice(1), /__metadata__ "epoch" is 3; metadata values must be strings/],
    ];
    for (const [header, message] of cases) expect(decodeError(rawFile(header, eight)), header).toMatch(message);
  });

  it('refuses gaps, overlaps and trailing bytes', () => {
    const two = (a: string, b: string) => `{"a":{"dtype":"U8","shape":[4],"data_offsets":${a}},"b":{"dtype":"U8","shape":[4],"data_offsets":${b}}}`;
    expect(decodeError(rawFile(two('[4,8]', '[8,12]'), new Uint8Array(12)))).toMatch(/data bytes 0 to 4 belong to no tensor \(a gap before tensor "a"\)/);
    expect(decodeError(rawFile(two('[0,4]', '[6,10]'), new Uint8Array(10)))).toMatch(/data bytes 4 to 6 belong to no tensor/);
    expect(decodeError(rawFile(two('[0,4]', '[2,6]'), new Uint8Array(6)))).toMatch(/tensor "b" at bytes \[2, 6\] overlaps tensor "a" at \[0, 4\]/);
    expect(decodeError(rawFile(two('[0,4]', '[0,4]'), new Uint8Array(4)))).toMatch(/overlaps/);
    expect(decodeError(rawFile(two('[0,4]', '[4,8]'), new Uint8Array(9)))).toMatch(/1 bytes of data after the last tensor, which ends at byte 8 of 9/);
    expect(decodeError(rawFile('{}', [1]))).toMatch(/1 bytes of data after the last tensor/);
    // A zero-size tensor inside another one is an overlap, at either end it is fine.
    const zero = (at: number) => `{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"z":{"dtype":"F32","shape":[0],"data_offsets":[${at},${at}]}}`;
    expect(decodeError(rawFile(zero(2), new Uint8Array(4)))).toMatch(/tensor "z" at bytes \[2, 2\] overlaps tensor "a"/);
    expect(decodeSafetensors(rawFile(zero(0), new Uint8Array(4))).tensors.size).toBe(2);
    expect(decodeSafetensors(rawFile(zero(4), new Uint8Array(4))).tensors.size).toBe(2);
  });

  it('checks expected tensors', () => {
    const bytes = encodeSafetensors({
      w: { dtype: 'F32', shape: [2, 3], data: new Float32Array(6) },
      b: { dtype: 'F32', shape: [3], data: new Float32Array(3) },
    });
    expect(decodeError(bytes, { expect: { w: { dtype: 'F32', shape: [2, 3] }, b: { dtype: 'F32', shape: [3] }, v: { dtype: 'F32', shape: [1] } } })).toMatch(
      /missing tensor "v" \(the file holds 2 tensors\)/,
    );
    expect(decodeError(bytes, { expect: { w: { dtype: 'F16', shape: [2, 3] }, b: { dtype: 'F32', shape: [3] } } })).toMatch(
      /tensor "w": dtype F32 in the file, expected F16/,
    );
    expect(decodeError(bytes, { expect: { w: { dtype: 'F32', shape: [3, 2] }, b: { dtype: 'F32', shape: [3] } } })).toMatch(
      /tensor "w": shape \[2, 3\] in the file, expected \[3, 2\]/,
    );
    expect(decodeError(bytes, { expect: { w: { dtype: 'F32', shape: [2, 3] } } })).toMatch(/unexpected tensor "b" \(not among the 1 expected\)/);
    expect(decodeSafetensors(bytes, { expect: { w: { dtype: 'F32', shape: [2, 3] } }, allowExtra: true }).tensors.size).toBe(2);
    expect(decodeSafetensors(bytes, { expect: { w: { dtype: 'F32', shape: [2, 3] }, b: { dtype: 'F32', shape: [3] } } }).tensors.size).toBe(2);
    expect(decodeError(bytes, { expect: {} })).toMatch(/unexpected tensors "b", "w" \(not among the 0 expected\)/);
  });

  it('names a default source and truncates long names', () => {
    try {
      decodeSafetensors(new Uint8Array(2));
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toMatch(/^safetensors data: truncated/);
      expect((error as Error).name).toBe('SafetensorsError');
    }
    const long = 'n'.repeat(10_000);
    const message = decodeError(rawFile(`{"${long}":1}`));
    expect(message.length).toBeLessThan(300);
    expect(message).toMatch(/\(10000 characters\)/);
  });

  it('refuses bad input to the encoder', () => {
    const bad: [Record<string, SafetensorsTensorInput>, RegExp][] = [
      [{ w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }, /tensor "w": F32 \[3\] needs 12 bytes, data holds 8/],
      [{ w: { dtype: 'X' as SafetensorsDtype, shape: [1], data: new Uint8Array(1) } }, /unknown dtype the string "X"/],
      [{ w: { dtype: 'U8', shape: [-1], data: new Uint8Array(0) } }, /dimension 0 is -1/],
      [{ w: { dtype: 'U8', shape: [1], data: [1] as unknown as Uint8Array } }, /data is not a typed array/],
      [{ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }, /__metadata__ is reserved/],
    ];
    for (const [tensors, message] of bad) {
      expect(() => encodeSafetensors(tensors)).toThrow(SafetensorsError);
      expect(() => encodeSafetensors(tensors)).toThrow(message);
    }
    expect(() => encodeSafetensors({}, { epoch: 3 as unknown as string })).toThrow(/^safetensors encoder: metadata "epoch" is 3/);
  });

  it('refuses a header claiming 2^53 bytes without allocating it', () => {
    const claim = rawFile('{}', [], 2n ** 53n);
    const before = process.memoryUsage().arrayBuffers;
    const started = performance.now();
    expect(decodeError(claim)).toMatch(/header length 9007199254740992 bytes exceeds the limit/);
    expect(decodeError(claim, { maxHeaderBytes: Number.MAX_SAFE_INTEGER })).toMatch(/header length 9007199254740992 bytes exceeds the limit of 9007199254740991/);
    expect(decodeError(rawFile('{}', [], 2n ** 53n - 1n), { maxHeaderBytes: Number.MAX_SAFE_INTEGER })).toMatch(
      /truncated: the header length says 9007199254740991 bytes of JSON, the file holds 2 bytes/,
    );
    // A shape claiming 2^52 bytes in a tiny file is refused by the offset checks, not allocated.
    expect(decodeError(rawFile(entry(`"dtype":"U8","shape":[${2 ** 52}],"data_offsets":[0,${2 ** 52}]`), eight))).toMatch(/run past the end/);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });
});

describe('safetensors fuzz', () => {
  const sample = encodeSafetensors(
    {
      'layer.0.weight': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
      'layer.0.bias': { dtype: 'F16', shape: [3], data: new Uint16Array([1, 2, 3]) },
      step: { dtype: 'I64', shape: [], data: new BigInt64Array([5n]) },
      mask: { dtype: 'BOOL', shape: [2, 0], data: new Uint8Array(0) },
    },
    { format: 'test' },
  );
  const sampleHeaderLength = Number(new DataView(sample.buffer).getBigUint64(0, true));
  const sampleHeader = JSON.parse(new TextDecoder().decode(sample.subarray(8, 8 + sampleHeaderLength))) as Record<string, unknown>;
  const sampleData = sample.subarray(8 + sampleHeaderLength);

  let outcomes = { decoded: 0, refused: 0 };
  /** Decodes; anything but success or SafetensorsError fails the test. A success must be consistent. */
  function attempt(bytes: Uint8Array): void {
    let result;
    try {
      result = decodeSafetensors(bytes, { source: 'fuzz' });
    } catch (error) {
      if (!(error instanceof SafetensorsError)) throw new Error(`non-SafetensorsError for ${Array.from(bytes.subarray(0, 80))}: ${String(error)}`);
      expect(error.message.startsWith('fuzz: ')).toBe(true);
      outcomes.refused++;
      return;
    }
    outcomes.decoded++;
    let total = 0;
    for (const tensor of result.tensors.values()) {
      const elements = tensor.shape.reduce((p, d) => p * d, 1);
      expect(tensor.data.byteLength).toBe(elements * SAFETENSORS_DTYPE_BYTES[tensor.dtype]);
      total += tensor.data.byteLength;
    }
    expect(total).toBeLessThanOrEqual(bytes.length);
    for (const value of Object.values(result.metadata)) expect(typeof value).toBe('string');
  }

  function randomBytes(n: number, random: SeededRandom): Uint8Array {
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = random.nextUint32() & 0xff;
    return bytes;
  }

  const pick = <T>(random: SeededRandom, items: readonly T[]): T => items[random.nextUint32() % items.length]!;

  /** A random JSON value, the kind of thing that might be found where a field was expected. */
  function randomValue(random: SeededRandom, depth = 0): unknown {
    const choice = random.nextUint32() % (depth > 2 ? 8 : 11);
    switch (choice) {
      case 0: return null;
      case 1: return random.nextUint32() % 2 === 0;
      case 2: return random.nextUint32() % 20;
      case 3: return -(random.nextUint32() % 20);
      case 4: return pick(random, [0.5, 1e300, -0, 2 ** 53, 2 ** 64, 2 ** 31, 1e21, Number.MAX_SAFE_INTEGER]);
      case 5: return pick(random, ['F32', 'U8', 'I64', 'BOOL', 'f32', '', '__proto__', 'constructor', 'x'.repeat(50)]);
      case 6: return random.nextUint32() % 200;
      case 7: return String(random.nextUint32());
      case 8: return Array.from({ length: random.nextUint32() % 4 }, () => randomValue(random, depth + 1));
      case 9: return [random.nextUint32() % 64, random.nextUint32() % 64];
      default: return Object.fromEntries(Array.from({ length: random.nextUint32() % 3 }, () => [pick(random, ['dtype', 'shape', 'data_offsets', 'a', '__proto__']), randomValue(random, depth + 1)]));
    }
  }

  /** One structural change to the sample header. */
  function mutateHeader(random: SeededRandom): Record<string, unknown> {
    const header = JSON.parse(JSON.stringify(sampleHeader)) as Record<string, Record<string, unknown>>;
    const names = Object.keys(header);
    const name = pick(random, names);
    const field = pick(random, ['dtype', 'shape', 'data_offsets', 'extra']);
    switch (random.nextUint32() % 7) {
      case 0: header[name]![field] = randomValue(random); break;
      case 1: delete header[name]![field]; break;
      case 2: header[name] = randomValue(random) as Record<string, unknown>; break;
      case 3: delete header[name]; break;
      case 4: header[pick(random, ['new', '__metadata__', '', '__proto__'])] = randomValue(random) as Record<string, unknown>; break;
      case 5: {
        const offsets = header[name]!.data_offsets;
        if (Array.isArray(offsets)) offsets[random.nextUint32() % 2] = (offsets[random.nextUint32() % 2] as number) + (random.nextUint32() % 9) - 4;
        break;
      }
      default: {
        const shape = header[name]!.shape;
        if (Array.isArray(shape)) shape.push(pick(random, [0, 1, 2, -1, 0.5, 2 ** 40]));
        break;
      }
    }
    return header;
  }

  function withHeader(text: string, data: Uint8Array): Uint8Array {
    return rawFile(text, data);
  }

  it('never throws anything but SafetensorsError, and never hangs', () => {
    outcomes = { decoded: 0, refused: 0 };
    const random = new SeededRandom(2024);
    const started = performance.now();
    attempt(sample);
    expect(outcomes.decoded).toBe(1);

    // Random bytes, and random bytes behind a plausible header length.
    for (let i = 0; i < 500; i++) attempt(randomBytes(random.nextUint32() % 96, random));
    for (let i = 0; i < 500; i++) {
      const body = randomBytes(random.nextUint32() % 96, random);
      if (body.length > 0 && random.nextUint32() % 2 === 0) body[0] = 0x7b;
      attempt(rawFile('', body, random.nextUint32() % (body.length + 4)));
    }
    // Every truncation of a valid file.
    for (let n = 0; n < sample.length; n++) attempt(sample.subarray(0, n));
    // Bit flips anywhere, one to four at a time.
    for (let i = 0; i < 2000; i++) {
      const copy = sample.slice();
      const flips = 1 + (random.nextUint32() % 4);
      for (let f = 0; f < flips; f++) {
        const bit = random.nextUint32() % (copy.length * 8);
        copy[bit >> 3]! ^= 1 << (bit & 7);
      }
      attempt(copy);
    }
    // Header length fields: near the truth, anywhere in the file, and huge.
    for (let i = 0; i < 500; i++) {
      const copy = sample.slice();
      const view = new DataView(copy.buffer);
      const kind = random.nextUint32() % 3;
      const length = kind === 0 ? sampleHeaderLength + (random.nextUint32() % 17) - 8 : kind === 1 ? random.nextUint32() % (copy.length + 8) : random.nextUint32() * 2 ** 32 + random.nextUint32();
      view.setBigUint64(0, BigInt(Math.max(0, length)), true);
      attempt(copy);
    }
    // Structural JSON mutations, with the header length kept right so they reach validation.
    for (let i = 0; i < 1500; i++) attempt(withHeader(JSON.stringify(mutateHeader(random)), sampleData));
    // Text mutations of the header: delete, insert or replace one character.
    const text = JSON.stringify(sampleHeader);
    for (let i = 0; i < 1500; i++) {
      const at = random.nextUint32() % text.length;
      const c = pick(random, ['{', '}', '[', ']', '"', ',', ':', '0', '9', '-', ' ', '\\', 'é', '\u0000']);
      const kind = random.nextUint32() % 3;
      const mutated = kind === 0 ? text.slice(0, at) + text.slice(at + 1) : kind === 1 ? text.slice(0, at) + c + text.slice(at) : text.slice(0, at) + c + text.slice(at + 1);
      attempt(withHeader(mutated, sampleData));
    }
    expect(outcomes.refused).toBeGreaterThan(5000);
    expect(outcomes.decoded).toBeGreaterThan(1);
    expect(performance.now() - started).toBeLessThan(20_000);
  }, 30_000);
});
