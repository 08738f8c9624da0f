/**
 * The kernel choices a device gets: which matmul variant and attention kernel run, and what the
 * layouts are sized for. Results are bitwise reproducible only under the same choices (a tiled
 * matmul and a subgroup one add in other orders), so every run records them beside the adapter
 * (docs/reproducibility.md), and a resumed run says so when they differ. A kernel tuning in force
 * is part of the choices, and a resumed run puts the recorded one back (src/ops/tuningTable.ts).
 */
import type { Device } from '../gpu/device.js';
import { columnWorkgroupSize, isSoftwareAdapter } from '../gpu/workgroups.js';
import { chooseAttentionKernel, type AttentionKernel } from './attention.js';
import { chooseMatmulVariant, type MatmulVariant } from './matmul.js';
import { requireDevice } from './checks.js';
import { describeKernelTuning, kernelTuningOf, type KernelTuning } from './tuningTable.js';

export interface KernelChoices {
  /** A CPU adapter (lavapipe, SwiftShader): kernels of their own shape. */
  software: boolean;
  /** The matmul variant of a large square product, and of a thin one (a batch of 8 rows). */
  matmul: { large: MatmulVariant; thin: MatmulVariant };
  attention: AttentionKernel;
  subgroups: boolean;
  f16: boolean;
  /** Threads of a one-thread-per-element workgroup. */
  workgroup: number;
  /** The kernel tuning in force (useKernelTuning), absent when the built-in rules choose. */
  tuning?: KernelTuning;
}

export function kernelChoices(device: Device): KernelChoices {
  requireDevice('kernelChoices', device);
  const tuning = kernelTuningOf(device);
  return {
    software: isSoftwareAdapter(device),
    matmul: { large: chooseMatmulVariant(device, 1024, 1024, 1024), thin: chooseMatmulVariant(device, 8, 1024, 1024) },
    attention: chooseAttentionKernel(device),
    subgroups: device.hasSubgroups,
    f16: device.hasF16,
    workgroup: columnWorkgroupSize(device),
    ...(tuning ? { tuning } : {}),
  };
}

/** The fields in which two records of kernel choices differ (none: the same kernels run). */
export function kernelChoiceDifferences(a: KernelChoices, b: KernelChoices): string[] {
  const table = (c: KernelChoices): string => (c.tuning ? `${describeKernelTuning(c.tuning)} (${c.tuning.layouts} layouts)` : 'none');
  const flat = (c: KernelChoices): Record<string, unknown> => ({ software: c.software, 'matmul.large': c.matmul.large, 'matmul.thin': c.matmul.thin, attention: c.attention, subgroups: c.subgroups, f16: c.f16, workgroup: c.workgroup, tuning: table(c) });
  const left = flat(a);
  const right = flat(b);
  return Object.keys(left).filter((k) => left[k] !== right[k]).map((k) => `${k} ${String(left[k])} -> ${String(right[k])}`);
}
