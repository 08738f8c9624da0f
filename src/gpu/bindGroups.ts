/**
 * Bind groups: what a dispatch binds, checked against its entry point, and the bind group that
 * binds it. A training step binds the same pooled buffers in the same places every time, and
 * creating a bind group costs more than the rest of a dispatch's encoding, so each dispatch
 * builds a cache key (each storage buffer, by a small number this class gives it, and its bound
 * size, in binding order) and takes the group from the kernel's cache (kernel.ts), creating one
 * only on a miss. The key is built in the same pass that checks the bindings (every storage
 * binding given, a live tensor of this device, not an offset view; no binding the entry point
 * does not use), so a dispatch walks its bindings once. The uniform is bound at a dynamic offset
 * into the uniform arena, so it is never part of the key.
 */
import { KernelError } from './errors.js';
import { roundUp } from './hostData.js';
import type { Kernel } from './kernel.js';
import { assertOwnTensor } from './lifetimes.js';
import { Tensor, type TensorHost } from './tensor.js';

export interface Binding {
  /** Storage buffers by their WGSL variable name. */
  [name: string]: Tensor | GPUBuffer;
}

export class BindGroups {
  /** Small numbers naming buffers in bind-group cache keys (a buffer is never renamed). */
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 0;

  constructor(
    private readonly gpu: GPUDevice,
    /** The device whose tensors may be bound. */
    private readonly owner: TensorHost,
    /** The uniform arena's buffer, bound at a dynamic offset. */
    private readonly uniformBuffer: GPUBuffer,
  ) {}

  /** Checks `bindings` against the kernel's entry point and returns their cache key. */
  key(kernel: Kernel, bindings: Binding): string {
    // Each storage buffer and its bound size, in binding order. Plain loops and no temporaries:
    // this runs for every dispatch.
    let key = '';
    const storage = kernel.entry.storage;
    for (let i = 0; i < storage.length; i++) {
      const s = storage[i]!;
      const resource = bindings[s.name];
      if (!resource) throw new KernelError(`${kernel.label}: storage binding '${s.name}' not provided`);
      if (resource instanceof Tensor) {
        assertOwnTensor(resource, this.owner, kernel.label);
        if (resource.offset !== 0) throw new KernelError(`${kernel.label}: binding '${s.name}' is an offset view; make it contiguous first`);
        key += `${this.bufferId(resource.buffer)}:${boundSize(resource)},`;
      } else {
        key += `${this.bufferId(resource)},`;
      }
    }
    // Each name given must be one the entry point uses (no array made: the lists are short).
    for (const name in bindings) {
      if (!Object.prototype.hasOwnProperty.call(bindings, name)) continue;
      let used = false;
      for (let i = 0; i < storage.length && !used; i++) used = storage[i]!.name === name;
      if (!used) throw new KernelError(`${kernel.label}: binding '${name}' is not used by this entry point (uses: ${storage.map((s) => s.name).join(', ')})`);
    }
    return key;
  }

  /** The bind group for `bindings` (checked by `key`, which gave `key`): cached on the kernel, or new. */
  get(kernel: Kernel, key: string, bindings: Binding): GPUBindGroup {
    return kernel.cachedBindGroup(key) ?? kernel.keepBindGroup(key, this.create(kernel, bindings));
  }

  /** A new bind group for `bindings`, the uniform at a dynamic offset. */
  private create(kernel: Kernel, bindings: Binding): GPUBindGroup {
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
}

/** Bytes a tensor is bound with: its size rounded up to whole words, at least one. */
function boundSize(t: Tensor): number {
  return Math.max(4, roundUp(t.bytes, 4));
}
