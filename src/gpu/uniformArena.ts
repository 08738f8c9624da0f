/**
 * The uniform arena: the uniform values of every dispatch of one submit, packed one after another
 * into a host buffer, written to one GPU buffer by a single `writeBuffer` at submit, and bound by
 * each dispatch at a dynamic offset. One write per submit instead of a buffer or a write per
 * dispatch keeps uniforms off the host's profile (this engine is host-bound on GPUs), and since
 * the offset is not part of a bind group, bind groups stay reusable from step to step. Values are
 * packed by the struct layout reflected from the WGSL (shaderLibrary.ts), so no byte offset is
 * written by hand; a missing, extra, mis-sized or out-of-range value is a KernelError naming it.
 */
import { KernelError } from './errors.js';
import type { Kernel } from './kernel.js';

export type UniformValues = Record<string, number | readonly number[]>;

/** Uniform data for all dispatches of one submit lives in one buffer, written once at submit. */
const UNIFORM_ARENA_BYTES = 64 * 1024;

export class UniformArena {
  /** The GPU buffer every kernel's uniform binding points at. */
  readonly buffer: GPUBuffer;
  private readonly data = new ArrayBuffer(UNIFORM_ARENA_BYTES);
  /** The arena's words as each scalar type: packing writes through these, no view made per dispatch. */
  private readonly words: ArenaWords = { f32: new Float32Array(this.data), i32: new Int32Array(this.data), u32: new Uint32Array(this.data) };
  private used = 0;
  private readonly align: number;

  constructor(gpu: GPUDevice) {
    this.align = gpu.limits.minUniformBufferOffsetAlignment;
    this.buffer = gpu.createBuffer({
      size: UNIFORM_ARENA_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'uniform arena',
    });
  }

  /** True while values are packed that the GPU has not been sent (a submit writes them). */
  get pending(): boolean {
    return this.used > 0;
  }

  /** Whether a struct of `size` bytes fits in what is left before the next submit. */
  fits(size: number): boolean {
    return this.used + slotSize(size, this.align) <= UNIFORM_ARENA_BYTES;
  }

  /** Packs `values` for the kernel's uniform struct into the next slot (which `fits`) and returns its offset. */
  pack(kernel: Kernel, values: UniformValues): number {
    const size = kernel.entry.uniform!.size;
    const offset = this.used;
    packUniforms(kernel, this.words, offset / 4, values);
    this.used += slotSize(size, this.align);
    return offset;
  }

  /** A copy of what is packed (a recording's uniforms, recording.ts). */
  snapshot(): Uint8Array {
    return new Uint8Array(this.data, 0, this.used).slice();
  }

  /** Packs `bytes` (a snapshot) as the whole of this submit's uniforms: the arena must be empty. */
  load(bytes: Uint8Array): void {
    if (this.used !== 0) throw new KernelError('uniform arena: loaded while holding uniforms not yet submitted');
    new Uint8Array(this.data).set(bytes);
    this.used = bytes.length;
  }

  /** Writes what was packed to the GPU buffer, ahead of the submit whose dispatches read it, and starts over. */
  write(queue: GPUQueue): void {
    if (this.used > 0) {
      queue.writeBuffer(this.buffer, 0, this.data, 0, this.used);
      this.used = 0;
    }
  }

  destroy(): void {
    this.buffer.destroy();
  }
}

/** A struct's slot: its size rounded up to the device's uniform offset alignment. */
function slotSize(size: number, align: number): number {
  return Math.ceil(size / align) * align;
}

/** The arena's bytes seen as 32-bit words of each scalar type WGSL uniforms use. */
interface ArenaWords {
  f32: Float32Array;
  i32: Int32Array;
  u32: Uint32Array;
}

// Typed arrays write in the platform's byte order, WebGPU reads little-endian: every platform
// WebGPU runs on is little-endian, and a big-endian one is refused here rather than misread.
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('uniform arena: a big-endian host is not supported');

/**
 * Writes `values` into the struct at word `base`. Every dispatch comes through here, so it makes
 * nothing per member (no array for a scalar, no view): a value's words go straight into the typed
 * array of its scalar type.
 */
function packUniforms(kernel: Kernel, words: ArenaWords, base: number, values: UniformValues): void {
  const uniform = kernel.entry.uniform!;
  for (let j = 0; j < uniform.members.length; j++) {
    const m = uniform.members[j]!;
    const value = values[m.name];
    if (value === undefined) throw new KernelError(`${kernel.label}: uniform '${m.name}' not provided`);
    const count = typeof value === 'number' ? 1 : value.length;
    if (count !== m.components) throw new KernelError(`${kernel.label}: uniform '${m.name}' needs ${m.components} value(s), got ${count}`);
    const at = base + m.offset / 4;
    for (let i = 0; i < count; i++) {
      const v = typeof value === 'number' ? value : value[i]!;
      if (m.scalar === 'f32') words.f32[at + i] = v;
      else if (m.scalar === 'i32') words.i32[at + i] = v;
      else {
        if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new KernelError(`${kernel.label}: uniform '${m.name}' = ${v} is not a u32`);
        words.u32[at + i] = v;
      }
    }
  }
  // Every member was given (above), so more keys than members means one that is not a member.
  let given = 0;
  for (const name in values) if (Object.prototype.hasOwnProperty.call(values, name)) given++;
  if (given !== uniform.members.length) {
    const unknown = Object.keys(values).find((name) => !uniform.members.some((m) => m.name === name));
    if (unknown !== undefined) throw new KernelError(`${kernel.label}: unknown uniform '${unknown}'`);
  }
}
