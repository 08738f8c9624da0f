/**
 * Tensor lifetimes on a device: the open scopes (`device.scope(fn)`), each holding the tensors
 * created while it was innermost, and the check that a tensor handed to the device is alive and
 * its own. Scopes replace hand-written disposes of temporaries: a scope disposes what its
 * function made and did not return, passes what it returned to the enclosing scope, and lets
 * `keep` take a tensor out of all of them (docs/architecture.md, "Tensor lifetimes"). Every new
 * Tensor reports here, so tracking costs one Set insertion per tensor and nothing per dispatch.
 */
import { describeValue } from './dtype.js';
import { ShapeError } from './errors.js';
import { Tensor, type TensorHost } from './tensor.js';

export class Scopes {
  /** The open scopes, innermost last: the tensors created in each. */
  private readonly open: Array<Set<Tensor>> = [];

  /** Runs `fn` in a new scope (the semantics of Device.scope, which documents them). */
  run<T>(fn: () => T): T {
    const created = new Set<Tensor>();
    this.open.push(created);
    let result: T;
    try {
      result = fn();
      if (result instanceof Promise) throw new TypeError('device.scope: fn returned a Promise; scopes are for synchronous code (await outside them)');
    } catch (error) {
      this.open.pop();
      for (const t of created) t.dispose();
      throw error;
    }
    this.open.pop();
    const returned = tensorsIn(result);
    const outer = this.open.at(-1);
    for (const t of created) {
      if (!returned.has(t)) t.dispose();
      else outer?.add(t);
    }
    return result;
  }

  /** Takes `t` out of every open scope. */
  keep<T extends Tensor>(t: T): T {
    for (const scope of this.open) scope.delete(t);
    return t;
  }

  /** A new tensor belongs to the innermost open scope, if any. */
  track(t: Tensor): void {
    this.open.at(-1)?.add(t);
  }
}

/** Throws unless `t` is a live tensor of `owner`. */
export function assertOwnTensor(t: Tensor, owner: TensorHost, op: string): void {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: expected a Tensor, got ${describeValue(t)}`);
  t.assertAlive(op);
  if (t.device !== owner) {
    throw new ShapeError(`${op}: tensor ${t.describe()} belongs to another Device; read() it there and upload it to this one with tensor()`);
  }
}

/** The tensors in a scope's result: the result itself, or inside arrays and plain objects (three levels). */
function tensorsIn(value: unknown, depth = 0, found = new Set<Tensor>()): Set<Tensor> {
  if (value instanceof Tensor) found.add(value);
  else if (depth < 3 && Array.isArray(value)) for (const v of value) tensorsIn(v, depth + 1, found);
  else if (depth < 3 && typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) tensorsIn(v, depth + 1, found);
  }
  return found;
}
