/**
 * Operand checks shared by the op families: every check runs before anything is encoded, and
 * names the op and operand.
 *
 * Two choke points cover every op by construction:
 *  - tensors: `requireTensor` (src/gpu/tensor.ts's assertTensor) is the first thing every other
 *    tensor check here does (requireDtype, requireRank, requireSameDevice, requireLogits,
 *    requireLabels), and every op passes each tensor operand through one of them on entry; so a
 *    missing operand or a value that is not a Tensor is a TypeError naming the op and operand,
 *    never "Cannot read properties of undefined".
 *  - options and scalar arguments: `checkOptions` takes the op's table of option names to
 *    kinds (ValueKind below) and refuses a non-object, an unknown key (naming the nearest
 *    known one), and a value of the wrong kind; `checkValue` does the same for one positional
 *    argument (a scale, a memory category). A value of the wrong type is a TypeError; a number
 *    of the right type but outside what the kind allows (NaN, Infinity, beyond f32, too small
 *    for f32 where 0 is not allowed) is a RangeError. Both name the op and the option.
 */
import { Device } from '../gpu/device.js';
import { describeValue, type DType } from '../gpu/dtype.js';
import { MEMORY_CATEGORIES } from '../gpu/bufferPool.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual } from '../gpu/shape.js';
import { assertTensor, type Tensor } from '../gpu/tensor.js';
import { seedWords } from '../random/philox.js';
import { float32Problem, FLOAT32_MIN_NORMAL, nearest } from '../settings/schema.js';

/** Throws unless `value` is a live Tensor: a TypeError (or DisposedError) naming the op and operand. */
export function requireTensor(op: string, name: string, value: unknown): asserts value is Tensor {
  assertTensor(value, op, `operand ${name}`);
}

/** Throws unless `value` is an array of live Tensors, each named `${name}[i]`. */
export function requireTensorList(op: string, name: string, value: unknown): asserts value is readonly Tensor[] {
  if (!Array.isArray(value)) throw new TypeError(`${op}: ${name} must be an array of Tensors, got ${describeValue(value)}`);
  value.forEach((t, i) => requireTensor(op, `${name}[${i}]`, t));
}

/** Throws unless `value` is a Device (the random fills, which make tensors, take one). */
export function requireDevice(op: string, value: unknown): asserts value is Device {
  if (!(value instanceof Device)) throw new TypeError(`${op}: operand device must be a Device, got ${describeValue(value)}`);
}

/** Throws unless `value` is an array (its dimensions are checked by the op, which knows what it needs). */
export function requireShape(op: string, name: string, value: unknown): asserts value is readonly number[] {
  if (!Array.isArray(value)) throw new TypeError(`${op}: ${name} must be a shape (an array of dimensions), got ${describeValue(value)}`);
}

export function requireDtype(op: string, name: string, t: Tensor, allowed: readonly DType[]): void {
  requireTensor(op, name, t);
  if (!allowed.includes(t.dtype)) {
    throw new ShapeError(`${op}: ${name} has dtype ${t.dtype} (shape ${formatShape(t.shape)}); expected ${allowed.join(' or ')}`);
  }
}

export function requireRank(op: string, name: string, t: Tensor, rank: number | readonly number[]): void {
  requireTensor(op, name, t);
  const ranks = typeof rank === 'number' ? [rank] : rank;
  if (!ranks.includes(t.rank)) {
    throw new ShapeError(`${op}: ${name} must have rank ${ranks.join(' or ')}, got shape ${formatShape(t.shape)}`);
  }
}

export function requireSameShape(op: string, names: [string, string], a: Tensor, b: Tensor): void {
  if (!shapesEqual(a.shape, b.shape)) {
    throw new ShapeError(`${op}: ${names[0]} ${formatShape(a.shape)} and ${names[1]} ${formatShape(b.shape)} must have the same shape`);
  }
}

/**
 * Checks every named operand is a live Tensor (requireTensor) and that all live on one device,
 * which it returns. Give an optional operand only when it is present (`...(bias ? { bias } : {})`).
 */
export function requireSameDevice(op: string, operands: Readonly<Record<string, unknown>>): Device {
  let device: Device | undefined;
  let first = '';
  for (const name in operands) {
    const t = operands[name];
    requireTensor(op, name, t);
    if (device === undefined) {
      device = t.device;
      first = name;
    } else if (t.device !== device) {
      throw new ShapeError(`${op}: operands ${first} and ${name} live on different devices`);
    }
  }
  if (device === undefined) throw new TypeError(`${op}: no operands given`);
  return device;
}

/** [B, K] f32 logits with K >= 1. */
export function requireLogits(op: string, name: string, t: Tensor): { rows: number; cols: number } {
  requireTensor(op, name, t);
  if (t.dtype !== 'f32') throw new ShapeError(`${op}: ${name} ${formatShape(t.shape)} has dtype ${t.dtype}; expected f32`);
  if (t.rank !== 2 || t.shape[1] === 0) {
    throw new ShapeError(`${op}: ${name} must be [batch, classes] with at least one class, got ${formatShape(t.shape)}`);
  }
  return { rows: t.shape[0]!, cols: t.shape[1]! };
}

/** i32 labels, one per row of the logits. */
export function requireLabels(op: string, labels: Tensor, logitsName: string, logits: Tensor): void {
  requireTensor(op, 'labels', labels);
  if (labels.dtype !== 'i32') {
    throw new ShapeError(`${op}: labels ${formatShape(labels.shape)} have dtype ${labels.dtype}; expected i32 class indices, one per row of ${logitsName} ${formatShape(logits.shape)}`);
  }
  if (labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new ShapeError(`${op}: labels ${formatShape(labels.shape)} and ${logitsName} ${formatShape(logits.shape)}: expected labels of shape [${logits.shape[0]}], one class index per row`);
  }
}

/**
 * 1 / tau, after checking tau is a positive finite number that f32 holds (checkValue 'positive')
 * and whose inverse f32 holds too: the kernels get 1 / tau as an f32 uniform.
 */
export function inverseTemperature(op: string, tau: number | undefined, name = 'temperature'): number {
  const t = tau ?? 1;
  if (typeof t !== 'number') throw new TypeError(`${op}: ${name} must be a positive finite number, got ${describeValue(t)}`);
  if (!(t > 0) || !Number.isFinite(t)) throw new RangeError(`${op}: ${name} must be a positive finite number, got ${describeValue(t)}`);
  checkValue(op, name, t, 'positive');
  const inverse = 1 / t;
  // checkValue bounds tau below by the smallest normal f32, so 1 / tau cannot overflow; a huge
  // tau can make it underflow.
  if (Math.fround(inverse) < FLOAT32_MIN_NORMAL) {
    throw new RangeError(`${op}: ${name} ${t} is too large: 1 / ${name} = ${inverse} is below the smallest normal f32 (${FLOAT32_MIN_NORMAL}), which a GPU may flush to 0`);
  }
  return inverse;
}

// ---------------------------------------------------------------- options and scalar arguments

/**
 * What an option (or a scalar argument) must be:
 *  - 'boolean': true or false;
 *  - 'number': a finite number that f32 holds (every numeric option reaches a kernel as f32);
 *  - 'nonNegative': the same, >= 0;
 *  - 'positive': the same, > 0, and not below the smallest normal f32 (where 0 is not allowed, a
 *    value a GPU would flush to 0 is refused too);
 *  - 'integer': a safe integer (the op checks its own range);
 *  - 'tensor': a live Tensor;
 *  - 'category': a memory category;
 *  - 'pair': a number or [height, width] (spatialPair checks the values);
 *  - 'seed': a Philox seed (a non-negative safe integer, a bigint, or [lo, hi] u32 words);
 *  - a list of strings: one of them.
 */
export type ValueKind = 'boolean' | 'number' | 'nonNegative' | 'positive' | 'integer' | 'tensor' | 'category' | 'pair' | 'seed' | readonly string[];

/** An option that must be given (the others may be left out, or given as undefined). */
export interface RequiredOption {
  kind: ValueKind;
  required: true;
}

export function required(kind: ValueKind): RequiredOption {
  return { kind, required: true };
}

/** An op's options: each name with its kind. Declared once per op, beside the op. */
export type OptionTable = Readonly<Record<string, ValueKind | RequiredOption>>;

function kindOf(entry: ValueKind | RequiredOption): ValueKind {
  return typeof entry === 'object' && !Array.isArray(entry) ? (entry as RequiredOption).kind : (entry as ValueKind);
}

/** How a kind reads in a message: "must be {expected}". */
function expected(kind: ValueKind): string {
  if (typeof kind !== 'string') return `one of ${kind.map((k) => `'${k}'`).join(', ')}`;
  switch (kind) {
    case 'boolean':
      return 'true or false';
    case 'number':
      return 'a finite number';
    case 'nonNegative':
      return 'a non-negative finite number';
    case 'positive':
      return 'a positive finite number';
    case 'integer':
      return 'an integer';
    case 'tensor':
      return 'a Tensor';
    case 'category':
      return `a memory category (one of ${MEMORY_CATEGORIES.join(', ')})`;
    case 'pair':
      return 'a number or [height, width]';
    case 'seed':
      return 'a seed (a non-negative integer, a bigint, or [lo, hi] u32 words)';
  }
}

/** A plain object: {} or Object.create(null), not an array, a Tensor, a typed array, a class instance. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === null || proto === Object.prototype || (proto as { constructor?: { name?: string } }).constructor?.name === 'Object';
}

/**
 * Throws unless `value` is of `kind` (see ValueKind): a TypeError when its type is wrong, a
 * RangeError when it is a number outside what the kind allows. `name` is how the message names
 * it: 'transposeB', 'alpha'.
 */
export function checkValue(op: string, name: string, value: unknown, kind: ValueKind): void {
  const wrongType = (): TypeError => new TypeError(`${op}: ${name} must be ${expected(kind)}, got ${describeValue(value)}`);
  if (typeof kind !== 'string') {
    if (typeof value !== 'string' || !kind.includes(value)) throw wrongType();
    return;
  }
  switch (kind) {
    case 'boolean':
      if (typeof value !== 'boolean') throw wrongType();
      return;
    case 'number':
    case 'nonNegative':
    case 'positive': {
      if (typeof value !== 'number') throw wrongType();
      if (!Number.isFinite(value)) throw new RangeError(`${op}: ${name} must be ${expected(kind)}, got ${value}`);
      if (kind === 'nonNegative' && !(value >= 0)) throw new RangeError(`${op}: ${name} must be ${expected(kind)}, got ${value}`);
      if (kind === 'positive' && !(value > 0)) throw new RangeError(`${op}: ${name} must be ${expected(kind)}, got ${value}`);
      // The training spec's own float32 rule (src/settings/schema.ts), so the library and the command agree.
      const problem = float32Problem(value);
      if (problem) throw new RangeError(`${op}: ${name} must be ${expected(kind)} that float32 can hold, got ${value}, ${problem}`);
      return;
    }
    case 'integer':
      if (typeof value !== 'number') throw wrongType();
      if (!Number.isSafeInteger(value)) throw new RangeError(`${op}: ${name} must be ${expected(kind)}, got ${value}`);
      return;
    case 'tensor':
      assertTensor(value, op, name);
      return;
    case 'category':
      if (!(MEMORY_CATEGORIES as readonly unknown[]).includes(value)) throw wrongType();
      return;
    case 'pair':
      if (typeof value === 'number') return;
      if (!Array.isArray(value) || value.length !== 2 || value.some((v) => typeof v !== 'number')) throw wrongType();
      return;
    case 'seed': {
      const shaped = typeof value === 'number' || typeof value === 'bigint' || (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number'));
      if (!shaped) throw wrongType();
      try {
        seedWords(value as number);
      } catch (error) {
        throw new RangeError(`${op}: ${(error as Error).message.replace(/^random seed/, name)}`);
      }
      return;
    }
  }
}

/**
 * Checks an op's options against its table before anything is encoded, and returns them (an
 * empty object for undefined). Refuses: a value that is not a plain object (TypeError naming the
 * op and the options it takes); an unknown key (TypeError naming the nearest known key, since a
 * misspelt option silently ignored computes something nobody asked for); a required option left
 * out; a value of the wrong kind (checkValue: TypeError or RangeError naming the option).
 * A key given as undefined counts as left out.
 */
/** A table's names and required options, worked out once per table: checkOptions runs on every op call. */
const tableFacts = new WeakMap<OptionTable, { names: string[]; requiredNames: string[] }>();

function factsOf(table: OptionTable): { names: string[]; requiredNames: string[] } {
  let facts = tableFacts.get(table);
  if (!facts) {
    const names = Object.keys(table);
    const requiredNames = names.filter((key) => {
      const entry = table[key]!;
      return typeof entry === 'object' && !Array.isArray(entry) && (entry as RequiredOption).required;
    });
    facts = { names, requiredNames };
    tableFacts.set(table, facts);
  }
  return facts;
}

export function checkOptions<T extends object>(op: string, options: T | undefined, table: OptionTable): T {
  const { names, requiredNames } = factsOf(table);
  if (options === undefined && requiredNames.length === 0) return {} as T;
  if (options !== undefined && !isPlainObject(options)) {
    throw new TypeError(`${op}: options must be an object (with ${names.join(', ')}), got ${describeValue(options)}`);
  }
  const given = (options ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    const entry = table[key];
    if (entry === undefined || !Object.hasOwn(table, key)) {
      const near = nearest(key, names);
      throw new TypeError(`${op}: unknown option '${key}'${near ? ` (did you mean '${near}'?)` : ''}; ${op} takes ${names.join(', ')}`);
    }
    const value = given[key];
    if (value !== undefined) checkValue(op, key, value, kindOf(entry));
  }
  for (const key of requiredNames) {
    if (given[key] === undefined) throw new TypeError(`${op}: option ${key} is required (${expected(kindOf(table[key]!))})`);
  }
  return given as T;
}
