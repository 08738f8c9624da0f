/**
 * One op case in one call, for the op tests (test/<family>.test.ts), so that a case states its
 * operands, its op and its reference and nothing else: expectOp uploads the operands, runs the
 * op, reads every tensor it returns, disposes all it made (also when the op or a read throws),
 * checks that the device's live memory is back where it started, and holds each result to its
 * float64 reference with the file's tolerance (a Check, test/helpers/numeric.ts). runOp does the
 * same without the comparison. Both return the results read back (values, shape, dtype) for any
 * further check (shapes, non-finite rows). An op that updates a tensor in place returns that
 * tensor. What the helper cannot express (error messages, dispatch counts, views the test keeps
 * alive across calls, optimizer state over several steps) stays hand-written in the tests.
 */
import { expect } from 'vitest';
import type { Device } from '../../src/gpu/device.js';
import type { DType, HostData } from '../../src/gpu/dtype.js';
import type { Shape } from '../../src/gpu/shape.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { expectMatches, type Check } from './numeric.js';

/**
 * An operand: host data with its shape (f32 unless a dtype is given), uploaded and disposed here;
 * a tensor the test made (a view, say), passed as it is and left to the test; or undefined, for
 * an optional operand such as a bias.
 */
export type Operand = readonly [data: HostData, shape: Shape, dtype?: DType] | Tensor | undefined;

/** What an op returns: one tensor, or an object (or array) of them. */
export type OpResult<R> = Tensor | { readonly [K in keyof R]: Tensor };

/** One result, read back. */
export interface Output {
  values: Float32Array | Int32Array | Uint32Array;
  shape: Shape;
  dtype: DType;
}

export type Outputs<R extends OpResult<R>> = R extends Tensor ? Output : { [K in keyof R]: Output };

/** Reference values for one result, with a check of their own instead of the call's. */
export class Within {
  constructor(
    readonly values: ArrayLike<number>,
    readonly check: Check,
  ) {}
}

export function within(values: ArrayLike<number>, check: Check): Within {
  return new Within(values, check);
}

type Reference = ArrayLike<number> | Within;

/** The reference for each result compared: all of them for one tensor, any subset of an object's. */
export type Expected<R extends OpResult<R>> = R extends Tensor ? Reference : { [K in keyof R]?: Reference };

export interface OpOptions {
  /** Prefixes the name of each result in failure messages. */
  what?: string;
  /** Check that the live bytes of every memory category are back where they started (default true). */
  memory?: boolean;
}

/**
 * Uploads `operands`, runs `op` on them and returns what it produced, read back. Every tensor made
 * here (operands uploaded and results) is disposed before this returns or throws; tensors the
 * test passed in are left alone, even when the op returns one of them.
 */
export async function runOp<R extends OpResult<R>>(device: Device, op: (...operands: Tensor[]) => R, operands: readonly Operand[] = [], options: OpOptions = {}): Promise<Outputs<R>> {
  return (await collect(device, op, operands, options)).outputs;
}

/**
 * runOp, then holds each result named in `expected` to its reference with `check` (or the
 * check `within` gave it): elementwise rtol 1e-4, atol 1e-5 unless told otherwise. Returns the
 * results for any further checks.
 */
export async function expectOp<R extends OpResult<R>>(
  device: Device,
  op: (...operands: Tensor[]) => R,
  operands: readonly Operand[],
  expected: Expected<R>,
  check: Check = {},
  options: OpOptions = {},
): Promise<Outputs<R>> {
  const { outputs, single } = await collect(device, op, operands, options);
  const compare = (output: Output | undefined, reference: Reference, what: string) => {
    if (!output) return expect.fail(`${what}: the op returned no such result`);
    if (reference instanceof Within) expectMatches(output.values, reference.values, reference.check, what);
    else expectMatches(output.values, reference, check, what);
  };
  if (single) {
    compare(outputs as Output, expected as Reference, options.what ?? 'values');
  } else {
    const prefix = options.what ? `${options.what}: ` : '';
    for (const [name, reference] of Object.entries(expected as Record<string, Reference | undefined>)) {
      if (reference !== undefined) compare((outputs as Record<string, Output>)[name], reference, `${prefix}${name}`);
    }
  }
  return outputs;
}

async function collect<R extends OpResult<R>>(device: Device, op: (...operands: Tensor[]) => R, operands: readonly Operand[], options: OpOptions) {
  const before = device.memory().live;
  const given = new Set(operands.filter((o): o is Tensor => o instanceof Tensor));
  const made: Tensor[] = [];
  let result: R | undefined;
  let outputs: Outputs<R>;
  try {
    const tensors = operands.map((o) => {
      if (o === undefined || o instanceof Tensor) return o;
      const t = device.tensor(o[0], o[1], o[2]);
      made.push(t);
      return t;
    });
    result = op(...(tensors as Tensor[]));
    const read = async (t: Tensor): Promise<Output> => ({ values: await t.read(), shape: t.shape, dtype: t.dtype });
    if (result instanceof Tensor) {
      outputs = (await read(result)) as Outputs<R>;
    } else {
      const entries: Array<[string, Output]> = [];
      for (const [name, t] of Object.entries(result)) if (t instanceof Tensor) entries.push([name, await read(t)]);
      outputs = (Array.isArray(result) ? entries.map(([, o]) => o) : Object.fromEntries(entries)) as Outputs<R>;
    }
  } finally {
    const results = result === undefined ? [] : result instanceof Tensor ? [result] : Object.values(result);
    for (const t of [...made, ...results]) if (t instanceof Tensor && !given.has(t)) t.dispose();
  }
  if (options.memory !== false) expect(device.memory().live, `${options.what ?? 'op'}: live bytes after disposing`).toEqual(before);
  return { outputs, single: result instanceof Tensor };
}

/** Disposes tensors a test made by hand (for the cases the helpers above do not fit). */
export function disposeAll(...tensors: Tensor[]): void {
  for (const t of tensors) t.dispose();
}
