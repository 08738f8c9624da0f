import { describe, expect, it } from 'vitest';
import { bucketCapacity, DisposedError, ops } from '../src/node.js';
import { testDevice } from './helpers/device.js';

const device = await testDevice();

describe('buffer pool', () => {
  it('buckets sizes in quarter steps between powers of two', () => {
    expect(bucketCapacity(1)).toBe(256);
    expect(bucketCapacity(1024)).toBe(1024);
    expect(bucketCapacity(1025)).toBe(1280);
    expect(bucketCapacity(1900)).toBe(2048);
    for (const n of [300, 5000, 123457, 10_000_000]) {
      const cap = bucketCapacity(n);
      expect(cap).toBeGreaterThanOrEqual(n);
      expect(cap).toBeLessThanOrEqual(n * 1.25 + 1);
    }
  });

  it('returns live bytes to where they started after 1,000 ops with disposal', async () => {
    await device.flush();
    const before = device.memory();
    const x = device.tensor(new Float32Array(300).fill(0.5), [3, 100]);
    let acc = device.zeros([3, 100]);
    for (let i = 0; i < 1000; i++) {
      const y = ops.relu(x);
      const z = ops.add(acc, y);
      y.dispose();
      acc.dispose();
      acc = z;
    }
    const result = await acc.read();
    expect(result[0]).toBeCloseTo(500, 3);
    acc.dispose();
    x.dispose();
    await device.flush();
    const after = device.memory();
    expect(after.live).toEqual(before.live);
    expect(after.liveBuffers).toBe(before.liveBuffers);
    // Reuse kept the device allocation bounded: a handful of buffers, not a thousand.
    expect(after.deviceBytes - before.deviceBytes).toBeLessThan(16 * 1024);
  });

  it('counts bytes by category and keeps peaks', () => {
    device.pool.resetPeaks();
    const start = device.memory();
    const p = device.zeros([1000], 'f32', 'parameter');
    const s = device.zeros([10, 10], 'f32', 'optimizer');
    const mid = device.memory();
    expect(mid.live.parameter - start.live.parameter).toBe(4000);
    expect(mid.live.optimizer - start.live.optimizer).toBe(400);
    p.dispose();
    s.dispose();
    const end = device.memory();
    expect(end.live.parameter).toBe(start.live.parameter);
    expect(end.peak.parameter - start.live.parameter).toBe(4000);
  });

  it('moves bytes between categories', () => {
    const start = device.memory();
    const t = device.zeros([64]);
    t.setCategory('parameter');
    expect(device.memory().live.parameter - start.live.parameter).toBe(256);
    expect(device.memory().live.activation).toBe(start.live.activation);
    t.dispose();
  });

  it('throws on use after dispose, naming the tensor', async () => {
    const t = device.tensor([1, 2, 3, 4], [2, 2]);
    t.dispose();
    expect(() => ops.relu(t)).toThrow(DisposedError);
    expect(() => ops.relu(t)).toThrow(/\[2, 2\] f32 was used after dispose/);
    await expect(t.read()).rejects.toThrow(DisposedError);
  });

  it('keeps storage alive while a view of it lives', async () => {
    const t = device.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const view = t.transpose();
    t.dispose();
    expect(Array.from(await view.read())).toEqual([1, 4, 2, 5, 3, 6]);
    view.dispose();
  });

  it('does not hand a buffer released before submit to an upload', async () => {
    // x is released while the relu that reads it is unsubmitted; the new upload must not reuse
    // it, or writeBuffer would overwrite x before the relu runs.
    const x = device.tensor(new Float32Array(64).fill(3));
    const y = ops.relu(x);
    x.dispose();
    const w = device.tensor(new Float32Array(64).fill(-7));
    expect(Array.from(await y.read())).toEqual(new Array(64).fill(3));
    expect(Array.from(await w.read())).toEqual(new Array(64).fill(-7));
    y.dispose();
    w.dispose();
  });

  it('supports `using`', async () => {
    const start = device.memory().live.activation;
    {
      using t = device.zeros([128]);
      expect(device.memory().live.activation - start).toBe(512);
      expect(t.size).toBe(128);
    }
    expect(device.memory().live.activation).toBe(start);
  });
});
