/**
 * Kernel times from GPU timestamps. While a profile runs, every dispatch gets a compute pass of
 * its own with a timestamp at its start and end; at each submit the timestamps are resolved into
 * a buffer, read back after the work is done, and summed per kernel (shader file and entry
 * point). Profiling changes how work is encoded (a pass per dispatch), so time a step with it
 * off and use the profile for the shares, not the absolute total. Node devices turn off Dawn's
 * timestamp quantization (src/node.ts); a browser keeps it (Dawn rounds down to 65.5 us) unless
 * started with developer flags.
 */
import { LimitError } from './errors.js';

/** Time spent in one kernel (shader file and entry point, every variant) over a profile. */
export interface KernelProfile {
  /** 'matmul:matmulSubgroup'. */
  kernel: string;
  dispatches: number;
  /** Sum of the dispatches' GPU times. */
  ms: number;
}

/**
 * Dispatches whose timestamps one submit holds by default (4096 queries, WebGPU's largest query
 * set); the device submits early past this.
 */
export const PROFILE_DISPATCHES_PER_SUBMIT = 2048;

export class Profiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  /** Kernel of each dispatch encoded since the last submit, in query-pair order. */
  private labels: string[] = [];
  private readonly pending: Promise<void>[] = [];
  private readonly totals = new Map<string, { dispatches: number; ns: bigint }>();

  constructor(
    private readonly gpu: GPUDevice,
    private readonly capacity = PROFILE_DISPATCHES_PER_SUBMIT,
  ) {
    if (!gpu.features.has('timestamp-query')) {
      throw new LimitError("profiling needs the adapter's 'timestamp-query' feature, which this device does not have");
    }
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > PROFILE_DISPATCHES_PER_SUBMIT) {
      throw new RangeError(`profiling: dispatchesPerSubmit must be an integer in [1, ${PROFILE_DISPATCHES_PER_SUBMIT}], got ${capacity}`);
    }
    const count = 2 * capacity;
    this.querySet = gpu.createQuerySet({ type: 'timestamp', count, label: 'profiler timestamps' });
    this.resolveBuffer = gpu.createBuffer({ size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'profiler resolve' });
  }

  /** Whether this submit has room for another dispatch's timestamps. */
  get full(): boolean {
    return this.labels.length >= this.capacity;
  }

  /** The timestamp writes of the next dispatch's own pass. `label` is the kernel's cache key. */
  timestampWrites(label: string): GPUComputePassTimestampWrites {
    const index = this.labels.length;
    const variantsAt = label.indexOf('[');
    this.labels.push(variantsAt < 0 ? label : label.slice(0, variantsAt));
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * index, endOfPassWriteIndex: 2 * index + 1 };
  }

  /** Encodes the copy of this submit's timestamps; call `collect` once the encoder is submitted. */
  encodeResolve(encoder: GPUCommandEncoder): GPUBuffer | undefined {
    const count = 2 * this.labels.length;
    if (count === 0) return undefined;
    const readback = this.gpu.createBuffer({ size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'profiler readback' });
    encoder.resolveQuerySet(this.querySet, 0, count, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, readback, 0, count * 8);
    return readback;
  }

  /** Reads the submitted timestamps back (asynchronously) and adds them to the totals. */
  collect(readback: GPUBuffer): void {
    const labels = this.labels;
    this.labels = [];
    this.pending.push(
      readback.mapAsync(GPUMapMode.READ).then(() => {
        const stamps = new BigUint64Array(readback.getMappedRange().slice(0));
        readback.unmap();
        readback.destroy();
        labels.forEach((label, i) => {
          const begin = stamps[2 * i]!;
          const end = stamps[2 * i + 1]!;
          const entry = this.totals.get(label) ?? { dispatches: 0, ns: 0n };
          entry.dispatches++;
          if (end > begin) entry.ns += end - begin;
          this.totals.set(label, entry);
        });
      }),
    );
  }

  /** Waits for every readback and returns the kernels, the most expensive first. */
  async finish(): Promise<KernelProfile[]> {
    await Promise.all(this.pending.splice(0));
    this.querySet.destroy();
    this.resolveBuffer.destroy();
    return [...this.totals.entries()]
      .map(([kernel, t]) => ({ kernel, dispatches: t.dispatches, ms: Number(t.ns) / 1e6 }))
      .sort((a, b) => b.ms - a.ms);
  }
}
