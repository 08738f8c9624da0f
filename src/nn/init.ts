/**
 * Parameter initialization as PyTorch's defaults, from the counter RNG: the same seed gives the
 * same initial weights on every adapter.
 *
 * PyTorch's Linear and Conv2d use kaiming_uniform_(a = sqrt(5)) for weights, which is
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for biases.
 */
import type { Device } from '../gpu/device.js';
import type { Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { RandomStream, type Seed } from '../ops/random.js';
import { affine } from '../ops/elementwise.js';

/** U(-1/sqrt(fanIn), 1/sqrt(fanIn)): PyTorch's default for Linear/Conv2d weights and biases. */
export function uniformFanIn(device: Device, stream: RandomStream, shape: Shape, fanIn: number): Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return stream.uniform(shape, { low: -bound, high: bound, category: 'parameter' });
}

/** A tensor of one value, as a parameter (layer-norm gains, ones). */
export function constantParameter(device: Device, shape: Shape, value: number): Tensor {
  if (value === 0) return device.zeros(shape, 'f32', 'parameter');
  const zeros = device.zeros(shape, 'f32', 'scratch');
  const out = affine(zeros, 0, value, 'parameter');
  zeros.dispose();
  return out;
}

/** The stream a layer draws its initial parameters from. */
export function initStream(device: Device, seed: Seed): RandomStream {
  return new RandomStream(device, seed);
}
