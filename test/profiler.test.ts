/**
 * Kernel profiles from GPU timestamps: every dispatch is counted under its kernel, the time
 * goes where the work is, results are unchanged, and a device without timestamps says so.
 */
import { describe, expect, it } from 'vitest';
import { LimitError, openNodeDevice, ops, PROFILE_DISPATCHES_PER_SUBMIT } from '../src/node.js';
import { testDevice } from './helpers/device.js';

const device = await testDevice();

describe.skipIf(!device.hasTimestamps)('profiler', () => {
  it('times each kernel, counts its dispatches, and leaves the results as they are', async () => {
    const n = 512;
    const a = device.tensor(Float32Array.from({ length: n * n }, (_, i) => Math.sin(i)), [n, n]);
    const small = device.tensor([1, 2, 3]);
    const step = device.tensor([1, 2, 3]);
    const expected = await ops.matmul(a, a).read();
    // Both kernels run once before the profile: a software adapter may compile a pipeline at its
    // first dispatch, inside the timestamps (once, five first adds took 147 ms against the
    // matmul's 56).
    ops.addInPlace(small, step);
    await small.read();
    device.startProfiling();
    const product = ops.matmul(a, a);
    for (let i = 0; i < 5; i++) ops.addInPlace(small, step);
    const profile = await device.stopProfiling();
    console.log(profile.map((k) => `${k.kernel}: ${k.dispatches} dispatches, ${k.ms.toFixed(3)} ms`).join('; '));
    const matmulEntry = profile.find((k) => k.kernel.startsWith('matmul:'));
    const addEntry = profile.find((k) => k.kernel.startsWith('elementwise:'));
    expect(matmulEntry?.dispatches).toBe(1);
    expect(addEntry?.dispatches).toBe(5);
    // 268 MFLOP against five 3-element adds (each still pays a dispatch's fixed cost: about
    // 0.5 ms on lavapipe).
    expect(matmulEntry!.ms).toBeGreaterThan(addEntry!.ms);
    expect(profile[0]).toBe(matmulEntry);
    expect(await product.read()).toEqual(expected);
    expect(Array.from(await small.read())).toEqual([7, 14, 21]);
    for (const t of [a, small, step, product]) t.dispose();
  });

  it('submits early when more dispatches come than one submit holds timestamps for, each with its own uniforms', async () => {
    const t = device.zeros([4]);
    const one = device.tensor([1, 1, 1, 1]);
    const count = 21;
    const flag = device.zeros([1], 'u32');
    device.startProfiling({ dispatchesPerSubmit: 8 });
    // Small uniform slots first, then larger ones with a different alpha (a uniform) per
    // dispatch: a dispatch that read its uniforms from a slot a later submit had rewritten would
    // change the sum.
    for (let i = 0; i < 8; i++) ops.checkFinite(one, flag);
    for (let i = 1; i <= count; i++) ops.addInPlace(t, one, i);
    const profile = await device.stopProfiling();
    expect(profile.reduce((s, k) => s + k.dispatches, 0)).toBe(8 + count);
    const sum = (count * (count + 1)) / 2;
    expect(Array.from(await t.read())).toEqual([sum, sum, sum, sum]);
    for (const u of [t, one, flag]) u.dispose();
  });

  it('holds at most PROFILE_DISPATCHES_PER_SUBMIT dispatches a submit', () => {
    expect(() => device.startProfiling({ dispatchesPerSubmit: PROFILE_DISPATCHES_PER_SUBMIT + 1 })).toThrow(/dispatchesPerSubmit must be an integer in \[1, 2048\]/);
    expect(() => device.startProfiling({ dispatchesPerSubmit: 0 })).toThrow(RangeError);
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
      await bare.close();
    }
  });
});
