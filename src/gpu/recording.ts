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
 *  - Every uniform value is the same: the recorded uniform bytes are written again, whole, save
 *    the random streams' positions (below).
 *  - Nothing came from the host inside the function: an upload, a read or a submit there is
 *    refused, since a replay could not repeat it. Refill an input with `device.upload` between
 *    replays instead.
 * Everything the function encoded is replayed as it was, clears included: record work whose
 * state already exists (a training step after the first, which creates the optimizer's state).
 *
 * One kind of host state moves with each replay: a random stream's position (RandomStream, behind
 * dropout; Forward-Forward's step). A fill drawn from a stream notes itself
 * (Device.noteStreamDraw); the recording keeps where each draw fell relative to the stream's
 * position when the run first drew from it, and how far the run moved the stream, and a replay
 * writes the stream's current position into those fills' uniforms and moves the stream on as the
 * function would have: a replayed step draws fresh numbers, the very ones the function would have
 * drawn. Other host state stays as the recorded run left it: an optimizer's step count (and with
 * it Adam's bias corrections) moves only if its owner moves it (the trainer does,
 * src/sll/trainer.ts), and what a layer keeps from a forward for its backward (Dropout's mask
 * position) is the recorded run's, so record a forward together with its backward, as the
 * trainer records a whole step.
 */
import { KernelError } from './errors.js';
import type { BufferPool, PooledBuffer } from './bufferPool.js';
import type { Storage } from './tensor.js';

/** One encoded command, as replay encodes it again. */
export type RecordedCommand =
  | { kind: 'dispatch'; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; uniformOffset: number | undefined; x: number; y: number; z: number }
  | { kind: 'clear'; buffer: GPUBuffer; offset: number; size: number };

/** A random stream as a recording sees it: a position the host moves (RandomStream, src/ops/random.ts). */
export interface StreamLike {
  offset: number;
}

/**
 * A fill drawn from a stream, as the device notes it (Device.noteStreamDraw): the stream, the
 * position the fill starts at (the stream's, or one it stood at before: a mask made again), and
 * how to write another position into the fill's uniform struct (the arena's u32 words, the
 * struct's first word).
 */
export interface StreamDraw {
  stream: StreamLike;
  offset: number;
  writePosition(words: Uint32Array, structWord: number, offset: number): void;
}

/** A recorded fill: where it falls relative to its stream's first draw in the run, and its uniforms. */
interface RecordedDraw {
  delta: number;
  /** The position it was recorded at: what its uniforms hold between replays when delta < 0. */
  recorded: number;
  structWord: number;
  writePosition: StreamDraw['writePosition'];
}

/** A stream the recorded function drew from: its draws, and how far the run moved it. */
interface RecordedStream {
  stream: StreamLike;
  advance: number;
  draws: RecordedDraw[];
}

/** What the device collects while a recorded function runs. */
export class Recorder {
  readonly commands: RecordedCommand[] = [];
  /** Stream draws, each with the uniform offset of the dispatch that drew it (the last one when noted). */
  private readonly draws: Array<StreamDraw & { uniformOffset: number }> = [];
  /** Each stream's position when the run first drew from it: what the draws are relative to. */
  private readonly bases = new Map<StreamLike, number>();
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

  /** Notes that the last recorded dispatch is a fill drawn from a random stream. */
  noteStreamDraw(draw: StreamDraw): void {
    const last = this.commands.at(-1);
    if (last?.kind !== 'dispatch' || last.uniformOffset === undefined) throw new KernelError('device.noteStreamDraw: the last recorded command is not a dispatch with uniforms');
    this.draws.push({ ...draw, uniformOffset: last.uniformOffset });
    if (!this.bases.has(draw.stream)) this.bases.set(draw.stream, draw.stream.offset);
  }

  /**
   * The streams drawn from, each draw's position written relative to its stream's first draw
   * into `uniforms`, so that two runs that drew the same fills record the same bytes
   * (Recording.sameWorkAs), whatever the streams' positions were.
   */
  private streams(uniforms: Uint8Array): RecordedStream[] {
    const words = new Uint32Array(uniforms.buffer, uniforms.byteOffset, uniforms.byteLength >>> 2);
    const streams = new Map<StreamLike, RecordedStream>();
    for (const draw of this.draws) {
      const base = this.bases.get(draw.stream)!;
      let entry = streams.get(draw.stream);
      if (!entry) streams.set(draw.stream, (entry = { stream: draw.stream, advance: draw.stream.offset - base, draws: [] }));
      const delta = draw.offset - base;
      const structWord = draw.uniformOffset >>> 2;
      // Relative to a base of 0, where a negative position (a mask drawn before the run) cannot be written.
      if (delta >= 0) draw.writePosition(words, structWord, delta);
      entry.draws.push({ delta, recorded: draw.offset, structWord, writePosition: draw.writePosition });
    }
    return [...streams.values()];
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
    const streams = this.streams(uniforms);
    const reserved = host.pool.reserve(free);
    return new Recording(host, this.commands, uniforms, reserved, holders, names, flopsAfter - this.flopsBefore, streams);
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
    /** The random streams the function drew from, moved on by each replay (the file's header). */
    private readonly streams: readonly RecordedStream[] = [],
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
   * uniform bytes, the same clears, the same held buffers' tensors (inputs, parameters, state)
   * in the same order, and the same draws from the same random streams, which may have stood
   * elsewhere; only the temporaries' buffers may differ. A training step that
   * records the same work twice running has no per-step value left outside its step values
   * (Trainer, src/sll/trainer.ts), so its recording can stand for the steps after.
   */
  sameWorkAs(other: Recording): boolean {
    if (other.commands.length !== this.commands.length || other.holders.length !== this.holders.length) return false;
    if (other.uniforms.length !== this.uniforms.length) return false;
    for (let i = 0; i < this.uniforms.length; i++) if (other.uniforms[i] !== this.uniforms[i]) return false;
    for (let i = 0; i < this.holders.length; i++) if (other.holders[i] !== this.holders[i]) return false;
    if (other.streams.length !== this.streams.length) return false;
    for (let i = 0; i < this.streams.length; i++) {
      const [a, b] = [this.streams[i]!, other.streams[i]!];
      if (a.stream !== b.stream || a.advance !== b.advance || a.draws.length !== b.draws.length) return false;
      for (let j = 0; j < a.draws.length; j++) if (a.draws[j]!.delta !== b.draws[j]!.delta || a.draws[j]!.structWord !== b.draws[j]!.structWord) return false;
    }
    for (let i = 0; i < this.commands.length; i++) {
      const [a, b] = [this.commands[i]!, other.commands[i]!];
      if (a.kind === 'dispatch') {
        if (b.kind !== 'dispatch' || a.pipeline !== b.pipeline || a.uniformOffset !== b.uniformOffset || a.x !== b.x || a.y !== b.y || a.z !== b.z) return false;
      } else if (b.kind !== 'clear' || a.size !== b.size || a.offset !== b.offset) return false;
    }
    return true;
  }

  /**
   * Encodes the recorded commands again and submits them, their random fills drawn at their
   * streams' current positions, and moves those streams on. Throws if a buffer they use was freed.
   */
  replay(): void {
    if (this.disposedFlag) throw new KernelError('recording.replay: this recording was disposed');
    for (let i = 0; i < this.holders.length; i++) {
      if (this.holders[i]!.released) {
        throw new KernelError(`recording.replay: the buffer of ${this.holderNames[i]}, which the recorded commands use, was freed after recording; record again with the tensors the work now uses`);
      }
    }
    if (this.streams.length === 0) {
      this.host.replay(this);
      return;
    }
    // The draws at the streams' positions for this replay, then back to relative positions, so
    // that the bytes still compare as recorded (sameWorkAs).
    const words = new Uint32Array(this.uniforms.buffer, this.uniforms.byteOffset, this.uniforms.byteLength >>> 2);
    for (const { stream, draws, advance } of this.streams) {
      const deltas = draws.map((d) => d.delta);
      if (stream.offset + Math.min(0, ...deltas) < 0) throw new KernelError(`recording.replay: a random stream now stands at ${stream.offset}, before the positions the recorded fills were drawn from`);
      // The fills' own check: a position is a safe integer (the words past it are counted by advance).
      if (!Number.isSafeInteger(stream.offset + Math.max(advance, ...deltas))) throw new KernelError(`recording.replay: a random stream at ${stream.offset} would pass 2^53 words`);
    }
    const place = (at: (stream: StreamLike, draw: RecordedDraw) => number): void => {
      for (const { stream, draws } of this.streams) for (const draw of draws) draw.writePosition(words, draw.structWord, at(stream, draw));
    };
    place((stream, draw) => stream.offset + draw.delta);
    try {
      this.host.replay(this);
    } finally {
      place((_, draw) => (draw.delta >= 0 ? draw.delta : draw.recorded));
    }
    for (const entry of this.streams) entry.stream.offset += entry.advance;
  }

  /** Gives the temporaries' buffers back to the pool. A disposed recording cannot replay. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.host.giveBack(this.reserved);
  }
}
