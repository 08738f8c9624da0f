/**
 * Buffer pool with size buckets and memory accounting.
 *
 * WebGPU has no query for device memory, so this pool is the source of truth for the memory
 * numbers the project reports: it counts the live bytes of every tensor by category, their
 * peaks, and every byte it asks the device for.
 *
 * Reuse rule (docs/architecture.md, "Memory"): a buffer released while commands are
 * still being encoded may be handed straight to later GPU work (queue order makes that safe),
 * but not to a CPU upload or a map, because `queue.writeBuffer` takes effect before the pending
 * commands run. Such buffers are marked pending until the next submit.
 */
import { describeValue } from './dtype.js';

export const MEMORY_CATEGORIES = ['parameter', 'optimizer', 'projection', 'activation', 'scratch', 'staging'] as const;
export type MemoryCategory = (typeof MEMORY_CATEGORIES)[number];

/** Throws a TypeError naming `value` and the valid categories unless it is one. */
export function assertMemoryCategory(value: unknown, op: string): asserts value is MemoryCategory {
  if (!(MEMORY_CATEGORIES as readonly unknown[]).includes(value)) {
    throw new TypeError(`${op}: memory category ${describeValue(value)} is not one of ${MEMORY_CATEGORIES.join(', ')}`);
  }
}

export type BufferUsageClass = 'storage' | 'readback';

export interface PooledBuffer {
  readonly buffer: GPUBuffer;
  readonly capacity: number;
  readonly usage: BufferUsageClass;
  /** Released while commands that may use it were unsubmitted: not safe for uploads yet. */
  pendingSubmit: boolean;
  /** What holds it now (the device's Storage), undefined while it is free or reserved. */
  holder: unknown;
}

export interface MemoryStats {
  /** Bytes held by live tensors, by category (requested sizes, not bucket capacities). */
  live: Record<MemoryCategory, number>;
  /** Highest value `live` reached per category since the last `resetPeaks()`. */
  peak: Record<MemoryCategory, number>;
  /** Highest total of live bytes, all categories together, since the last `resetPeaks()`. */
  peakTotal: number;
  /** Bytes of every buffer this pool has created and not destroyed (live + cached + reserved by recordings). */
  deviceBytes: number;
  peakDeviceBytes: number;
  /** Bytes sitting in the free lists, ready for reuse. */
  cachedBytes: number;
  liveBuffers: number;
}

const MIN_CAPACITY = 256;

/**
 * Bucket capacity for a request: quarter steps between powers of two, so a buffer wastes at
 * most a quarter of its size while requests of similar sizes still share buffers.
 */
export function bucketCapacity(bytes: number): number {
  if (bytes <= MIN_CAPACITY) return MIN_CAPACITY;
  const power = 2 ** Math.floor(Math.log2(bytes));
  const step = power / 4;
  return Math.ceil(bytes / step) * step;
}

function zeroCounts(): Record<MemoryCategory, number> {
  return Object.fromEntries(MEMORY_CATEGORIES.map((c) => [c, 0])) as Record<MemoryCategory, number>;
}

export interface PoolHooks {
  /** True while the device has encoded commands that are not yet submitted. */
  hasUnsubmittedWork(): boolean;
  /** Creates a buffer; the device wraps this in an out-of-memory error scope. */
  createBuffer(descriptor: GPUBufferDescriptor): GPUBuffer;
}

export class BufferPool {
  private readonly free = new Map<string, PooledBuffer[]>();
  private readonly liveBytes = zeroCounts();
  private readonly peakBytes = zeroCounts();
  private peakTotal = 0;
  private deviceBytes = 0;
  private peakDeviceBytes = 0;
  private cachedBytes = 0;
  private liveBuffers = 0;
  /** Every buffer this pool made, by its GPUBuffer (a recording maps the buffers it binds back). */
  private readonly byBuffer = new WeakMap<GPUBuffer, PooledBuffer>();
  /** Buffers held out of the free lists by recordings (recording.ts). */
  private readonly reservedBuffers = new Set<PooledBuffer>();

  constructor(private readonly hooks: PoolHooks) {}

  /**
   * A buffer of at least `bytes` for `category`: a free one of its bucket, or a new one. `label`
   * names a new buffer; as a function, the name is written only when a buffer is created (the
   * device's allocations: a step's all come from the free lists).
   */
  acquire(
    bytes: number,
    category: MemoryCategory,
    options: { usage?: BufferUsageClass; forUpload?: boolean; label?: string | (() => string) } = {},
  ): PooledBuffer {
    const usage = options.usage ?? 'storage';
    const capacity = bucketCapacity(bytes);
    const key = `${usage}:${capacity}`;
    const list = this.free.get(key);
    let pooled: PooledBuffer | undefined;
    if (list && list.length > 0) {
      const needsClean = options.forUpload === true || usage === 'readback';
      const index = needsClean ? findLastIndex(list, (b) => !b.pendingSubmit) : list.length - 1;
      if (index >= 0) {
        pooled = list[index]!;
        list.splice(index, 1);
        this.cachedBytes -= capacity;
      }
    }
    if (!pooled) {
      const buffer = this.hooks.createBuffer({
        size: capacity,
        usage:
          usage === 'readback'
            ? GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST
            : GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        label: (typeof options.label === 'function' ? options.label() : options.label) ?? `${category} ${bytes} B`,
      });
      pooled = { buffer, capacity, usage, pendingSubmit: false, holder: undefined };
      this.byBuffer.set(buffer, pooled);
      this.deviceBytes += capacity;
      this.peakDeviceBytes = Math.max(this.peakDeviceBytes, this.deviceBytes);
    }
    this.count(category, bytes);
    this.liveBuffers++;
    return pooled;
  }

  release(pooled: PooledBuffer, bytes: number, category: MemoryCategory): void {
    this.count(category, -bytes);
    this.liveBuffers--;
    pooled.holder = undefined;
    this.toFreeList(pooled);
  }

  /** The pool's record of a buffer it made; undefined for any other buffer. */
  pooledOf(buffer: GPUBuffer): PooledBuffer | undefined {
    return this.byBuffer.get(buffer);
  }

  /** Puts a buffer on its bucket's free list (not for uploads until a submit, if work is pending). */
  private toFreeList(pooled: PooledBuffer): void {
    pooled.pendingSubmit = this.hooks.hasUnsubmittedWork();
    const key = `${pooled.usage}:${pooled.capacity}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(pooled);
    this.cachedBytes += pooled.capacity;
  }

  /**
   * Takes these buffers out of the free lists, where they are (a recording's temporaries,
   * recording.ts): none is handed out again until `unreserve`. Returns the ones taken.
   */
  reserve(buffers: Iterable<PooledBuffer>): PooledBuffer[] {
    const taken: PooledBuffer[] = [];
    for (const pooled of buffers) {
      const list = this.free.get(`${pooled.usage}:${pooled.capacity}`);
      const index = list ? list.indexOf(pooled) : -1;
      if (index < 0) continue;
      list!.splice(index, 1);
      this.cachedBytes -= pooled.capacity;
      this.reservedBuffers.add(pooled);
      taken.push(pooled);
    }
    return taken;
  }

  /** Puts reserved buffers back in the free lists (not for uploads until a submit, as on release). */
  unreserve(buffers: readonly PooledBuffer[]): void {
    for (const pooled of buffers) if (this.reservedBuffers.delete(pooled)) this.toFreeList(pooled);
  }

  /** Moves live bytes from one category to another (a tensor that becomes a parameter). */
  recategorize(bytes: number, from: MemoryCategory, to: MemoryCategory): void {
    if (from === to) return;
    this.count(from, -bytes);
    this.count(to, bytes);
  }

  /** Called by the device after each submit: every released buffer is now safe for uploads. */
  markSubmitted(): void {
    for (const list of this.free.values()) for (const b of list) b.pendingSubmit = false;
  }

  /** Destroys every cached buffer, and every one a recording holds, returning their memory to the device. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        b.buffer.destroy();
        this.deviceBytes -= b.capacity;
      }
    }
    this.free.clear();
    this.cachedBytes = 0;
    // A recording's buffers too: trim runs when the device is destroyed, and no replay can follow.
    for (const b of this.reservedBuffers) {
      b.buffer.destroy();
      this.deviceBytes -= b.capacity;
    }
    this.reservedBuffers.clear();
  }

  resetPeaks(): void {
    for (const c of MEMORY_CATEGORIES) this.peakBytes[c] = this.liveBytes[c];
    this.peakTotal = this.totalLive();
    this.peakDeviceBytes = this.deviceBytes;
  }

  stats(): MemoryStats {
    return {
      live: { ...this.liveBytes },
      peak: { ...this.peakBytes },
      peakTotal: this.peakTotal,
      deviceBytes: this.deviceBytes,
      peakDeviceBytes: this.peakDeviceBytes,
      cachedBytes: this.cachedBytes,
      liveBuffers: this.liveBuffers,
    };
  }

  private totalLive(): number {
    let total = 0;
    for (const c of MEMORY_CATEGORIES) total += this.liveBytes[c];
    return total;
  }

  private count(category: MemoryCategory, delta: number): void {
    this.liveBytes[category] += delta;
    if (this.liveBytes[category] > this.peakBytes[category]) this.peakBytes[category] = this.liveBytes[category];
    const total = this.totalLive();
    if (total > this.peakTotal) this.peakTotal = total;
  }
}

function findLastIndex<T>(list: T[], predicate: (item: T) => boolean): number {
  for (let i = list.length - 1; i >= 0; i--) if (predicate(list[i]!)) return i;
  return -1;
}
