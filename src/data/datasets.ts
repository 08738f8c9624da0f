/**
 * Image classification datasets in memory, normalized and ready to batch, and their loaders.
 *
 * Normalization: pixels are scaled to [0, 1] (bytes / 255), then standardized as
 * (x - mean) / std with one mean and std over every pixel of the training split (float64
 * sums), stored in the Dataset so that predictions and images can be mapped back. The
 * statistics use the whole training file, the validation part included, as the usual MNIST
 * constants (0.1307, 0.3081) do. With `normalize: false` the values stay in [0, 1] and the
 * Dataset records mean 0 and std 1.
 *
 * Loaders read files through Node (process.getBuiltinModule, at call time), so importing this
 * file is browser-safe; makeDataset, splitValidation and subset work anywhere.
 */
import { checkIdxPair, readIdxImages, readIdxLabels, type IdxImages, type IdxLabels, type IdxReadOptions } from './idx.js';
import { nodeBuiltin } from '../platform/nodeBuiltins.js';

export interface Split {
  /** [count, C, H, W] contiguous. */
  images: Float32Array;
  /** [count], each in [0, classes). */
  labels: Int32Array;
  count: number;
}

export interface Dataset {
  name: string;
  train: Split;
  test: Split;
  /** [C, H, W] of one example. */
  shape: [number, number, number];
  classes: number;
  /** Statistics of the [0, 1]-scaled training pixels that were subtracted and divided by. */
  mean: number;
  std: number;
}

/** Pixels and labels before normalization. */
export interface RawSplit {
  /** count x C*H*W values; times `pixelScale` they lie in [0, 1]. */
  pixels: ArrayLike<number>;
  labels: ArrayLike<number>;
  count: number;
}

export interface RawDataset {
  name: string;
  train: RawSplit;
  test: RawSplit;
  shape: [number, number, number];
  classes: number;
  /** Factor that maps a stored pixel to [0, 1]: 1/255 for bytes, 1 for values already in [0, 1]. */
  pixelScale: number;
}

export interface NormalizeOptions {
  /** Standardize with the training mean and std (default true). */
  normalize?: boolean;
}

export interface IdxDatasetOptions extends NormalizeOptions, IdxReadOptions {
  /** Name recorded in the Dataset (default: the directory's last component). */
  name?: string;
  /** Number of classes; every label must be below it (default 10). */
  classes?: number;
}

/** Base names of the four IDX files of MNIST-layout datasets; each may also end in .gz. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** Where Debian's dataset-fashion-mnist package installs the four files. */
export const FASHION_MNIST_DIRS: readonly string[] = ['/usr/share/datasets/fashion-mnist'];

export const FASHION_MNIST_CLASS_NAMES: readonly string[] = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

/** Scales, standardizes and checks raw pixels and labels; the result owns fresh arrays. */
export function makeDataset(raw: RawDataset, options: NormalizeOptions = {}): Dataset {
  const { name, shape, classes, pixelScale } = raw;
  if (!shape.every((d) => Number.isSafeInteger(d) && d > 0)) throw new RangeError(`${name}: shape [${shape.join(', ')}] is not positive integers`);
  if (!Number.isSafeInteger(classes) || classes < 1) throw new RangeError(`${name}: classes ${classes} is not a positive integer`);
  const exampleSize = shape[0] * shape[1] * shape[2];
  for (const [which, split] of [['train', raw.train], ['test', raw.test]] as const) {
    if (!Number.isSafeInteger(split.count) || split.count < 1) throw new RangeError(`${name} ${which}: ${split.count} examples; a split needs at least one`);
    if (split.pixels.length !== split.count * exampleSize || split.labels.length !== split.count) {
      throw new RangeError(
        `${name} ${which}: ${split.count} examples of [${shape.join(', ')}] need ${split.count * exampleSize} pixels and ${split.count} labels, ` +
          `got ${split.pixels.length} and ${split.labels.length}`,
      );
    }
  }

  let mean = 0;
  let std = 1;
  if (options.normalize ?? true) {
    ({ mean, std } = pixelStatistics(raw.train.pixels, pixelScale));
    // A constant training set has no spread to divide by: keep the scale, still center.
    if (!(std > 0)) std = 1;
  }
  return {
    name,
    train: normalizeSplit(raw.train, pixelScale, mean, std, classes, `${name} train`),
    test: normalizeSplit(raw.test, pixelScale, mean, std, classes, `${name} test`),
    shape: [...shape],
    classes,
    mean,
    std,
  };
}

/** Mean and (population) standard deviation of the scaled pixels, in float64. */
function pixelStatistics(pixels: ArrayLike<number>, scale: number): { mean: number; std: number } {
  const n = pixels.length;
  if (n === 0) return { mean: 0, std: 1 };
  let sum = 0;
  for (let i = 0; i < n; i++) sum += pixels[i]! * scale;
  const mean = sum / n;
  // Two passes: the textbook E[x^2] - E[x]^2 cancels badly when the spread is small.
  let squares = 0;
  for (let i = 0; i < n; i++) {
    const d = pixels[i]! * scale - mean;
    squares += d * d;
  }
  return { mean, std: Math.sqrt(squares / n) };
}

function normalizeSplit(raw: RawSplit, scale: number, mean: number, std: number, classes: number, what: string): Split {
  const images = new Float32Array(raw.pixels.length);
  for (let i = 0; i < images.length; i++) {
    const x = raw.pixels[i]! * scale;
    if (!(x >= 0 && x <= 1)) throw new RangeError(`${what}: pixel ${i} is ${raw.pixels[i]}, outside [0, 1] after scaling by ${scale}`);
    images[i] = (x - mean) / std;
  }
  const labels = new Int32Array(raw.count);
  for (let i = 0; i < raw.count; i++) {
    const label = raw.labels[i]!;
    if (!Number.isInteger(label) || label < 0 || label >= classes) {
      throw new RangeError(`${what}: label ${i} is ${label}, outside [0, ${classes})`);
    }
    labels[i] = label;
  }
  return { images, labels, count: raw.count };
}

/**
 * The last `count` training examples as a validation split and the rest as training, both views
 * of the dataset's arrays (nothing is copied). The test split is untouched.
 */
export function splitValidation(dataset: Dataset, count = 5000): { train: Split; validation: Split } {
  const total = dataset.train.count;
  if (!Number.isSafeInteger(count) || count < 1 || count >= total) {
    throw new RangeError(`${dataset.name}: validation count ${count} must be in [1, ${total - 1}] (training has ${total} examples)`);
  }
  const keep = total - count;
  return { train: slice(dataset.train, 0, keep), validation: slice(dataset.train, keep, total) };
}

/** The first `n` examples of a split, as views (for small tests). */
export function subset(split: Split, n: number): Split {
  if (!Number.isSafeInteger(n) || n < 0 || n > split.count) throw new RangeError(`subset: cannot take ${n} of ${split.count} examples`);
  return slice(split, 0, n);
}

function slice(split: Split, start: number, end: number): Split {
  const size = split.count === 0 ? 0 : split.images.length / split.count;
  return {
    images: split.images.subarray(start * size, end * size),
    labels: split.labels.subarray(start, end),
    count: end - start,
  };
}

/** The path of `base` or `base.gz` in `dir` (the uncompressed one when both exist), or undefined. */
function findIdxFile(dir: string, base: string): string | undefined {
  const fs = nodeBuiltin('node:fs', 'finding IDX files');
  for (const candidate of [`${dir}/${base}`, `${dir}/${base}.gz`]) {
    if (fs.statSync(candidate, { throwIfNoEntry: false })?.isFile()) return candidate;
  }
  return undefined;
}

/**
 * Loads a dataset in the MNIST layout from a directory holding train-images-idx3-ubyte,
 * train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each raw or .gz.
 */
export function loadIdxDataset(dir: string, options: IdxDatasetOptions = {}): Dataset {
  const fs = nodeBuiltin('node:fs', 'loadIdxDataset');
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`loadIdxDataset: ${dir} is not a directory`);
  const path = (base: string): string => {
    const found = findIdxFile(dir, base);
    if (!found) throw new Error(`loadIdxDataset: ${dir} has no ${base} (or ${base}.gz)`);
    return found;
  };
  const files = {
    trainImages: path(IDX_FILES.trainImages),
    trainLabels: path(IDX_FILES.trainLabels),
    testImages: path(IDX_FILES.testImages),
    testLabels: path(IDX_FILES.testLabels),
  };
  const readOptions: IdxReadOptions = options.maxElements === undefined ? {} : { maxElements: options.maxElements };
  const name = options.name ?? (dir.replace(/[\\/]+$/, '').split(/[\\/]/).pop() || dir);
  return idxDataset(
    {
      trainImages: readIdxImages(files.trainImages, readOptions),
      trainLabels: readIdxLabels(files.trainLabels, readOptions),
      testImages: readIdxImages(files.testImages, readOptions),
      testLabels: readIdxLabels(files.testLabels, readOptions),
    },
    files,
    { ...options, name },
  );
}

/** The four decoded IDX files of a dataset in the MNIST layout. */
export interface IdxParts {
  trainImages: IdxImages;
  trainLabels: IdxLabels;
  testImages: IdxImages;
  testLabels: IdxLabels;
}

/**
 * A dataset from its four decoded IDX files, wherever they were read (a directory in Node, a
 * fetch in a page): checks that images and labels pair up, that both splits have one image size
 * and that every label is below the class count, naming the file (`sources`) at fault.
 */
export function idxDataset(parts: IdxParts, sources: Record<keyof IdxParts, string>, options: IdxDatasetOptions & { name: string }): Dataset {
  const { trainImages, trainLabels, testImages, testLabels } = parts;
  // A split of no images trains nothing, or "tests" nothing (an accuracy of 0 on 0 images).
  for (const [images, source, split] of [[trainImages, sources.trainImages, 'training'], [testImages, sources.testImages, 'test']] as const) {
    if (images.count === 0) throw new Error(`${source}: holds no images (its header gives a count of 0), so the ${split} split would be empty`);
  }
  checkIdxPair(trainImages, trainLabels, sources.trainImages, sources.trainLabels);
  checkIdxPair(testImages, testLabels, sources.testImages, sources.testLabels);
  if (testImages.rows !== trainImages.rows || testImages.cols !== trainImages.cols) {
    throw new Error(
      `${sources.testImages} holds ${testImages.rows} x ${testImages.cols} images but ${sources.trainImages} holds ${trainImages.rows} x ${trainImages.cols}`,
    );
  }
  const classes = options.classes ?? 10;
  return makeDataset(
    {
      name: options.name,
      train: { pixels: trainImages.images, labels: labelsIn(trainLabels.labels, classes, sources.trainLabels), count: trainImages.count },
      test: { pixels: testImages.images, labels: labelsIn(testLabels.labels, classes, sources.testLabels), count: testImages.count },
      shape: [1, trainImages.rows, trainImages.cols],
      classes,
      pixelScale: 1 / 255,
    },
    options,
  );
}

/** Checks labels against the class count here, where the message can name the file. */
function labelsIn(labels: Uint8Array, classes: number, file: string): Uint8Array {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! >= classes) throw new Error(`${file}: label ${i} is ${labels[i]}, but the dataset has ${classes} classes`);
  }
  return labels;
}

/** The first directory holding the four Fashion-MNIST files, or undefined. */
export function findFashionMnist(dirs: readonly string[] = FASHION_MNIST_DIRS): string | undefined {
  return dirs.find((dir) => Object.values(IDX_FILES).every((base) => findIdxFile(dir, base) !== undefined));
}

export interface FashionMnistOptions extends NormalizeOptions, IdxReadOptions {
  /** Directory of the four IDX files (default: the first of `searchDirs` that has them). */
  dir?: string;
  /** Where to look when `dir` is not given (default FASHION_MNIST_DIRS). */
  searchDirs?: readonly string[];
}

/** Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 60,000 + 10,000 28x28 grayscale images, 10 classes. */
export function loadFashionMnist(options: FashionMnistOptions = {}): Dataset {
  const searchDirs = options.searchDirs ?? FASHION_MNIST_DIRS;
  const dir = options.dir ?? findFashionMnist(searchDirs);
  if (!dir) {
    throw new Error(
      `Fashion-MNIST not found: none of ${searchDirs.join(', ')} holds ${Object.values(IDX_FILES).join(', ')} (raw or .gz). ` +
        'Install it with `apt-get install dataset-fashion-mnist` (Debian, Ubuntu), or pass { dir } naming a directory with those files.',
    );
  }
  return loadIdxDataset(dir, { ...options, name: 'fashion-mnist', classes: 10 });
}
