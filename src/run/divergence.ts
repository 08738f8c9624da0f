/**
 * The divergence guard: a run whose logged loss leaves the range it started in is stopped, so
 * that a run left alone for an hour does not "finish" on numbers near 1e33 with exit 0.
 */
import type { UnitMetrics } from '../sll/trainer.js';

/**
 * The divergence guard's default. Every logged loss but Forward-Forward's is a cross-entropy over
 * the K classes (the classifier's, and each head's), which is ln K for uniform guesses. A unit
 * whose logged loss exceeds 10 times the lesser of ln K and its value in the run's first logged
 * window stops the run. In every run recorded under bench/results (the README's recipes, cosine
 * warm-up and the ViT's high rates included), no unit's logged loss ever rose above its first
 * window (the largest ratio is 0.96), while a diverging run's loss grows by orders of magnitude
 * (Adam at lr 1e6: 1e14 after two steps, so the first window itself may already be diverged:
 * hence ln K).
 */
export const DIVERGENCE_FACTOR_DEFAULT = 10;

/** A unit's logged loss left the range it started in: the run is stopped. */
export class DivergenceError extends Error {
  override name = 'DivergenceError';
}

/** What the guard reads of a unit's logged metrics (a resumed run's metrics.jsonl may predate the other fields). */
type LoggedLoss = Pick<UnitMetrics, 'name' | 'likelihood'>;

/**
 * Checks each logged window: a unit whose likelihood is non-finite, or more than `factor` times
 * the lesser of ln K and its value in the run's first logged window, stops the run. `first` is
 * that window when resuming (from metrics.jsonl); otherwise the first window checked becomes it.
 */
export function divergenceGuard(
  factor: number,
  classes: number,
  first: ReadonlyArray<LoggedLoss> | undefined,
  /** False when the logged losses are not cross-entropies (Forward-Forward's goodness losses, which start near the block's width): the bound is then the first window's alone. */
  crossEntropy = true,
): (units: ReadonlyArray<LoggedLoss>, step: number) => void {
  let reference = first;
  const chance = Math.log(classes);
  return (units, step) => {
    if (factor === 0) return;
    for (const [i, unit] of units.entries()) {
      const loss = unit.likelihood;
      const start = reference?.[i]?.likelihood;
      const known = start !== undefined && Number.isFinite(start);
      // Without a cross-entropy's ln K, a finite first window is its own bound.
      if (!crossEntropy && !known && Number.isFinite(loss)) continue;
      const base = !known ? chance : crossEntropy ? Math.min(start, chance) : start;
      if (!Number.isFinite(loss) || loss > factor * base) {
        throw new DivergenceError(
          `the run diverged: ${unit.name}'s loss is ${Number.isFinite(loss) ? loss.toPrecision(4) : String(loss)} at step ${step}, over ${factor} x ${base.toPrecision(4)} ` +
            `(${crossEntropy ? `the lesser of ln ${classes} and its first logged value` : 'its first logged value'}; --divergence-factor changes the bound, 0 turns it off)`,
        );
      }
    }
    reference ??= units;
  };
}
