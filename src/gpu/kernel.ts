/**
 * A compiled compute kernel: one entry point of one shader file (with a variant and override
 * constants), its pipeline and its reflected interface. Kernels are cached by the device.
 */
import type { EntryReflection, ShaderVariant } from './shaderLibrary.js';
import { KernelError } from './errors.js';

export interface KernelSpec {
  /** Shader file name under shaders/, without `.wgsl`. */
  readonly file: string;
  readonly entry: string;
  /** Names of the variant blocks to keep (one per variant region of the file). */
  readonly variant?: readonly string[];
  /** Values for the entry point's `override` constants (workgroup sizes, tiles). */
  readonly overrides?: Readonly<Record<string, number>>;
}

/** Bind groups kept per kernel before the cache starts over (bounds it where bindings keep changing). */
const BIND_GROUP_CACHE_LIMIT = 512;

export class Kernel {
  /**
   * Bind groups by the buffers (and bound sizes) of their storage bindings. A training step
   * binds the same pooled buffers in the same places every time, and creating a bind group
   * costs more than the rest of a dispatch's encoding; the uniform is bound at a dynamic offset,
   * so it is not part of the key.
   */
  private readonly bindGroups = new Map<string, GPUBindGroup>();

  constructor(
    readonly label: string,
    readonly pipeline: GPUComputePipeline,
    readonly shader: ShaderVariant,
    readonly entry: EntryReflection,
    readonly bindGroupLayout: GPUBindGroupLayout,
  ) {}

  /** The bind group cached under `key`, if any. */
  cachedBindGroup(key: string): GPUBindGroup | undefined {
    return this.bindGroups.get(key);
  }

  /** Caches `group` under `key` and returns it. */
  keepBindGroup(key: string, group: GPUBindGroup): GPUBindGroup {
    if (this.bindGroups.size >= BIND_GROUP_CACHE_LIMIT) this.bindGroups.clear();
    this.bindGroups.set(key, group);
    return group;
  }

  /** The u32 word of uniform member `name` within the entry's uniform struct (from its reflection): where a replay rewrites it. */
  uniformWord(name: string): number {
    const member = this.entry.uniform?.members.find((m) => m.name === name);
    if (!member) throw new KernelError(`${this.label}: no uniform member '${name}'`);
    return member.offset >>> 2;
  }
}

/**
 * The bind group layout of an entry point, from its reflection: each storage buffer it uses
 * (read-only or read-write), and its uniform struct at a dynamic offset into the device's
 * uniform arena. What layout 'auto' would derive, plus the dynamic offset.
 */
export function bindGroupLayoutEntries(entry: EntryReflection): GPUBindGroupLayoutEntry[] {
  const entries: GPUBindGroupLayoutEntry[] = entry.storage.map((s) => ({
    binding: s.binding,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: s.access === 'read' ? 'read-only-storage' : 'storage' },
  }));
  if (entry.uniform) {
    entries.push({ binding: entry.uniform.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: entry.uniform.size } });
  }
  return entries;
}

export function kernelKey(spec: KernelSpec): string {
  const overrides = spec.overrides
    ? Object.keys(spec.overrides)
        .sort()
        .map((k) => `${k}=${spec.overrides![k]}`)
        .join(',')
    : '';
  return `${spec.file}:${spec.entry}[${(spec.variant ?? []).join(',')}]{${overrides}}`;
}

/** Splits a count of workgroups over x and y when it exceeds the per-dimension limit. */
export function foldWorkgroups(count: number, maxPerDimension: number): [number, number, number] {
  if (count <= maxPerDimension) return [Math.max(count, 1), 1, 1];
  const y = Math.ceil(count / maxPerDimension);
  const x = Math.ceil(count / y);
  return [x, y, 1];
}
