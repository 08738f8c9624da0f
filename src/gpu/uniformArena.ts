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
    packUniforms(kernel, new DataView(this.data, offset, size), values);
    this.used += slotSize(size, this.align);
    return offset;
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

function packUniforms(kernel: Kernel, view: DataView, values: UniformValues): void {
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
