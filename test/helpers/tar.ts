/**
 * Test fixtures for the tar reader and the CIFAR loaders: a small tar writer (ustar, GNU long
 * names, pax paths) and CIFAR binary batch files of a few records with known contents.
 */
import { SeededRandom } from '../../src/data/batches.js';

export interface TarMember {
  name: string;
  data?: Uint8Array | string;
  /** Typeflag character (default '0', a regular file). */
  type?: string;
  /** POSIX ustar prefix field (the stored name is prefix + "/" + name). */
  prefix?: string;
  /** 'ustar' (default, magic "ustar\0" "00") or 'gnu' (magic "ustar  \0"). */
  format?: 'ustar' | 'gnu';
  /** Overrides the size field (e.g. to claim more bytes than follow). */
  sizeField?: string;
}

const encoder = new TextEncoder();

function put(header: Uint8Array, offset: number, text: string): void {
  header.set(encoder.encode(text), offset);
}

const octal = (value: number, width: number) => `${value.toString(8).padStart(width - 1, '0')}\0`;

/** One 512-byte header with a correct checksum. */
export function tarHeader(member: TarMember, size: number): Uint8Array {
  const header = new Uint8Array(512);
  put(header, 0, member.name);
  put(header, 100, octal(0o644, 8));
  put(header, 108, octal(0, 8));
  put(header, 116, octal(0, 8));
  put(header, 124, member.sizeField ?? octal(size, 12));
  put(header, 136, octal(1700000000, 12));
  put(header, 156, member.type ?? '0');
  if (member.format === 'gnu') put(header, 257, 'ustar  \0');
  else {
    put(header, 257, 'ustar\0');
    put(header, 263, '00');
  }
  if (member.prefix) put(header, 345, member.prefix);
  setChecksum(header);
  return header;
}

/** Recomputes a header's checksum field (after a test edits the header). */
export function setChecksum(header: Uint8Array): void {
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(header, 148, `${sum.toString(8).padStart(6, '0')}\0 `);
}

/** A tar archive of the members, data padded to 512 bytes, ended by two zero blocks. */
export function makeTar(members: readonly TarMember[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const member of members) {
    const data = typeof member.data === 'string' ? encoder.encode(member.data) : member.data ?? new Uint8Array(0);
    blocks.push(tarHeader(member, data.length));
    const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
    padded.set(data);
    blocks.push(padded);
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const block of blocks) {
    out.set(block, at);
    at += block.length;
  }
  return out;
}

/** A GNU long-name entry followed by the entry it names. */
export function longNameMembers(name: string, data: Uint8Array | string): TarMember[] {
  return [
    { name: '././@LongLink', type: 'L', data: `${name}\0`, format: 'gnu' },
    { name: name.slice(0, 99), data, format: 'gnu' },
  ];
}

export interface CifarBatch {
  bytes: Uint8Array;
  /** count x 3072 pixel bytes. */
  pixels: Uint8Array;
  /** The label of each record (CIFAR-100: fine). */
  labels: number[];
  /** CIFAR-100 coarse labels. */
  coarse: number[];
}

/**
 * A CIFAR binary file of `count` records with seeded pixels; CIFAR-10 labels (seed + i) % 10,
 * CIFAR-100 fine (seed * 7 + i * 13) % 100 and coarse fine % 20.
 */
export function cifarBatch(count: number, format: 'cifar10' | 'cifar100', seed: number): CifarBatch {
  const labelBytes = format === 'cifar10' ? 1 : 2;
  const record = labelBytes + 3072;
  const random = new SeededRandom(seed);
  const bytes = new Uint8Array(count * record);
  const pixels = new Uint8Array(count * 3072);
  const labels: number[] = [];
  const coarse: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = i * record;
    if (format === 'cifar10') {
      labels.push((seed + i) % 10);
      bytes[start] = labels[i]!;
    } else {
      labels.push((seed * 7 + i * 13) % 100);
      coarse.push(labels[i]! % 20);
      bytes[start] = coarse[i]!;
      bytes[start + 1] = labels[i]!;
    }
    for (let p = 0; p < 3072; p++) {
      const value = random.nextUint32() & 0xff;
      bytes[start + labelBytes + p] = value;
      pixels[i * 3072 + p] = value;
    }
  }
  return { bytes, pixels, labels, coarse };
}

/** The files of a small CIFAR-10: `perBatch` records in each of the six batch files. */
export function cifar10Files(perBatch = 2): { files: Record<string, Uint8Array>; train: CifarBatch[]; test: CifarBatch } {
  const train = [1, 2, 3, 4, 5].map((b) => cifarBatch(perBatch, 'cifar10', b));
  const test = cifarBatch(perBatch, 'cifar10', 6);
  const files: Record<string, Uint8Array> = { 'test_batch.bin': test.bytes, 'batches.meta.txt': encoder.encode('airplane\nautomobile\n\n') };
  train.forEach((batch, i) => (files[`data_batch_${i + 1}.bin`] = batch.bytes));
  return { files, train, test };
}

/** Concatenation of byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Tar members `<folder>/<file>` for each file, after a directory entry. */
export function folderMembers(folder: string, files: Record<string, Uint8Array>): TarMember[] {
  return [{ name: `${folder}/`, type: '5' }, ...Object.entries(files).map(([file, data]) => ({ name: `${folder}/${file}`, data }))];
}
