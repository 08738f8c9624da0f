/**
 * Adaptive average pooling (DGL's auxiliary nets pool a conv stage's maps to 2 x 2 through it):
 * its windows as PyTorch's F.adaptive_avg_pool2d draws them, and the layer held, stage after
 * stage, to the float64 reference that averages each window directly (src/reference/pool2d.ts,
 * never the layer's matrix), with its derivative rule against central differences.
 */
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.js';
import { AdaptiveAvgPool2d, adaptivePoolMatrix } from '../src/nn/adaptivePool.js';
import { checkLayer } from './helpers/gradcheck.js';
import { adaptiveAvgPool2d } from '../src/reference/pool2d.js';
import { testDevice } from './helpers/device.js';

const device = await testDevice();

describe('adaptive average pooling', () => {
  it("draws PyTorch's windows: 7 cells to 2 overlap at cell 3, 1 cell to 2 repeats it", () => {
    // Cells [0, 4) and [3, 7): floor(i n / m) to ceil((i + 1) n / m).
    expect(Array.from(adaptivePoolMatrix(7, 2))).toEqual([...[0, 1, 2, 3].map(() => 0.25), 0, 0, 0, 0, 0, 0, ...[3, 4, 5, 6].map(() => 0.25)]);
    expect(Array.from(adaptivePoolMatrix(1, 2))).toEqual([1, 1]);
    expect(Array.from(adaptivePoolMatrix(4, 2))).toEqual([0.5, 0.5, 0, 0, 0, 0, 0.5, 0.5]);
  });

  it.each([
    // DGL's two stages on the CNN's maps: 14 -> 4 -> 2 (overlapping windows) and 7 -> 2 -> 2.
    ['a 14x14 stage to 4x4 then 2x2', [2, 3, 14, 14], [[4, 4], [2, 2]]],
    ['a 7x7 stage to 2x2 twice', [3, 2, 7, 7], [[2, 2], [2, 2]]],
    ['a non-square 5x3 map to 2x2', [2, 2, 5, 3], [[2, 2]]],
    ['a 1x1 map up to 2x2', [2, 3, 1, 1], [[2, 2]]],
    ['a 6x5 map to 3x2 then 2x1', [1, 4, 6, 5], [[3, 2], [2, 1]]],
  ] as const)('%s: forward against windows in float64, dL/dx against central differences', async (_, shape, sizes) => {
    const layer = new AdaptiveAvgPool2d(device, [shape[2], shape[3]], sizes);
    const reference = (x: Float64Array) => {
      let current = x;
      let at = [...shape];
      for (const size of sizes) {
        current = adaptiveAvgPool2d(current, at, size);
        at = [at[0]!, at[1]!, ...size];
      }
      return current;
    };
    await checkLayer(device, layer, [...shape], reference);
    layer.dispose();
  });

  it('refuses maps of another size, and sizes that are not positive integers, naming what is wrong', () => {
    const layer = new AdaptiveAvgPool2d(device, [7, 7], [[2, 2]]);
    const x = device.zeros([2, 3, 6, 7]);
    expect(() => layer.forward(x)).toThrow(ShapeError);
    expect(() => layer.forward(x)).toThrow(/^adaptive avgpool 7x7->2x2: input \[2, 3, 6, 7\] must be \[N, C, 7, 7\]/);
    expect(() => new AdaptiveAvgPool2d(device, [0, 7], [[2, 2]])).toThrow(/input size \[0, 7\] must be positive integers/);
    expect(() => new AdaptiveAvgPool2d(device, [7, 7], [])).toThrow(/output sizes \[\] must be one or more \[height, width\] pairs/);
    expect(() => new AdaptiveAvgPool2d(device, [7, 7], [[2, 1.5]])).toThrow(/output sizes \[\[2,1.5\]\]/);
    x.dispose();
    layer.dispose();
  });
});
