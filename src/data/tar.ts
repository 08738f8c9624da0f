/**
 * A minimal reader for tar archives (POSIX ustar, GNU tar and pax headers) held in memory, enough
 * to read the official CIFAR tarballs without extracting them or spawning `tar`.
 *
 * Format (POSIX.1-1988 ustar, IEEE Std 1003.1 "pax" section; GNU tar manual "Basic Tar Format"):
 * 512-byte header blocks, each followed by the entry's data padded to a multiple of 512 bytes;
 * the archive ends with zero blocks. Numeric fields are octal ASCII, or GNU base-256 binary when
 * the first byte has its high bit set. The name is the 100-byte name field, prefixed by the
 * 155-byte prefix field in POSIX ustar archives (magic "ustar\0"; GNU archives, magic "ustar  ",
 * use those bytes for other fields), or replaced by a GNU long name ('L' entry) or a pax
 * extended header's `path` ('x' entry) before it.
 *
 * Archives are untrusted: every header's checksum is verified, every size is checked against the
 * bytes actually present before anything is read (entries are views into the input, nothing is
 * allocated from a size field), names that are absolute or contain a `..` component are refused
 * (even though nothing is written to disk here, so that callers never see such a name), and a
 * name that appears twice is refused rather than silently shadowed. Every problem is an Error
 * naming the archive, the entry and its byte offset. Entries cost at least 512 bytes each, so
 * a walk is bounded by the input's length.
 *
 * Browser-safe on uncompressed bytes; gunzipping (readTarGz on gzip input) needs Node's zlib,
 * fetched at call time.
 */
import { isGzip } from './idx.js';
import { nodeBuiltin } from '../platform/nodeBuiltins.js';

/** Size of a tar header and of the blocks data is padded to. */
export const TAR_BLOCK = 512;
/** Default cap on a decompressed archive: 256 MiB, above the ~184 MB CIFAR tarballs unpack to. */
export const MAX_TAR_BYTES = 256 * 2 ** 20;
/** Cap on the data of a GNU long-name or pax header entry (real ones are a few hundred bytes). */
const MAX_META_BYTES = 1 << 20;

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  /** Path inside the archive, without a leading "./" or a trailing "/". */
  name: string;
  /** 'file' for regular files (typeflag '0', NUL or '7'); 'other' covers devices, FIFOs, sparse files. */
  type: TarEntryType;
  /** The raw typeflag character, e.g. '0' or '5'. */
  typeflag: string;
  /** Bytes of data. */
  size: number;
  /** Offset of the entry's header in the archive. */
  offset: number;
  /** The data: a view into the archive bytes, not a copy. */
  data: Uint8Array;
}

export interface TarReadOptions {
  /** Cap on the decompressed size of a gzip archive (default MAX_TAR_BYTES). */
  maxBytes?: number;
}

const decoder = new TextDecoder('utf-8');

/** A NUL-terminated string field. */
function field(header: Uint8Array, start: number, length: number): string {
  const bytes = header.subarray(start, start + length);
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/**
 * A numeric field: octal ASCII (optional leading spaces, digits, then NULs or spaces), or GNU
 * base-256 when the high bit of the first byte is set. Returns a string describing the problem
 * when the field is malformed or not a safe integer.
 */
function numeric(header: Uint8Array, start: number, length: number): number | string {
  const bytes = header.subarray(start, start + length);
  if (bytes[0]! & 0x80) {
    if (bytes[0] === 0xff) return 'a negative base-256 number';
    let value = bytes[0]! & 0x7f;
    for (let i = 1; i < length; i++) {
      value = value * 256 + bytes[i]!;
      if (value > Number.MAX_SAFE_INTEGER) return 'a base-256 number beyond 2^53';
    }
    return value;
  }
  let i = 0;
  while (i < length && bytes[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < length && bytes[i]! >= 0x30 && bytes[i]! <= 0x37; i++, digits++) value = value * 8 + (bytes[i]! - 0x30);
  for (; i < length; i++) {
    if (bytes[i] !== 0 && bytes[i] !== 0x20) {
      const text = JSON.stringify(decoder.decode(bytes).replace(/\0+$/, ''));
      return `not an octal number (${text})`;
    }
  }
  // An all-NUL or all-space field reads as 0, as GNU tar reads it.
  return digits === 0 ? 0 : value;
}

function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function entryType(typeflag: string): TarEntryType {
  switch (typeflag) {
    case '0': case '\0': case '7': return 'file';
    case '5': return 'directory';
    case '2': return 'symlink';
    case '1': return 'hardlink';
    default: return 'other';
  }
}

/**
 * The name as it will be reported, or a problem. "./" prefixes and a trailing "/" are dropped;
 * absolute paths (also "C:" drive paths and backslashes, which are separators on Windows),
 * ".." components and embedded NULs are refused.
 */
function cleanName(raw: string): string | { problem: string } {
  if (raw.includes('\0')) return { problem: 'name contains a NUL byte' };
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) return { problem: `absolute path ${JSON.stringify(raw)} refused` };
  if (raw.includes('\\')) return { problem: `name ${JSON.stringify(raw)} contains a backslash, refused` };
  const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) return { problem: `name ${JSON.stringify(raw)} has a '..' component, refused (path traversal)` };
  return parts.join('/');
}

/** The `path` and `size` records of a pax extended header ("<length> <key>=<value>\n" each). */
function paxRecords(data: Uint8Array): { path?: string; size?: number } | string {
  const result: { path?: string; size?: number } = {};
  let at = 0;
  while (at < data.length) {
    if (data[at] === 0) break; // NUL padding after the last record
    const space = data.indexOf(0x20, at);
    if (space < 0 || space - at > 20) return `malformed pax record at byte ${at}`;
    const lengthText = decoder.decode(data.subarray(at, space));
    if (!/^[0-9]+$/.test(lengthText)) return `malformed pax record length ${JSON.stringify(lengthText)}`;
    const length = Number(lengthText);
    if (length <= space - at + 1 || at + length > data.length || data[at + length - 1] !== 0x0a) return `pax record at byte ${at} overruns its header`;
    const record = decoder.decode(data.subarray(space + 1, at + length - 1));
    const equals = record.indexOf('=');
    if (equals < 0) return `pax record at byte ${at} has no '='`;
    const key = record.slice(0, equals);
    const value = record.slice(equals + 1);
    if (key === 'path') result.path = value;
    if (key === 'size') {
      if (!/^[0-9]{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) return `pax size ${JSON.stringify(value)} is not a safe integer`;
      result.size = Number(value);
    }
    at += length;
  }
  return result;
}

/**
 * Every entry of an uncompressed tar archive, in order, directories and links included (each
 * name checked). `source` names the archive in errors.
 */
export function* tarEntries(bytes: Uint8Array, source: string): Generator<TarEntry> {
  let offset = 0;
  let index = 0;
  // Set by a GNU long-name or pax header, for the entry that follows it.
  let longName: string | undefined;
  let paxSize: number | undefined;
  while (offset < bytes.length) {
    const where = `${source}: entry ${index} at byte ${offset}`;
    if (bytes.length - offset < TAR_BLOCK) {
      if (isZeroBlock(bytes.subarray(offset))) return;
      throw new Error(`${where}: truncated: ${bytes.length - offset} bytes left, less than a ${TAR_BLOCK}-byte header`);
    }
    const header = bytes.subarray(offset, offset + TAR_BLOCK);
    // End of archive. What follows the first zero block is padding (or ignored, as tar does).
    if (isZeroBlock(header)) return;

    const checksum = numeric(header, 148, 8);
    if (typeof checksum === 'string') throw new Error(`${where}: header checksum field is ${checksum}: not a tar header`);
    let unsigned = 0;
    let signed = 0;
    for (let i = 0; i < TAR_BLOCK; i++) {
      const byte = i >= 148 && i < 156 ? 0x20 : header[i]!;
      unsigned += byte;
      signed += byte > 127 ? byte - 256 : byte;
    }
    // Some historic tars summed signed chars; both are accepted, as GNU tar does.
    if (checksum !== unsigned && checksum !== signed) {
      throw new Error(`${where}: bad header checksum: the header says ${checksum}, its bytes sum to ${unsigned} (corrupt archive, or not a tar file)`);
    }

    const typeflag = String.fromCharCode(header[156]!);
    const sizeField = numeric(header, 124, 12);
    if (typeof sizeField === 'string') throw new Error(`${where}: size field is ${sizeField}`);
    const size = paxSize ?? sizeField;
    const dataStart = offset + TAR_BLOCK;
    if (size > bytes.length - dataStart) {
      throw new Error(`${where}: size ${size} runs past the end of the archive (${bytes.length - dataStart} bytes left): truncated or corrupt`);
    }
    const data = bytes.subarray(dataStart, dataStart + size);
    const next = dataStart + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
    if (next > bytes.length) throw new Error(`${where}: truncated: the archive ends inside the entry's padding (a tar archive is whole ${TAR_BLOCK}-byte blocks)`);

    if (typeflag === 'L' || typeflag === 'x' || typeflag === 'g' || typeflag === 'K') {
      if (size > MAX_META_BYTES) throw new Error(`${where}: ${typeflag === 'L' || typeflag === 'K' ? 'GNU long name' : 'pax header'} of ${size} bytes exceeds ${MAX_META_BYTES}`);
      if (typeflag === 'L') {
        const end = data.indexOf(0);
        longName = decoder.decode(end < 0 ? data : data.subarray(0, end));
      } else if (typeflag === 'x') {
        const records = paxRecords(data);
        if (typeof records === 'string') throw new Error(`${where}: ${records}`);
        if (records.path !== undefined) longName = records.path;
        paxSize = records.size;
      }
      // 'g' (global pax defaults) and 'K' (GNU long link target) do not change names or sizes.
      offset = next;
      index++;
      continue;
    }

    const magic = field(header, 257, 6);
    const version = field(header, 263, 2);
    const prefix = magic === 'ustar' && version === '00' ? field(header, 345, 155) : '';
    const raw = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    longName = undefined;
    paxSize = undefined;
    const name = cleanName(raw);
    if (typeof name !== 'string') throw new Error(`${where}: ${name.problem}`);
    const type = entryType(typeflag);
    if (name === '' && type !== 'directory') throw new Error(`${where}: empty name`);
    yield { name, type, typeflag, size, offset, data };
    offset = next;
    index++;
  }
}

/**
 * The regular files of an uncompressed tar archive, by name (views into `bytes`). Directories,
 * links and special files are skipped; a file name that appears twice is an error.
 */
export function readTarFiles(bytes: Uint8Array, source: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const entry of tarEntries(bytes, source)) {
    if (entry.type !== 'file') continue;
    if (files.has(entry.name)) throw new Error(`${source}: entry at byte ${entry.offset} (${entry.name}): the name appears twice in the archive`);
    files.set(entry.name, entry.data);
  }
  return files;
}

/** readTarFiles on a .tar or .tar.gz held in memory (gzip detected by its magic, not the name). */
export function readTarGz(bytes: Uint8Array, source: string, options: TarReadOptions = {}): Map<string, Uint8Array> {
  const tar = isGzip(bytes) ? gunzipBounded(bytes, source, options.maxBytes ?? MAX_TAR_BYTES) : bytes;
  return readTarFiles(tar, source);
}

/** Decompresses gzip data, refusing to produce more than `maxBytes` (a gzip bomb stops there). */
export function gunzipBounded(bytes: Uint8Array, source: string, maxBytes: number): Uint8Array {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`${source}: maxBytes ${maxBytes} is not a non-negative integer`);
  const zlib = nodeBuiltin('node:zlib', `decompressing ${source}`);
  const tooLarge = () => new Error(`${source}: gzip data decompresses to more than ${maxBytes} bytes (the limit; pass a larger maxBytes if the file is genuine)`);
  let out: Uint8Array;
  try {
    // One byte over the limit, so "too large" is told apart from "exactly the limit".
    out = zlib.gunzipSync(bytes, { maxOutputLength: Math.max(1, maxBytes + 1) });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
    throw new Error(`${source}: corrupt or truncated gzip data (${(error as Error).message})`);
  }
  if (out.length > maxBytes) throw tooLarge();
  return out;
}
