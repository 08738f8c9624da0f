/**
 * CIFAR-10 and CIFAR-100 (Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny
 * Images"; https://www.cs.toronto.edu/~kriz/cifar.html) from their binary versions.
 *
 * Layout, as the dataset page describes it: each file is a sequence of fixed-size records,
 *   CIFAR-10:  1 label byte (0..9)                       + 3072 pixel bytes
 *   CIFAR-100: 1 coarse label byte (0..19), 1 fine (0..99) + 3072 pixel bytes
 * with the pixels of one 32x32 colour image stored channel by channel (1024 red, 1024 green,
 * 1024 blue), each channel row-major: exactly the [C, H, W] = [3, 32, 32] layout of a Dataset.
 * CIFAR-10 has data_batch_1.bin .. data_batch_5.bin (10,000 records each) and test_batch.bin in
 * cifar-10-batches-bin/; CIFAR-100 has train.bin (50,000) and test.bin (10,000) in
 * cifar-100-binary/, with fine_label_names.txt and coarse_label_names.txt (one name a line).
 *
 * Sources: a directory holding the extracted folder (or the folder itself), or the official
 * .tar.gz read in memory (tar.ts) without extracting anything, or bytes already in memory.
 *
 * Normalization: the single training mean and std of makeDataset (the Dataset type has one
 * mean/std, used by every consumer to map values back), not per-channel statistics. On CIFAR-10
 * the channel means (0.491, 0.482, 0.447) and stds (0.247, 0.243, 0.262) are within 0.045 and
 * 0.02 of each other, so the single standardization leaves every channel with a mean within
 * about 0.1 of 0 and a std within about 5% of 1, which is what the standardization is for. The channel
 * statistics are still computed (exactly, from byte histograms) and returned as channelMean and
 * channelStd of a CifarDataset, for reports and for a later per-channel mode.
 *
 * Files are untrusted: lengths must be a whole number of records, labels must be in range,
 * files and archives are size-capped before they are read or decompressed, and every problem is
 * an Error naming the file (and the archive member) and the problem.
 *
 * Importing this file is browser-safe: Node's modules are fetched at call time; cifarFromFiles
 * and decodeCifarRecords work anywhere.
 */
import { makeDataset, type Dataset, type NormalizeOptions } from './datasets.js';
import { fileFailure, nodeBuiltin } from '../platform/nodeBuiltins.js';
import { MAX_TAR_BYTES, readTarGz } from './tar.js';

export type CifarFormat = 'cifar10' | 'cifar100';

/** [C, H, W] of one CIFAR image. */
export const CIFAR_SHAPE: readonly [3, 32, 32] = [3, 32, 32];
/** Pixel bytes of one record. */
export const CIFAR_PIXELS = 3 * 32 * 32;
/** Cap on one batch file read from disk: 256 MiB, above the 153.7 MB of CIFAR-100's train.bin. */
export const MAX_CIFAR_FILE_BYTES = 256 * 2 ** 20;
/** Cap on a label-names file (the real ones are under 1 KB). */
const MAX_NAMES_BYTES = 64 * 1024;

export const CIFAR10_CLASS_NAMES: readonly string[] = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
];

/** Names of the CIFAR-10 binary files, in the folder the official tarball unpacks to. */
export const CIFAR10_FILES = {
  archive: 'cifar-10-binary.tar.gz',
  folder: 'cifar-10-batches-bin',
  train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  test: 'test_batch.bin',
  names: 'batches.meta.txt',
} as const;

/** Names of the CIFAR-100 binary files, in the folder the official tarball unpacks to. */
export const CIFAR100_FILES = {
  archive: 'cifar-100-binary.tar.gz',
  folder: 'cifar-100-binary',
  train: ['train.bin'],
  test: 'test.bin',
  fineNames: 'fine_label_names.txt',
  coarseNames: 'coarse_label_names.txt',
} as const;

export interface CifarOptions extends NormalizeOptions {
  /** CIFAR-100 only: label with the 20 coarse superclasses instead of the 100 fine classes. */
  coarse?: boolean;
  /** Cap on the decompressed size of a .tar.gz (default MAX_TAR_BYTES, 256 MiB). */
  maxArchiveBytes?: number;
}

export interface CifarDataset extends Dataset {
  /** One name per class: CIFAR-10's ten, CIFAR-100's from its label-names file ("class 7" without it). */
  classNames: readonly string[];
  /** Per-channel mean and (population) std of the [0, 1]-scaled training pixels (not applied). */
  channelMean: number[];
  channelStd: number[];
}

/** Where a CIFAR dataset was found: an extracted folder or the official tarball. */
export type CifarSource = { kind: 'folder'; path: string } | { kind: 'archive'; path: string };

/** Pixels and labels of one or more batch files, contiguous. */
export interface CifarRecords {
  /** count x 3072 bytes, [3, 32, 32] per record. */
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
}

interface Layout {
  format: CifarFormat;
  name: string;
  title: string;
  labelBytes: number;
  /** Which label byte is used: 0 (CIFAR-10, CIFAR-100 coarse) or 1 (CIFAR-100 fine). */
  labelIndex: number;
  classes: number;
  archive: string;
  folder: string;
  train: readonly string[];
  test: string;
  /** The label-names file to read, if any. */
  namesFile?: string;
}

function layoutOf(format: CifarFormat, coarse = false): Layout {
  if (format === 'cifar10') {
    if (coarse) throw new RangeError('CIFAR-10 has no coarse labels (the coarse option is for CIFAR-100)');
    return { format, name: 'cifar10', title: 'CIFAR-10', labelBytes: 1, labelIndex: 0, classes: 10, ...CIFAR10_FILES };
  }
  if (format !== 'cifar100') throw new RangeError(`unknown CIFAR format ${JSON.stringify(format)} (cifar10 or cifar100)`);
  return {
    format,
    name: coarse ? 'cifar100-coarse' : 'cifar100',
    title: coarse ? 'CIFAR-100 (coarse labels)' : 'CIFAR-100',
    labelBytes: 2,
    labelIndex: coarse ? 0 : 1,
    classes: coarse ? 20 : 100,
    archive: CIFAR100_FILES.archive,
    folder: CIFAR100_FILES.folder,
    train: CIFAR100_FILES.train,
    test: CIFAR100_FILES.test,
    namesFile: coarse ? CIFAR100_FILES.coarseNames : CIFAR100_FILES.fineNames,
  };
}

/** Records in a file of `length` bytes; throws naming `source` unless it is a whole, non-zero number. */
function recordCount(length: number, source: string, layout: Layout): number {
  const recordSize = layout.labelBytes + CIFAR_PIXELS;
  const what = `${recordSize}-byte records (${layout.labelBytes} label byte${layout.labelBytes > 1 ? 's' : ''} + ${CIFAR_PIXELS} pixels)`;
  if (length === 0) throw new Error(`${source}: empty file: it holds no images, expected ${what}`);
  if (length % recordSize !== 0) {
    throw new Error(
      `${source}: ${length} bytes is not a whole number of ${what}: ` +
        `${Math.floor(length / recordSize)} records and ${length % recordSize} bytes over (truncated, or not a ${layout.title.replace(/ \(.*/, '')} binary file)`,
    );
  }
  return length / recordSize;
}

/** Copies the records of `bytes` into `out` from record `at` on, checking every label. */
function copyRecords(bytes: Uint8Array, source: string, layout: Layout, out: CifarRecords, at: number): void {
  const recordSize = layout.labelBytes + CIFAR_PIXELS;
  const count = bytes.length / recordSize;
  for (let r = 0; r < count; r++) {
    const start = r * recordSize;
    for (let b = 0; b < layout.labelBytes; b++) {
      // Both labels of a CIFAR-100 record are checked, so a corrupt record is caught whichever is used.
      const limit = layout.labelBytes === 2 ? (b === 0 ? 20 : 100) : 10;
      const label = bytes[start + b]!;
      if (label >= limit) {
        const kind = layout.labelBytes === 2 ? (b === 0 ? 'coarse label' : 'fine label') : 'label';
        throw new Error(`${source}: record ${r} (byte ${start + b}) has ${kind} ${label}, outside [0, ${limit}): corrupt or not a ${layout.format === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100'} file`);
      }
    }
    out.labels[at + r] = bytes[start + layout.labelIndex]!;
    out.pixels.set(bytes.subarray(start + layout.labelBytes, start + recordSize), (at + r) * CIFAR_PIXELS);
  }
}

/** Decodes the records of one or more batch files into contiguous arrays (one allocation). */
function decodeFiles(files: readonly { bytes: Uint8Array; source: string }[], layout: Layout): CifarRecords {
  const counts = files.map(({ bytes, source }) => recordCount(bytes.length, source, layout));
  const count = counts.reduce((a, b) => a + b, 0);
  // Sized from lengths already present in memory, so never more than the input itself.
  const out: CifarRecords = { pixels: new Uint8Array(count * CIFAR_PIXELS), labels: new Uint8Array(count), count };
  let at = 0;
  files.forEach(({ bytes, source }, i) => {
    copyRecords(bytes, source, layout, out, at);
    at += counts[i]!;
  });
  return out;
}

/**
 * Decodes one CIFAR binary file held in memory (e.g. data_batch_1.bin). For CIFAR-100 the fine
 * label is returned unless `coarse`. Browser-safe.
 */
export function decodeCifarRecords(bytes: Uint8Array, source: string, format: CifarFormat, options: { coarse?: boolean } = {}): CifarRecords {
  return decodeFiles([{ bytes, source }], layoutOf(format, options.coarse));
}

/** Class names from a label-names file: one a line, blank lines ignored; the count must match. */
function parseNames(bytes: Uint8Array, source: string, classes: number): string[] {
  if (bytes.length > MAX_NAMES_BYTES) throw new Error(`${source}: ${bytes.length} bytes is too large for a label-names file (limit ${MAX_NAMES_BYTES})`);
  const names = new TextDecoder('utf-8').decode(bytes).split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '');
  if (names.length !== classes) throw new Error(`${source}: ${names.length} class names, expected ${classes}, one a line`);
  return names;
}

/** The files of one dataset, however they are stored: returns undefined for a missing one. */
export interface CifarFiles {
  /** Bytes of `file` (a base name such as data_batch_1.bin), or undefined when absent. */
  read(file: string): Uint8Array | undefined;
  /** How `file` is named in errors (a path, or "<archive> member <folder>/<file>"). */
  describe(file: string): string;
}

/**
 * Builds the Dataset from the files `files` gives access to: every batch file must be present,
 * the label-names file is optional. Browser-safe (the reading is the caller's).
 */
export function cifarFromFiles(format: CifarFormat, files: CifarFiles, options: CifarOptions = {}): CifarDataset {
  const layout = layoutOf(format, options.coarse);
  const need = (file: string): { bytes: Uint8Array; source: string } => {
    const bytes = files.read(file);
    if (!bytes) {
      throw new Error(`${files.describe(file)}: missing (${layout.title} needs ${[...layout.train, layout.test].join(', ')})`);
    }
    return { bytes, source: files.describe(file) };
  };
  // All present before any is decoded, so a missing file is reported before a slow decode.
  const trainFiles = layout.train.map(need);
  const testFiles = [need(layout.test)];
  const train = decodeFiles(trainFiles, layout);
  const test = decodeFiles(testFiles, layout);

  let classNames: string[] = format === 'cifar10' ? [...CIFAR10_CLASS_NAMES] : Array.from({ length: layout.classes }, (_, i) => `class ${i}`);
  if (layout.namesFile) {
    const bytes = files.read(layout.namesFile);
    if (bytes) classNames = parseNames(bytes, files.describe(layout.namesFile), layout.classes);
  }
  const { channelMean, channelStd } = channelStatistics(train.pixels);
  const dataset = makeDataset(
    { name: layout.name, train, test, shape: [...CIFAR_SHAPE], classes: layout.classes, pixelScale: 1 / 255 },
    options,
  );
  return { ...dataset, classNames, channelMean, channelStd };
}

/**
 * Mean and population std per channel of [0, 1]-scaled pixels laid out [count, 3, 32, 32],
 * exact up to the final float64 divisions: from a 256-bin histogram of each channel's bytes.
 */
function channelStatistics(pixels: Uint8Array): { channelMean: number[]; channelStd: number[] } {
  const plane = CIFAR_PIXELS / 3;
  const histogram = new Float64Array(3 * 256);
  for (let start = 0; start < pixels.length; start += CIFAR_PIXELS) {
    for (let c = 0; c < 3; c++) {
      const base = c * 256;
      const from = start + c * plane;
      for (let i = from; i < from + plane; i++) histogram[base + pixels[i]!]!++;
    }
  }
  const channelMean: number[] = [];
  const channelStd: number[] = [];
  for (let c = 0; c < 3; c++) {
    let n = 0;
    let sum = 0;
    for (let v = 0; v < 256; v++) {
      n += histogram[c * 256 + v]!;
      sum += histogram[c * 256 + v]! * v;
    }
    const mean = n === 0 ? 0 : sum / n;
    let squares = 0;
    for (let v = 0; v < 256; v++) squares += histogram[c * 256 + v]! * (v - mean) ** 2;
    channelMean.push(mean / 255);
    channelStd.push(n === 0 ? 0 : Math.sqrt(squares / n) / 255);
  }
  return { channelMean, channelStd };
}

/**
 * Builds the Dataset from the official tarball (or an uncompressed tar) held in memory, reading
 * `<folder>/<file>` members; nothing is extracted. `source` names the archive in errors.
 */
export function cifarFromArchive(format: CifarFormat, bytes: Uint8Array, source: string, options: CifarOptions = {}): CifarDataset {
  const layout = layoutOf(format, options.coarse);
  const members = readTarGz(bytes, source, { maxBytes: options.maxArchiveBytes ?? MAX_TAR_BYTES });
  const member = (file: string) => `${layout.folder}/${file}`;
  return cifarFromFiles(
    format,
    { read: (file) => members.get(member(file)), describe: (file) => `${source} member ${member(file)}` },
    options,
  );
}

const isFile = (path: string) => nodeBuiltin('node:fs', 'finding CIFAR files').statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
const isDirectory = (path: string) => nodeBuiltin('node:fs', 'finding CIFAR files').statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;

/**
 * Where a complete copy of the dataset is under `dir`: the folder itself (dir holds every batch
 * file), dir/<folder> holding every batch file, or dir/<archive>; undefined when none is. The
 * extracted folder is preferred: it needs no decompression. Nothing is read or checksummed.
 */
export function locateCifar(format: CifarFormat, dir: string): CifarSource | undefined {
  const layout = layoutOf(format);
  const complete = (folder: string) => [...layout.train, layout.test].every((file) => isFile(`${folder}/${file}`));
  if (complete(dir)) return { kind: 'folder', path: dir };
  if (complete(`${dir}/${layout.folder}`)) return { kind: 'folder', path: `${dir}/${layout.folder}` };
  if (isFile(`${dir}/${layout.archive}`)) return { kind: 'archive', path: `${dir}/${layout.archive}` };
  return undefined;
}

/** A whole file, capped before it is read; errors name the file. */
function readCapped(path: string, maxBytes: number, what: string): Uint8Array {
  const fs = nodeBuiltin('node:fs', what);
  try {
    const size = fs.statSync(path).size;
    if (size > maxBytes) throw new Error(`${size} bytes exceeds the limit of ${maxBytes}`);
    return fs.readFileSync(path);
  } catch (error) {
    throw new Error(`${path}: cannot read ${what}: ${fileFailure(error)}`);
  }
}

/**
 * Loads CIFAR-10 or CIFAR-100 from `path` (Node only): the extracted folder
 * (cifar-10-batches-bin / cifar-100-binary), a directory holding it or the official tarball,
 * or the tarball itself. A partial folder is an error naming the missing file, not skipped.
 */
export function loadCifar(format: CifarFormat, path: string, options: CifarOptions = {}): CifarDataset {
  const layout = layoutOf(format, options.coarse);
  let source: CifarSource | undefined;
  if (isFile(path)) {
    source = { kind: 'archive', path };
  } else if (!isDirectory(path)) {
    throw new Error(`${path}: no such file or directory (expected ${layout.title}: the folder ${layout.folder}, a directory holding it, or ${layout.archive})`);
  } else {
    const files = [...layout.train, layout.test];
    // A folder with any batch file is taken as the folder, so a missing batch is reported as such.
    if (files.some((file) => isFile(`${path}/${file}`))) source = { kind: 'folder', path };
    else if (isDirectory(`${path}/${layout.folder}`)) source = { kind: 'folder', path: `${path}/${layout.folder}` };
    else if (isFile(`${path}/${layout.archive}`)) source = { kind: 'archive', path: `${path}/${layout.archive}` };
    else throw new Error(`${path}: no ${layout.title} here: expected ${files.join(', ')} in it or in ${layout.folder}/, or ${layout.archive}`);
  }

  if (source.kind === 'archive') {
    // A real tarball compresses (170 MB for 184 MB), so the cap on its contents also bounds the read.
    const maxArchive = options.maxArchiveBytes ?? MAX_TAR_BYTES;
    return cifarFromArchive(format, readCapped(source.path, maxArchive, `the ${layout.title} archive`), source.path, options);
  }
  const folder = source.path;
  return cifarFromFiles(
    format,
    {
      read: (file) => (isFile(`${folder}/${file}`) ? readCapped(`${folder}/${file}`, MAX_CIFAR_FILE_BYTES, `a ${layout.title} file`) : undefined),
      describe: (file) => `${folder}/${file}`,
    },
    options,
  );
}

/** CIFAR-10: 50,000 + 10,000 32x32 colour images, 10 classes. See loadCifar for `path`. */
export function loadCifar10(path: string, options: Omit<CifarOptions, 'coarse'> = {}): CifarDataset {
  return loadCifar('cifar10', path, options);
}

/** CIFAR-100: 50,000 + 10,000 32x32 colour images, 100 fine classes (or 20 coarse). */
export function loadCifar100(path: string, options: CifarOptions = {}): CifarDataset {
  return loadCifar('cifar100', path, options);
}
