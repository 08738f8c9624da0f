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
