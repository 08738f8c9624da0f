/**
 * What a layer keeps from its forward for its backward rule, in one place: saved in a
 * training-mode forward, read by backward, and let go of by backward or `release` (evaluation,
 * an aborted step). Saved tensors outlive any `device.scope` they were made in.
 *
 * `save` takes ownership of what it is given: a tensor the forward made is handed over as it
 * is, and the layer's input, which the caller keeps owning, as `x.handle()`.
 */
import type { Tensor } from '../gpu/tensor.js';

export class SavedTensors<T extends readonly Tensor[]> {
  private kept: T | undefined;

  /** `owner` names the layer in the error of a backward without a forward. */
  constructor(private readonly owner: () => string) {}

  /** Keeps `tensors` for the backward rule, after letting go of anything kept before. */
  save(...tensors: T): void {
    this.release();
    for (const t of tensors) t.device.keep(t);
    this.kept = tensors;
  }

  /** What the forward saved; a backward without a training-mode forward is an error. */
  get(): T {
    if (!this.kept) throw new Error(`${this.owner()}: backward without a training-mode forward`);
    return this.kept;
  }

  /**
   * Runs a backward rule on what the forward saved, and lets go of it afterwards, also when the
   * rule throws: every backward reads the saved tensors exactly once.
   */
  consume<R>(rule: (saved: T) => R): R {
    const kept = this.get();
    try {
      return rule(kept);
    } finally {
      this.release();
    }
  }

  get saved(): boolean {
    return this.kept !== undefined;
  }

  /** Lets go of what was saved (nothing, if nothing was). */
  release(): void {
    const kept = this.kept;
    this.kept = undefined;
    for (const t of kept ?? []) t.dispose();
  }
}

/**
 * For a layer whose backward rule needs only its input's shape (average pooling, flatten, token
 * pooling): the shape of the last training-mode forward, read once by backward.
 */
export class SavedShape {
  private shape: number[] | undefined;

  constructor(private readonly owner: () => string) {}

  /** Remembers the input's shape after a training-mode forward, forgets it otherwise. */
  save(shape: readonly number[], training: boolean): void {
    this.shape = training ? [...shape] : undefined;
  }

  /** The shape saved; a backward without a training-mode forward is an error. */
  get(): number[] {
    if (!this.shape) throw new Error(`${this.owner()}: backward without a training-mode forward`);
    return this.shape;
  }

  /** Runs a backward rule on the saved shape and forgets it (also when the rule throws). */
  consume<R>(rule: (shape: number[]) => R): R {
    const shape = this.get();
    try {
      return rule(shape);
    } finally {
      this.shape = undefined;
    }
  }

  release(): void {
    this.shape = undefined;
  }
}
