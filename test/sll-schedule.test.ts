import { describe, expect, it } from 'vitest';
import { learningRate } from '../src/sll/schedule.js';

describe('learning-rate schedules', () => {
  it('constant', () => {
    expect(learningRate(0.1, { kind: 'constant' }, 0)).toBe(0.1);
    expect(learningRate(0.1, { kind: 'constant' }, 10_000)).toBe(0.1);
  });

  it('cosine: linear warm-up to the base rate, then a half cosine down to the floor', () => {
    const schedule = { kind: 'cosine', warmupSteps: 10, totalSteps: 110, floor: 0.1 } as const;
    expect(learningRate(1, schedule, 0)).toBeCloseTo(0.1, 12);
    expect(learningRate(1, schedule, 9)).toBeCloseTo(1, 12);
    expect(learningRate(1, schedule, 10)).toBeCloseTo(1, 12);
    expect(learningRate(1, schedule, 60)).toBeCloseTo(0.1 + 0.9 * 0.5, 12);
    expect(learningRate(1, schedule, 110)).toBeCloseTo(0.1, 12);
    expect(learningRate(1, schedule, 500)).toBeCloseTo(0.1, 12);
    let previous = Infinity;
    for (let step = 10; step <= 110; step++) {
      const lr = learningRate(1, schedule, step);
      expect(lr).toBeLessThanOrEqual(previous);
      previous = lr;
    }
  });
});
