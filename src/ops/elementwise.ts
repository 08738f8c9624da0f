/**
 * Elementwise ops (f32): binary arithmetic with NumPy broadcasting, affine maps, activations,
 * and the activations' derivative rules. Shapes are checked before anything is encoded.
 */
import { ShapeError } from '../gpu/errors.js';
import type { MemoryCategory } from '../gpu/bufferPool.js';
import { broadcastShapes, broadcastStrides, contiguousStrides, formatShape, shapesEqual } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { collapseAxes } from './copy.js';
import { withDense } from '../gpu/strided.js';
import { columnWorkgroupSize, elementWorkgroups } from '../gpu/workgroups.js';
import { checkValue, requireDtype, requireSameDevice, requireSameShape } from './checks.js';

const BINARY_OPS = { add: 0, mul: 1, div: 2, max: 3, min: 4 } as const;
type BinaryOp = keyof typeof BINARY_OPS;

const UNARY_OPS = { affine: 0, relu: 1, gelu: 2, exp: 3, log: 4, sqrt: 5, abs: 6, square: 7, tanh: 8, leakyRelu: 9 } as const;
type UnaryOp = keyof typeof UNARY_OPS;


/**
 * Columns from which a two-axis broadcast takes binaryRows (a workgroup row per output row)
 * rather than binaryBroadcast: below it most of a workgroup's threads would sit past the row's end.
 */
const ROWS_KERNEL_MIN_COLUMNS = 64;

/** binarySame's uniforms but for count and alpha: it reads no shape or stride. */
const SAME_SHAPE_UNIFORMS = Object.freeze({
  rank: 0,
  _pad1: 0,
  shapeLo: [1, 1, 1, 1],
  shapeHi: [1, 1, 1, 1],
  aStridesLo: [0, 0, 0, 0],
  aStridesHi: [0, 0, 0, 0],
  bStridesLo: [0, 0, 0, 0],
  bStridesHi: [0, 0, 0, 0],
});

function pad8(values: readonly number[], fill: number): number[] {
  return [...new Array<number>(8 - values.length).fill(fill), ...values];
}

function binary(op: BinaryOp, name: string, a: Tensor, b: Tensor, alpha: number, category: MemoryCategory): Tensor {
  const device = requireSameDevice(name, { a, b });
  checkValue(name, 'category', category, 'category');
  requireDtype(name, 'a', a, ['f32']);
  requireDtype(name, 'b', b, ['f32']);
  const shape = broadcastShapes(a.shape, b.shape);
  if (!shape) throw new ShapeError(`${name}: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} do not broadcast`);
  if (shape.length > 8) throw new ShapeError(`${name}: rank ${shape.length} exceeds the supported 8`);
  // Dense operands of one shape (gradients, residuals: most binary ops of a step) need no strides
  // worked out: binarySame at once, as the general path below would pick it.
  if (a.isContiguous && b.isContiguous && shapesEqual(a.shape, b.shape)) {
    const out = device.empty(shape, 'f32', category);
    const wg = columnWorkgroupSize(device);
    const kernel = device.kernel({ file: 'elementwise', entry: 'binarySame', overrides: { BINARY_OP: BINARY_OPS[op], WG: wg } });
    device.dispatch(kernel, { a, b, out }, { ...SAME_SHAPE_UNIFORMS, count: out.size, alpha }, elementWorkgroups(out.size, wg));
    return out;
  }
  return withDense([a, b], (da, db) => {
    const out = device.empty(shape, 'f32', category);
    const count = out.size;
    const same = shapesEqual(da.shape, shape) && shapesEqual(db.shape, shape);
    // The output is dense, so axes merge wherever both operands' strides do.
    const axes = collapseAxes(
      shape,
      broadcastStrides(da.shape, contiguousStrides(da.shape), shape),
      broadcastStrides(db.shape, contiguousStrides(db.shape), shape),
    );
    const wg = columnWorkgroupSize(device);
    const rowsKernel = !same && axes.shape.length === 2 && axes.shape[1]! >= ROWS_KERNEL_MIN_COLUMNS;
    // Rows whose length is a multiple of 4 go four columns a thread (binaryRows4).
    const quads = rowsKernel && axes.shape[1]! % 4 === 0;
    const rowThreads = rowsKernel ? (quads ? axes.shape[1]! / 4 : axes.shape[1]!) : 0;
    // Rows of at most half a workgroup share workgroups: threads per row, the power of two that holds one.
    const rowThreadsLog2 = rowsKernel && 2 * rowThreads <= wg ? Math.ceil(Math.log2(rowThreads)) : 0;
    const kernel = device.kernel({
      file: 'elementwise',
      entry: same ? 'binarySame' : rowsKernel ? (quads ? 'binaryRows4' : 'binaryRows') : 'binaryBroadcast',
      overrides: { BINARY_OP: BINARY_OPS[op], WG: wg, ...(rowsKernel ? { ROW_THREADS_LOG2: rowThreadsLog2 } : {}) },
    });
    const aStrides = pad8(axes.src, 0);
    const bStrides = pad8(axes.dst, 0);
    const dims = pad8(axes.shape, 1);
    device.dispatch(
      kernel,
      // The vec4 views bind the operands' whole buffers: an operand of fewer than 4 values (a
      // column of 2 or 3 rows) bound at its own size would be smaller than one vec4, which
      // WebGPU refuses (pooled buffers are at least 256 bytes; these operands start at 0).
      quads ? { a: da, b: db, a4: da.buffer, b4: db.buffer, out4: out } : { a: da, b: db, out },
      {
        count,
        alpha,
        rank: axes.shape.length,
        _pad1: 0,
        shapeLo: dims.slice(0, 4),
        shapeHi: dims.slice(4),
        aStridesLo: aStrides.slice(0, 4),
        aStridesHi: aStrides.slice(4),
        bStridesLo: bStrides.slice(0, 4),
        bStridesHi: bStrides.slice(4),
      },
      rowsKernel
        ? rowThreadsLog2 > 0
          ? rowWorkgroups(Math.ceil(axes.shape[0]! / (wg >> rowThreadsLog2)), 1, device.limits.maxComputeWorkgroupsPerDimension)
          : rowWorkgroups(axes.shape[0]!, Math.ceil(rowThreads / wg), device.limits.maxComputeWorkgroupsPerDimension)
        : elementWorkgroups(count, wg),
    );
    return out;
  });
}

/** binaryRows' grid: the column blocks along x, the rows (or groups of short rows) along y, folded over z past the limit. */
function rowWorkgroups(rows: number, columnBlocks: number, max: number): [number, number, number] {
  const y = Math.min(rows, max);
  return [columnBlocks, y, Math.ceil(rows / y)];
}

/** a + b (broadcasting). */
export function add(a: Tensor, b: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return binary('add', 'add', a, b, 1, category);
}

/** a - b (broadcasting). */
export function sub(a: Tensor, b: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return binary('add', 'sub', a, b, -1, category);
}

/** a * b (broadcasting). */
export function mul(a: Tensor, b: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return binary('mul', 'mul', a, b, 1, category);
}

/** a / b (broadcasting). */
export function div(a: Tensor, b: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return binary('div', 'div', a, b, 1, category);
}

export function maximum(a: Tensor, b: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return binary('max', 'maximum', a, b, 1, category);
}

export function minimum(a: Tensor, b: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return binary('min', 'minimum', a, b, 1, category);
}

/** target += alpha * b, in place (same shapes). For gradient accumulation and residuals. */
export function addInPlace(target: Tensor, b: Tensor, alpha = 1): void {
  const device = requireSameDevice('addInPlace', { target, b });
  checkValue('addInPlace', 'alpha', alpha, 'number');
  requireDtype('addInPlace', 'target', target, ['f32']);
  requireDtype('addInPlace', 'b', b, ['f32']);
  requireSameShape('addInPlace', ['target', 'b'], target, b);
  if (!target.isContiguous) throw new ShapeError(`addInPlace: target ${target.toString()} must be contiguous`);
  if (target.storage === b.storage) throw new ShapeError('addInPlace: target and b share storage');
  withDense([b], (db) => {
    const kernel = device.kernel({ file: 'elementwise', entry: 'binaryInPlace', overrides: { BINARY_OP: BINARY_OPS.add, WG: columnWorkgroupSize(device) } });
    const zeros = [0, 0, 0, 0];
    device.dispatch(
      kernel,
      { b: db, out: target },
      { count: target.size, alpha, rank: 0, _pad1: 0, shapeLo: zeros, shapeHi: zeros, aStridesLo: zeros, aStridesHi: zeros, bStridesLo: zeros, bStridesHi: zeros },
      elementWorkgroups(target.size, columnWorkgroupSize(device)),
    );
  });
}

function unary(op: UnaryOp, name: string, x: Tensor, category: MemoryCategory, alpha = 1, beta = 0): Tensor {
  requireDtype(name, 'x', x, ['f32']);
  checkValue(name, 'alpha', alpha, 'number');
  checkValue(name, 'beta', beta, 'number');
  checkValue(name, 'category', category, 'category');
  return withDense([x], (dx) => {
    const device = dx.device;
    const out = device.empty(dx.shape, 'f32', category);
    const kernel = device.kernel({ file: 'elementwise', entry: 'unaryMap', overrides: { UNARY_OP: UNARY_OPS[op], WG: columnWorkgroupSize(device) } });
    device.dispatch(kernel, { a: dx, out }, { count: dx.size, alpha, beta }, elementWorkgroups(dx.size, columnWorkgroupSize(device)));
    return out;
  });
}

/** alpha * x + beta. */
export function affine(x: Tensor, alpha: number, beta = 0, category: MemoryCategory = 'activation'): Tensor {
  return unary('affine', 'affine', x, category, alpha, beta);
}

/** alpha * x. */
export function scale(x: Tensor, alpha: number, category: MemoryCategory = 'activation'): Tensor {
  return unary('affine', 'scale', x, category, alpha, 0);
}

export function relu(x: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return unary('relu', 'relu', x, category);
}

/** Exact GELU: x * Phi(x), Phi the standard normal CDF. */
export function gelu(x: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return unary('gelu', 'gelu', x, category);
}

export function exp(x: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return unary('exp', 'exp', x, category);
}

export function log(x: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return unary('log', 'log', x, category);
}

export function sqrt(x: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return unary('sqrt', 'sqrt', x, category);
}

export function abs(x: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return unary('abs', 'abs', x, category);
}

export function square(x: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return unary('square', 'square', x, category);
}

/** The hyperbolic tangent (the activation DRTP's authors train with). */
export function tanh(x: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return unary('tanh', 'tanh', x, category);
}

/** LeakyReLU: x for x > 0, else slope * x (PyTorch's nn.LeakyReLU; its default slope is 0.01). */
export function leakyRelu(x: Tensor, slope = 0.01, category: MemoryCategory = 'activation'): Tensor {
  checkValue('leakyRelu', 'slope', slope, 'number');
  return unary('leakyRelu', 'leakyRelu', x, category, slope);
}

/** dL/dx of an activation from dL/dy and what its rule reads: the input x, or (tanh) the output y; `alpha` is LeakyReLU's slope. */
function activationBackward(entry: 'reluBackward' | 'geluBackward' | 'tanhBackward' | 'leakyReluBackward', dy: Tensor, x: Tensor, category: MemoryCategory, saved: 'x' | 'y' = 'x', alpha = 0): Tensor {
  const device = requireSameDevice(entry, { dy, [saved]: x });
  checkValue(entry, 'category', category, 'category');
  requireDtype(entry, 'dy', dy, ['f32']);
  requireDtype(entry, saved, x, ['f32']);
  requireSameShape(entry, ['dy', saved], dy, x);
  return withDense([dy, x], (ddy, dx) => {
    const out = device.empty(dx.shape, 'f32', category);
    const kernel = device.kernel({ file: 'elementwise', entry, overrides: { WG: columnWorkgroupSize(device) } });
    device.dispatch(kernel, { a: ddy, b: dx, out }, { count: dx.size, alpha, beta: 0 }, elementWorkgroups(dx.size, columnWorkgroupSize(device)));
    return out;
  });
}

/** dL/dx of relu, given dL/dy and the forward input x. */
export function reluBackward(dy: Tensor, x: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return activationBackward('reluBackward', dy, x, category);
}

/** dL/dx of leakyRelu, given dL/dy, the forward input x and the same slope: dy for x > 0, else slope * dy. */
export function leakyReluBackward(dy: Tensor, x: Tensor, slope = 0.01, category: MemoryCategory = 'activation'): Tensor {
  checkValue('leakyReluBackward', 'slope', slope, 'number');
  return activationBackward('leakyReluBackward', dy, x, category, 'x', slope);
}

/** dL/dx of tanh, given dL/dy and the forward OUTPUT y = tanh(x): dy (1 - y^2). */
export function tanhBackward(dy: Tensor, y: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return activationBackward('tanhBackward', dy, y, category, 'y');
}

/** dL/dx of exact GELU, given dL/dy and the forward input x. */
export function geluBackward(dy: Tensor, x: Tensor, category: MemoryCategory = 'activation'): Tensor {
  return activationBackward('geluBackward', dy, x, category);
}
