/**
 * Datasets for the trainers: IDX files (MNIST, Fashion-MNIST), CIFAR-10/100 archives, the bundled
 * digits, seeded batches, augmentation, the dataset registry and verified downloads.
 * Importing this module is browser-safe: file and gzip access fetch Node's modules at call time.
 */
export {
  IDX_IMAGES_MAGIC,
  IDX_LABELS_MAGIC,
  MAX_IDX_ELEMENTS,
  checkIdxPair,
  decodeIdxImages,
  decodeIdxLabels,
  isGzip,
  readIdxImages,
  readIdxLabels,
  type IdxImages,
  type IdxLabels,
  type IdxReadOptions,
} from './idx.js';
export * from './datasets.js';
export * from './idxUrl.js';
export * from './digits.js';
export * from './batches.js';
// CIFAR-10/100, tar archives, augmentation, the dataset registry and verified downloads.
export * from './tar.js';
export * from './cifar.js';
export * from './augment.js';
export * from './registry.js';
export * from './fetch.js';
