/**
 * Softmax and log-softmax over the last axis (f32), with an optional temperature, and their
 * derivative rules. One workgroup per row, or one thread per short row on CPU adapters
 * (shaders/softmax.wgsl, util.rowLayout).
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import type { MemoryCategory } from '../gpu/bufferPool.js';
import { formatShape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { withDense } from '../gpu/strided.js';
import { rowLayout } from '../gpu/workgroups.js';
import { checkOptions, inverseTemperature, requireDtype, requireSameDevice, requireSameShape, type OptionTable } from './checks.js';


export interface SoftmaxOptions {
  /** tau > 0: the op computes softmax(x / tau). Default 1. */
  temperature?: number;
  category?: MemoryCategory;
}

const SOFTMAX_OPTIONS: OptionTable = { temperature: 'positive', category: 'category' };

/** The op works on the last axis, so there must be one. */
function requireRows(op: string, name: string, t: Tensor): void {
  if (t.rank === 0) throw new ShapeError(`${op}: ${name} ${formatShape(t.shape)} has no last axis to normalize over`);
}

/** Rows and row length of a tensor read as [rows, last axis]. */
function rowsOf(x: Tensor): { rows: number; cols: number } {
  const cols = x.shape[x.rank - 1]!;
  return { rows: cols === 0 ? 0 : x.size / cols, cols };
}

function dispatchRows(device: Device, entry: string, overrides: Record<string, number>, bindings: Record<string, Tensor>, rows: number, cols: number, invTau: number): void {
  const layout = rowLayout(device, rows, cols);
  const kernel = device.kernel({ file: 'softmax', entry, overrides: { ...layout.overrides, ...overrides } });
  device.dispatch(kernel, bindings, { rows, cols, invTau, _pad: 0 }, layout.workgroups);
}

function forward(op: 'softmax' | 'logSoftmax', x: Tensor, options: SoftmaxOptions): Tensor {
  requireDtype(op, 'x', x, ['f32']);
  checkOptions(op, options, SOFTMAX_OPTIONS);
  requireRows(op, 'x', x);
  const invTau = inverseTemperature(op, options.temperature);
  const device = x.device;
  const out = device.empty(x.shape, 'f32', options.category ?? 'activation');
  const { rows, cols } = rowsOf(x);
  if (rows === 0) return out;
  withDense([x], (dense) => {
    dispatchRows(device, 'softmaxForward', { LOG_OUTPUT: op === 'logSoftmax' ? 1 : 0 }, { x: dense, out }, rows, cols, invTau);
  });
  return out;
}

/** softmax(x / tau) over the last axis. */
export function softmax(x: Tensor, options: SoftmaxOptions = {}): Tensor {
  return forward('softmax', x, options);
}

/** log softmax(x / tau) over the last axis (computed as z - max - log sum exp, never log(softmax)). */
export function logSoftmax(x: Tensor, options: SoftmaxOptions = {}): Tensor {
  return forward('logSoftmax', x, options);
}

function backward(op: 'softmaxBackward' | 'logSoftmaxBackward', dy: Tensor, y: Tensor, options: SoftmaxOptions): Tensor {
  const device = requireSameDevice(op, { dy, y });
  checkOptions(op, options, SOFTMAX_OPTIONS);
  requireDtype(op, 'dy', dy, ['f32']);
  requireDtype(op, 'y', y, ['f32']);
  requireRows(op, 'y', y);
  requireSameShape(op, ['dy', 'y'], dy, y);
  const invTau = inverseTemperature(op, options.temperature);
  const out = device.empty(y.shape, 'f32', options.category ?? 'activation');
  const { rows, cols } = rowsOf(y);
  if (rows === 0) return out;
  withDense([dy, y], (ddy, dyOut) => {
    dispatchRows(device, op, {}, { dy: ddy, y: dyOut, out }, rows, cols, invTau);
  });
  return out;
}

/**
 * dL/dx of y = softmax(x / tau), given dL/dy and the forward output y:
 * dx = y * (dy - sum(dy * y)) / tau, the sum over the last axis.
 */
export function softmaxBackward(dy: Tensor, y: Tensor, options: SoftmaxOptions = {}): Tensor {
  return backward('softmaxBackward', dy, y, options);
}

/**
 * dL/dx of y = log softmax(x / tau), given dL/dy and the forward output y (the log-probabilities):
 * dx = (dy - softmax * sum(dy)) / tau, with softmax = exp(y).
 */
export function logSoftmaxBackward(dy: Tensor, y: Tensor, options: SoftmaxOptions = {}): Tensor {
  return backward('logSoftmaxBackward', dy, y, options);
}
