/**
 * Seeded data augmentation on the host: random crop with padding and horizontal flip, the
 * standard CIFAR recipe (He et al. 2016, section 4.2: "4 pixels are padded on each side, and a
 * 32x32 crop is randomly sampled from the padded image or its horizontal flip").
 *
 * For each example of a batch [B, C, H, W], in order, three draws from one SeededRandom:
 *   offsetY = below(2 pad + 1), offsetX = below(2 pad + 1), flip = (nextUint32() < 2^32 p).
 * The output is the H x W window at (offsetY, offsetX) of the image padded by `pad` on every
 * side with `fill`, then mirrored left-right when flip:
 *   out[b, c, y, x] = padded[b, c, y + offsetY, x' + offsetX],  x' = flip ? W - 1 - x : x.
 * An offset of `pad` is the unshifted image. `fill` must be the *normalized* value of a black
 * pixel, (0 - mean) / std (blackPixel), so that padding looks like black to the network, as
 * zero-padding before normalization does in torchvision.
 *
 * The generator of batch i of epoch e under seed s is SeededRandom(augmentSeed(s, e), i), so a
 * run resumed from (seed, epoch, batch index) draws the same crops and flips without replaying
 * earlier batches, and the values are copies (no arithmetic), so the result is bitwise the same
 * on every machine. augmentSeed hashes (s, e) into 53 bits with a tag, so these streams do not
 * coincide with the epoch-order streams SeededRandom(s, e) of batches.ts.
 *
 * Browser-safe.
 */
import { checkCount, fmix32, SeededRandom } from '../random/host.js';

/** Default padding of the random crop (CIFAR: 4 pixels). */
export const DEFAULT_CROP_PAD = 4;

export interface AugmentParams {
  /** Per example, the window's row in the padded image, in [0, 2 pad]. */
  offsetY: Int32Array;
  /** Per example, the window's column in the padded image, in [0, 2 pad]. */
  offsetX: Int32Array;
  /** Per example, 1 to mirror left-right. */
  flip: Uint8Array;
}

export interface CropFlipOptions {
  /** [C, H, W] of one example. */
  shape: readonly [number, number, number];
  /** Padding on each side (default 4). */
  pad?: number;
  /** Value of padded pixels: one number, or one per channel. Use blackPixel(dataset). */
  fill: number | ArrayLike<number>;
}

export interface AugmentOptions extends CropFlipOptions {
  seed: number;
  epoch: number;
  /** Position of the batch in its epoch. */
  batchIndex: number;
  /** Probability of a horizontal flip (default 0.5; 0 disables flipping). */
  flipProbability?: number;
  /** false: no crop (offsets are `pad`, the unshifted image). Default true. */
  crop?: boolean;
}

/** The normalized value of a black pixel, (0 - mean) / std: the `fill` for padding. */
export function blackPixel(stats: { mean: number; std: number }): number {
  return (0 - stats.mean) / stats.std;
}

/** A 53-bit seed for the augmentation streams of (seed, epoch); see the file comment. */
export function augmentSeed(seed: number, epoch: number): number {
  checkCount(seed, 'augment: seed');
  checkCount(epoch, 'augment: epoch');
  const words = [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, epoch >>> 0, Math.floor(epoch / 2 ** 32) >>> 0];
  let h1 = 0x61756731; // "aug1"
  let h2 = 0x63726f70; // "crop"
  for (const w of words) {
    h1 = fmix32(h1 ^ w);
    h2 = fmix32((h2 + w + 0x9e3779b9) >>> 0);
  }
  return (h1 & 0x1fffff) * 2 ** 32 + (fmix32(h2 ^ h1) >>> 0);
}

/** Examples in `images` of the given shape; throws unless they divide evenly. */
function exampleCount(images: Float32Array, shape: readonly [number, number, number]): number {
  if (!shape.every((d) => Number.isSafeInteger(d) && d > 0)) throw new RangeError(`augment: shape [${shape.join(', ')}] is not positive integers`);
  const size = shape[0] * shape[1] * shape[2];
  if (images.length % size !== 0) throw new RangeError(`augment: ${images.length} values are not a whole number of [${shape.join(', ')}] examples`);
  return images.length / size;
}

function checkPad(pad: number, shape: readonly [number, number, number]): void {
  if (!Number.isSafeInteger(pad) || pad < 0) throw new RangeError(`augment: pad ${pad} is not a non-negative integer`);
  // Beyond the image size a window could lie wholly in the padding; that is never intended.
  if (pad > shape[1] || pad > shape[2]) throw new RangeError(`augment: pad ${pad} exceeds the ${shape[1]}x${shape[2]} image`);
}

/**
 * The crops and flips of batch `batchIndex` of epoch `epoch` under `seed`, for `count` examples.
 * Deterministic: the same arguments give the same parameters everywhere.
 */
export function augmentParams(
  count: number,
  options: { seed: number; epoch: number; batchIndex: number; pad?: number; flipProbability?: number; crop?: boolean },
): AugmentParams {
  const { seed, epoch, batchIndex, pad = DEFAULT_CROP_PAD, flipProbability = 0.5, crop = true } = options;
  checkCount(count, 'augment: count');
  checkCount(batchIndex, 'augment: batchIndex');
  if (!Number.isSafeInteger(pad) || pad < 0) throw new RangeError(`augment: pad ${pad} is not a non-negative integer`);
  if (!(flipProbability >= 0 && flipProbability <= 1)) throw new RangeError(`augment: flip probability ${flipProbability} is outside [0, 1]`);
  const random = new SeededRandom(augmentSeed(seed, epoch), batchIndex);
  // flip iff a uniform 32-bit word is below 2^32 p: exactly p = 0.5 at the default.
  const threshold = Math.round(flipProbability * 2 ** 32);
  const params: AugmentParams = { offsetY: new Int32Array(count), offsetX: new Int32Array(count), flip: new Uint8Array(count) };
  for (let b = 0; b < count; b++) {
    // Always three draws per example, whatever the options, so changing one option does not
    // shift the other draws of later examples.
    const y = random.below(2 * pad + 1);
    const x = random.below(2 * pad + 1);
    const f = random.nextUint32();
    params.offsetY[b] = crop ? y : pad;
    params.offsetX[b] = crop ? x : pad;
    params.flip[b] = f < threshold ? 1 : 0;
  }
  return params;
}

/**
 * Applies given crops and flips to a batch [B, C, H, W]; returns a new array (or fills `out`).
 * Values are copied, never computed, so the result is bitwise reproducible.
 */
export function applyCropFlip(images: Float32Array, params: AugmentParams, options: CropFlipOptions, out?: Float32Array): Float32Array {
  const { shape, pad = DEFAULT_CROP_PAD, fill } = options;
  const count = exampleCount(images, shape);
  checkPad(pad, shape);
  const [channels, height, width] = shape;
  if (params.offsetY.length !== count || params.offsetX.length !== count || params.flip.length !== count) {
    throw new RangeError(`augment: parameters for ${params.offsetY.length} examples, the batch has ${count}`);
  }
  const fills = Float32Array.from({ length: channels }, (_, c) => (typeof fill === 'number' ? fill : fill[c]!));
  if (typeof fill !== 'number' && fill.length !== channels) throw new RangeError(`augment: ${fill.length} fill values for ${channels} channels`);
  if (!fills.every(Number.isFinite)) throw new RangeError(`augment: fill ${Array.from(fills).join(', ')} is not finite`);
  const result = out ?? new Float32Array(images.length);
  if (result.length !== images.length) throw new RangeError(`augment: output holds ${result.length} values, the batch ${images.length}`);
  if (result === images) throw new RangeError('augment: the output must not be the input (the crop reads pixels it would overwrite)');

  const plane = height * width;
  for (let b = 0; b < count; b++) {
    const oy = params.offsetY[b]! - pad;
    const ox = params.offsetX[b]! - pad;
    if (Math.abs(oy) > pad || Math.abs(ox) > pad) throw new RangeError(`augment: example ${b} offset (${oy + pad}, ${ox + pad}) is outside [0, ${2 * pad}]`);
    const flip = params.flip[b] === 1;
    for (let c = 0; c < channels; c++) {
      const base = (b * channels + c) * plane;
      for (let y = 0; y < height; y++) {
        const sy = y + oy;
        const row = base + y * width;
        if (sy < 0 || sy >= height) {
          result.fill(fills[c]!, row, row + width);
          continue;
        }
        const sourceRow = base + sy * width;
        for (let x = 0; x < width; x++) {
          const sx = (flip ? width - 1 - x : x) + ox;
          result[row + x] = sx >= 0 && sx < width ? images[sourceRow + sx]! : fills[c]!;
        }
      }
    }
  }
  return result;
}

/**
 * Random crop (pad, default 4) and horizontal flip (probability 0.5) of batch `batchIndex` of
 * epoch `epoch` under `seed`: augmentParams then applyCropFlip. Returns a new array.
 */
export function augmentBatch(images: Float32Array, options: AugmentOptions): Float32Array {
  const count = exampleCount(images, options.shape);
  checkPad(options.pad ?? DEFAULT_CROP_PAD, options.shape);
  return applyCropFlip(images, augmentParams(count, options), options);
}
