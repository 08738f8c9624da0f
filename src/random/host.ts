/**
 * Host-side generators, for choices made on the CPU (batch order, validation splits,
 * augmentation): sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, PractRand-clean at
 * 32 bits) and murmur3's finalizer to seed it. Only 32-bit integer arithmetic is used (Math.imul,
 * shifts, exact float64 for the rejection bound), so the same seed gives the same numbers on
 * every machine and engine. The GPU's streams are Philox (philox.ts); these never touch the GPU.
 */

/** murmur3's 32-bit finalizer: spreads every input bit over the word, so nearby seeds diverge. */
export function fmix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Seeds, streams, epochs and counts: non-negative safe integers. */
export function checkCount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} ${value} is not a non-negative safe integer`);
}

/** A small deterministic generator (sfc32) for host-side choices: shuffles and splits. */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private counter = 1;

  /** `seed` and `stream` are non-negative safe integers; each (seed, stream) is its own sequence. */
  constructor(seed: number, stream = 0) {
    checkCount(seed, 'seed');
    checkCount(stream, 'stream');
    // The low words (all of any seed or epoch below 2^32) go to separate state words, so
    // (seed, stream) pairs below 2^32 never share a starting state; fmix32 is a bijection.
    this.a = fmix32((seed >>> 0) ^ 0x9e3779b9);
    this.b = fmix32((stream >>> 0) ^ 0x7f4a7c15);
    const seedHi = Math.floor(seed / 2 ** 32) >>> 0;
    const streamHi = Math.floor(stream / 2 ** 32) >>> 0;
    this.c = fmix32(seedHi ^ fmix32(streamHi ^ 0x2545f491));
    // The reference seeding discards the first outputs so the state is well mixed.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.counter) | 0;
    this.counter = (this.counter + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform integer in [0, n), n <= 2^32, without modulo bias (rejection sampling). */
  below(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`below(${n}): n must be an integer in [1, 2^32]`);
    // Accept x < limit, the largest multiple of n that fits in 32 bits (exact in float64).
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }
}

