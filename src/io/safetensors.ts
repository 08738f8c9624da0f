/**
 * Reader and writer for safetensors files (Hugging Face, https://github.com/huggingface/safetensors,
 * "Format" in its README): an unsigned little-endian u64 N, then N bytes of UTF-8 JSON that begin
 * with `{`, then the data buffer. The JSON maps each tensor name to
 * `{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}`, offsets relative to the start
 * of the data buffer, `end` one past the last byte; the optional key `__metadata__` holds a
 * string-to-string map. Data is little-endian and row-major (C order), tensors are packed, and the
 * offsets tile the buffer exactly: no gaps, no overlaps, nothing after the last tensor.
 *
 * The writer lays files out as the reference writer does, so the bytes match it for the same
 * input: `__metadata__` first, tensors sorted by descending dtype (the reference's enum order, which
 * puts 8-byte types first, then 4-, 2- and 1-byte ones) and then by name, header padded with
 * spaces to a multiple of 8 bytes. With that order every tensor starts at a multiple of its element
 * size, so a file read into an 8-aligned buffer can be viewed as typed arrays without copying.
 * Unlike the reference, metadata keys are sorted too (it writes them in hash order), so the same
 * input always gives the same bytes.
 *
 * Files are untrusted: the header length is checked against a bound and against the bytes present
 * before the header is decoded, every entry is validated, sizes are computed in exact integer
 * arithmetic (safe integers, checked at each step), and nothing is allocated from a claimed size
 * until all offsets are known to lie within the bytes actually given. Every problem is a
 * SafetensorsError whose message begins with the file's name.
 *
 * Pure Uint8Array in and out, no Node modules: this file runs in a browser too.
 */

/** The element types of the format, with their sizes in bytes. */
export const SAFETENSORS_DTYPE_BYTES = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const);

export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPE_BYTES;

/**
 * The dtypes in the reference implementation's enum order (increasing alignment). Its writer
 * sorts by this order, descending, before the name; the writer here does the same.
 */
const DTYPE_ORDER: readonly SafetensorsDtype[] = [
  'BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64',
];

/** The reference implementation's bound on the header (100 MB), against JSON denial of service. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/** Key of the optional string-to-string metadata map in the header. */
const METADATA_KEY = '__metadata__';

/** Any problem reading or writing a safetensors file; the message begins with the file's name. */
export class SafetensorsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SafetensorsError';
  }
}

/** A tensor to write: `data` holds exactly (product of shape) x (dtype size) bytes, row-major. */
export interface SafetensorsTensorInput {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /**
   * The bytes as they are in memory: a typed array of the matching element type, or any view of
   * the raw little-endian bytes. 16-bit floats (F16, BF16) are given as their bit patterns.
   */
  data: ArrayBufferView;
}

/** The typed array a decoded tensor comes in (see typedArrayFor for which dtype gives which). */
export type SafetensorsArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /**
   * A copy that owns its buffer (so it is aligned and independent of the input bytes):
   * F32 Float32Array, F64 Float64Array, I32 Int32Array, U32 Uint32Array, I16 Int16Array,
   * U16 Uint16Array, I8 Int8Array, I64 BigInt64Array, U64 BigUint64Array; F16 and BF16 as
   * Uint16Array bit patterns; U8, BOOL, F8_E5M2 and F8_E4M3 as Uint8Array.
   */
  data: SafetensorsArray;
}

/** The dtype and shape a caller requires of one tensor. */
export interface SafetensorsExpectation {
  dtype: SafetensorsDtype;
  shape: readonly number[];
}

export interface SafetensorsDecodeOptions {
  /** Names the bytes in error messages (a file name); default 'safetensors data'. */
  source?: string;
  /** Largest header accepted, in bytes; default SAFETENSORS_MAX_HEADER_BYTES (100 MB). */
  maxHeaderBytes?: number;
  /**
   * Tensors the caller requires, with their dtype and shape: a missing tensor, a different dtype
   * or a different shape is an error. Tensors in the file but not listed are an error too,
   * unless `allowExtra` is set.
   */
  expect?: Readonly<Record<string, SafetensorsExpectation>>;
  /** With `expect`: accept tensors that `expect` does not list (default false). */
  allowExtra?: boolean;
}

export interface SafetensorsContents {
  /** The tensors in the order of their data in the file. */
  tensors: Map<string, SafetensorsTensor>;
  /** The `__metadata__` map, or {} when the file has none. */
  metadata: Record<string, string>;
}

/** True on little-endian hosts, where typed arrays hold the file's byte order as it is. */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A lookup of dtype names that ignores Object.prototype ('toString' is not a dtype). */
function dtypeSize(name: unknown): number | undefined {
  if (typeof name !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPE_BYTES, name)) return undefined;
  return SAFETENSORS_DTYPE_BYTES[name as SafetensorsDtype];
}

/** A name for messages: JSON-quoted (control characters visible) and cut to a readable length. */
function quote(name: string): string {
  const text = JSON.stringify(name);
  return text.length > 120 ? `${text.slice(0, 100)}..." (${name.length} characters)` : text;
}

function shapeText(shape: readonly unknown[]): string {
  const text = `[${shape.map((d) => (typeof d === 'number' ? String(d) : JSON.stringify(d) ?? String(d))).join(', ')}]`;
  return text.length > 200 ? `${text.slice(0, 190)}...] (${shape.length} dimensions)` : text;
}

/**
 * Bytes of a tensor of this shape and element size, or a reason it has none: every dimension a
 * non-negative safe integer, the element count and the byte count exactly representable.
 */
function shapeBytes(shape: unknown, elementBytes: number): { bytes: number } | { problem: string } {
  if (!Array.isArray(shape)) return { problem: `shape is ${describe(shape)}, not an array` };
  let elements = 1;
  let overflow = false;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      return { problem: `shape ${shapeText(shape)}: dimension ${i} is ${describe(d)}, not a non-negative integer` };
    }
    // Products of safe integers are exact while they stay safe; past that only "overflow" is known.
    // A zero dimension later still makes the tensor empty, so keep going.
    if (!overflow) {
      elements *= d;
      if (!Number.isSafeInteger(elements)) overflow = true;
    }
  }
  if (shape.includes(0)) return { bytes: 0 };
  const bytes = elements * elementBytes;
  if (overflow || !Number.isSafeInteger(bytes)) {
    return { problem: `shape ${shapeText(shape)} has more elements than can be counted exactly (over 2^53 bytes)` };
  }
  return { bytes };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${quote(value)}`;
  return String(value);
}

// ---------------------------------------------------------------------------------------------
// Writing

/** UTF-8 byte order of two strings, the order of the reference writer (Rust string comparison). */
function compareUtf8(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/**
 * A safetensors file holding `tensors` (and `metadata` as `__metadata__`, written when given,
 * even empty). Deterministic: the same tensors and metadata give the same bytes, whatever the
 * key order of the objects passed. Throws SafetensorsError for an unknown dtype, a bad shape,
 * data of the wrong byte length or a non-string metadata value.
 */
export function encodeSafetensors(
  tensors: Readonly<Record<string, SafetensorsTensorInput>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const where = 'safetensors encoder';
  if (!HOST_IS_LITTLE_ENDIAN) throw new SafetensorsError(`${where}: needs a little-endian host (typed arrays are written as they are in memory)`);
  const encoder = new TextEncoder();

  const entries = Object.keys(tensors).map((name) => {
    const tensor = tensors[name]!;
    if (name === METADATA_KEY) throw new SafetensorsError(`${where}: ${METADATA_KEY} is reserved for metadata, not a tensor name`);
    const size = dtypeSize(tensor.dtype);
    if (size === undefined) {
      throw new SafetensorsError(`${where}: tensor ${quote(name)}: unknown dtype ${describe(tensor.dtype)} (known: ${DTYPE_ORDER.join(', ')})`);
    }
    const sized = shapeBytes(tensor.shape, size);
    if ('problem' in sized) throw new SafetensorsError(`${where}: tensor ${quote(name)}: ${sized.problem}`);
    const data = tensor.data;
    if (!ArrayBuffer.isView(data)) throw new SafetensorsError(`${where}: tensor ${quote(name)}: data is not a typed array or DataView`);
    if (data.byteLength !== sized.bytes) {
      throw new SafetensorsError(
        `${where}: tensor ${quote(name)}: ${tensor.dtype} ${shapeText(tensor.shape)} needs ${sized.bytes} bytes, data holds ${data.byteLength}`,
      );
    }
    return {
      name,
      nameBytes: encoder.encode(name),
      dtype: tensor.dtype,
      shape: [...tensor.shape],
      bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
  });
  entries.sort((a, b) => DTYPE_ORDER.indexOf(b.dtype) - DTYPE_ORDER.indexOf(a.dtype) || compareUtf8(a.nameBytes, b.nameBytes));

  // The JSON is built by hand, not by JSON.stringify of one object: object key order in
  // JavaScript puts integer-like names ("0", "1") first, which would break the layout order.
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort((a, b) => compareUtf8(encoder.encode(a), encoder.encode(b)));
    const fields = keys.map((key) => {
      const value: unknown = metadata[key];
      if (typeof value !== 'string') throw new SafetensorsError(`${where}: metadata ${quote(key)} is ${describe(value)}; metadata values must be strings`);
      return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
    });
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${fields.join(',')}}`);
  }
  let offset = 0;
  for (const entry of entries) {
    const end = offset + entry.bytes.byteLength;
    parts.push(`${JSON.stringify(entry.name)}:{"dtype":${JSON.stringify(entry.dtype)},"shape":[${entry.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = encoder.encode(`{${parts.join(',')}}`);
  // Padded with spaces (valid trailing JSON whitespace) so the data starts 8-aligned.
  const headerBytes = Math.ceil(json.length / 8) * 8;
  if (!Number.isSafeInteger(8 + headerBytes + offset)) throw new SafetensorsError(`${where}: the file would exceed 2^53 bytes`);

  const file = new Uint8Array(8 + headerBytes + offset);
  const view = new DataView(file.buffer);
  view.setUint32(0, headerBytes % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerBytes / 2 ** 32), true);
  file.set(json, 8);
  file.fill(0x20, 8 + json.length, 8 + headerBytes);
  let at = 8 + headerBytes;
  for (const entry of entries) {
    file.set(entry.bytes, at);
    at += entry.bytes.byteLength;
  }
  return file;
}

// ---------------------------------------------------------------------------------------------
// Reading

interface Entry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Decodes a safetensors file held in memory, validating everything (see the file comment) and
 * copying each tensor into a typed array of its own. Throws SafetensorsError, naming
 * `options.source`, for any problem, and for tensors that do not match `options.expect`.
 */
export function decodeSafetensors(bytes: Uint8Array, options: SafetensorsDecodeOptions = {}): SafetensorsContents {
  const source = options.source ?? 'safetensors data';
  const fail: (problem: string) => never = (problem) => {
    throw new SafetensorsError(`${source}: ${problem}`);
  };
  if (!HOST_IS_LITTLE_ENDIAN) fail('reading safetensors needs a little-endian host');
  if (!(bytes instanceof Uint8Array)) fail(`expected the file's bytes as a Uint8Array, got ${describe(bytes)}`);
  const maxHeaderBytes = options.maxHeaderBytes ?? SAFETENSORS_MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(maxHeaderBytes) || maxHeaderBytes < 0) fail(`maxHeaderBytes ${maxHeaderBytes} is not a non-negative integer`);

  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Above 2^53 the float sum is inexact, but it is then far above any bound and any file.
  const headerBytes = view.getUint32(4, true) * 2 ** 32 + view.getUint32(0, true);
  const exactHeaderBytes = () => view.getBigUint64(0, true).toString();
  if (headerBytes > maxHeaderBytes) fail(`header length ${exactHeaderBytes()} bytes exceeds the limit of ${maxHeaderBytes} bytes`);
  if (headerBytes > bytes.length - 8) {
    fail(`truncated: the header length says ${exactHeaderBytes()} bytes of JSON, the file holds ${bytes.length - 8} bytes after the length`);
  }
  const dataBytes = bytes.length - 8 - headerBytes;
  if (headerBytes === 0 || bytes[8] !== 0x7b) fail(`the header does not begin with '{' (is this a safetensors file?)`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerBytes));
  } catch {
    return fail('the header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    return fail(`the header is not valid JSON (${(error as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail(`the header is ${describe(header)}, not a JSON object`);

  // JSON.parse keeps the last of duplicate keys, which the format forbids; a dropped duplicate
  // leaves its byte range uncovered, so the coverage check below still refuses such files unless
  // the duplicates are identical.
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      metadata = readMetadata(value, fail);
      continue;
    }
    entries.push(readEntry(name, value, dataBytes, fail));
  }

  // The offsets must tile the data buffer: sorted by position, each tensor begins where the
  // previous one ended, the first at 0, the last at the end of the file.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const entry of entries) {
    if (entry.begin > covered) fail(`data bytes ${covered} to ${entry.begin} belong to no tensor (a gap before tensor ${quote(entry.name)})`);
    if (entry.begin < covered) {
      fail(`tensor ${quote(entry.name)} at bytes [${entry.begin}, ${entry.end}] overlaps tensor ${quote(previous!.name)} at [${previous!.begin}, ${previous!.end}]`);
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered !== dataBytes) fail(`${dataBytes - covered} bytes of data after the last tensor, which ends at byte ${covered} of ${dataBytes}`);

  if (options.expect !== undefined) checkExpected(entries, options.expect, options.allowExtra ?? false, fail);

  // Only now, with every range known to lie inside `bytes`, is anything allocated.
  const tensors = new Map<string, SafetensorsTensor>();
  const dataStart = 8 + headerBytes;
  for (const entry of entries) {
    const copy = new Uint8Array(entry.end - entry.begin);
    copy.set(bytes.subarray(dataStart + entry.begin, dataStart + entry.end));
    tensors.set(entry.name, { dtype: entry.dtype, shape: entry.shape, data: typedArrayFor(entry.dtype, copy.buffer) });
  }
  return { tensors, metadata };
}

function readMetadata(value: unknown, fail: (problem: string) => never): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`${METADATA_KEY} is ${describe(value)}, not an object of strings`);
  const fields = Object.entries(value as Record<string, unknown>);
  for (const [key, field] of fields) {
    if (typeof field !== 'string') fail(`${METADATA_KEY} ${quote(key)} is ${describe(field)}; metadata values must be strings`);
  }
  // fromEntries defines own properties, so a key "__proto__" stays a key, not a prototype.
  return Object.fromEntries(fields) as Record<string, string>;
}

function readEntry(name: string, value: unknown, dataBytes: number, fail: (problem: string) => never): Entry {
  const at = `tensor ${quote(name)}`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`${at}: entry is ${describe(value)}, not an object`);
  const info = value as Record<string, unknown>;
  for (const key of Object.keys(info)) {
    if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') fail(`${at}: unknown field ${quote(key)} (expected dtype, shape, data_offsets)`);
  }
  for (const key of ['dtype', 'shape', 'data_offsets']) {
    if (!Object.hasOwn(info, key)) fail(`${at}: missing field ${key}`);
  }
  const size = dtypeSize(info.dtype);
  if (size === undefined) fail(`${at}: unknown dtype ${describe(info.dtype)} (known: ${DTYPE_ORDER.join(', ')})`);
  const dtype = info.dtype as SafetensorsDtype;
  const sized = shapeBytes(info.shape, size);
  if ('problem' in sized) return fail(`${at}: ${sized.problem}`);

  const offsets = info.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2) fail(`${at}: data_offsets is ${describe(offsets)}, not a [begin, end] pair`);
  const [begin, end] = offsets as unknown[];
  for (const [label, offset] of [['begin', begin], ['end', end]] as const) {
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      fail(`${at}: data_offsets ${label} is ${describe(offset)}, not a non-negative integer`);
    }
  }
  const b = begin as number;
  const e = end as number;
  if (e < b) fail(`${at}: data_offsets [${b}, ${e}] end before they begin`);
  if (e > dataBytes) fail(`${at}: data_offsets [${b}, ${e}] run past the end of the ${dataBytes} bytes of data (truncated file?)`);
  if (e - b !== sized.bytes) {
    fail(`${at}: ${dtype} ${shapeText(info.shape as unknown[])} needs ${sized.bytes} bytes, data_offsets [${b}, ${e}] hold ${e - b}`);
  }
  return { name, dtype, shape: [...(info.shape as number[])], begin: b, end: e };
}

function checkExpected(
  entries: readonly Entry[],
  expect: Readonly<Record<string, SafetensorsExpectation>>,
  allowExtra: boolean,
  fail: (problem: string) => never,
): void {
  const found = new Map(entries.map((entry) => [entry.name, entry]));
  const missing = Object.keys(expect).filter((name) => !found.has(name));
  if (missing.length > 0) {
    fail(`missing tensor${missing.length > 1 ? 's' : ''} ${listNames(missing)} (the file holds ${entries.length} tensor${entries.length === 1 ? '' : 's'})`);
  }
  for (const [name, wanted] of Object.entries(expect)) {
    const entry = found.get(name)!;
    if (entry.dtype !== wanted.dtype) fail(`tensor ${quote(name)}: dtype ${entry.dtype} in the file, expected ${wanted.dtype}`);
    const sameShape = entry.shape.length === wanted.shape.length && entry.shape.every((d, i) => d === wanted.shape[i]);
    if (!sameShape) fail(`tensor ${quote(name)}: shape ${shapeText(entry.shape)} in the file, expected ${shapeText(wanted.shape)}`);
  }
  if (!allowExtra) {
    const extra = entries.filter((entry) => !Object.hasOwn(expect, entry.name)).map((entry) => entry.name);
    if (extra.length > 0) fail(`unexpected tensor${extra.length > 1 ? 's' : ''} ${listNames(extra)} (not among the ${Object.keys(expect).length} expected)`);
  }
}

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, 5).map(quote).join(', ');
  return names.length > 5 ? `${shown} and ${names.length - 5} more` : shown;
}

/** The typed array of a dtype over an owned buffer (its length is a multiple of the size). */
function typedArrayFor(dtype: SafetensorsDtype, buffer: ArrayBuffer): SafetensorsArray {
  switch (dtype) {
    case 'F32':
      return new Float32Array(buffer);
    case 'F64':
      return new Float64Array(buffer);
    case 'I32':
      return new Int32Array(buffer);
    case 'U32':
      return new Uint32Array(buffer);
    case 'I16':
      return new Int16Array(buffer);
    case 'U16':
    case 'F16':
    case 'BF16':
      return new Uint16Array(buffer);
    case 'I8':
      return new Int8Array(buffer);
    case 'I64':
      return new BigInt64Array(buffer);
    case 'U64':
      return new BigUint64Array(buffer);
    case 'U8':
    case 'BOOL':
    case 'F8_E5M2':
    case 'F8_E4M3':
      return new Uint8Array(buffer);
  }
}
