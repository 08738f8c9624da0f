/**
 * Recording and replay (Device.record): the commands a synchronous function encodes, kept with
 * the bind groups, uniform bytes and buffers they used, and encoded again on demand without
 * running the function. Encoding an op costs the host far more than Dawn's floor per dispatch
 * (docs/results.md, "Host cost per dispatch"): the checks, the tensors, the scopes and the
 * kernel and bind-group lookups of every op. A replay costs only Dawn's three calls per
 * dispatch, so work that repeats with the same shapes and buffers (an evaluation batch after
 * batch, a training step once its per-step values live on the GPU) pays the op path once.
 *
 * What makes a replay the same work as the recorded run:
 *  - Every storage buffer is the same. The buffers of tensors the commands used and that were
 *    freed by the function's end (its temporaries) are taken out of the pool when the recording
 *    ends and stay out until it is disposed, so nothing else can be handed them; tensors still
 *    alive then (inputs, parameters, outputs) stay their owners', and a replay first checks
 *    that each is alive still.
 *  - Every uniform value is the same: the recorded uniform bytes are written again, whole.
 *  - Nothing came from the host inside the function: an upload, a read or a submit there is
 *    refused, since a replay could not repeat it. Refill an input with `device.upload` between
 *    replays instead.
 * Everything the function encoded is replayed as it was, clears included: record work whose
 * state already exists (a training step after the first, which creates the optimizer's state).
 */
import { KernelError } from './errors.js';
import type { BufferPool, PooledBuffer } from './bufferPool.js';
import type { Storage, Tensor } from './tensor.js';

/** One encoded command, as replay encodes it again. */
export type RecordedCommand =
  | { kind: 'dispatch'; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; uniformOffset: number | undefined; x: number; y: number; z: number }
  | { kind: 'clear'; buffer: GPUBuffer; offset: number; size: number };

/** What the device collects while a recorded function runs. */
export class Recorder {
  readonly commands: RecordedCommand[] = [];
  /**
   * Every storage a recorded command binds or clears, with what first used it. Those released
   * by the function's end were its temporaries (their buffers are reserved); the others belong
   * to someone else.
   */
  private readonly touched = new Map<Storage, string>();

  constructor(
    /** The device's FLOP counter when recording began. */
    private readonly flopsBefore: number,
  ) {}

  /** Notes that a recorded command uses `t`'s storage (`how`: which binding of which kernel). */
  touch(t: Tensor, how: string): void {
    if (!this.touched.has(t.storage)) this.touched.set(t.storage, `tensor ${t.describe()} (${how})`);
  }

  /** The recording: temporaries' buffers reserved in the pool, the other storages to check at each replay. */
  finish(host: RecordingHost, uniforms: Uint8Array, flopsAfter: number): Recording {
    const temporaries = new Set<PooledBuffer>();
    const external: Storage[] = [];
    const names: string[] = [];
    for (const [storage, name] of this.touched) {
      if (storage.released) temporaries.add(storage.pooled);
      else {
        external.push(storage);
        names.push(name);
      }
    }
    const reserved = host.pool.reserve(temporaries);
    return new Recording(host, this.commands, uniforms, reserved, external, names, flopsAfter - this.flopsBefore);
  }

  /** The refusal of what a replay could not repeat, naming it. */
  static refuse(what: string): never {
    throw new KernelError(`device.record: ${what} inside a recorded function; a replay repeats GPU commands only (upload inputs with device.upload between replays, read results after)`);
  }
}

/** What a Recording asks of the device that made it. */
export interface RecordingHost {
  readonly pool: BufferPool;
  replay(recording: Recording): void;
}

/** A recorded function's commands, replayable until disposed (see the file's header). */
export class Recording {
  private disposedFlag = false;

  constructor(
    private readonly host: RecordingHost,
    readonly commands: readonly RecordedCommand[],
    /** The arena's bytes as the function left them: every dispatch's uniforms at its offset. */
    readonly uniforms: Uint8Array,
    /** Temporaries' buffers, held out of the pool while this recording lives. */
    private readonly reserved: readonly PooledBuffer[],
    /** Storages owned elsewhere (inputs, parameters, outputs) that the commands use. */
    private readonly external: readonly Storage[],
    /** What each external storage is, for the error when one is gone. */
    private readonly externalNames: readonly string[],
    /** FLOPs the recorded ops counted (the device's counter), added again by each replay. */
    readonly flops: number,
  ) {
    this.dispatches = commands.filter((c) => c.kind === 'dispatch').length;
  }

  /** Dispatches per replay. */
  readonly dispatches: number;

  get disposed(): boolean {
    return this.disposedFlag;
  }

  /** Encodes the recorded commands again and submits them. Throws if a buffer they use was freed. */
  replay(): void {
    if (this.disposedFlag) throw new KernelError('recording.replay: this recording was disposed');
    for (let i = 0; i < this.external.length; i++) {
      if (this.external[i]!.released) {
        throw new KernelError(`recording.replay: ${this.externalNames[i]}, which the recorded commands use, was disposed after recording; record again with the tensors the work now uses`);
      }
    }
    this.host.replay(this);
  }

  /** Gives the temporaries' buffers back to the pool. A disposed recording cannot replay. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.host.pool.unreserve(this.reserved);
  }
}
