/**
 * Reductions (f32): sum and mean over any set of axes, sumAll, argmax over the last axis, and
 * countCorrect (how many rows' argmax is their label).
 *
 * A reduction over a set of axes is done as passes over an (outer, reduced, inner) view of a
 * dense tensor: adjacent reduced axes merge into one run, and each run is reduced in its own
 * pass, last run first (so the earlier axes keep their positions). A long run is cut into
 * chunks whose partial sums feed another pass, so every sum is a tree of short sums: its f32
 * error grows with the tree's depth, not with the number of terms as one running sum's would.
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import type { MemoryCategory } from '../gpu/bufferPool.js';
import { describeValue } from '../gpu/dtype.js';
import { formatShape, shapesEqual, sizeOf, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { copy } from './copy.js';
import { withDense } from '../gpu/strided.js';
import { columnWorkgroupSize, elementWorkgroups, isSoftwareAdapter, rowWorkgroupSize, treeWorkgroupSize } from '../gpu/workgroups.js';
import { checkOptions, checkValue, requireDtype, requireLabels, requireLogits, requireSameDevice, requireShape, requireTensor, type OptionTable } from './checks.js';


/** Values each thread folds in a row chunk before the workgroup tree (see reduceRowChunks). */
const ITEMS_PER_THREAD = 8;
/**
 * Longest sequential sum one thread does in the strided kernel. Runs up to this length are
 * reduced by one thread per output; longer ones are chunked into further passes.
 */
const STRIDED_CHUNK = 64;

export interface ReduceOptions {
  /** Keep reduced axes as size-1 dimensions (default false). */
  keepDims?: boolean;
  category?: MemoryCategory;
}

const REDUCE_OPTIONS: OptionTable = { keepDims: 'boolean', category: 'category' };

/** Resolves axes (negative counts from the end; undefined means all), sorted, checked. */
function resolveAxes(op: string, x: Tensor, axes: number | readonly number[] | undefined): number[] {
  if (axes === undefined) return [...x.shape.keys()];
  if (typeof axes !== 'number' && !(Array.isArray(axes) && axes.every((a) => typeof a === 'number'))) {
    throw new TypeError(`${op}: axes must be an axis (a number), a list of axes, or undefined for all, got ${describeValue(axes)}`);
  }
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const resolved = list.map((a) => {
    const r = a < 0 ? a + x.rank : a;
    if (!Number.isInteger(r) || r < 0 || r >= x.rank) {
      throw new ShapeError(`${op}: axis ${a} is out of range for x ${formatShape(x.shape)} (rank ${x.rank})`);
    }
    return r;
  });
  if (new Set(resolved).size !== resolved.length) {
    throw new ShapeError(`${op}: axes [${list.join(', ')}] repeat an axis of x ${formatShape(x.shape)}`);
  }
  return resolved.sort((a, b) => a - b);
}

/** Maximal runs [start, end) of adjacent reduced axes, in axis order. */
function reducedRuns(axes: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[1] === a) last[1] = a + 1;
    else runs.push([a, a + 1]);
  }
  return runs;
}

/** How one pass cuts a reduced run: which kernel, its workgroup, and the chunking. */
interface PassPlan {
  kernel: 'reduceRowChunks' | 'reduceStridedChunks';
  workgroup: number;
  chunkLength: number;
  chunks: number;
}

function planPass(device: Device, length: number, inner: number): PassPlan {
  // A CPU adapter runs a workgroup's tree (a barrier per level) far slower than one thread's
  // sequential sum: on lavapipe, summing 4096 rows of 196 took 91 ms in trees against 2.5 ms by
  // threads, 128 rows of 1000 3.8 against 0.3 ms, 10 rows of 1M 135 against 22 ms. It gets the
  // strided kernel for every run.
  if (inner === 1 && length > STRIDED_CHUNK && !isSoftwareAdapter(device)) {
    // Contiguous runs: one workgroup per chunk of a row, a tree inside the workgroup.
    const workgroup = treeWorkgroupSize(device, length);
    const chunkLength = workgroup * ITEMS_PER_THREAD;
    return { kernel: 'reduceRowChunks', workgroup, chunkLength, chunks: Math.ceil(length / chunkLength) };
  }
  // Strided runs (and short contiguous ones): one thread per output and chunk.
  const chunkLength = Math.min(length, STRIDED_CHUNK);
  return { kernel: 'reduceStridedChunks', workgroup: 0, chunkLength, chunks: Math.ceil(length / chunkLength) };
}

/**
 * One pass: [outer, length, inner] -> [outer, chunks, inner], each output the sum of one chunk
 * of the reduced run, times `scale`.
 */
function reducePass(device: Device, src: Tensor, outer: number, length: number, inner: number, plan: PassPlan, scale: number, category: MemoryCategory): Tensor {
  const { chunks, chunkLength } = plan;
  const out = device.empty([outer, chunks, inner], 'f32', category);
  const uniforms = { outer, length, inner, chunks, chunkLength, scale, _pad0: 0, _pad1: 0 };
  if (plan.kernel === 'reduceRowChunks') {
    const kernel = device.kernel({ file: 'reduce', entry: 'reduceRowChunks', overrides: { WG: plan.workgroup } });
    device.dispatch(kernel, { x: src, out }, uniforms, outer * chunks);
  } else {
    const workgroup = columnWorkgroupSize(device);
    const kernel = device.kernel({ file: 'reduce', entry: 'reduceStridedChunks', overrides: { STRIDED_WG: workgroup } });
    device.dispatch(kernel, { x: src, out }, uniforms, elementWorkgroups(outer * chunks * inner, workgroup));
  }
  return out;
}

function reduceAxes(op: 'sum' | 'mean' | 'sumAll', x: Tensor, axes: number | readonly number[] | undefined, options: ReduceOptions): Tensor {
  requireDtype(op, 'x', x, ['f32']);
  checkOptions(op, options, REDUCE_OPTIONS);
  const resolved = resolveAxes(op, x, axes);
  const keepDims = options.keepDims ?? false;
  const category = options.category ?? 'activation';
  const outShape = keepDims ? x.shape.map((d, i) => (resolved.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !resolved.includes(i));
  const reducedCount = sizeOf(resolved.map((a) => x.shape[a]!));
  if (op === 'mean' && reducedCount === 0) {
    throw new ShapeError(`mean: axes [${resolved.join(', ')}] of x ${formatShape(x.shape)} hold no elements; the mean is undefined`);
  }
  const device = x.device;
  if (sizeOf(outShape) === 0) return device.empty(outShape, 'f32', category);
  if (reducedCount === 0) return device.zeros(outShape, 'f32', category);
  if (resolved.length === 0) return copy(x, category);
  const finalScale = op === 'mean' ? 1 / reducedCount : 1;

  return withDense([x], (dense) => {
    let current = dense;
    let shape = [...dense.shape];
    const runs = reducedRuns(resolved).reverse();
    runs.forEach(([start, end], runIndex) => {
      const outer = sizeOf(shape.slice(0, start));
      const inner = sizeOf(shape.slice(end));
      let length = sizeOf(shape.slice(start, end));
      const lastRun = runIndex === runs.length - 1;
      // Chunk passes until one value per (outer, inner) remains; the mean's 1/n goes into the
      // very last pass, so no extra dispatch scales the result.
      for (;;) {
        const plan = planPass(device, length, inner);
        const last = lastRun && plan.chunks === 1;
        const out = reducePass(device, current, outer, length, inner, plan, last ? finalScale : 1, last ? category : 'scratch');
        if (current !== dense) current.dispose();
        current = out;
        if (plan.chunks === 1) break;
        length = plan.chunks;
      }
      shape = [...shape.slice(0, start), ...shape.slice(end)];
    });
    // `current` holds the values in output order; give it the output shape.
    const result = current.reshape(outShape);
    current.dispose();
    return result;
  });
}

/** Sum over `axes` (a number, a list, or undefined for all axes). */
export function sum(x: Tensor, axes?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  return reduceAxes('sum', x, axes, options);
}

/**
 * The partial results of a reduction split over workgroups, [chunks, ...], added up over the
 * chunks and viewed as `shape` (the conv weight gradient's batch chunks, the matmul's slices of K).
 */
export function sumPartials(partials: Tensor, shape: Shape, category: MemoryCategory): Tensor {
  requireTensor('sumPartials', 'partials', partials);
  requireShape('sumPartials', 'shape', shape);
  const total = sum(partials, 0, { category });
  try {
    return total.reshape(shape);
  } finally {
    total.dispose();
  }
}

/** Mean over `axes` (a number, a list, or undefined for all axes). */
export function mean(x: Tensor, axes?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  return reduceAxes('mean', x, axes, options);
}

/** The sum of every element, as a tensor of shape [] (one element). */
export function sumAll(x: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return reduceAxes('sumAll', x, undefined, { category });
}

/**
 * Index of the largest element along the last axis, as i32 of shape x.shape[:-1]. Ties go to
 * the first maximum. NaN counts as above every number, as in torch.argmax: a row holding NaN
 * gives its first NaN's index, whatever the adapter's workgroup size.
 */
export function argmax(x: Tensor, category: MemoryCategory = 'activation'): Tensor {
  requireDtype('argmax', 'x', x, ['f32']);
  checkValue('argmax', 'category', category, 'category');
  if (x.rank < 1 || x.shape[x.rank - 1] === 0) {
    throw new ShapeError(`argmax: x ${formatShape(x.shape)} needs a non-empty last axis`);
  }
  const cols = x.shape[x.rank - 1]!;
  const rows = x.size / cols;
  const device = x.device;
  const out = device.empty(x.shape.slice(0, -1), 'i32', category);
  if (rows === 0) return out;
  withDense([x], (dense) => {
    const wg = rowWorkgroupSize(device, cols);
    const kernel = device.kernel({ file: 'reduce', entry: 'argmaxRows', overrides: { WG: wg } });
    device.dispatch(kernel, { x: dense, indices: out }, { rows, cols }, rows);
  });
  return out;
}

/**
 * Adds to `into` (u32 [1]) the number of rows of logits [B, C] whose argmax, found exactly as
 * `argmax` finds it (ties and NaN alike), equals the row's label (labels i32 [B]); a label
 * outside [0, C) is never counted. `into` is never cleared here, so a trainer can sum a whole
 * metrics window on the GPU and read one number.
 */
export function countCorrect(logits: Tensor, labels: Tensor, into: Tensor): void {
  const op = 'countCorrect';
  const device = requireSameDevice(op, { logits, labels, into });
  const { rows, cols } = requireLogits(op, 'logits', logits);
  requireLabels(op, labels, 'logits', logits);
  requireDtype(op, 'into', into, ['u32']);
  if (!shapesEqual(into.shape, [1])) throw new ShapeError(`${op}: into ${formatShape(into.shape)} must be [1], one counter`);
  // The kernel adds into the buffer itself: a copy would take the count away with it.
  if (!into.isContiguous) throw new ShapeError(`${op}: into ${into.toString()} is updated in place and must be contiguous`);
  if (rows === 0) return;
  withDense([logits, labels], (dLogits, dLabels) => {
    // argmax's workgroup, so that a row's index is the one argmax would give.
    const kernel = device.kernel({ file: 'reduce', entry: 'countCorrectRows', overrides: { WG: rowWorkgroupSize(device, cols) } });
    device.dispatch(kernel, { x: dLogits, labels: dLabels, correct: into }, { rows, cols }, rows);
  });
}

/**
 * Threads of the one windowMetrics workgroup: a row each for a batch of 256 on a GPU; on a CPU
 * adapter 64, so that its tree passes few barriers (lavapipe switches SIMD groups at each).
 */
const METRICS_WORKGROUP = 256;
const SOFTWARE_METRICS_WORKGROUP = 64;

/**
 * A trainer's window metrics for one step, in one dispatch (a small step's host time is its
 * dispatches; this was three): adds the sum of `likelihood` to sums[0], the sum of `alignment`
 * (when given) to sums[1], and to correct[0] the rows of logits [B, C] whose argmax, as `argmax`
 * finds it, equals the row's label (labels i32 [B]; a label outside [0, C) never counts).
 * `sums` (f32 [2]) and `correct` (u32 [1]) are never cleared here, so a window of steps sums on
 * the GPU and is read once. The terms may have any shape; each sum runs in one workgroup.
 */
export function addWindowMetrics(sums: Tensor, correct: Tensor, logits: Tensor, labels: Tensor, likelihood: Tensor, alignment?: Tensor): void {
  const op = 'addWindowMetrics';
  const device = requireSameDevice(op, alignment === undefined ? { sums, correct, logits, labels, likelihood } : { sums, correct, logits, labels, likelihood, alignment });
  const { rows, cols } = requireLogits(op, 'logits', logits);
  requireLabels(op, labels, 'logits', logits);
  requireDtype(op, 'sums', sums, ['f32']);
  requireDtype(op, 'correct', correct, ['u32']);
  requireDtype(op, 'likelihood', likelihood, ['f32']);
  if (alignment) requireDtype(op, 'alignment', alignment, ['f32']);
  if (!shapesEqual(sums.shape, [2])) throw new ShapeError(`${op}: sums ${formatShape(sums.shape)} must be [2], the likelihood and alignment sums`);
  if (!shapesEqual(correct.shape, [1])) throw new ShapeError(`${op}: correct ${formatShape(correct.shape)} must be [1], one counter`);
  // The kernel adds into these buffers themselves: a copy would take the sums away with it.
  for (const [name, t] of [['sums', sums], ['correct', correct]] as const) {
    if (t.offset !== 0 || !t.isContiguous) throw new ShapeError(`${op}: ${name} ${t.toString()} is updated in place and must start its buffer, not be a view into one`);
    // WebGPU refuses a buffer bound writable and read-only in one dispatch: said here, by name.
    for (const [inputName, input] of [['logits', logits], ['labels', labels], ['likelihood', likelihood], ['alignment', alignment]] as const) {
      if (input !== undefined && input.storage === t.storage) throw new ShapeError(`${op}: ${name} and ${inputName} share storage`);
    }
  }
  withDense(alignment ? [logits, labels, likelihood, alignment] : [logits, labels, likelihood], (dLogits, dLabels, dLikelihood, dAlignment) => {
    // A power of two within the device's limits (the tree halves it).
    const wg = isSoftwareAdapter(device) ? SOFTWARE_METRICS_WORKGROUP : treeWorkgroupSize(device, METRICS_WORKGROUP);
    const kernel = device.kernel({ file: 'reduce', entry: 'windowMetrics', overrides: { WG: wg } });
    // Without alignment terms the likelihood is bound again in its place, with a count of 0.
    const uniforms = { rows, cols, likelihoodCount: dLikelihood!.size, alignmentCount: dAlignment?.size ?? 0 };
    device.dispatch(kernel, { x: dLogits!, labels: dLabels!, likelihood: dLikelihood!, alignment: dAlignment ?? dLikelihood!, metricSums: sums, metricCorrect: correct }, uniforms, 1);
  });
}
