/**
 * Counter-based random fills on the GPU: Philox4x32-10 (shaders/random.wgsl).
 *
 * A fill is a pure function of (seed, offset, shape): the same arguments give the same u32
 * stream, uniforms and Bernoulli masks bit for bit on every adapter and on the CPU reference
 * (src/random/philox.ts, which defines the stream), and normals within a few ulp: at most
 * 4.3 f32 ulps measured on lavapipe and on an NVIDIA H200, since the kernel evaluates ln and cos
 * with its own f32 polynomials (WGSL's builtins are loosely specified).
 *
 * Nothing is stateful on the GPU. A caller that draws several fills from one seed advances
 * `offset` by the words each consumed (`wordsConsumed`, or the `RandomStream` helper below), so
 * a dropout mask can be regenerated instead of stored. (SLL's projections are drawn once and
 * stored; src/sll/projection.ts says why.)
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import type { MemoryCategory } from '../gpu/bufferPool.js';
import { formatShape, sizeOf, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { bernoulliThreshold, checkOffset, seedWords, WORDS_PER_ELEMENT, type RandomKind, type Seed } from '../random/philox.js';
import { columnWorkgroupSize, elementWorkgroups } from '../gpu/workgroups.js';
import { checkOptions, checkValue, required, requireDevice, requireShape, type OptionTable } from './checks.js';

export { WORDS_PER_ELEMENT, type RandomKind, type Seed } from '../random/philox.js';

export interface StreamPosition {
  /** 64-bit Philox key: [lo, hi] u32 words, a non-negative safe integer, or a bigint. */
  seed: Seed;
  /** Position in the stream, in u32 words (default 0). */
  offset?: number;
  /** Memory category of the output (default 'activation'; fixed projections use 'projection'). */
  category?: MemoryCategory;
}

export interface UniformOptions extends StreamPosition {
  low?: number;
  high?: number;
}

export interface NormalOptions extends StreamPosition {
  mean?: number;
  std?: number;
}

export interface BernoulliOptions extends StreamPosition {
  /** Probability of a 1, in [0, 1]. */
  p: number;
  /** 'f32' (1.0 / 0.0, the default) or 'u32' (1 / 0). */
  dtype?: 'f32' | 'u32';
}

/** Words of the stream a fill of `shape` (or of that many elements) consumes. */
export function wordsConsumed(kind: RandomKind, shape: Shape | number): number {
  return WORDS_PER_ELEMENT[kind] * (typeof shape === 'number' ? shape : sizeOf(shape));
}

const TWO_POW_32 = 2 ** 32;

const STREAM_OPTIONS = { seed: required('seed'), offset: 'integer', category: 'category' } as const satisfies OptionTable;
const FILL_OPTIONS: Record<FillOp, OptionTable> = {
  randomBits: STREAM_OPTIONS,
  uniform: { ...STREAM_OPTIONS, low: 'number', high: 'number' },
  normal: { ...STREAM_OPTIONS, mean: 'number', std: 'nonNegative' },
  bernoulli: { ...STREAM_OPTIONS, p: required('number'), dtype: ['f32', 'u32'] },
};
type FillOp = 'randomBits' | 'uniform' | 'normal' | 'bernoulli';

/** The kernel's `fill` uniforms, without the per-kind values (checked before any encoding). */
function streamUniforms(op: FillOp, device: Device, shape: Shape, kind: RandomKind, position: StreamPosition) {
  requireDevice(op, device);
  requireShape(op, 'shape', shape);
  checkOptions(op, position, FILL_OPTIONS[op]);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`${op}: shape ${formatShape(shape)}: every dimension must be a non-negative integer`);
  }
  const count = sizeOf(shape);
  const offset = position.offset ?? 0;
  if (offset < 0) throw new RangeError(`${op}: offset ${offset} must be a non-negative integer (a position in the stream, in u32 words)`);
  const [seedLo, seedHi] = seedWords(position.seed);
  checkOffset(offset);
  const words = wordsConsumed(kind, count);
  // Thread indices (4 per block) and word positions are u32 in the kernel.
  if (words + 4 >= TWO_POW_32) throw new ShapeError(`${op}: shape ${formatShape(shape)} needs ${words} words, more than a fill can address`);
  if (!Number.isSafeInteger(offset + words)) throw new RangeError(`${op}: offset ${offset} + ${words} words passes 2^53`);
  return {
    count,
    // Enough blocks for any phase, so that the grid does not depend on the position: a replayed
    // fill (RandomStream) draws at another one with the recorded grid. The kernel skips a block
    // past the fill's last word.
    blocks: Math.ceil((3 + words) / 4),
    uniforms: {
      count,
      seedLo,
      seedHi,
      ...positionWords(offset),
      threshold: 0,
      low: 0,
      scale: 0,
      mean: 0,
      stdDev: 0,
      _pad: 0,
    },
  };
}

/** The fill uniforms that say where in the stream it starts: the first Philox block (64 bits) and the word within it. */
function positionWords(offset: number): { blockLo: number; blockHi: number; phase: number } {
  const firstBlock = Math.floor(offset / 4);
  return { blockLo: firstBlock % TWO_POW_32, blockHi: Math.floor(firstBlock / TWO_POW_32), phase: offset % 4 };
}

type FillEntry = 'randomBits' | 'uniformFill' | 'bernoulliFill' | 'bernoulliMask' | 'normalFill';

function run(device: Device, entry: FillEntry, shape: Shape, dtype: 'f32' | 'u32', category: MemoryCategory, plan: ReturnType<typeof streamUniforms>): Tensor {
  const out = device.empty(shape, dtype, category);
  if (plan.count === 0) return out;
  const wg = columnWorkgroupSize(device);
  const kernel = device.kernel({ file: 'random', entry, overrides: { WG: wg } });
  device.dispatch(kernel, dtype === 'f32' ? { values: out } : { bits: out }, plan.uniforms, elementWorkgroups(plan.blocks, wg));
  positionMembers ??= [kernel.uniformWord('blockLo'), kernel.uniformWord('blockHi'), kernel.uniformWord('phase')];
  return out;
}

/** Word indices of blockLo, blockHi and phase in the fill uniform struct (every fill entry shares it), from its reflection. */
let positionMembers: [number, number, number] | undefined;

/** Writes a stream position into a fill's uniform struct (a recording's replay, src/gpu/recording.ts). */
function writePosition(words: Uint32Array, structWord: number, offset: number): void {
  const { blockLo, blockHi, phase } = positionWords(offset);
  const [lo, hi, ph] = positionMembers!;
  words[structWord + lo] = blockLo;
  words[structWord + hi] = blockHi;
  words[structWord + ph] = phase;
}

/** The raw u32 stream: element i is word (offset + i). Consumes one word per element. */
export function randomBits(device: Device, shape: Shape, options: StreamPosition): Tensor {
  const plan = streamUniforms('randomBits', device, shape, 'bits', options);
  return run(device, 'randomBits', shape, 'u32', options.category ?? 'activation', plan);
}

/** Uniform f32 in [low, high): low + (high - low) * (word >> 8) 2^-24. One word per element. */
export function uniform(device: Device, shape: Shape, options: UniformOptions): Tensor {
  const plan = streamUniforms('uniform', device, shape, 'uniform', options);
  const { low = 0, high = 1 } = options;
  if (!Number.isFinite(Math.fround(high - low))) throw new RangeError(`uniform: bounds [${low}, ${high}) are too far apart for f32 (high - low = ${high - low})`);
  plan.uniforms.low = low;
  plan.uniforms.scale = high - low;
  return run(device, 'uniformFill', shape, 'f32', options.category ?? 'activation', plan);
}

/** Normal values by Box-Muller (cosine branch). Two words per element. */
export function normal(device: Device, shape: Shape, options: NormalOptions): Tensor {
  const plan = streamUniforms('normal', device, shape, 'normal', options);
  const { mean = 0, std = 1 } = options;
  plan.uniforms.mean = mean;
  plan.uniforms.stdDev = std;
  return run(device, 'normalFill', shape, 'f32', options.category ?? 'activation', plan);
}

/** 1 where the uniform of word (offset + i) is below p, else 0 (f32, or u32 on request). One word per element. */
export function bernoulli(device: Device, shape: Shape, options: BernoulliOptions): Tensor {
  const plan = streamUniforms('bernoulli', device, shape, 'bernoulli', options);
  const dtype = options.dtype ?? 'f32';
  const threshold = bernoulliThreshold(options.p);
  plan.uniforms.threshold = threshold;
  return run(device, dtype === 'f32' ? 'bernoulliFill' : 'bernoulliMask', shape, dtype, options.category ?? 'activation', plan);
}

/**
 * A seed and a moving offset: each fill starts where the previous one ended. For code that
 * draws many fills (dropout masks step after step) and must not reuse words. Record `offset`
 * to regenerate a fill later. A recorded function's fills from a stream are replayed at the
 * stream's position then, and move it on (Device.record, src/gpu/recording.ts).
 */
export class RandomStream {
  constructor(
    readonly device: Device,
    readonly seed: Seed,
    /** The next unused word. */
    public offset = 0,
  ) {
    requireDevice('RandomStream', device);
    checkValue('RandomStream', 'seed', seed, 'seed');
    checkValue('RandomStream', 'offset', offset, 'integer');
    checkOffset(offset);
  }

  private advance(kind: RandomKind, shape: Shape, fill: (offset: number) => Tensor): Tensor {
    const offset = this.offset;
    const result = this.drawAt(offset, shape, fill);
    this.offset = offset + wordsConsumed(kind, shape);
    return result;
  }

  /** A fill at `offset` of this stream, noted as one (a recording replays it relative to the stream's position then). */
  private drawAt(offset: number, shape: Shape, fill: (offset: number) => Tensor): Tensor {
    const result = fill(offset);
    // A fill of no elements dispatches nothing.
    if (sizeOf(shape) > 0) this.device.noteStreamDraw({ stream: this, offset, writePosition });
    return result;
  }

  bits(shape: Shape, category?: MemoryCategory): Tensor {
    return this.advance('bits', shape, (offset) => randomBits(this.device, shape, { seed: this.seed, offset, category }));
  }

  uniform(shape: Shape, options: Omit<UniformOptions, 'seed' | 'offset'> = {}): Tensor {
    return this.advance('uniform', shape, (offset) => uniform(this.device, shape, { ...options, seed: this.seed, offset }));
  }

  normal(shape: Shape, options: Omit<NormalOptions, 'seed' | 'offset'> = {}): Tensor {
    return this.advance('normal', shape, (offset) => normal(this.device, shape, { ...options, seed: this.seed, offset }));
  }

  bernoulli(shape: Shape, options: Omit<BernoulliOptions, 'seed' | 'offset'>): Tensor {
    return this.advance('bernoulli', shape, (offset) => bernoulli(this.device, shape, { ...options, seed: this.seed, offset }));
  }

  /** The Bernoulli fill at `offset` of this stream, which does not move (a mask drawn before, made again). */
  bernoulliAt(offset: number, shape: Shape, options: Omit<BernoulliOptions, 'seed' | 'offset'>): Tensor {
    return this.drawAt(offset, shape, (at) => bernoulli(this.device, shape, { ...options, seed: this.seed, offset: at }));
  }
}
