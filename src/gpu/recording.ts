/**
 * Recording and replay (Device.record): the commands a synchronous function encodes, kept with
 * the bind groups, uniform bytes and buffers they used, and encoded again on demand without
 * running the function. Encoding an op costs the host far more than Dawn's floor per dispatch
 * (docs/results.md, "Host cost per dispatch"): the checks, the tensors, the scopes and the
 * kernel and bind-group lookups of every op. A replay costs only Dawn's three calls per
 * dispatch, so work that repeats with the same shapes and buffers (an evaluation batch after
 * batch, a training step whose per-step values are in its step buffer: Trainer.encodeStep in
 * src/sll/trainer.ts) pays the op path once.
 *
 * What makes a replay the same work as the recorded run:
 *  - Every storage buffer is the same. Each buffer the commands bind (as a tensor, or raw, as a
 *    copy binds its operands') or clear is either free when the function returns, having held
 *    its temporaries, and is then taken out of the pool until the recording is disposed, so
 *    nothing else can be handed it; or held by a tensor (an input, a parameter, an output, or a
 *    tensor the function made last in a temporary's buffer), and a replay first checks that this
 *    tensor is alive still.
 *  - Every uniform value is the same: the recorded uniform bytes are written again, whole.
 *  - Nothing came from the host inside the function: an upload, a read or a submit there is
 *    refused, since a replay could not repeat it. Refill an input with `device.upload` between
 *    replays instead.
 * Everything the function encoded is replayed as it was, clears included: record work whose
 * state already exists (a training step after the first, which creates the optimizer's state).
 * And state the host keeps moves only in the recorded run: a random stream's position
 * (RandomStream.offset, behind dropout) is a uniform, so a replay draws the recorded run's
 * numbers again; an optimizer's step count, and with it Adam's bias corrections, stays put.
 */
import { KernelError } from './errors.js';
import type { BufferPool, PooledBuffer } from './bufferPool.js';
import type { Storage } from './tensor.js';

/** One encoded command, as replay encodes it again. */
export type RecordedCommand =
  | { kind: 'dispatch'; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; uniformOffset: number | undefined; x: number; y: number; z: number }
  | { kind: 'clear'; buffer: GPUBuffer; offset: number; size: number };

/** What the device collects while a recorded function runs. */
export class Recorder {
  readonly commands: RecordedCommand[] = [];
  /**
   * Every buffer a recorded command binds or clears, as a tensor or raw (a copy binds its
   * operands' buffers), with what first used it. Those free when the function has returned held
   * its temporaries and are reserved; the others are held by someone's tensor, checked at replay.
   */
  private readonly buffers = new Map<GPUBuffer, string>();

  constructor(
    /** The device's FLOP counter when recording began. */
    private readonly flopsBefore: number,
  ) {}

  /** Notes that a recorded command uses `buffer` (`how`: what it is, which binding of which kernel). */
  touch(buffer: GPUBuffer, how: string): void {
    if (!this.buffers.has(buffer)) this.buffers.set(buffer, how);
  }

  /** The recording: the free buffers reserved in the pool, the held ones' holders to check at each replay. */
  finish(host: RecordingHost, uniforms: Uint8Array, flopsAfter: number): Recording {
    const free: PooledBuffer[] = [];
    const holders: Storage[] = [];
    const names: string[] = [];
    for (const [buffer, how] of this.buffers) {
      const pooled = host.pool.pooledOf(buffer);
      if (!pooled) continue; // not a pool buffer: nothing of the engine binds one today
      if (pooled.holder === undefined) free.push(pooled);
      else {
        holders.push(pooled.holder as Storage);
        names.push(how);
      }
    }
    const reserved = host.pool.reserve(free);
    return new Recording(host, this.commands, uniforms, reserved, holders, names, flopsAfter - this.flopsBefore);
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
  /** Gives reserved buffers back to the pool (nothing once the device is destroyed). */
  giveBack(reserved: readonly PooledBuffer[]): void;
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
    /** The storages holding the other buffers the commands use (inputs, parameters, outputs). */
    private readonly holders: readonly Storage[],
    /** What each held buffer was first used as, for the error when its holder is gone. */
    private readonly holderNames: readonly string[],
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

  /**
   * Whether `other` recorded the same work as this: the same kernels with the same grids and
   * uniform bytes, the same clears, and the same held buffers' tensors (inputs, parameters,
   * state) in the same order; only the temporaries' buffers may differ. A training step that
   * records the same work twice running has no per-step value left outside its step values
   * (Trainer, src/sll/trainer.ts), so its recording can stand for the steps after.
   */
  sameWorkAs(other: Recording): boolean {
    if (other.commands.length !== this.commands.length || other.holders.length !== this.holders.length) return false;
    if (other.uniforms.length !== this.uniforms.length) return false;
    for (let i = 0; i < this.uniforms.length; i++) if (other.uniforms[i] !== this.uniforms[i]) return false;
    for (let i = 0; i < this.holders.length; i++) if (other.holders[i] !== this.holders[i]) return false;
    for (let i = 0; i < this.commands.length; i++) {
      const [a, b] = [this.commands[i]!, other.commands[i]!];
      if (a.kind === 'dispatch') {
        if (b.kind !== 'dispatch' || a.pipeline !== b.pipeline || a.uniformOffset !== b.uniformOffset || a.x !== b.x || a.y !== b.y || a.z !== b.z) return false;
      } else if (b.kind !== 'clear' || a.size !== b.size || a.offset !== b.offset) return false;
    }
    return true;
  }

  /** Encodes the recorded commands again and submits them. Throws if a buffer they use was freed. */
  replay(): void {
    if (this.disposedFlag) throw new KernelError('recording.replay: this recording was disposed');
    for (let i = 0; i < this.holders.length; i++) {
      if (this.holders[i]!.released) {
        throw new KernelError(`recording.replay: the buffer of ${this.holderNames[i]}, which the recorded commands use, was freed after recording; record again with the tensors the work now uses`);
      }
    }
    this.host.replay(this);
  }

  /** Gives the temporaries' buffers back to the pool. A disposed recording cannot replay. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.host.giveBack(this.reserved);
  }
}
