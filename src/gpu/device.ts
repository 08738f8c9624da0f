/**
 * The device: one GPUDevice with everything the engine hangs on it, and the public entry point
 * to all of it. Each concern lives in a file of its own that the device composes, and the
 * methods here check their arguments and put the parts together:
 *
 * - tensors: allocated here from the buffer pool (bufferPool.ts); host data checked, encoded and
 *   decoded in hostData.ts; scopes and ownership in lifetimes.ts;
 * - kernels: compiled once in kernelCache.ts, bound through bindGroups.ts, their uniforms packed
 *   into the uniform arena (uniformArena.ts);
 * - commands: encoded, submitted and throttled in commands.ts, timed by profiler.ts;
 * - errors: collected and surfaced in deviceErrors.ts; the adapter's report in adapter.ts.
 *
 * A Tensor sees its device as the small TensorHost interface of tensor.ts, which this class
 * implements; the module augmentation below makes `tensor.device` this Device for callers,
 * without tensor.ts importing this file.
 *
 * Work is encoded into one command encoder and submitted in batches; nothing waits inside a
 * step. Errors the GPU reports asynchronously (shader compilation, validation, out of memory)
 * are collected and thrown, with names attached, by the next `flush()` or `read()`.
 */
import { assertDType, bytesPerElement, describeValue, type DType, type HostData } from './dtype.js';
import type { AdapterReport } from './adapter.js';
import { KernelError, LimitError, ShapeError } from './errors.js';
import { foldWorkgroups, type Kernel, type KernelSpec } from './kernel.js';
import { BufferPool, assertMemoryCategory, type MemoryCategory, type MemoryStats } from './bufferPool.js';
import { assertValidShape, formatShape, sizeOf, type Shape } from './shape.js';
import { Storage, Tensor, type TensorHost } from './tensor.js';
import { Profiler, type KernelProfile } from './profiler.js';
import { contiguous } from './strided.js';
import { DeviceErrors } from './deviceErrors.js';
import { UniformArena, type UniformValues } from './uniformArena.js';
import { KernelCache } from './kernelCache.js';
import { BindGroups, type Binding } from './bindGroups.js';
import { CommandStream } from './commands.js';
import { Scopes, assertOwnTensor } from './lifetimes.js';
import { checkHostData, checkValuesFit, decodeHost, emptyHost, roundUp, writeHost } from './hostData.js';
import { Recorder, Recording, type RecordingHost, type StreamDraw } from './recording.js';
import type { KernelLayouts } from './workgroups.js';

export { WANTED_FEATURES, type AdapterReport, type FeatureLevel } from './adapter.js';
export type { Binding } from './bindGroups.js';
export type { UniformValues } from './uniformArena.js';

declare module './tensor.js' {
  /** `tensor.device` is this Device (see TensorDeviceRegistry). */
  interface TensorDeviceRegistry {
    device: Device;
  }
}

export class Device implements TensorHost {
  readonly pool: BufferPool;
  readonly hasF16: boolean;
  readonly hasSubgroups: boolean;
  readonly hasTimestamps: boolean;
  private readonly arena: UniformArena;
  private readonly errors: DeviceErrors;
  private readonly commands: CommandStream;
  private readonly kernels: KernelCache;
  private readonly bindGroups: BindGroups;
  private readonly scopes = new Scopes();
  /** What a running Device.record collects; undefined when not recording. */
  private recorder: Recorder | undefined;
  /** What recordings ask of this device (their replays). */
  private readonly recordingHost: RecordingHost;
  /**
   * How many submitted command buffers `throttle()` lets be unfinished before it waits. The host
   * hears of finished work late (Dawn reports it when it next polls for events), so a tight bound
   * stalls a pipeline that is keeping up: at 4, a small SLL MLP step on lavapipe took 17% longer
   * (3.0 -> 3.5 ms); at 16 it is unchanged within noise
   * (bench/experiments/sll-speed.mjs --mlp-hidden 32,32).
   */
  maxQueuedSubmits = 16;

  /** Submitted command buffers the GPU has not finished yet (as far as the host has heard). */
  get queuedSubmits(): number {
    return this.commands.queued;
  }
  /** Dispatches encoded since the device was opened (a cheap progress and cost counter). */
  dispatchCount = 0;
  /**
   * Floating-point operations of the products encoded since the device was opened, 2 per
   * multiply-add: matmuls, convolutions and attention, forward and gradients, as the ops count
   * them from their shapes (recomputed scores included). Elementwise ops, reductions, norms,
   * losses and optimizer steps are left out: they are a few operations per element, not per
   * multiply-add. Read it before and after a step for that step's FLOPs.
   */
  flopCount = 0;
  /** The adapter's maxComputeWorkgroupsPerDimension, read once (each dispatch checks against it). */
  private readonly maxWorkgroupsPerDimension: number;

  constructor(
    readonly gpu: GPUDevice,
    readonly report: AdapterReport,
    /**
     * The GPU object and adapter the device came from. Held so that they live as long as the
     * device: dawn.node frees its instance when the GPU object is garbage-collected, and a
     * device whose instance is gone crashes the process when it next processes events.
     */
    readonly origin?: { readonly instance: GPU; readonly adapter: GPUAdapter },
    /** Kernel layouts forced whatever the adapter is (OpenDeviceOptions.kernels); absent: the adapter's own. */
    readonly kernelLayouts?: KernelLayouts,
  ) {
    this.hasF16 = gpu.features.has('shader-f16');
    this.hasSubgroups = gpu.features.has('subgroups');
    this.hasTimestamps = gpu.features.has('timestamp-query');
    this.maxWorkgroupsPerDimension = gpu.limits.maxComputeWorkgroupsPerDimension;
    this.pool = new BufferPool({
      hasUnsubmittedWork: () => this.commands.hasUnsubmittedWork,
      createBuffer: (descriptor) => this.errors.createCheckedBuffer(descriptor),
    });
    this.arena = new UniformArena(gpu);
    this.errors = new DeviceErrors(gpu);
    this.commands = new CommandStream(gpu, this.errors);
    this.kernels = new KernelCache(gpu, this.errors);
    this.bindGroups = new BindGroups(gpu, this, this.arena.buffer);
    this.recordingHost = {
      pool: this.pool,
      replay: (recording) => this.replayRecording(recording),
      giveBack: (reserved) => {
        if (!this.errors.destroyed) this.pool.unreserve(reserved);
      },
    };
  }

  get limits(): GPUSupportedLimits {
    return this.gpu.limits;
  }

  /** Subgroup size of the adapter when it is fixed (min = max), else undefined. */
  get subgroupSize(): number | undefined {
    const { subgroupMinSize, subgroupMaxSize } = this.report;
    return this.hasSubgroups && subgroupMinSize !== undefined && subgroupMinSize === subgroupMaxSize ? subgroupMinSize : undefined;
  }

  // ---------------------------------------------------------------- tensors

  // Every argument of a public entry point is checked before anything is allocated or encoded,
  // so a call that throws leaves the pool's counts and the command stream as they were.

  /** An uninitialized tensor (contents are whatever the pooled buffer held). */
  empty(shape: Shape, dtype: DType = 'f32', category: MemoryCategory = 'activation'): Tensor {
    checkRequest('empty', shape, dtype, category);
    return this.allocate(shape, dtype, category, false);
  }

  /** A tensor of zeros. */
  zeros(shape: Shape, dtype: DType = 'f32', category: MemoryCategory = 'activation'): Tensor {
    checkRequest('zeros', shape, dtype, category);
    const t = this.allocate(shape, dtype, category, false);
    this.clear(t);
    return t;
  }

  /** Sets every element of a contiguous tensor to zero (encoded: after the work before it). */
  clear(t: Tensor): void {
    assertOwnTensor(t, this, 'clear');
    if (!t.isContiguous) throw new ShapeError(`clear: ${t.toString()} is a view; clear a contiguous tensor`);
    if (t.bytes === 0) return;
    const size = roundUp(t.bytes, 4);
    this.commands.commandEncoder().clearBuffer(t.buffer, 0, size);
    if (this.recorder) {
      this.recorder.commands.push({ kind: 'clear', buffer: t.buffer, offset: 0, size });
      this.recorder.touch(t.buffer, `tensor ${t.describe()} (cleared)`);
    }
  }

  /** Uploads host data into a new tensor (`shape` defaults to [data.length]). */
  tensor(data: HostData, shape?: Shape, dtype: DType = 'f32', category: MemoryCategory = 'activation'): Tensor {
    checkHostData('tensor', data);
    const resolved = shape === undefined ? [data.length] : shape;
    checkRequest('tensor', resolved, dtype, category);
    if (data.length !== sizeOf(resolved)) {
      throw new ShapeError(`tensor: ${data.length} values given for shape ${formatShape(resolved)} (${sizeOf(resolved)} elements)`);
    }
    checkValuesFit('tensor', data, dtype);
    if (this.recorder) Recorder.refuse('an upload (device.tensor)');
    const t = this.allocate(resolved, dtype, category, true);
    // A buffer allocated for upload is not used by any encoded command: no submit needed.
    writeHost(this.gpu.queue, t, data);
    return t;
  }

  /**
   * Overwrites a contiguous tensor's elements from the host, after every command encoded so
   * far (they are submitted first: queue writes take effect at once, ahead of unsubmitted
   * work, so an encoded kernel that writes the tensor would otherwise overwrite the upload).
   */
  upload(t: Tensor, data: HostData): void {
    assertOwnTensor(t, this, 'upload');
    checkHostData('upload', data);
    if (!t.isContiguous) throw new ShapeError(`upload: ${t.toString()} is a view; upload into a contiguous tensor`);
    if (data.length !== t.size) throw new ShapeError(`upload: ${data.length} values for tensor ${t.describe()} (${t.size} elements)`);
    checkValuesFit('upload', data, t.dtype);
    if (this.recorder) Recorder.refuse('an upload (device.upload)');
    if (this.commands.hasEncoder || this.arena.pending) this.submit();
    writeHost(this.gpu.queue, t, data);
  }

  /** A new tensor for arguments checkRequest has accepted. */
  private allocate(shape: Shape, dtype: DType, category: MemoryCategory, forUpload: boolean): Tensor {
    this.errors.assertUsable('allocate');
    if (dtype === 'f16' && !this.hasF16) {
      throw new LimitError(`tensor ${formatShape(shape)} f16: this adapter has no 'shader-f16' feature; use f32`);
    }
    const bytes = sizeOf(shape) * bytesPerElement(dtype);
    const limit = this.gpu.limits.maxStorageBufferBindingSize;
    if (bytes > limit) {
      throw new LimitError(`tensor ${formatShape(shape)} ${dtype} needs ${bytes} bytes, over this device's maxStorageBufferBindingSize of ${limit} bytes`, {
        shape: [...shape],
        bytes,
        limit,
        limitName: 'maxStorageBufferBindingSize',
      });
    }
    const pooled = this.pool.acquire(Math.max(bytes, 4), category, {
      forUpload,
      label: () => `tensor ${formatShape(shape)} ${dtype} (${bytes} B, ${category})`,
    });
    const storage = new Storage(this, pooled, Math.max(bytes, 4), category);
    pooled.holder = storage;
    return new Tensor(storage, shape, dtype);
  }

  /** Called by Storage when the last tensor viewing it is disposed. */
  releaseStorage(storage: Storage): void {
    if (this.errors.destroyed) return;
    this.pool.release(storage.pooled, storage.bytes, storage.category);
  }

  memory(): MemoryStats {
    return this.pool.stats();
  }

  /** Downloads a tensor's elements (views are made contiguous first). */
  read(t: Tensor): Promise<Float32Array | Int32Array | Uint32Array> {
    // Refused at the call, not in the promise: a recorded function must fail where it reads.
    if (this.recorder) Recorder.refuse('a read');
    return this.readAsync(t);
  }

  private async readAsync(t: Tensor): Promise<Float32Array | Int32Array | Uint32Array> {
    this.errors.assertUsable('read');
    assertOwnTensor(t, this, 'read');
    const dense = t.isContiguous ? t : contiguous(t, 'scratch');
    try {
      const bytes = roundUp(dense.bytes, 4);
      if (bytes === 0) {
        await this.flush();
        return emptyHost(t.dtype);
      }
      const staging = this.pool.acquire(bytes, 'staging', { usage: 'readback', label: () => `readback of ${t.describe()}` });
      this.commandEncoder().copyBufferToBuffer(dense.buffer, 0, staging.buffer, 0, bytes);
      try {
        this.submit();
        await this.errors.orLost(staging.buffer.mapAsync(GPUMapMode.READ, 0, bytes));
        await this.errors.surface();
        const copy = staging.buffer.getMappedRange(0, bytes).slice(0);
        staging.buffer.unmap();
        return decodeHost(copy, t.dtype, t.size);
      } finally {
        if (staging.buffer.mapState === 'mapped') staging.buffer.unmap();
        this.pool.release(staging, bytes, 'staging');
      }
    } finally {
      if (dense !== t) dense.dispose();
    }
  }

  // ---------------------------------------------------------------- kernels

  /** The compiled kernel for a spec (cached). Compilation errors surface at the next flush. */
  kernel(spec: KernelSpec): Kernel {
    return this.kernels.get(spec);
  }

  /** Builds a kernel now and throws its compile errors, if any (for warm-up and tests). */
  async prepareKernel(spec: KernelSpec): Promise<Kernel> {
    const kernel = this.kernel(spec);
    await this.errors.surface();
    return kernel;
  }

  /**
   * Encodes one dispatch. `bindings` name every storage buffer the entry point uses; `uniforms`
   * name every member of its uniform struct. `workgroups` may be a count, folded over x and y
   * when it exceeds the per-dimension limit (the shader then reads `num_workgroups`).
   */
  dispatch(kernel: Kernel, bindings: Binding, uniforms: UniformValues | undefined, workgroups: number | readonly [number, number?, number?]): void {
    this.errors.assertUsable(kernel.label);
    const key = this.bindGroups.key(kernel, bindings);
    // Before this dispatch's uniforms are packed: a submit re-bases the uniform arena.
    if (this.commands.profileFull) this.submit();
    const uniform = kernel.entry.uniform;
    let uniformOffset: number | undefined;
    if (uniform) {
      if (!this.arena.fits(uniform.size)) this.submit();
      uniformOffset = this.arena.pack(kernel, uniforms ?? {});
    } else if (uniforms && Object.keys(uniforms).length > 0) {
      throw new KernelError(`${kernel.label}: uniforms given but the entry point has no uniform struct`);
    }
    const bindGroup = this.bindGroups.get(kernel, key, bindings);
    const max = this.maxWorkgroupsPerDimension;
    let x: number, y: number, z: number;
    if (typeof workgroups === 'number') {
      if (workgroups <= max) {
        x = Math.max(workgroups, 1);
        y = z = 1;
      } else [x, y, z] = foldWorkgroups(workgroups, max);
    } else {
      x = workgroups[0];
      y = workgroups[1] ?? 1;
      z = workgroups[2] ?? 1;
    }
    if (x > max || y > max || z > max) {
      const [axis, n] = x > max ? ['x', x] : y > max ? ['y', y] : ['z', z];
      throw new LimitError(`${kernel.label}: ${n} workgroups along ${axis} exceed maxComputeWorkgroupsPerDimension (${max})`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    this.commands.dispatch(kernel, bindGroup, uniformOffset, x, y, z);
    this.dispatchCount++;
    if (this.recorder) {
      this.recorder.commands.push({ kind: 'dispatch', pipeline: kernel.pipeline, bindGroup, uniformOffset, x, y, z });
      for (const name in bindings) {
        const resource = bindings[name]!;
        if (resource instanceof Tensor) this.recorder.touch(resource.buffer, `tensor ${resource.describe()} (binding '${name}' of ${kernel.label})`);
        else this.recorder.touch(resource, `the buffer bound as '${name}' of ${kernel.label}`);
      }
    }
  }

  /**
   * Notes that the dispatch just made is a fill drawn from a random stream (RandomStream), so
   * that a recording of it draws at the stream's position when replayed and moves the stream on
   * (src/gpu/recording.ts). Nothing happens outside a recording.
   */
  noteStreamDraw(draw: StreamDraw): void {
    this.recorder?.noteStreamDraw(draw);
  }

  // ---------------------------------------------------------------- encoding and submission

  /** The open compute pass (one pass spans many dispatches until a copy needs the encoder). */
  computePass(): GPUComputePassEncoder {
    if (this.recorder) Recorder.refuse('direct encoding (device.computePass)');
    return this.commands.computePass();
  }

  /** The command encoder, with any open compute pass ended (for copies and clears). */
  commandEncoder(): GPUCommandEncoder {
    if (this.recorder) Recorder.refuse('direct encoding (device.commandEncoder)');
    return this.commands.commandEncoder();
  }

  /**
   * Runs `fn` (synchronous, in a scope of its own) and records the commands it encodes, to be
   * encoded again by `recording.replay()` without running it (src/gpu/recording.ts says what a
   * replay repeats and what it refuses). The recorded run is submitted like any other work.
   * Dispose the recording to give its temporaries' buffers back to the pool.
   */
  record<T>(fn: () => T): { result: T; recording: Recording } {
    this.errors.assertUsable('record');
    if (this.recorder) Recorder.refuse('a nested device.record');
    if (this.commands.profiler) throw new KernelError('device.record: a profile is running; stop it first (a profile encodes each dispatch in a pass of its own)');
    // The arena starts empty, so the recorded uniform offsets count from its start.
    this.submit();
    const recorder = new Recorder(this.flopCount);
    this.recorder = recorder;
    let result: T;
    try {
      result = this.scope(fn);
    } finally {
      this.recorder = undefined;
    }
    const uniforms = this.arena.snapshot();
    this.submit();
    return { result, recording: recorder.finish(this.recordingHost, uniforms, this.flopCount) };
  }

  /**
   * Starts timing every dispatch (GPU timestamps, one pass per dispatch) until
   * `stopProfiling`. Needs the 'timestamp-query' feature. `dispatchesPerSubmit` (default
   * PROFILE_DISPATCHES_PER_SUBMIT) is how many dispatches' timestamps one submit holds.
   */
  startProfiling(options: { dispatchesPerSubmit?: number } = {}): void {
    this.errors.assertUsable('startProfiling');
    if (this.commands.profiler) throw new Error('startProfiling: a profile is already running');
    this.submit();
    this.commands.profiler = new Profiler(this.gpu, options.dispatchesPerSubmit);
  }

  /** Whether a profile is running (startProfiling): recordings and replays are refused meanwhile. */
  get profiling(): boolean {
    return this.commands.profiler !== undefined;
  }

  /** Submits, waits for the profiled work, and returns the time per kernel, the largest first. */
  async stopProfiling(): Promise<KernelProfile[]> {
    const profiler = this.commands.profiler;
    if (!profiler) throw new Error('stopProfiling: no profile is running (call startProfiling first)');
    await this.flush();
    this.commands.profiler = undefined;
    return profiler.finish();
  }

  /**
   * Runs `fn` and disposes every tensor it created on this device that is still alive and not
   * part of its result: the result itself if it is a tensor, and the tensors in arrays and plain
   * object literals in it, three levels deep (a Map or a class instance is not searched: its
   * tensors are disposed). What it returns belongs to the enclosing scope, if any; what must outlive every scope
   * (a layer's saved tensors, optimizer state) is taken out with `keep`. If `fn` throws, all it
   * created is disposed. `fn` must be synchronous: tensors created after an await would land in
   * whatever scope is open then.
   */
  scope<T>(fn: () => T): T {
    return this.scopes.run(fn);
  }

  /** Takes `t` out of every open scope: it outlives them (saved for a backward rule, optimizer state). */
  keep<T extends Tensor>(t: T): T {
    return this.scopes.keep(t);
  }

  /** Called by every new Tensor: it belongs to the innermost open scope. */
  trackTensor(t: Tensor): void {
    this.scopes.track(t);
  }

  /** Submits everything encoded so far. Cheap; does not wait. */
  submit(): void {
    if (this.errors.destroyed) return;
    if (this.recorder) Recorder.refuse('a submit (device.submit, or more uniforms than one submit holds)');
    this.commands.endPass();
    this.arena.write(this.gpu.queue);
    this.commands.submitEncoded();
    this.pool.markSubmitted();
  }

  /**
   * Bounds the work queued on the GPU, for loops that encode step after step without reading
   * anything back. WebGPU's JS API cannot block, so a loop that never awaits cannot be slowed:
   * it must await this. Submits what is encoded; while more than `maxQueuedSubmits` submitted
   * command buffers are unfinished, waits for the oldest; then yields to the event loop once
   * (a macrotask), so that signals, timers and a page's events run between steps. On a GPU that
   * keeps up, it costs one submit and one yield.
   */
  async throttle(): Promise<void> {
    this.errors.assertUsable('throttle');
    this.submit();
    await this.commands.throttle(this.maxQueuedSubmits);
  }

  /** Submits, waits for the GPU to finish, and throws any error the device reported. */
  async flush(): Promise<void> {
    this.errors.assertUsable('flush');
    this.submit();
    await this.errors.orLost(this.gpu.queue.onSubmittedWorkDone());
    await this.errors.surface();
  }

  /** Recording.replay's work: the recorded uniforms and commands, encoded and submitted. */
  private replayRecording(recording: Recording): void {
    this.errors.assertUsable('recording.replay');
    if (this.recorder) Recorder.refuse('a replay');
    if (this.commands.profiler) throw new KernelError('recording.replay: a profile is running; stop it first');
    if (this.commands.hasEncoder || this.arena.pending) this.submit();
    this.arena.load(recording.uniforms);
    this.commands.replay(recording.commands);
    this.dispatchCount += recording.dispatches;
    this.flopCount += recording.flops;
    this.submit();
  }

  get isDestroyed(): boolean {
    return this.errors.destroyed;
  }

  /** Releases every GPU resource. Further use throws. */
  destroy(): void {
    if (this.errors.destroyed) return;
    this.commands.abandon();
    this.errors.markDestroyed();
    this.pool.trim();
    this.arena.destroy();
    this.gpu.destroy();
  }

  /**
   * destroy(), for a process about to exit or a host about to drop the device: lets the GPU
   * finish what was submitted first (without throwing: a lost device has nothing to finish), then,
   * after destroying, gives a native implementation's own teardown threads a moment. Dawn tears a
   * destroyed device down on threads of its own, and a process that exits at once races them (a
   * segfault or an abort at exit; seen in the command and in the test workers).
   */
  async close(graceMs = 100): Promise<void> {
    if (this.errors.destroyed) return;
    this.submit();
    await this.errors.orLost(this.gpu.queue.onSubmittedWorkDone()).catch(() => undefined);
    this.destroy();
    await new Promise((settle) => setTimeout(settle, graceMs));
  }

  [Symbol.dispose](): void {
    this.destroy();
  }
}

/** Checks the shape, dtype and memory category a new tensor is asked for. */
function checkRequest(op: string, shape: Shape, dtype: DType, category: MemoryCategory): void {
  if (!Array.isArray(shape)) throw new TypeError(`${op}: shape must be an array of non-negative integers, got ${describeValue(shape)}`);
  assertValidShape(shape, `${op}: shape`);
  assertDType(dtype, op);
  assertMemoryCategory(category, op);
}
