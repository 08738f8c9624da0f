/**
 * Learning-rate schedules: constant; cosine decay after a linear warm-up; or step decay, the rate
 * multiplied by gamma at each milestone (PyTorch's MultiStepLR, PredSim's authors' schedule).
 */

export type Schedule =
  | { kind: 'constant' }
  | { kind: 'cosine'; warmupSteps: number; totalSteps: number; /** Fraction of the base rate at the end. Default 0. */ floor?: number }
  | { kind: 'step'; /** Steps, ascending, from which the rate is multiplied by gamma once more. */ milestones: number[]; gamma: number };

/** The learning rate at (0-based) step `step`. */
export function learningRate(base: number, schedule: Schedule, step: number): number {
  if (schedule.kind === 'constant') return base;
  if (schedule.kind === 'step') return base * schedule.gamma ** schedule.milestones.filter((m) => m <= step).length;
  const { warmupSteps, totalSteps, floor = 0 } = schedule;
  if (step < warmupSteps) return (base * (step + 1)) / warmupSteps;
  const span = Math.max(totalSteps - warmupSteps, 1);
  const progress = Math.min((step - warmupSteps) / span, 1);
  return base * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
