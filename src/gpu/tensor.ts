/**
 * Tensor: a GPU buffer with a shape, strides, an element offset and a dtype.
 *
 * Views (reshape, transpose, permute, slice, expand) share storage and cost nothing; ops that need a
 * dense operand copy a view with `contiguous()` (src/ops/copy.ts). Storage is reference counted:
 * the buffer returns to the pool when the last tensor viewing it is disposed. Temporaries are
 * scoped with `device.scope(fn)`, which disposes what fn created and did not return.
 */
import { bytesPerElement, describeValue, type DType } from './dtype.js';
import { DisposedError, ShapeError } from './errors.js';
import { assertMemoryCategory, type BufferPool, type MemoryCategory, type PooledBuffer } from './bufferPool.js';
import { assertValidShape, contiguousStrides, copyDims, formatShape, normalizeAxis, sizeOf, type Shape } from './shape.js';

/**
 * What a tensor and its storage need of the device they live on: the pool that counts their
 * bytes, the scope that adopts a new tensor, the release of a buffer, and the readback behind
 * `tensor.read()`. Declared here rather than imported, so that this file knows nothing of
 * device.ts (which makes tensors, and imports this file); the runtime's Device implements it.
 */
export interface TensorHost {
  readonly pool: BufferPool;
  trackTensor(t: Tensor): void;
  releaseStorage(storage: Storage): void;
  read(t: Tensor): Promise<Float32Array | Int32Array | Uint32Array>;
}

/**
 * Where the device that implements TensorHost names its own type, for `tensor.device` and
 * `storage.device`: device.ts adds `device: Device` here by declaration merging
 * (`declare module './tensor.js'`), so a caller gets the whole Device from a tensor while this
 * file imports nothing of it. The dependency points one way, from device.ts to this file.
 */
export interface TensorDeviceRegistry {}

/** The type of `tensor.device`: the Device registered in TensorDeviceRegistry, or TensorHost if none is. */
export type TensorDevice = TensorDeviceRegistry extends { device: infer D extends TensorHost } ? D : TensorHost;

/** The buffer behind one or more tensors. */
export class Storage {
  private refs = 1;
  constructor(
    readonly device: TensorDevice,
    readonly pooled: PooledBuffer,
    /** Bytes requested (elements x element size), counted in the pool. */
    readonly bytes: number,
    public category: MemoryCategory,
  ) {}

  get buffer(): GPUBuffer {
    return this.pooled.buffer;
  }

  get released(): boolean {
    return this.refs === 0;
  }

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (this.refs === 0) return;
    this.refs--;
    if (this.refs === 0) this.device.releaseStorage(this);
  }
}

export class Tensor {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  /** Offset of element [0, ..., 0] in the storage, in elements. */
  readonly offset: number;
  private disposedFlag = false;
  /** isContiguous, worked out at the first ask (shape, strides and offset never change). */
  private contiguousFlag: boolean | undefined;

  constructor(
    readonly storage: Storage,
    shape: Shape,
    readonly dtype: DType,
    strides?: readonly number[],
    offset = 0,
  ) {
    assertValidShape(shape, 'tensor shape');
    this.shape = Object.freeze(copyDims(shape));
    this.strides = Object.freeze(strides ? copyDims(strides) : contiguousStrides(shape));
    this.offset = offset;
    storage.device.trackTensor(this);
  }

  get device(): TensorDevice {
    return this.storage.device;
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get bytes(): number {
    return this.size * bytesPerElement(this.dtype);
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  get category(): MemoryCategory {
    return this.storage.category;
  }

  /** True when the elements are dense, row-major and start at the storage's first element. */
  get isContiguous(): boolean {
    if (this.contiguousFlag === undefined) {
      // Every axis longer than 1 has the stride of a dense row-major layout (from the last axis up).
      let dense = this.offset === 0;
      for (let i = this.shape.length - 1, stride = 1; dense && i >= 0; stride *= this.shape[i]!, i--) {
        if (this.shape[i] !== 1 && this.strides[i] !== stride) dense = false;
      }
      this.contiguousFlag = dense;
    }
    return this.contiguousFlag;
  }

  /** The GPU buffer, for binding to a kernel. Throws if the tensor was disposed. */
  get buffer(): GPUBuffer {
    this.assertAlive();
    return this.storage.buffer;
  }

  assertAlive(op = 'tensor'): void {
    if (this.disposedFlag || this.storage.released) {
      throw new DisposedError(`${op}: tensor ${this.describe()} was used after dispose()`);
    }
  }

  describe(): string {
    return `${formatShape(this.shape)} ${this.dtype}`;
  }

  toString(): string {
    return `Tensor(${this.describe()}${this.isContiguous ? '' : ', view'})`;
  }

  private view(op: string, shape: Shape, strides: readonly number[], offset: number): Tensor {
    this.assertAlive(op);
    this.storage.retain();
    return new Tensor(this.storage, shape, this.dtype, strides, offset);
  }

  /**
   * A second handle on the same elements: the storage lives until both are disposed. What a
   * layer keeps for its backward rule is such a handle, so the caller may dispose its own.
   */
  handle(): Tensor {
    return this.view('handle', this.shape, this.strides, this.offset);
  }

  /** A view with a new shape (one dimension may be -1). Needs a contiguous tensor. */
  reshape(shape: Shape): Tensor {
    requireShapeArray('reshape', shape);
    // Plain loops, no temporary arrays: a step makes many reshapes.
    for (let i = 0; i < shape.length; i++) {
      const d = shape[i]!;
      if (d !== -1 && !(Number.isInteger(d) && d >= 0)) throw new ShapeError(`reshape: dimension ${d} in ${formatShape(shape)} must be a non-negative integer or -1`);
    }
    let inferredAt = -1;
    let knownSize = 1;
    for (let i = 0; i < shape.length; i++) {
      if (shape[i] !== -1) knownSize *= shape[i]!;
      else if (inferredAt >= 0) throw new ShapeError(`reshape: at most one -1 in ${formatShape(shape)}`);
      else inferredAt = i;
    }
    const size = this.size;
    const resolved = copyDims(shape);
    if (inferredAt >= 0) resolved[inferredAt] = knownSize === 0 ? 0 : size / knownSize;
    if (sizeOf(resolved) !== size || !Number.isInteger(resolved[inferredAt] ?? 0)) {
      throw new ShapeError(`reshape: cannot view ${formatShape(this.shape)} (${this.size} elements) as ${formatShape(shape)}`);
    }
    if (!this.isContiguous) {
      throw new ShapeError(`reshape: ${this.toString()} is a strided view; call contiguous() first`);
    }
    return this.view('reshape', resolved, contiguousStrides(resolved), 0);
  }

  /** A view with the axes reordered. */
  permute(axes: readonly number[]): Tensor {
    if (axes.length !== this.rank) throw new ShapeError(`permute: ${axes.length} axes given for a tensor of rank ${this.rank}`);
    const resolved = axes.map((a) => normalizeAxis(a, this.rank, 'permute'));
    if (new Set(resolved).size !== this.rank) throw new ShapeError(`permute: axes [${axes.join(', ')}] repeat an axis`);
    return this.view(
      'permute',
      resolved.map((a) => this.shape[a]!),
      resolved.map((a) => this.strides[a]!),
      this.offset,
    );
  }

  /** A view with two axes swapped (the last two by default). */
  transpose(axis0 = -2, axis1 = -1): Tensor {
    this.assertAlive('transpose');
    if (this.rank < 2) throw new ShapeError(`transpose: needs rank >= 2, got ${this.describe()}`);
    const a = normalizeAxis(axis0, this.rank, 'transpose');
    const b = normalizeAxis(axis1, this.rank, 'transpose');
    const axes = [...this.shape.keys()];
    axes[a] = b;
    axes[b] = a;
    return this.permute(axes);
  }

  /**
   * A broadcast view: size-1 axes (and new leading axes) repeated to `shape` at stride 0, as
   * NumPy's broadcast_to. Read-only in effect: writing through it would hit one element many times.
   */
  expand(shape: Shape): Tensor {
    requireShapeArray('expand', shape);
    const lead = shape.length - this.rank;
    const fits = lead >= 0 && this.shape.every((d, i) => d === shape[lead + i] || d === 1);
    if (!fits || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new ShapeError(`expand: cannot broadcast ${this.describe()} to ${formatShape(shape)} (each axis must match or be 1)`);
    }
    const strides = shape.map((d, i) => (i < lead || (this.shape[i - lead] === 1 && d !== 1) ? 0 : this.strides[i - lead]!));
    return this.view('expand', shape, strides, this.offset);
  }

  /** A view of elements [start, end) along one axis. */
  slice(axis: number, start: number, end: number = this.shape[normalizeAxis(axis, this.rank, 'slice')]!): Tensor {
    const a = normalizeAxis(axis, this.rank, 'slice');
    const dim = this.shape[a]!;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > dim || start > end) {
      throw new ShapeError(`slice: range [${start}, ${end}) is outside axis ${a} of size ${dim} in ${this.describe()}`);
    }
    const shape = [...this.shape];
    shape[a] = end - start;
    return this.view('slice', shape, this.strides, this.offset + start * this.strides[a]!);
  }

  /** Downloads the elements (row-major). f16 is widened to f32. */
  read(): Promise<Float32Array | Int32Array | Uint32Array> {
    return this.device.read(this);
  }

  /** Marks the tensor as a parameter, optimizer state, projection, activation or scratch. */
  setCategory(category: MemoryCategory): this {
    this.assertAlive('setCategory');
    assertMemoryCategory(category, 'setCategory');
    this.storage.device.pool.recategorize(this.storage.bytes, this.storage.category, category);
    this.storage.category = category;
    return this;
  }

  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.storage.release();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** A shape argument from JavaScript may be anything: refuse what is not an array up front. */
function requireShapeArray(op: string, shape: Shape): void {
  if (!Array.isArray(shape)) throw new TypeError(`${op}: shape must be an array of dimensions, got ${describeValue(shape)}`);
}

/**
 * The one check every op runs on each tensor operand before anything is encoded: `value` must be
 * a live Tensor. Anything else (undefined, null, a number, a plain array, a Float32Array, an
 * object) is a TypeError naming the op and the operand (`what`: 'operand b', 'option bias'); a
 * disposed tensor is a DisposedError naming them too. Host data is not uploaded implicitly: the
 * message says how to upload it.
 */
export function assertTensor(value: unknown, op: string, what: string): asserts value is Tensor {
  if (!(value instanceof Tensor)) {
    const host = Array.isArray(value) || ArrayBuffer.isView(value);
    throw new TypeError(`${op}: ${what} must be a Tensor, got ${describeValue(value)}${host ? ' (upload host values with device.tensor(values, shape) first)' : ''}`);
  }
  if (value.disposed || value.storage.released) {
    throw new DisposedError(`${op}: tensor ${value.describe()} was used after dispose() (${what})`);
  }
}
