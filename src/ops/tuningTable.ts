/**
 * Kernel tuning: a measured choice of matmul variant per shape class, made on one adapter by
 * `sll tune` (src/ops/tune.ts measures; the command keeps the table on disk per adapter and
 * driver) and put in force on a device with useKernelTuning. chooseMatmulVariant asks this
 * table first and falls back to its own rules for a class the table leaves out.
 *
 * A table changes which kernels run, and so the last bits of results (other summation orders):
 * kernelChoices records it, a checkpoint keeps it, and a resumed run puts the recorded table
 * back in force whatever the adapter's current one says, so that resuming stays bitwise.
 */
import type { Device } from '../gpu/device.js';
import { isSoftwareAdapter, KERNEL_LAYOUTS, type KernelLayouts } from '../gpu/workgroups.js';
import { requireDevice } from './checks.js';
import { MATMUL_VARIANTS, THIN_SIDE, type MatmulVariant } from './matmulVariants.js';

/**
 * The shape classes a table chooses for, from an M x K times K x N product: `thin` when an
 * output side is THIN_SIDE or less (a classifier head and its weight gradient), `shortK` when K
 * is (a head's input gradient), `longK` when K is LONG_K_RATIO times the longer output side or
 * more (a weight gradient summed over many tokens), `general` otherwise.
 */
export type MatmulShapeClass = 'general' | 'thin' | 'shortK' | 'longK';
export const MATMUL_SHAPE_CLASSES: readonly MatmulShapeClass[] = ['general', 'thin', 'shortK', 'longK'];
const LONG_K_RATIO = 8;

export function matmulShapeClass(m: number, n: number, k: number): MatmulShapeClass {
  if (Math.min(m, n) <= THIN_SIDE) return 'thin';
  if (k <= THIN_SIDE) return 'shortK';
  if (k >= LONG_K_RATIO * Math.max(m, n)) return 'longK';
  return 'general';
}

/**
 * A tuning table: the adapter it was measured on (describeAdapter), the kernel layouts the device
 * ran there (forced ones included: SLL_KERNELS), and a variant per class.
 */
export interface KernelTuning {
  readonly adapter: string;
  readonly layouts: KernelLayouts;
  readonly matmul: Readonly<Partial<Record<MatmulShapeClass, MatmulVariant>>>;
}

/** The kernel layouts `device` runs: what a table measured on it is valid for. */
export function layoutsOf(device: Device): KernelLayouts {
  requireDevice('layoutsOf', device);
  return isSoftwareAdapter(device) ? 'software' : 'gpu';
}

const inForce = new WeakMap<Device, KernelTuning>();

/** Puts `tuning` in force on `device` (checked; undefined: back to the built-in rules). */
export function useKernelTuning(device: Device, tuning: KernelTuning | undefined): void {
  requireDevice('useKernelTuning', device);
  if (tuning === undefined) inForce.delete(device);
  else inForce.set(device, checkKernelTuning(tuning, 'useKernelTuning'));
}

/** The table in force on `device`, if any. */
export function kernelTuningOf(device: Device): KernelTuning | undefined {
  requireDevice('kernelTuningOf', device);
  return inForce.get(device);
}

/**
 * The variant the table in force chooses for this product, if it chooses one. For
 * chooseMatmulVariant, which has checked its arguments: every matmul asks, so nothing is checked
 * twice here (and the ops index does not export it).
 */
export function tunedMatmulVariant(device: Device, m: number, n: number, k: number): MatmulVariant | undefined {
  return inForce.get(device)?.matmul[matmulShapeClass(m, n, k)];
}

/**
 * Checks a table read from a file or a checkpoint: an object with an adapter string and a
 * matmul object whose keys are shape classes and whose values are variants. Throws an error
 * that names the field (prefixed by `where`); returns a clean copy.
 */
export function checkKernelTuning(value: unknown, where: string): KernelTuning {
  const fail = (what: string): never => {
    throw new TypeError(`${where}: ${what}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`a kernel tuning must be an object with adapter, layouts and matmul, got ${JSON.stringify(value)}`);
  const { adapter, layouts, matmul } = value as { adapter?: unknown; layouts?: unknown; matmul?: unknown };
  if (typeof adapter !== 'string' || adapter === '') fail(`adapter must be a non-empty string, got ${JSON.stringify(adapter)}`);
  if (!(KERNEL_LAYOUTS as readonly unknown[]).includes(layouts)) fail(`layouts must be ${KERNEL_LAYOUTS.join(' or ')}, got ${JSON.stringify(layouts)}`);
  if (typeof matmul !== 'object' || matmul === null || Array.isArray(matmul)) fail(`matmul must be an object of shape class to variant, got ${JSON.stringify(matmul)}`);
  for (const [key, variant] of Object.entries(matmul as object)) {
    if (!(MATMUL_SHAPE_CLASSES as readonly string[]).includes(key)) fail(`matmul has an unknown shape class '${key}' (classes: ${MATMUL_SHAPE_CLASSES.join(', ')})`);
    if (!(MATMUL_VARIANTS as readonly unknown[]).includes(variant)) fail(`matmul.${key} must be one of ${MATMUL_VARIANTS.join(', ')}, got ${JSON.stringify(variant)}`);
  }
  // In the classes' own order, whatever the input's: two tables that choose alike compare (and print) alike.
  const table: Partial<Record<MatmulShapeClass, MatmulVariant>> = {};
  for (const shapeClass of MATMUL_SHAPE_CLASSES) {
    const variant = (matmul as Record<string, MatmulVariant | undefined>)[shapeClass];
    if (variant !== undefined) table[shapeClass] = variant;
  }
  return { adapter: adapter as string, layouts: layouts as KernelLayouts, matmul: table };
}

/**
 * Puts a kept table (read from a file, a page's storage) in force on `device` if it is sound and
 * was measured on the device's own adapter (`adapter`, its describeAdapter line). Never throws:
 * a damaged or foreign table is not used, and the line returned says why; otherwise it names
 * the table. `where` names the table in that line (a file's path, 'the kept kernel tuning').
 */
export function adoptKernelTuning(device: Device, adapter: string, kept: unknown, where: string): { used: boolean; message: string } {
  requireDevice('adoptKernelTuning', device);
  let tuning: KernelTuning;
  try {
    tuning = checkKernelTuning(kept, where);
  } catch (error) {
    return { used: false, message: `${(error as Error).message}: not used (tune again)` };
  }
  if (tuning.adapter !== adapter) return { used: false, message: `${where} was measured on ${tuning.adapter}: not used (tune again)` };
  const layouts = layoutsOf(device);
  if (tuning.layouts !== layouts) return { used: false, message: `${where} was measured with the ${tuning.layouts} kernel layouts, and this device runs the ${layouts} ones (SLL_KERNELS): not used` };
  useKernelTuning(device, tuning);
  return { used: true, message: `kernel tuning in force: ${describeKernelTuning(tuning)}` };
}

/** Whether two tables (or their absence) choose alike. */
export function sameKernelTuning(a: KernelTuning | undefined, b: KernelTuning | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.layouts === b.layouts && describeKernelTuning(a) === describeKernelTuning(b));
}

/** 'general blocked, thin plain, ...' ('empty' for a table that chooses for no class). */
export function describeKernelTuning(tuning: KernelTuning): string {
  return Object.entries(tuning.matmul).map(([shape, variant]) => `${shape} ${variant}`).join(', ') || 'empty';
}
