/**
 * A compiled compute kernel: one entry point of one shader file (with a variant and override
 * constants), its pipeline and its reflected interface. Kernels are cached by the device.
 */
import type { EntryReflection, ShaderVariant } from './shaderLibrary.js';

export interface KernelSpec {
  /** Shader file name under shaders/, without `.wgsl`. */
  readonly file: string;
  readonly entry: string;
  /** Names of the variant blocks to keep (one per variant region of the file). */
  readonly variant?: readonly string[];
  /** Values for the entry point's `override` constants (workgroup sizes, tiles). */
  readonly overrides?: Readonly<Record<string, number>>;
}

export class Kernel {
  constructor(
    readonly label: string,
    readonly pipeline: GPUComputePipeline,
    readonly shader: ShaderVariant,
    readonly entry: EntryReflection,
    readonly bindGroupLayout: GPUBindGroupLayout,
  ) {}
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
