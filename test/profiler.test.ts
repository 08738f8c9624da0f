/**
 * Kernel profiles from GPU timestamps: every dispatch is counted under its kernel, the time
 * goes where the work is, results are unchanged, and a device without timestamps says so.
 */
import { describe, expect, it } from 'vitest';
import { LimitError, openNodeDevice, ops, PROFILE_DISPATCHES_PER_SUBMIT } from '../src/node.js';
import { testDevice } from './helpers/device.js';

const device = await testDevice();

describe('profiler', () => {
  it('times each kernel, counts its dispatches, and leaves the results as they are', async () => {
    const n = 256;
    const a = device.tensor(Float32Array.from({ length: n * n }, (_, i) => Math.sin(i)), [n, n]);
    const small = device.tensor([1, 2, 3]);
    const step = device.tensor([1, 2, 3]);
    const expected = await ops.matmul(a, a).read();
    device.startProfiling();
    const product = ops.matmul(a, a);
    for (let i = 0; i < 5; i++) ops.addInPlace(small, step);
    const profile = await device.stopProfiling();
    console.log(profile.map((k) => `${k.kernel}: ${k.dispatches} dispatches, ${k.ms.toFixed(3)} ms`).join('; '));
    const matmulEntry = profile.find((k) => k.kernel.startsWith('matmul:'));
    const addEntry = profile.find((k) => k.kernel.startsWith('elementwise:'));
    expect(matmulEntry?.dispatches).toBe(1);
    expect(addEntry?.dispatches).toBe(5);
    // 33 MFLOP against five 3-element adds.
    expect(matmulEntry!.ms).toBeGreaterThan(addEntry!.ms);
    expect(profile[0]).toBe(matmulEntry);
    expect(await product.read()).toEqual(expected);
    expect(Array.from(await small.read())).toEqual([6, 12, 18]);
    for (const t of [a, small, step, product]) t.dispose();
  });

  it('submits early when a step has more dispatches than one submit holds timestamps for', async () => {
    const t = device.zeros([4]);
    const one = device.tensor([1, 1, 1, 1]);
    const count = PROFILE_DISPATCHES_PER_SUBMIT + 5;
    device.startProfiling();
    for (let i = 0; i < count; i++) ops.addInPlace(t, one);
    const profile = await device.stopProfiling();
    expect(profile.reduce((s, k) => s + k.dispatches, 0)).toBe(count);
    expect(Array.from(await t.read())).toEqual([count, count, count, count]);
    for (const u of [t, one]) u.dispose();
  });

  it('refuses to stop a profile it never started, or to start a second one', async () => {
    await expect(device.stopProfiling()).rejects.toThrow(/no profile is running/);
    device.startProfiling();
    expect(() => device.startProfiling()).toThrow(/already running/);
    expect(await device.stopProfiling()).toEqual([]);
  });

  it("names the missing 'timestamp-query' feature on a device without it", async () => {
    const bare = await openNodeDevice({ disableFeatures: ['timestamp-query'] });
    try {
      expect(() => bare.startProfiling()).toThrow(LimitError);
      expect(() => bare.startProfiling()).toThrow(/timestamp-query/);
    } finally {
      bare.destroy();
    }
  });
});
