/**
 * What one training step costs in memory, measured as the memory-against-depth claim is: one
 * step first (optimizer state and pool buckets warm up), then the peak of a second step beyond
 * what persisted before it, from the buffer pool's counters. Activations and scratch are counted
 * together: what a step makes and lets go of. Used by the benchmark, the tests and the lab.
 */
import type { Tensor } from '../gpu/tensor.js';
import type { Trainer } from './trainer.js';

export interface StepMemory {
  /** Peak activation and scratch bytes of the step, beyond those live before it. */
  activationBytes: number;
  /** The step's multiply-add FLOPs, from the device's counter. */
  flops: number;
  /** Wall time of the measured step, encode and GPU, in milliseconds. */
  ms: number;
}

export async function measureStepMemory(trainer: Trainer, images: Tensor, labels: Tensor): Promise<StepMemory> {
  const { device } = trainer;
  trainer.trainStep(images, labels);
  await device.flush();
  device.pool.resetPeaks();
  const base = device.memory().live;
  const flopsBefore = device.flopCount;
  const started = performance.now();
  trainer.trainStep(images, labels);
  const flops = device.flopCount - flopsBefore;
  await device.flush();
  const ms = performance.now() - started;
  const peak = device.memory().peak;
  return { activationBytes: peak.activation - base.activation + (peak.scratch - base.scratch), flops, ms };
}
