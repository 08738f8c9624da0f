/**
 * The device: one GPUDevice with everything the engine hangs on it (buffer pool, kernel cache,
 * command encoding, uniform arena, error surfacing).
 *
 * Work is encoded into one command encoder and submitted in batches; nothing waits inside a
 * step. Errors the GPU reports asynchronously (shader compilation, validation, out of memory)
 * are collected and thrown, with names attached, by the next `flush()` or `read()`.
 */
import { assertDType, bytesPerElement, describeValue, f16BitsToF32, f32ToF16Bits, type DType, type HostData } from './dtype.js';
import { DeviceLostError, GpuValidationError, KernelError, LimitError, OutOfMemoryError, ShapeError } from './errors.js';
import { Kernel, bindGroupLayoutEntries, foldWorkgroups, kernelKey, type KernelSpec } from './kernel.js';
import { BufferPool, assertMemoryCategory, type MemoryCategory, type MemoryStats } from './bufferPool.js';
import { assertValidShape, formatShape, sizeOf, type Shape } from './shape.js';
import { loadShader } from './shaderLibrary.js';
import { Storage, Tensor } from './tensor.js';
import { Profiler, type KernelProfile } from './profiler.js';
import { contiguous } from './strided.js';

export type FeatureLevel = 'core' | 'compatibility';

/** What the engine got from the adapter, for logs, reports and benchmark records. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The WebGPU implementation's backend (e.g. 'vulkan', 'opengles', 'browser'). */
  backend: string;
  featureLevel: FeatureLevel;
  /** A software or otherwise degraded adapter (Dawn reports lavapipe as one). */
  isFallbackAdapter: boolean;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  /** Optional features granted to the device. */
  features: string[];
  limits: Record<string, number>;
}

/** Optional features the engine asks for when the adapter has them. */
export const WANTED_FEATURES = ['shader-f16', 'timestamp-query', 'subgroups'] as const;

export interface Binding {
  /** Storage buffers by their WGSL variable name. */
  [name: string]: Tensor | GPUBuffer;
}

export type UniformValues = Record<string, number | readonly number[]>;

/** Uniform data for all dispatches of one submit lives in one buffer, written once at submit. */
const UNIFORM_ARENA_BYTES = 64 * 1024;

export class Device {
  readonly pool: BufferPool;
  readonly hasF16: boolean;
  readonly hasSubgroups: boolean;
  readonly hasTimestamps: boolean;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private encodedCommands = 0;
  private readonly kernels = new Map<string, Kernel>();
  /** Small numbers naming buffers in bind-group cache keys (a buffer is never renamed). */
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 0;
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly uniformBuffer: GPUBuffer;
  private readonly uniformData = new ArrayBuffer(UNIFORM_ARENA_BYTES);
  private uniformUsed = 0;
  private readonly uniformAlign: number;
  private readonly errors: Error[] = [];
  private readonly pendingChecks: Promise<void>[] = [];
  /** The open scopes (device.scope), innermost last: the tensors created in each. */
  private readonly scopes: Array<Set<Tensor>> = [];
  /** One promise per submitted command buffer, removed when the GPU has finished it. */
  private readonly inFlight: Promise<void>[] = [];
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
    return this.inFlight.length;
  }
  private lostError: DeviceLostError | null = null;
  private readonly lostRejection: Promise<never>;
  private destroyed = false;
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
  /** The running profile, between startProfiling and stopProfiling. */
  private profiler: Profiler | undefined;

  constructor(
    readonly gpu: GPUDevice,
    readonly report: AdapterReport,
    /**
     * The GPU object and adapter the device came from. Held so that they live as long as the
     * device: dawn.node frees its instance when the GPU object is garbage-collected, and a
     * device whose instance is gone crashes the process when it next processes events.
     */
    readonly origin?: { readonly instance: GPU; readonly adapter: GPUAdapter },
  ) {
    this.hasF16 = gpu.features.has('shader-f16');
    this.hasSubgroups = gpu.features.has('subgroups');
    this.hasTimestamps = gpu.features.has('timestamp-query');
    this.uniformAlign = gpu.limits.minUniformBufferOffsetAlignment;
    this.pool = new BufferPool({
      hasUnsubmittedWork: () => this.encodedCommands > 0,
      createBuffer: (descriptor) => this.createCheckedBuffer(descriptor),
    });
    this.uniformBuffer = gpu.createBuffer({
      size: UNIFORM_ARENA_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'uniform arena',
    });
    this.lostRejection = gpu.lost.then((info) => {
      this.lostError = new DeviceLostError(
        info.reason === 'destroyed' ? 'the device was destroyed' : `the device was lost (${info.reason}): ${info.message}`,
      );
      throw this.lostError;
    });
    this.lostRejection.catch(() => undefined); // observed through lostError and races below
    gpu.addEventListener('uncapturederror', (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.errors.push(new GpuValidationError(error.message));
    });
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
    if (t.bytes > 0) this.commandEncoder().clearBuffer(t.buffer, 0, roundUp(t.bytes, 4));
    return t;
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
    const t = this.allocate(resolved, dtype, category, true);
    // A buffer allocated for upload is not used by any encoded command: no submit needed.
    this.writeHost(t, data);
    return t;
  }

  /**
   * Overwrites a contiguous tensor's elements from the host, after every command encoded so
   * far (they are submitted first: queue writes take effect at once, ahead of unsubmitted
   * work, so an encoded kernel that writes the tensor would otherwise overwrite the upload).
   */
  upload(t: Tensor, data: HostData): void {
    this.assertOwn(t, 'upload');
    checkHostData('upload', data);
    if (!t.isContiguous) throw new ShapeError(`upload: ${t.toString()} is a view; upload into a contiguous tensor`);
    if (data.length !== t.size) throw new ShapeError(`upload: ${data.length} values for tensor ${t.describe()} (${t.size} elements)`);
    checkValuesFit('upload', data, t.dtype);
    if (this.encoder || this.uniformUsed > 0) this.submit();
    this.writeHost(t, data);
  }

  /** Writes checked host data (as many values as `t` has) into the contiguous tensor `t`. */
  private writeHost(t: Tensor, data: HostData): void {
    if (t.size === 0) return;
    const bytes = encodeHost(data, t.dtype);
    this.gpu.queue.writeBuffer(t.buffer, 0, bytes.buffer, bytes.byteOffset, roundUp(bytes.byteLength, 4));
  }

  /** Throws unless `t` is a live tensor of this device. */
  private assertOwn(t: Tensor, op: string): void {
    if (!(t instanceof Tensor)) throw new TypeError(`${op}: expected a Tensor, got ${describeValue(t)}`);
    t.assertAlive(op);
    if (t.device !== this) {
      throw new ShapeError(`${op}: tensor ${t.describe()} belongs to another Device; read() it there and upload it to this one with tensor()`);
    }
  }

  /** A new tensor for arguments checkRequest has accepted. */
  private allocate(shape: Shape, dtype: DType, category: MemoryCategory, forUpload: boolean): Tensor {
    this.assertUsable('allocate');
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
      label: `tensor ${formatShape(shape)} ${dtype} (${bytes} B, ${category})`,
    });
    return new Tensor(new Storage(this, pooled, Math.max(bytes, 4), category), shape, dtype);
  }

  /** Called by Storage when the last tensor viewing it is disposed. */
  releaseStorage(storage: Storage): void {
    if (this.destroyed) return;
    this.pool.release(storage.pooled, storage.bytes, storage.category);
  }

  memory(): MemoryStats {
    return this.pool.stats();
  }

  /** Downloads a tensor's elements (views are made contiguous first). */
  async read(t: Tensor): Promise<Float32Array | Int32Array | Uint32Array> {
    this.assertUsable('read');
    this.assertOwn(t, 'read');
    const dense = t.isContiguous ? t : contiguous(t, 'scratch');
    try {
      const bytes = roundUp(dense.bytes, 4);
      if (bytes === 0) {
        await this.flush();
        return t.dtype === 'i32' ? new Int32Array(0) : t.dtype === 'u32' ? new Uint32Array(0) : new Float32Array(0);
      }
      const staging = this.pool.acquire(bytes, 'staging', { usage: 'readback', label: `readback of ${t.describe()}` });
      this.commandEncoder().copyBufferToBuffer(dense.buffer, 0, staging.buffer, 0, bytes);
      try {
        this.submit();
        await Promise.race([staging.buffer.mapAsync(GPUMapMode.READ, 0, bytes), this.lostRejection]);
        await this.surfaceErrors();
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
    const key = kernelKey(spec);
    const cached = this.kernels.get(key);
    if (cached) return cached;
    this.assertUsable('kernel');
    const shader = loadShader(spec.file, spec.variant ?? []);
    const entry = shader.entries.get(spec.entry);
    if (!entry) {
      throw new KernelError(`shaders/${spec.file}.wgsl has no compute entry point '${spec.entry}' (has: ${[...shader.entries.keys()].join(', ')})`);
    }
    for (const name of Object.keys(spec.overrides ?? {})) {
      if (!entry.overrides.includes(name)) {
        throw new KernelError(`shaders/${spec.file}.wgsl:${spec.entry} has no override '${name}' (has: ${entry.overrides.join(', ') || 'none'})`);
      }
    }
    const moduleKey = `${spec.file}|${shader.variant.join(',')}`;
    const fileLabel = `shaders/${spec.file}.wgsl`;
    this.gpu.pushErrorScope('validation');
    let module = this.modules.get(moduleKey);
    if (!module) {
      module = this.gpu.createShaderModule({ code: shader.code, label: fileLabel });
      this.modules.set(moduleKey, module);
    }
    const bindGroupLayout = this.gpu.createBindGroupLayout({ label: key, entries: bindGroupLayoutEntries(entry) });
    const pipeline = this.gpu.createComputePipeline({
      label: key,
      layout: this.gpu.createPipelineLayout({ label: key, bindGroupLayouts: [bindGroupLayout] }),
      compute: { module, entryPoint: spec.entry, constants: spec.overrides as Record<string, number> | undefined },
    });
    const shaderModule = module;
    this.track(
      this.gpu.popErrorScope().then(async (error) => {
        if (!error) return;
        const info = await shaderModule.getCompilationInfo();
        const lines = info.messages
          .filter((m) => m.type === 'error')
          .map((m) => {
            const at = shader.locate(m.lineNum);
            return `shaders/${at.file}.wgsl:${at.line}:${m.linePos}: ${m.message}`;
          });
        const variant = shader.variant.length ? ` [variant ${shader.variant.join(',')}]` : '';
        throw new KernelError(
          `kernel ${spec.entry} from ${fileLabel}${variant} failed to build:\n` + (lines.length ? lines.join('\n') : error.message),
        );
      }),
    );
    const kernel = new Kernel(key, pipeline, shader, entry, bindGroupLayout);
    this.kernels.set(key, kernel);
    return kernel;
  }

  /** Builds a kernel now and throws its compile errors, if any (for warm-up and tests). */
  async prepareKernel(spec: KernelSpec): Promise<Kernel> {
    const kernel = this.kernel(spec);
    await this.surfaceErrors();
    return kernel;
  }

  /**
   * Encodes one dispatch. `bindings` name every storage buffer the entry point uses; `uniforms`
   * name every member of its uniform struct. `workgroups` may be a count, folded over x and y
   * when it exceeds the per-dimension limit (the shader then reads `num_workgroups`).
   */
  dispatch(kernel: Kernel, bindings: Binding, uniforms: UniformValues | undefined, workgroups: number | readonly [number, number?, number?]): void {
    this.assertUsable(kernel.label);
    // The bind group's cache key: each storage buffer and its bound size, in binding order.
    let key = '';
    const seen = new Set<string>();
    for (const s of kernel.entry.storage) {
      const resource = bindings[s.name];
      if (!resource) throw new KernelError(`${kernel.label}: storage binding '${s.name}' not provided`);
      seen.add(s.name);
      if (resource instanceof Tensor) {
        this.assertOwn(resource, kernel.label);
        if (resource.offset !== 0) throw new KernelError(`${kernel.label}: binding '${s.name}' is an offset view; make it contiguous first`);
        key += `${this.bufferId(resource.buffer)}:${boundSize(resource)},`;
      } else {
        key += `${this.bufferId(resource)},`;
      }
    }
    for (const name of Object.keys(bindings)) {
      if (!seen.has(name)) throw new KernelError(`${kernel.label}: binding '${name}' is not used by this entry point (uses: ${kernel.entry.storage.map((s) => s.name).join(', ')})`);
    }
    // Before this dispatch's uniforms are packed: a submit re-bases the uniform arena.
    if (this.profiler?.full) this.submit();
    const uniform = kernel.entry.uniform;
    const dynamicOffsets: number[] = [];
    if (uniform) {
      const slot = roundUp(uniform.size, this.uniformAlign);
      if (this.uniformUsed + slot > UNIFORM_ARENA_BYTES) this.submit();
      const offset = this.uniformUsed;
      this.packUniforms(kernel, new DataView(this.uniformData, offset, uniform.size), uniforms ?? {});
      this.uniformUsed += slot;
      dynamicOffsets.push(offset);
    } else if (uniforms && Object.keys(uniforms).length > 0) {
      throw new KernelError(`${kernel.label}: uniforms given but the entry point has no uniform struct`);
    }
    const bindGroup = kernel.cachedBindGroup(key) ?? kernel.keepBindGroup(key, this.createBindGroup(kernel, bindings));
    const max = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = typeof workgroups === 'number' ? foldWorkgroups(workgroups, max) : workgroups;
    for (const [axis, n] of [['x', x], ['y', y], ['z', z]] as const) {
      if (n > max) throw new LimitError(`${kernel.label}: ${n} workgroups along ${axis} exceed maxComputeWorkgroupsPerDimension (${max})`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    const pass = this.profiler ? this.profiledPass(kernel.label) : this.computePass();
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup, dynamicOffsets);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profiler) this.commandEncoder(); // ends the dispatch's own pass
    this.encodedCommands++;
    this.dispatchCount++;
  }

  /** A new bind group for `bindings` (checked by dispatch), the uniform at a dynamic offset. */
  private createBindGroup(kernel: Kernel, bindings: Binding): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = kernel.entry.storage.map((s) => {
      const resource = bindings[s.name]!;
      return { binding: s.binding, resource: resource instanceof Tensor ? { buffer: resource.buffer, offset: 0, size: boundSize(resource) } : { buffer: resource } };
    });
    const uniform = kernel.entry.uniform;
    if (uniform) entries.push({ binding: uniform.binding, resource: { buffer: this.uniformBuffer, offset: 0, size: uniform.size } });
    return this.gpu.createBindGroup({ layout: kernel.bindGroupLayout, entries });
  }

  private bufferId(buffer: GPUBuffer): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) {
      id = this.nextBufferId++;
      this.bufferIds.set(buffer, id);
    }
    return id;
  }

  private packUniforms(kernel: Kernel, view: DataView, values: UniformValues): void {
    const uniform = kernel.entry.uniform!;
    for (const m of uniform.members) {
      const value = values[m.name];
      if (value === undefined) throw new KernelError(`${kernel.label}: uniform '${m.name}' not provided`);
      const list = typeof value === 'number' ? [value] : value;
      if (list.length !== m.components) {
        throw new KernelError(`${kernel.label}: uniform '${m.name}' needs ${m.components} value(s), got ${list.length}`);
      }
      list.forEach((v, i) => {
        const at = m.offset + 4 * i;
        if (m.scalar === 'f32') view.setFloat32(at, v, true);
        else if (m.scalar === 'i32') view.setInt32(at, v, true);
        else {
          if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new KernelError(`${kernel.label}: uniform '${m.name}' = ${v} is not a u32`);
          view.setUint32(at, v, true);
        }
      });
    }
    for (const name of Object.keys(values)) {
      if (!uniform.members.some((m) => m.name === name)) throw new KernelError(`${kernel.label}: unknown uniform '${name}'`);
    }
  }

  // ---------------------------------------------------------------- encoding and submission

  /** The open compute pass (one pass spans many dispatches until a copy needs the encoder). */
  computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.currentEncoder().beginComputePass();
    return this.pass;
  }

  /** A pass for one dispatch, with timestamps at its start and end. */
  private profiledPass(label: string): GPUComputePassEncoder {
    const encoder = this.commandEncoder();
    this.pass = encoder.beginComputePass({ timestampWrites: this.profiler!.timestampWrites(label) });
    return this.pass;
  }

  /**
   * Starts timing every dispatch (GPU timestamps, one pass per dispatch) until
   * `stopProfiling`. Needs the 'timestamp-query' feature. `dispatchesPerSubmit` (default
   * PROFILE_DISPATCHES_PER_SUBMIT) is how many dispatches' timestamps one submit holds.
   */
  startProfiling(options: { dispatchesPerSubmit?: number } = {}): void {
    this.assertUsable('startProfiling');
    if (this.profiler) throw new Error('startProfiling: a profile is already running');
    this.submit();
    this.profiler = new Profiler(this.gpu, options.dispatchesPerSubmit);
  }

  /** Submits, waits for the profiled work, and returns the time per kernel, the largest first. */
  async stopProfiling(): Promise<KernelProfile[]> {
    const profiler = this.profiler;
    if (!profiler) throw new Error('stopProfiling: no profile is running (call startProfiling first)');
    await this.flush();
    this.profiler = undefined;
    return profiler.finish();
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

  private currentEncoder(): GPUCommandEncoder {
    this.assertUsable('encode');
    if (!this.encoder) this.encoder = this.gpu.createCommandEncoder();
    return this.encoder;
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
    const created = new Set<Tensor>();
    this.scopes.push(created);
    let result: T;
    try {
      result = fn();
      if (result instanceof Promise) throw new TypeError('device.scope: fn returned a Promise; scopes are for synchronous code (await outside them)');
    } catch (error) {
      this.scopes.pop();
      for (const t of created) t.dispose();
      throw error;
    }
    this.scopes.pop();
    const returned = tensorsIn(result);
    const outer = this.scopes.at(-1);
    for (const t of created) {
      if (!returned.has(t)) t.dispose();
      else outer?.add(t);
    }
    return result;
  }

  /** Takes `t` out of every open scope: it outlives them (saved for a backward rule, optimizer state). */
  keep<T extends Tensor>(t: T): T {
    for (const scope of this.scopes) scope.delete(t);
    return t;
  }

  /** Called by every new Tensor: it belongs to the innermost open scope. */
  trackTensor(t: Tensor): void {
    this.scopes.at(-1)?.add(t);
  }

  /** Submits everything encoded so far. Cheap; does not wait. */
  submit(): void {
    if (this.destroyed) return;
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (this.uniformUsed > 0) {
      this.gpu.queue.writeBuffer(this.uniformBuffer, 0, this.uniformData, 0, this.uniformUsed);
      this.uniformUsed = 0;
    }
    if (this.encoder) {
      const timestamps = this.profiler?.encodeResolve(this.encoder);
      this.gpu.queue.submit([this.encoder.finish()]);
      this.encoder = null;
      if (timestamps) this.profiler!.collect(timestamps);
      // A device lost or destroyed rejects these; the loss itself is reported through lostRejection.
      this.inFlight.push(this.gpu.queue.onSubmittedWorkDone().then(() => void this.inFlight.shift(), () => void this.inFlight.shift()));
    }
    this.encodedCommands = 0;
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
    this.assertUsable('throttle');
    this.submit();
    while (this.inFlight.length > this.maxQueuedSubmits) await Promise.race([this.inFlight[0], this.lostRejection]);
    await yieldToEventLoop();
  }

  /** Submits, waits for the GPU to finish, and throws any error the device reported. */
  async flush(): Promise<void> {
    this.assertUsable('flush');
    this.submit();
    await Promise.race([this.gpu.queue.onSubmittedWorkDone(), this.lostRejection]);
    await this.surfaceErrors();
  }

  private track(check: Promise<void>): void {
    this.pendingChecks.push(check.catch((e: Error) => void this.errors.push(e)));
  }

  private async surfaceErrors(): Promise<void> {
    while (this.pendingChecks.length > 0) await Promise.all(this.pendingChecks.splice(0));
    if (this.lostError && !this.destroyed) throw this.lostError;
    if (this.errors.length > 0) {
      // A shader that failed to build also invalidates every bind group and dispatch that used
      // it, and those errors can arrive first: report the cause (the compile error) instead.
      const error = this.errors.find((e) => e instanceof KernelError || e instanceof OutOfMemoryError) ?? this.errors[0]!;
      this.errors.length = 0;
      throw error;
    }
  }

  private createCheckedBuffer(descriptor: GPUBufferDescriptor): GPUBuffer {
    if (descriptor.size > this.gpu.limits.maxBufferSize) {
      throw new LimitError(`${descriptor.label}: ${descriptor.size} bytes exceed this device's maxBufferSize of ${this.gpu.limits.maxBufferSize}`);
    }
    this.gpu.pushErrorScope('out-of-memory');
    const buffer = this.gpu.createBuffer(descriptor);
    this.track(
      this.gpu.popErrorScope().then((error) => {
        if (error) throw new OutOfMemoryError(`the device could not allocate ${descriptor.label} (${descriptor.size} bytes): ${error.message}`);
      }),
    );
    return buffer;
  }

  private assertUsable(what: string): void {
    if (this.destroyed) throw new DeviceLostError(`${what}: the device was destroyed`);
    if (this.lostError) throw new DeviceLostError(`${what}: ${this.lostError.message}`);
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Releases every GPU resource. Further use throws. */
  destroy(): void {
    if (this.destroyed) return;
    this.pass?.end();
    this.pass = null;
    this.encoder = null;
    this.destroyed = true;
    this.pool.trim();
    this.uniformBuffer.destroy();
    this.gpu.destroy();
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

/** Host data is a plain array of numbers or a typed array of numbers (not BigInts). */
function checkHostData(op: string, data: HostData): void {
  if (Array.isArray(data)) {
    const at = data.findIndex((v) => typeof v !== 'number');
    if (at >= 0) throw new TypeError(`${op}: data[${at}] is ${describeValue(data[at])}, not a number`);
    return;
  }
  const typed = ArrayBuffer.isView(data) && !(data instanceof DataView) && !(data instanceof BigInt64Array) && !(data instanceof BigUint64Array);
  if (!typed) throw new TypeError(`${op}: data must be an array or a typed array of numbers (e.g. Float32Array), got ${describeValue(data)}`);
}

/** i32 and u32 tensors hold integers in their range; anything else would be silently truncated or wrapped. */
function checkValuesFit(op: string, data: HostData, dtype: DType): void {
  if (dtype === 'f32' || dtype === 'f16' || (dtype === 'i32' && data instanceof Int32Array) || (dtype === 'u32' && data instanceof Uint32Array)) return;
  const [min, max] = dtype === 'i32' ? [-0x80000000, 0x7fffffff] : [0, 0xffffffff];
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new RangeError(`${op}: value ${v} at index ${i} does not fit dtype ${dtype} (integers from ${min} to ${max})`);
    }
  }
}

function roundUp(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}

function encodeHost(data: HostData, dtype: DType): Uint8Array {
  switch (dtype) {
    case 'f32':
      if (data instanceof Float32Array) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      return new Uint8Array(Float32Array.from(data as ArrayLike<number>).buffer);
    case 'i32':
      return new Uint8Array(Int32Array.from(data as ArrayLike<number>).buffer);
    case 'u32':
      return new Uint8Array(Uint32Array.from(data as ArrayLike<number>).buffer);
    case 'f16': {
      const bits = new Uint16Array(roundUp(data.length, 2));
      for (let i = 0; i < data.length; i++) bits[i] = f32ToF16Bits(data[i]!);
      return new Uint8Array(bits.buffer);
    }
  }
}

function decodeHost(bytes: ArrayBuffer, dtype: DType, size: number): Float32Array | Int32Array | Uint32Array {
  switch (dtype) {
    case 'f32':
      return new Float32Array(bytes, 0, size);
    case 'i32':
      return new Int32Array(bytes, 0, size);
    case 'u32':
      return new Uint32Array(bytes, 0, size);
    case 'f16': {
      const bits = new Uint16Array(bytes, 0, size);
      const out = new Float32Array(size);
      for (let i = 0; i < size; i++) out[i] = f16BitsToF32(bits[i]!);
      return out;
    }
  }
}

/** Bytes a tensor is bound with: its size rounded up to whole words, at least one. */
function boundSize(t: Tensor): number {
  return Math.max(4, roundUp(t.bytes, 4));
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

/** The tensors in a scope's result: the result itself, or inside arrays and plain objects (three levels). */
function tensorsIn(value: unknown, depth = 0, found = new Set<Tensor>()): Set<Tensor> {
  if (value instanceof Tensor) found.add(value);
  else if (depth < 3 && Array.isArray(value)) for (const v of value) tensorsIn(v, depth + 1, found);
  else if (depth < 3 && typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) tensorsIn(v, depth + 1, found);
  }
  return found;
}
