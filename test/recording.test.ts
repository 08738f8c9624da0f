/**
 * Recording and replay (src/gpu/recording.ts): a replay computes what the recorded ops compute,
 * on the inputs as they are when it runs, bitwise as running the ops again; the recorded run's
 * temporaries are handed to nobody while the recording lives, and come back to the pool when it
 * is disposed; clears and uniforms are replayed as recorded, whatever ran in between, save a
 * random stream's position, at which a replay draws and which it moves on; and what a replay
 * could not repeat (an upload, a read, a submit, direct encoding, a nested recording) is
 * refused inside the recorded function, naming it, with the device usable after.
 */
import { describe, expect, it } from 'vitest';
import { KernelError, ops, reference, type Tensor } from '../src/index.js';
import { bernoulli as bernoulliReference, uniform as uniformReference } from '../src/random/philox.js';
import { testDevice } from './helpers/device.js';
import { expectClose, uniform } from './helpers/numeric.js';

const device = await testDevice();

const [M, K, N] = [3, 5, 7]; // awkward sizes: no tile or vector width divides them
const w = device.tensor(uniform(K * N, 1), [K, N]);
const b = device.tensor(uniform(N, 2), [N]);

/** relu(x w + b): a matmul, a broadcasting add and a relu, two temporaries between them. */
const layer = (x: Tensor) => ops.relu(ops.add(ops.matmul(x, w), b));

function expected(x: Float32Array): Float64Array {
  const wHost = uniform(K * N, 1);
  const bHost = uniform(N, 2);
  const xw = reference.matmul(x, [M, K], wHost, [K, N]);
  return Float64Array.from(xw, (v, i) => Math.max(0, v + bHost[i % N]!));
}

describe('device.record and recording.replay', () => {
  it('replays the recorded ops on the inputs as they are at the replay, bitwise as running them again', async () => {
    const x = device.tensor(uniform(M * K, 3), [M, K]);
    const { result: y, recording } = device.record(() => layer(x));
    try {
      expect(recording.dispatches).toBe(3);
      expectClose(await y.read(), expected(uniform(M * K, 3)));
      for (const seed of [4, 5]) {
        const fresh = uniform(M * K, seed);
        device.upload(x, fresh);
        const [dispatches, flops] = [device.dispatchCount, device.flopCount];
        recording.replay();
        const [replayDispatches, replayFlops] = [device.dispatchCount - dispatches, device.flopCount - flops];
        const replayed = await y.read();
        expectClose(replayed, expected(fresh));
        const again = device.scope(() => layer(x));
        // The same bits, and the counters moved as running the ops moves them.
        expect(Array.from(replayed)).toEqual(Array.from(await again.read()));
        expect(replayDispatches).toBe(3);
        expect(replayFlops).toBe(device.flopCount - flops - replayFlops);
        expect(replayFlops).toBeGreaterThanOrEqual(2 * M * K * N);
        again.dispose();
      }
    } finally {
      recording.dispose();
      x.dispose();
      y.dispose();
    }
  });

  it("keeps the recorded run's temporaries from everyone else until disposed, then gives them back", async () => {
    const x = device.tensor(uniform(M * K, 6), [M, K]);
    device.submit(); // buffers released before now are free for uploads
    const { result: y, recording } = device.record(() => layer(x));
    // Tensors of the temporaries' size, filled from the host: the pool must hand them other buffers.
    const others = [0, 1, 2, 3].map((i) => device.tensor(new Float32Array(M * N).fill(100 + i), [M, N]));
    device.upload(x, uniform(M * K, 7));
    recording.replay();
    for (const [i, t] of others.entries()) expect(Array.from(await t.read())).toEqual(new Array(M * N).fill(100 + i));
    expectClose(await y.read(), expected(uniform(M * K, 7)));
    for (const t of others) t.dispose();
    device.submit();
    const before = device.memory().cachedBytes;
    recording.dispose();
    // Two temporaries (x w, then + b; 84 bytes each, one 256-byte bucket) came back; disposing twice changes nothing.
    const after = device.memory().cachedBytes;
    expect(after - before).toBe(2 * 256);
    recording.dispose();
    expect(device.memory().cachedBytes).toBe(after);
    expect(() => recording.replay()).toThrow(/recording.replay: this recording was disposed/);
    x.dispose();
    y.dispose();
  });

  it('replays clears, and its own uniforms whatever other work packed in between', async () => {
    const x = device.tensor([1, 2, 3, 4]);
    // zeros, then x added in place twice, then scaled: a clear and three dispatches with uniforms.
    const { result: z, recording } = device.record(() => {
      const acc = device.zeros([4]);
      ops.addInPlace(acc, x, 1);
      ops.addInPlace(acc, x, 0.5);
      return ops.scale(acc, 2);
    });
    try {
      expect(Array.from(await z.read())).toEqual([3, 6, 9, 12]);
      device.upload(x, [10, 20, 30, 40]);
      // Other work with other uniforms between the recording and its replay.
      const other = ops.scale(x, -7);
      recording.replay();
      expect(Array.from(await z.read())).toEqual([30, 60, 90, 120]); // cleared first, not accumulated
      expect(Array.from(await other.read())).toEqual([-70, -140, -210, -280]);
      recording.replay();
      expect(Array.from(await z.read())).toEqual([30, 60, 90, 120]);
      other.dispose();
    } finally {
      recording.dispose();
      x.dispose();
      z.dispose();
    }
  });

  it('refuses to replay once a tensor the commands use is disposed, naming it', () => {
    const x = device.tensor(uniform(M * K, 8), [M, K]);
    const { result: y, recording } = device.record(() => layer(x));
    x.dispose();
    try {
      expect(() => recording.replay()).toThrow(KernelError);
      expect(() => recording.replay()).toThrow(/^recording\.replay: the buffer of tensor \[3, 5\] f32 \(binding '\w+' of [^)]+\), which the recorded commands use, was freed after recording/);
    } finally {
      recording.dispose();
      y.dispose();
    }
  });

  it.each([
    ['an upload (device.tensor)', () => device.tensor([1, 2])],
    ['an upload (device.upload)', (x: Tensor) => device.upload(x, new Float32Array(M * K))],
    ['a submit (device.submit, or more uniforms than one submit holds)', () => device.submit()],
    ['direct encoding (device.commandEncoder)', () => device.commandEncoder()],
    ['a nested device.record', (x: Tensor) => device.record(() => layer(x))],
  ])('refuses %s inside the recorded function, and the device works after', async (what, inside) => {
    const x = device.tensor(uniform(M * K, 9), [M, K]);
    const live = device.memory().liveBuffers;
    const escaped = new RegExp(`^device\\.record: ${what.replace(/[.()]/g, (c) => `\\${c}`)} inside a recorded function; a replay repeats GPU commands only`);
    expect(() => device.record(() => (layer(x), inside(x)))).toThrow(escaped);
    // What the function made is freed, and the device records and computes again.
    expect(device.memory().liveBuffers).toBe(live);
    const { result: y, recording } = device.record(() => layer(x));
    expectClose(await y.read(), expected(uniform(M * K, 9)));
    recording.dispose();
    y.dispose();
    x.dispose();
  });

  it('refuses a read inside the recorded function where it is called, not in its promise', async () => {
    const x = device.tensor([1, 2, 3]);
    expect(() => device.record(() => (ops.scale(x, 2), x.read()))).toThrow(/^device\.record: a read inside a recorded function/);
    expect(Array.from(await x.read())).toEqual([1, 2, 3]);
    x.dispose();
  });

  it("checks and keeps the buffers a copy binds raw (concat, a view's contiguous copy): its inputs', its temporaries'", async () => {
    const a = device.tensor([1, 2]);
    const bParts = device.tensor([3, 4, 5, 6], [2, 2]);
    // concat copies its operands' buffers raw; a transposed view is made contiguous by a raw copy too.
    const { result: joined, recording } = device.record(() => ops.scale(ops.concat([a, ops.relu(bParts.transpose()).reshape([4])], 0), 10));
    try {
      expect(Array.from(await joined.read())).toEqual([10, 20, 30, 50, 40, 60]);
      device.submit();
      const others = [0, 1, 2, 3, 4, 5].map((i) => device.tensor(new Float32Array(6).fill(100 + i)));
      device.upload(a, [7, 8]);
      recording.replay();
      expect(Array.from(await joined.read())).toEqual([70, 80, 30, 50, 40, 60]);
      for (const [i, t] of others.entries()) expect(Array.from(await t.read())).toEqual(new Array(6).fill(100 + i));
      for (const t of others) t.dispose();
      // An input bound only raw (by concat's copy): freed, the replay is refused.
      a.dispose();
      expect(() => recording.replay()).toThrow(/^recording\.replay: the buffer of the buffer bound as '\w+' of [^,]+, which the recorded commands use, was freed after recording/);
    } finally {
      recording.dispose();
      bParts.dispose();
      joined.dispose();
    }
  });

  it('checks a tensor the function made last in a temporary\'s buffer, which no command uses', () => {
    const x = device.tensor([1, 2, 3, 4]);
    const { result, recording } = device.record(() => ({ y: device.scope(() => ops.relu(ops.scale(x, 2))), spare: device.empty([4]) }));
    try {
      result.spare.dispose();
      expect(() => recording.replay()).toThrow(/which the recorded commands use, was freed after recording/);
    } finally {
      recording.dispose();
      result.y.dispose();
      x.dispose();
    }
  });

  it("draws a stream's fills at its position at each replay and moves it on, as running the function again would", async () => {
    // 13 words a run from offset 5: every replay starts at another phase inside a Philox block.
    const stream = new ops.RandomStream(device, 9, 5);
    const { result: y, recording } = device.record(() => stream.uniform([13]));
    try {
      expect(stream.offset).toBe(18);
      expect(Array.from(await y.read())).toEqual(Array.from(Float32Array.from(uniformReference(13, { seed: 9, offset: 5 }))));
      for (const offset of [18, 31]) {
        recording.replay();
        expect(stream.offset).toBe(offset + 13);
        expect(Array.from(await y.read())).toEqual(Array.from(Float32Array.from(uniformReference(13, { seed: 9, offset }))));
      }
      // Drawn from elsewhere in between: the replay starts where the stream stands.
      stream.offset = 1000;
      recording.replay();
      expect(stream.offset).toBe(1013);
      expect(Array.from(await y.read())).toEqual(Array.from(Float32Array.from(uniformReference(13, { seed: 9, offset: 1000 }))));
    } finally {
      recording.dispose();
      y.dispose();
    }
  });

  it('replays a fill made again at an earlier position of its stream (a dropout mask in a backward) at the same distance', async () => {
    const stream = new ops.RandomStream(device, 3, 2);
    const { result, recording } = device.record(() => {
      const mask = stream.bernoulli([7], { p: 0.5 });
      return { mask, again: stream.bernoulliAt(stream.offset - 7, [7], { p: 0.5 }) };
    });
    try {
      for (const offset of [2, 9, 16]) {
        if (offset > 2) recording.replay();
        const want = Array.from(Float32Array.from(bernoulliReference(7, { seed: 3, offset, p: 0.5 })));
        expect(Array.from(await result.mask.read())).toEqual(want);
        expect(Array.from(await result.again.read())).toEqual(want);
      }
    } finally {
      recording.dispose();
      result.mask.dispose();
      result.again.dispose();
    }
  });

  it('replays a fill from before the run began at the same distance behind the stream, and keeps its bytes as recorded', async () => {
    const stream = new ops.RandomStream(device, 6, 10);
    const sum = device.zeros([5]);
    // Into the same tensor each time, so that two recordings hold the same tensors.
    const record = () => device.record(() => ops.addInPlace(sum, stream.bernoulliAt(3, [5], { p: 0.5 }))).recording;
    const first = record();
    try {
      // The stream moved on 10 words: the fill 7 behind it is now at 13.
      stream.offset = 20;
      first.replay();
      expect(stream.offset).toBe(20);
      const [recorded, replayed] = [3, 13].map((offset) => bernoulliReference(5, { seed: 6, offset, p: 0.5 }));
      expect(Array.from(await sum.read())).toEqual(Array.from(recorded!, (v, i) => v + replayed![i]!));
      stream.offset = 10;
      const second = record();
      try {
        expect(first.sameWorkAs(second)).toBe(true);
      } finally {
        second.dispose();
      }
    } finally {
      first.dispose();
      sum.dispose();
    }
  });

  it('counts two runs that drew the same fills at other stream positions as the same work, and other fills as other work', () => {
    const stream = new ops.RandomStream(device, 4, 0);
    const elsewhere = new ops.RandomStream(device, 4, 0);
    // Each run adds its mask into the same tensor, as a training step updates the same weights.
    const sums = [device.zeros([5]), device.zeros([6])];
    const run = (from: ops.RandomStream, size: 5 | 6, p: number) => device.record(() => ops.addInPlace(sums[size - 5]!, from.bernoulli([size], { p })));
    const runs = [run(stream, 5, 0.3), run(stream, 5, 0.3), run(stream, 5, 0.3), run(elsewhere, 5, 0.3), run(stream, 5, 0.7), run(stream, 6, 0.3)];
    try {
      const [first, second, third, fromAnother, otherP, longer] = runs.map((r) => r.recording);
      expect(first!.sameWorkAs(second!)).toBe(true);
      expect(second!.sameWorkAs(third!)).toBe(true);
      expect(first!.sameWorkAs(fromAnother!)).toBe(false);
      expect(first!.sameWorkAs(otherP!)).toBe(false);
      expect(first!.sameWorkAs(longer!)).toBe(false);
    } finally {
      for (const r of runs) r.recording.dispose();
      for (const t of sums) t.dispose();
    }
  });
});
