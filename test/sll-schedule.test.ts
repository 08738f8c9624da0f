import { describe, expect, it } from 'vitest';
import { scheduleOf } from '../src/sll/runPlan.js';
import { learningRate, type Schedule } from '../src/sll/schedule.js';

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

  it('step: the base rate until the first milestone, then gamma times more from each milestone on (MultiStepLR)', () => {
    const schedule: Schedule = { kind: 'step', milestones: [100, 150, 175], gamma: 0.25 };
    const at = (step: number) => learningRate(5e-4, schedule, step);
    expect([at(0), at(99)]).toEqual([5e-4, 5e-4]);
    expect([at(100), at(149)]).toEqual([5e-4 * 0.25, 5e-4 * 0.25]);
    expect(at(150)).toBeCloseTo(5e-4 * 0.25 ** 2, 15);
    expect(at(10_000)).toBeCloseTo(5e-4 * 0.25 ** 3, 15);
  });

  it("the run plan turns a spec's milestone epochs into steps", () => {
    expect(scheduleOf({ kind: 'step', milestones: [2, 5], gamma: 0.5 }, 40, 8)).toEqual({ kind: 'step', milestones: [80, 200], gamma: 0.5 });
  });
});
