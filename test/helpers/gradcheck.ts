/**
 * Checks a layer's forward and backward rules: the GPU forward against a float64 reference
 * forward, and the GPU gradients (input and every parameter) against central finite
 * differences of that reference, on the scalar loss L = sum(w * y) for a fixed random w.
 */
import { expect } from 'vitest';
import type { Device } from '../../src/gpu/device.js';
import type { Layer } from '../../src/nn/layer.js';
import { dot, expectMatches, finiteDifferenceGradient, lossWeights, uniform, type Check } from './numeric.js';

export type ReferenceForward = (x: Float64Array, params: Float64Array[]) => Float64Array;

export interface GradcheckOptions {
  seed?: number;
  /** Range of the random input. */
  inputRange?: [number, number];
  /** Elementwise tolerance for forward and gradients (default rtol 1e-4, atol 1e-5). */
  rtol?: number;
  atol?: number;
  /** Use the normalized squared error (<= this) instead, for long reductions. */
  normalizedError?: number;
  /** Check dL/dx too (default true). */
  inputGradient?: boolean;
  /** A custom input (e.g. away from relu's kink). */
  input?: Float32Array;
}

export async function checkLayer(device: Device, layer: Layer, inputShape: number[], reference: ReferenceForward, options: GradcheckOptions = {}): Promise<void> {
  const { seed = 1, inputRange = [-1, 1], rtol = 1e-4, atol = 1e-5, normalizedError, inputGradient = true } = options;
  const n = inputShape.reduce((a, b) => a * b, 1);
  const xData = options.input ?? uniform(n, seed, inputRange[0], inputRange[1]);
  const params = await Promise.all(layer.parameters().map(async (p) => Float64Array.from(await p.value.read())));
  const x64 = Float64Array.from(xData);
  const expectedY = reference(x64, params);
  const w = lossWeights(expectedY.length, seed + 1);

  const x = device.tensor(xData, inputShape);
  const y = layer.forward(x, { training: true });
  expect(y.shape).toEqual(layer.outputShape(inputShape));
  const check: Check = normalizedError !== undefined ? { normalizedError } : { rtol, atol };
  const compare = (actual: ArrayLike<number>, expected: ArrayLike<number>, what: string) => expectMatches(actual, expected, check, what);
  compare(await y.read(), expectedY, `${layer.name}: forward`);

  const dy = device.tensor(Float32Array.from(w), y.shape);
  const grads = layer.backward(dy, { inputGradient });
  try {
    if (inputGradient) {
      expect(grads.input, `${layer.name}: input gradient`).toBeDefined();
      const numeric = finiteDifferenceGradient((p) => dot(reference(p, params), w), x64);
      compare(await grads.input!.read(), numeric, `${layer.name}: dL/dx vs finite differences`);
    } else {
      expect(grads.input).toBeUndefined();
    }
    expect(grads.params.length).toBe(params.length);
    for (let i = 0; i < params.length; i++) {
      const numeric = finiteDifferenceGradient((p) => {
        const replaced: Float64Array[] = params.slice();
        replaced[i] = p as Float64Array;
        return dot(reference(x64, replaced), w);
      }, params[i]!);
      compare(await grads.params[i]!.read(), numeric, `${layer.name}: dL/d${layer.parameters()[i]!.name} vs finite differences`);
    }
  } finally {
    grads.input?.dispose();
    for (const g of grads.params) g.dispose();
    for (const t of [x, y, dy]) t.dispose();
  }
}
