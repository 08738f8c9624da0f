/**
 * Reader for the IDX files of MNIST and Fashion-MNIST ("FILE FORMATS FOR THE MNIST DATABASE",
 * http://yann.lecun.com/exdb/mnist/): a magic number 0x00 0x00 <type> <dimensions> (type 0x08 is
 * unsigned byte), then one big-endian u32 size per dimension, then the data in row-major order.
 * Files may be gzip-compressed (detected by the gzip magic 1f 8b, not by the file name).
 *
 * Files are untrusted: every size is checked against the bytes actually present and against a
 * bound on the element count before anything is allocated from it, decompression is capped at
 * the largest valid file, and every problem is an Error whose message names the file.
 *
 * Node's modules are fetched when a function needs them (process.getBuiltinModule), not imported,
 * so this file can be imported by code that also runs in a browser: decodeIdxImages and
 * decodeIdxLabels on uncompressed bytes work anywhere; gzip and files need Node.
 */
import { fileFailure, nodeBuiltin } from '../platform/nodeBuiltins.js';

/** Magic number of an IDX file of unsigned bytes with 1 dimension (MNIST labels). */
export const IDX_LABELS_MAGIC = 0x00000801;
/** Magic number of an IDX file of unsigned bytes with 3 dimensions (MNIST images). */
export const IDX_IMAGES_MAGIC = 0x00000803;
/** Default bound on the elements of one file: 2^31 bytes, far above any image set held in memory. */
export const MAX_IDX_ELEMENTS = 2 ** 31;

export interface IdxImages {
  /** count x rows x cols bytes, row-major, 0 = background. */
  images: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}

export interface IdxLabels {
  labels: Uint8Array;
  count: number;
}

export interface IdxReadOptions {
  /** Largest element count accepted (default MAX_IDX_ELEMENTS); also caps gzip output. */
  maxElements?: number;
}

/** True when the bytes begin with the gzip magic number (RFC 1952, section 2.3.1). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decodes an IDX image file (magic 0x00000803) held in memory; `source` names it in errors. */
export function decodeIdxImages(bytes: Uint8Array, source: string, options: IdxReadOptions = {}): IdxImages {
  const { data, dims } = decodeIdx(bytes, source, IDX_IMAGES_MAGIC, options);
  const [count, rows, cols] = dims as [number, number, number];
  if (rows === 0 || cols === 0) throw new Error(`${source}: image size ${rows} x ${cols} is empty`);
  return { images: data, count, rows, cols };
}

/** Decodes an IDX label file (magic 0x00000801) held in memory; `source` names it in errors. */
export function decodeIdxLabels(bytes: Uint8Array, source: string, options: IdxReadOptions = {}): IdxLabels {
  const { data, dims } = decodeIdx(bytes, source, IDX_LABELS_MAGIC, options);
  return { labels: data, count: dims[0]! };
}

/** Reads an IDX image file, raw or gzip (Node only). */
export function readIdxImages(path: string, options: IdxReadOptions = {}): IdxImages {
  return decodeIdxImages(readFileBytes(path), path, options);
}

/** Reads an IDX label file, raw or gzip (Node only). */
export function readIdxLabels(path: string, options: IdxReadOptions = {}): IdxLabels {
  return decodeIdxLabels(readFileBytes(path), path, options);
}

/** Throws unless the image and label files hold the same number of examples. */
export function checkIdxPair(images: IdxImages, labels: IdxLabels, imagesSource: string, labelsSource: string): void {
  if (images.count !== labels.count) {
    throw new Error(`${imagesSource} holds ${images.count} images but ${labelsSource} holds ${labels.count} labels`);
  }
}

/** The whole file as bytes; read errors are rethrown naming the file. */
function readFileBytes(path: string): Uint8Array {
  const fs = nodeBuiltin('node:fs', 'reading an IDX file');
  try {
    return fs.readFileSync(path);
  } catch (error) {
    throw new Error(`${path}: cannot read IDX file: ${fileFailure(error)}`);
  }
}

const MAGIC_NAMES: Record<number, string> = {
  [IDX_LABELS_MAGIC]: 'IDX unsigned-byte labels, 1 dimension',
  [IDX_IMAGES_MAGIC]: 'IDX unsigned-byte images, 3 dimensions',
};

const hex32 = (value: number) => `0x${value.toString(16).padStart(8, '0')}`;

function decodeIdx(bytes: Uint8Array, source: string, magic: number, options: IdxReadOptions): { data: Uint8Array; dims: number[] } {
  const maxElements = options.maxElements ?? MAX_IDX_ELEMENTS;
  if (!Number.isSafeInteger(maxElements) || maxElements < 0) throw new RangeError(`${source}: maxElements ${maxElements} is not a non-negative integer`);
  const rank = magic & 0xff;
  const headerBytes = 4 + 4 * rank;
  const raw = isGzip(bytes) ? gunzip(bytes, source, headerBytes + maxElements) : bytes;

  if (raw.length < 4) throw new Error(`${source}: truncated: ${raw.length} bytes, too short for the 4-byte IDX magic number`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const found = view.getUint32(0, false);
  if (found !== magic) {
    const other = MAGIC_NAMES[found];
    const hint = other ? ` (that is the magic of ${other}: are the files swapped?)` : '';
    throw new Error(`${source}: bad magic number ${hex32(found)}, expected ${hex32(magic)} (${MAGIC_NAMES[magic]})${hint}`);
  }
  if (raw.length < headerBytes) {
    throw new Error(`${source}: truncated: ${raw.length} bytes, shorter than the ${headerBytes}-byte header of ${rank} dimension sizes`);
  }

  const dims: number[] = [];
  for (let d = 0; d < rank; d++) dims.push(view.getUint32(4 + 4 * d, false));
  // A product of u32 sizes is exact in float64 up to 2^53 and certainly above the bound beyond it.
  const elements = dims.reduce((product, size) => product * size, 1);
  const sizes = dims.join(' x ');
  if (elements > maxElements) {
    throw new Error(`${source}: dimensions ${sizes} = ${elements} elements exceed the limit of ${maxElements}`);
  }
  const available = raw.length - headerBytes;
  if (available < elements) {
    throw new Error(`${source}: truncated: the header says ${sizes} = ${elements} bytes of data, the file holds ${available}`);
  }
  if (available > elements) {
    throw new Error(`${source}: ${available - elements} unexpected bytes after the ${sizes} = ${elements} bytes of data the header declares`);
  }
  // A copy, so the result owns exactly its bytes (not a view into a Node buffer pool or a
  // decompression buffer) and is a plain Uint8Array.
  const data = new Uint8Array(elements);
  data.set(raw.subarray(headerBytes));
  return { data, dims };
}

/** Decompresses a gzip file, refusing to produce more than `maxBytes` (a gzip bomb stops there). */
function gunzip(bytes: Uint8Array, source: string, maxBytes: number): Uint8Array {
  const zlib = nodeBuiltin('node:zlib', `decompressing ${source}`);
  try {
    // One byte over the largest valid file, so "too large" is told apart from "exactly the limit".
    return zlib.gunzipSync(bytes, { maxOutputLength: maxBytes + 1 });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') {
      throw new Error(`${source}: gzip data decompresses to more than ${maxBytes} bytes, more than a file within the element limit can hold`);
    }
    throw new Error(`${source}: corrupt or truncated gzip data (${(error as Error).message})`);
  }
}
