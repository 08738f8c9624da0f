/**
 * Measuring a kernel tuning (`sll tune`): every matmul variant that runs on the device, timed on
 * the products of each shape class that the default models' training steps make at batch 128,
 * and the fastest per class kept. The table is the device's own; the command keeps it on disk.
 */
import type { Device } from '../gpu/device.js';
import { describeAdapter } from '../gpu/open.js';
import { requireDevice, checkOptions, type OptionTable } from './checks.js';
import { builtInMatmulVariant, matmul, matmulVariantUnavailable } from './matmul.js';
import { MATMUL_VARIANTS, type MatmulVariant } from './matmulVariants.js';
import { layoutsOf, MATMUL_SHAPE_CLASSES, type KernelTuning, type MatmulShapeClass } from './tuningTable.js';

/** [m, n, k] products per class: the MLP's, CNN's and ViT's steps at batch 128 (SLL's projections and heads included). */
export const TUNING_SHAPES: Readonly<Record<MatmulShapeClass, readonly (readonly [number, number, number])[]>> = {
  general: [[128, 1000, 784], [1000, 1000, 128], [6272, 192, 64]],
  thin: [[128, 10, 1000], [1000, 10, 128]],
  shortK: [[128, 1000, 10], [6272, 64, 16]],
  longK: [[64, 192, 6272], [128, 256, 3136]],
};

/** Small products of each class, for a quick check of the command (tests, --quick). */
export const QUICK_TUNING_SHAPES: Readonly<Record<MatmulShapeClass, readonly (readonly [number, number, number])[]>> = {
  general: [[48, 40, 36]],
  thin: [[40, 8, 36]],
  shortK: [[40, 36, 8]],
  longK: [[17, 20, 400]],
};

export interface TuningRow {
  shapeClass: MatmulShapeClass;
  shapes: readonly (readonly [number, number, number])[];
  /** Per variant: the summed median milliseconds over the class's shapes, or why it did not run. */
  variants: Partial<Record<MatmulVariant, { ms: number } | { skipped: string }>>;
  /** What the built-in rules choose for the class's first shape, and what the table keeps. */
  builtIn: MatmulVariant;
  chosen: MatmulVariant;
}

const TUNE_OPTIONS: OptionTable = { runs: 'integer', quick: 'boolean' };

/**
 * A variant whose first timed call on a product is this many times slower than the best variant
 * so far on it is not timed further in its class: on SwiftShader the skinny kernel takes seconds
 * on a layer's product, and a page's tune should not spend minutes proving it slow.
 */
const GIVE_UP_RATIO = 4;

/**
 * Times every runnable variant on each class's shapes (`runs` timed calls after one warm-up,
 * median, default 3) and returns the table with the fastest per class, and the measurements.
 * Every product names its variant, so the table in force plays no part and stays as it was.
 */
export async function tuneKernels(device: Device, options: { runs?: number; quick?: boolean; onRow?: (row: TuningRow) => void } = {}): Promise<{ tuning: KernelTuning; rows: TuningRow[] }> {
  requireDevice('tuneKernels', device);
  const { onRow, ...rest } = options;
  checkOptions('tuneKernels', rest, TUNE_OPTIONS);
  if (onRow !== undefined && typeof onRow !== 'function') throw new TypeError(`tuneKernels: onRow must be a function, got ${typeof onRow}`);
  const runs = options.runs ?? 3;
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`tuneKernels: runs must be a positive integer, got ${runs}`);
  const shapesOf = options.quick ? QUICK_TUNING_SHAPES : TUNING_SHAPES;
  const rows: TuningRow[] = [];
  const table: Partial<Record<MatmulShapeClass, MatmulVariant>> = {};
  for (const shapeClass of MATMUL_SHAPE_CLASSES) {
    const shapes = shapesOf[shapeClass];
    const variants: TuningRow['variants'] = {};
    let best: { variant: MatmulVariant; ms: number } | undefined;
    /** The best median so far on each of the class's products. */
    const bestOn = shapes.map(() => Infinity);
    for (const variant of MATMUL_VARIANTS) {
      const why = matmulVariantUnavailable(device, variant);
      variants[variant] = why ? { skipped: why } : await timeVariant(device, shapes, variant, runs, bestOn);
      const result = variants[variant]!;
      if ('ms' in result && (!best || result.ms < best.ms)) best = { variant, ms: result.ms };
    }
    const [m, n, k] = shapes[0]!;
    const row: TuningRow = { shapeClass, shapes, variants, builtIn: builtInMatmulVariant(device, m, n, k), chosen: best!.variant };
    table[shapeClass] = row.chosen;
    rows.push(row);
    onRow?.(row);
  }
  return { tuning: { adapter: describeAdapter(device.report), layouts: layoutsOf(device), matmul: table }, rows };
}

/**
 * One variant's milliseconds summed over a class's products, or why it was given up (over
 * GIVE_UP_RATIO times the best so far on a product). Lowers `bestOn` where it does better.
 */
async function timeVariant(device: Device, shapes: readonly (readonly [number, number, number])[], variant: MatmulVariant, runs: number, bestOn: number[]): Promise<{ ms: number } | { skipped: string }> {
  let ms = 0;
  for (const [i, shape] of shapes.entries()) {
    const t = await timeProduct(device, shape, variant, runs, GIVE_UP_RATIO * bestOn[i]!);
    if (t === undefined) return { skipped: `over ${GIVE_UP_RATIO}x the best on ${shape[0]} x ${shape[2]} x ${shape[1]}` };
    bestOn[i] = Math.min(bestOn[i]!, t);
    ms += t;
  }
  return { ms };
}

/**
 * Median milliseconds of one product with one variant, after a warm-up call (which compiles it);
 * undefined as soon as one timed call takes longer than `giveUpMs`.
 */
async function timeProduct(device: Device, [m, n, k]: readonly [number, number, number], variant: MatmulVariant, runs: number, giveUpMs: number): Promise<number | undefined> {
  const a = device.tensor(Float32Array.from({ length: m * k }, (_, i) => Math.sin(i)), [m, k]);
  const b = device.tensor(Float32Array.from({ length: k * n }, (_, i) => Math.cos(i)), [k, n]);
  try {
    matmul(a, b, { variant }).dispose();
    await device.flush();
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      matmul(a, b, { variant }).dispose();
      await device.flush();
      times.push(performance.now() - t0);
      if (times[times.length - 1]! > giveUpMs) return undefined;
    }
    times.sort((x, y) => x - y);
    return times[Math.floor(times.length / 2)]!;
  } finally {
    a.dispose();
    b.dispose();
  }
}
