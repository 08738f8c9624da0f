/**
 * The shape-only model check (src/sll/modelShape.ts, modelShapeProblem in spec.ts) against the
 * constructors themselves: for each image shape and model, the check refuses exactly what
 * building the model on a device refuses, and names the spec field at fault.
 */
import { describe, expect, it } from 'vitest';
import { buildModel, cnnMaxStages, defaultModelSpec, modelShapeProblem, vitPatches, type ModelSpec } from '../src/sll/index.js';
import { testDevice } from './helpers/device.js';

const device = await testDevice();

describe('the shape rules', () => {
  it('counts the pooling stages that halve both sides exactly', () => {
    expect(cnnMaxStages([1, 28, 28])).toBe(2);
    expect(cnnMaxStages([3, 32, 32])).toBe(5);
    expect(cnnMaxStages([3, 32, 12])).toBe(2);
    expect(cnnMaxStages([1, 7, 7])).toBe(0);
  });

  it('lists the patches that tile both sides', () => {
    expect(vitPatches([1, 28, 28])).toEqual([1, 2, 4, 7, 14, 28]);
    expect(vitPatches([3, 12, 18])).toEqual([1, 2, 3, 6]);
  });
});

describe('modelShapeProblem agrees with building the model', () => {
  const small = {
    cnn: (stages: number): ModelSpec => ({ ...(defaultModelSpec('cnn') as Extract<ModelSpec, { kind: 'cnn' }>), channels: Array(stages).fill(2), hidden: 4 }),
    vit: (patch: number): ModelSpec => ({ ...(defaultModelSpec('vit') as Extract<ModelSpec, { kind: 'vit' }>), patch, dim: 8, heads: 2, depth: 1 }),
  };
  const cases: Array<[string, ModelSpec, [number, number, number]]> = [
    ['CNN, 2 stages on 28x28', small.cnn(2), [1, 28, 28]],
    ['CNN, 3 stages on 28x28', small.cnn(3), [1, 28, 28]],
    ['CNN, 3 stages on 16x24', small.cnn(3), [1, 16, 24]],
    ['CNN, 4 stages on 16x24', small.cnn(4), [1, 16, 24]],
    ['ViT, patch 7 on 28x28', small.vit(7), [1, 28, 28]],
    ['ViT, patch 5 on 28x28', small.vit(5), [1, 28, 28]],
    ['ViT, patch 4 on 12x20', small.vit(4), [1, 12, 20]],
    ['ViT, patch 6 on 12x20', small.vit(6), [1, 12, 20]],
  ];
  it.each(cases)('%s', (_, spec, inputShape) => {
    const problem = modelShapeProblem(spec, inputShape);
    let built: string | undefined;
    try {
      buildModel(device, spec, { inputShape, classes: 3 }, 0).dispose();
    } catch (error) {
      built = (error as Error).message;
    }
    if (problem === undefined) {
      expect(built).toBeUndefined();
    } else {
      expect(built).toContain(problem.why);
      expect(problem.path).toBe(spec.kind === 'cnn' ? 'model.channels' : 'model.patch');
    }
  });

  it('refuses at least one case of each model, so the agreement above is not vacuous', () => {
    expect(cases.filter(([, spec, shape]) => modelShapeProblem(spec, shape) !== undefined).map(([, spec]) => spec.kind).sort()).toEqual(['cnn', 'cnn', 'vit', 'vit']);
  });
});
