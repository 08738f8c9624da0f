/**
 * The divergence guard (src/run/divergence.ts): what trips it, and that none of the runs recorded
 * under bench/results (the README's recipes: cosine warm-up, the ViT at its high tuned rates,
 * the ablations) would have tripped it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIVERGENCE_FACTOR_DEFAULT, DivergenceError, divergenceGuard } from '../src/run/divergence.js';

const window = (...losses: number[]) => losses.map((likelihood, i) => ({ name: i === losses.length - 1 ? 'classifier' : `block ${i + 1}`, likelihood }));

describe('the divergence guard', () => {
  it('lets a falling loss through, and a loss that rises less than the factor', () => {
    const guard = divergenceGuard(10, 10, undefined);
    guard(window(2.2, 2.3), 50);
    guard(window(1.1, 0.9), 100);
    guard(window(21.9, 22.9), 150);
  });

  it('stops a loss over the factor times its first window, naming the unit, the step and the bound', () => {
    const guard = divergenceGuard(10, 10, undefined);
    guard(window(2.0, 1.5), 50);
    expect(() => guard(window(2.0, 15.5), 100)).toThrow(DivergenceError);
    expect(() => guard(window(2.0, 15.5), 100)).toThrow("classifier's loss is 15.50 at step 100, over 10 x 1.500");
  });

  it('stops a run whose first window is already diverged, against ln K', () => {
    const guard = divergenceGuard(10, 10, undefined);
    expect(() => guard(window(5.4e7, 2.5e14), 2)).toThrow(/block 1's loss is 5\.400e\+7 at step 2, over 10 x 2\.303 \(the lesser of ln 10/);
  });

  it('stops non-finite losses at any factor, and nothing when the factor is 0', () => {
    expect(() => divergenceGuard(1e9, 10, undefined)(window(Number.NaN), 4)).toThrow("classifier's loss is NaN at step 4");
    expect(() => divergenceGuard(1e9, 10, undefined)(window(Number.POSITIVE_INFINITY), 4)).toThrow('is Infinity');
    divergenceGuard(0, 10, undefined)(window(Number.NaN), 4);
  });

  it("bounds losses that are not cross-entropies (Forward-Forward's, near the block's width at first) by their first window alone", () => {
    const guard = divergenceGuard(10, 10, undefined, false);
    guard(window(850, 640), 50);
    guard(window(120, 300), 100);
    expect(() => guard(window(9000, 200), 150)).toThrow(/block 1's loss is 9000 at step 150, over 10 x 850\.0 \(its first logged value;/);
    expect(() => divergenceGuard(10, 10, undefined, false)(window(Number.NaN), 4)).toThrow("classifier's loss is NaN at step 4");
  });

  it('keeps the first window of a resumed run as its reference', () => {
    const guard = divergenceGuard(10, 10, window(0.5));
    expect(() => guard(window(5.5), 900)).toThrow(/over 10 x 0\.5000/);
  });

  it(`never trips on a run recorded under bench/results (factor ${DIVERGENCE_FACTOR_DEFAULT})`, () => {
    const root = new URL('../bench/results/', import.meta.url).pathname;
    const runs: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (name === 'metrics.jsonl') runs.push(dir);
      }
    };
    walk(root);
    expect(runs.length).toBeGreaterThan(50);
    for (const run of runs) {
      const classes = (JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as { data: { classes: number } }).data.classes;
      const guard = divergenceGuard(DIVERGENCE_FACTOR_DEFAULT, classes, undefined);
      const lines = readFileSync(join(run, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"kind":"step"'));
      expect(lines.length, run).toBeGreaterThan(0);
      for (const line of lines) {
        const step = JSON.parse(line) as { step: number; units: Array<{ name: string; likelihood: number }> };
        expect(() => guard(step.units, step.step), run).not.toThrow();
      }
    }
  });
});
