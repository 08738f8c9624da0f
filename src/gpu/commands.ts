/**
 * The command stream: the one command encoder that work is recorded into, the compute pass that
 * spans dispatch after dispatch until a copy or a clear needs the encoder, the submit of what was
 * recorded, and the submitted command buffers the GPU has not finished, which the throttle waits
 * on. Nothing here waits inside a step: a submit is cheap and returns at once, and only the
 * throttle (a bound on queued work) and the device's flush and read ever await the GPU. While a
 * profile runs (profiler.ts) each dispatch gets a pass of its own with timestamps, and each
 * submit resolves them; that is the one way profiling changes how work is encoded.
 */
import type { DeviceErrors } from './deviceErrors.js';
import type { Kernel } from './kernel.js';
import type { Profiler } from './profiler.js';
import type { RecordedCommand } from './recording.js';

export class CommandStream {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** Commands recorded since the last submit (the pool's reuse rule asks). */
  private encodedCommands = 0;
  /** One promise per submitted command buffer, removed when the GPU has finished it. */
  private readonly inFlight: Promise<void>[] = [];
  /** The running profile, between Device.startProfiling and stopProfiling. */
  profiler: Profiler | undefined;
  /** The dynamic offsets of a dispatch's bind group: the uniform's, the only dynamic binding. */
  private readonly oneOffset = [0];

  constructor(
    private readonly gpu: GPUDevice,
    private readonly errors: DeviceErrors,
  ) {}

  /** True while commands are recorded that are not yet submitted. */
  get hasUnsubmittedWork(): boolean {
    return this.encodedCommands > 0;
  }

  /** True while an encoder is open (something was recorded, or a pass begun, since the last submit). */
  get hasEncoder(): boolean {
    return this.encoder !== null;
  }

  /** Submitted command buffers the GPU has not finished yet (as far as the host has heard). */
  get queued(): number {
    return this.inFlight.length;
  }

  /** Whether the running profile's submit has no room for another dispatch's timestamps. */
  get profileFull(): boolean {
    return this.profiler?.full === true;
  }

  /** The open compute pass (one pass spans many dispatches until a copy needs the encoder). */
  computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.currentEncoder().beginComputePass();
    return this.pass;
  }

  /** The command encoder, with any open compute pass ended (for copies and clears). */
  commandEncoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    this.encodedCommands++;
    return this.currentEncoder();
  }

  /**
   * Records one dispatch of `kernel` (its bindings and uniform slot already resolved):
   * `uniformOffset` is its uniform's dynamic offset in the arena, undefined for a kernel without one.
   */
  dispatch(kernel: Kernel, bindGroup: GPUBindGroup, uniformOffset: number | undefined, x: number, y: number, z: number): void {
    const pass = this.profiler ? this.profiledPass(kernel.label) : this.computePass();
    this.encode(pass, kernel.pipeline, bindGroup, uniformOffset, x, y, z);
    if (this.profiler) this.commandEncoder(); // ends the dispatch's own pass
  }

  /** Encodes a recording's commands again (recording.ts): Dawn's calls and nothing else. */
  replay(commands: readonly RecordedCommand[]): void {
    for (let i = 0; i < commands.length; i++) {
      const c = commands[i]!;
      if (c.kind === 'dispatch') this.encode(this.computePass(), c.pipeline, c.bindGroup, c.uniformOffset, c.x, c.y, c.z);
      else this.commandEncoder().clearBuffer(c.buffer, c.offset, c.size);
    }
  }

  private encode(pass: GPUComputePassEncoder, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, uniformOffset: number | undefined, x: number, y: number, z: number): void {
    pass.setPipeline(pipeline);
    if (uniformOffset === undefined) pass.setBindGroup(0, bindGroup);
    else {
      // setBindGroup copies the offsets at once, so one array serves every dispatch.
      this.oneOffset[0] = uniformOffset;
      pass.setBindGroup(0, bindGroup, this.oneOffset);
    }
    pass.dispatchWorkgroups(x, y, z);
    this.encodedCommands++;
  }

  /** Ends the open compute pass, if any (before a submit). */
  endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /**
   * Submits the encoder, if one is open, with the profile's timestamps resolved into it, and
   * counts the command buffer as in flight until the GPU has finished it. The pass must be
   * ended and the uniform arena written first (Device.submit does both).
   */
  submitEncoded(): void {
    if (this.encoder) {
      const timestamps = this.profiler?.encodeResolve(this.encoder);
      this.gpu.queue.submit([this.encoder.finish()]);
      this.encoder = null;
      if (timestamps) this.profiler!.collect(timestamps);
      // A device lost or destroyed rejects these; the loss itself is reported through DeviceErrors.
      this.inFlight.push(this.gpu.queue.onSubmittedWorkDone().then(() => void this.inFlight.shift(), () => void this.inFlight.shift()));
    }
    this.encodedCommands = 0;
  }

  /**
   * Waits while more than `max` submitted command buffers are unfinished (for the oldest, or
   * until the device is lost), then yields to the event loop once (Device.throttle).
   */
  async throttle(max: number): Promise<void> {
    while (this.inFlight.length > max) await this.errors.orLost(this.inFlight[0]!);
    await yieldToEventLoop();
  }

  /** Drops what is recorded and unsubmitted (the device is being destroyed). */
  abandon(): void {
    this.pass?.end();
    this.pass = null;
    this.encoder = null;
  }

  /** A pass for one dispatch, with timestamps at its start and end. */
  private profiledPass(label: string): GPUComputePassEncoder {
    const encoder = this.commandEncoder();
    this.pass = encoder.beginComputePass({ timestampWrites: this.profiler!.timestampWrites(label) });
    return this.pass;
  }

  private currentEncoder(): GPUCommandEncoder {
    this.errors.assertUsable('encode');
    if (!this.encoder) this.encoder = this.gpu.createCommandEncoder();
    return this.encoder;
  }
}

/** Resolves after one turn of the event loop (a macrotask, not a microtask). */
function yieldToEventLoop(): Promise<void> {
  const setImmediateFn = (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate;
  if (setImmediateFn) return new Promise((resolve) => void setImmediateFn(resolve));
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(undefined);
  });
}
