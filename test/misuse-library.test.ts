/**
 * The library under misuse: each case calls a public entry point (device, tensor, op,
 * Predictor) the wrong way and checks that it throws an error naming what was wrong and what
 * would be right, and that the pool's live memory is what it was before the call (nothing
 * leaked, no category count turned into NaN).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DisposedError, ShapeError, openNodeDevice, ops, type Device, type Tensor } from '../src/node.js';
import type { MemoryStats } from '../src/gpu/bufferPool.js';
import { mlp, type Model } from '../src/sll/model.js';
import { Predictor } from '../src/sll/predict.js';
import { testDevice } from './helpers/device.js';

const device = await testDevice();

/** What `device.memory()` says is live, the part a leak or a bad category count would change. */
function live(): Pick<MemoryStats, 'live' | 'liveBuffers'> {
  const { live: bytes, liveBuffers } = device.memory();
  return { live: bytes, liveBuffers };
}

/** Lets a test pass what the types forbid, as a JavaScript caller could. */
const loose = (value: unknown) => value as never;

/** A tensor of `device` for one case; `use` runs with it and it is disposed afterwards. */
function withTensor(data: number[], use: (t: Tensor) => unknown): void {
  const t = device.tensor(data);
  try {
    use(t);
  } finally {
    t.dispose();
  }
}

function disposedTensor(): Tensor {
  const t = device.tensor([1, 2, 3]);
  t.dispose();
  return t;
}

/** A second device, for tensors passed to the wrong one. */
let other: Device;
beforeAll(async () => {
  other = await openNodeDevice();
});
afterAll(() => other.close());

interface SyncCase {
  name: string;
  run: () => unknown;
  error: RegExp;
  type: new (...args: never[]) => Error;
}

const dtypeList = /is not one of f32, f16, i32, u32$/;
const categoryList = /is not one of parameter, optimizer, projection, activation, scratch, staging$/;

const syncCases: SyncCase[] = [
  { name: 'tensor with dtype f64', run: () => device.tensor([1, 2], [2], loose('f64')), type: TypeError, error: /^tensor: dtype 'f64' is not one of f32, f16, i32, u32$/ },
  { name: 'empty with dtype float32', run: () => device.empty([2], loose('float32')), type: TypeError, error: /^empty: dtype 'float32' / },
  { name: 'zeros with dtype null', run: () => device.zeros([2], loose(null)), type: TypeError, error: dtypeList },
  { name: 'tensor in an unknown memory category', run: () => device.tensor([1], [1], 'f32', loose('weights')), type: TypeError, error: /^tensor: memory category 'weights' is not one of parameter, optimizer/ },
  { name: 'empty in an unknown memory category', run: () => device.empty([4], 'f32', loose('gpu')), type: TypeError, error: categoryList },
  { name: 'zeros in a miscased memory category', run: () => device.zeros([4], 'f32', loose('Activation')), type: TypeError, error: categoryList },
  { name: 'setCategory to an unknown category', run: () => withTensor([1], (t) => t.setCategory(loose('weights'))), type: TypeError, error: /^setCategory: memory category 'weights'/ },
  { name: 'tensor with a fractional dimension', run: () => device.tensor([1, 2], [1.5]), type: RangeError, error: /^tensor: shape \[1\.5\]: every dimension must be a non-negative integer/ },
  { name: 'tensor with a negative dimension', run: () => device.tensor([], [-1, 0]), type: RangeError, error: /^tensor: shape \[-1, 0\]: every dimension must be a non-negative integer/ },
  { name: 'empty with a NaN dimension', run: () => device.empty([NaN]), type: RangeError, error: /^empty: shape \[NaN\]/ },
  { name: 'zeros with an infinite dimension', run: () => device.zeros([Infinity]), type: RangeError, error: /^zeros: shape \[Infinity\]/ },
  { name: 'tensor with a null shape', run: () => device.tensor([1, 2], loose(null)), type: TypeError, error: /^tensor: shape must be an array of non-negative integers, got null$/ },
  { name: 'tensor with a number for its shape', run: () => device.tensor([1, 2], loose(2)), type: TypeError, error: /^tensor: shape must be an array of non-negative integers, got 2$/ },
  { name: 'empty with a string for its shape', run: () => device.empty(loose('2')), type: TypeError, error: /^empty: shape must be an array .* got '2'$/ },
  { name: 'tensor with more values than its shape holds', run: () => device.tensor([1, 2, 3], [2, 2]), type: ShapeError, error: /^tensor: 3 values given for shape \[2, 2\] \(4 elements\)$/ },
  { name: 'tensor of null', run: () => device.tensor(loose(null)), type: TypeError, error: /^tensor: data must be an array or a typed array of numbers \(e\.g\. Float32Array\), got null$/ },
  { name: 'tensor of a string', run: () => device.tensor(loose('ab'), [2]), type: TypeError, error: /got 'ab'$/ },
  { name: 'tensor of BigInts', run: () => device.tensor(loose(new BigInt64Array(2)), [2]), type: TypeError, error: /got a BigInt64Array$/ },
  { name: 'tensor of an array holding a string', run: () => device.tensor(loose(['1', 2])), type: TypeError, error: /^tensor: data\[0\] is '1', not a number$/ },
  { name: 'i32 tensor of a fraction', run: () => device.tensor([0, 1.5], [2], 'i32'), type: RangeError, error: /^tensor: value 1\.5 at index 1 does not fit dtype i32 \(integers from -2147483648 to 2147483647\)$/ },
  { name: 'u32 tensor of a negative label', run: () => device.tensor([-1], [1], 'u32'), type: RangeError, error: /^tensor: value -1 at index 0 does not fit dtype u32/ },
  { name: 'upload of the wrong length', run: () => withTensor([1, 2, 3], (t) => device.upload(t, [1, 2])), type: ShapeError, error: /^upload: 2 values for tensor \[3\] f32 \(3 elements\)$/ },
  { name: 'upload into a disposed tensor', run: () => device.upload(disposedTensor(), [1, 2, 3]), type: DisposedError, error: /^upload: tensor \[3\] f32 was used after dispose\(\)$/ },
  { name: 'upload into a tensor of another device', run: () => withOther((t) => device.upload(t, [1, 2])), type: ShapeError, error: /^upload: tensor \[2\] f32 belongs to another Device/ },
  { name: 'upload of something that is not a tensor', run: () => device.upload(loose({ shape: [2] }), [1, 2]), type: TypeError, error: /^upload: expected a Tensor, got an Object$/ },
  {
    name: 'a kernel binding a tensor of another device',
    run: () =>
      withOther((t) => {
        const kernel = device.kernel({ file: 'elementwise', entry: 'unaryMap' });
        device.dispatch(kernel, Object.fromEntries(kernel.entry.storage.map((s) => [s.name, t])), {}, 1);
      }),
    type: ShapeError,
    error: /^elementwise.*: tensor \[2\] f32 belongs to another Device/,
  },
  { name: 'reshape to another size', run: () => withTensor([1, 2, 3], (t) => t.reshape([2, 2])), type: ShapeError, error: /^reshape: cannot view \[3\] \(3 elements\) as \[2, 2\]$/ },
  { name: 'reshape to negative dimensions of the right product', run: () => withTensor([1, 2, 3, 4], (t) => t.reshape([-2, -2])), type: ShapeError, error: /^reshape: dimension -2 in \[-2, -2\] must be a non-negative integer or -1$/ },
  { name: 'reshape with two inferred dimensions', run: () => withTensor([1, 2, 3, 4], (t) => t.reshape([-1, -1])), type: ShapeError, error: /^reshape: at most one -1 in \[-1, -1\]$/ },
  { name: 'reshape whose inferred dimension is not whole', run: () => withTensor([1, 2, 3], (t) => t.reshape([2, -1])), type: ShapeError, error: /^reshape: cannot view \[3\] \(3 elements\) as \[2, -1\]$/ },
  { name: 'reshape with a bad dimension beside two -1s (the bad one named first)', run: () => withTensor([1, 2], (t) => t.reshape([-1, -1, 0.5])), type: ShapeError, error: /^reshape: dimension 0.5 in \[-1, -1, 0.5\] must be a non-negative integer or -1$/ },
  { name: 'reshape with a number for its shape', run: () => withTensor([1, 2], (t) => t.reshape(loose(2))), type: TypeError, error: /^reshape: shape must be an array of dimensions, got 2$/ },
  { name: 'reshape of a disposed tensor', run: () => disposedTensor().reshape([3, 1]), type: DisposedError, error: /^reshape: tensor \[3\] f32 was used after dispose\(\)$/ },
  { name: 'slice of a disposed tensor', run: () => disposedTensor().slice(0, 0, 1), type: DisposedError, error: /^slice: tensor \[3\] f32 was used after dispose\(\)$/ },
  { name: 'transpose of a disposed tensor', run: () => disposedTensor().transpose(), type: DisposedError, error: /^transpose: tensor \[3\] f32 was used after dispose\(\)$/ },
  { name: 'an op on a disposed tensor', run: () => ops.relu(disposedTensor()), type: DisposedError, error: /^relu: tensor \[3\] f32 was used after dispose\(\) \(operand x\)$/ },
  { name: 'softmax of a 0-d tensor', run: () => withTensor([1], (t) => withView(t.reshape([]), (s) => ops.softmax(s))), type: ShapeError, error: /^softmax: x \[\] has no last axis to normalize over$/ },
];

/** A tensor of the other device for one case, disposed afterwards. */
function withOther(use: (t: Tensor) => unknown): void {
  const t = other.tensor([1, 2]);
  try {
    use(t);
  } finally {
    t.dispose();
  }
}

function withView(view: Tensor, use: (t: Tensor) => unknown): void {
  try {
    use(view);
  } finally {
    view.dispose();
  }
}

describe('device and tensor misuse', () => {
  it.each(syncCases)('$name', ({ run, type, error }) => {
    const before = live();
    let thrown: unknown;
    try {
      run();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(type);
    expect((thrown as Error).message).toMatch(error);
    expect(live()).toEqual(before);
  });

  it('reads of a disposed tensor and of another device tensor reject with the reason', async () => {
    const before = live();
    await expect(device.read(disposedTensor())).rejects.toThrow(/^read: tensor \[3\] f32 was used after dispose\(\)$/);
    const foreign = other.tensor([1, 2]);
    await expect(device.read(foreign)).rejects.toThrow(/^read: tensor \[2\] f32 belongs to another Device/);
    foreign.dispose();
    // The refused read encoded nothing: the device has no validation error to report later.
    await expect(device.flush()).resolves.toBeUndefined();
    expect(live()).toEqual(before);
  });

  it('after the refusals above, the device still computes', async () => {
    const t = device.tensor([-1, 2, -3], [3], 'f32', 'scratch');
    const y = ops.relu(t);
    expect(Array.from(await y.read())).toEqual([0, 2, 0]);
    t.dispose();
    y.dispose();
  });
});

const inputShape = [1, 2, 2] as const;

function smallModel(): Model {
  return mlp(device, { inputShape, classes: 3, hidden: [4], seed: 1 });
}

describe('Predictor misuse', () => {
  const model = smallModel();
  const predictor = new Predictor(device, model, { mean: 0.5, std: 0.25 });
  afterAll(() => model.dispose());

  const images = [0.1, -0.2, 0.3, 0.4, 1, 0.5, -1, 0];

  it('takes a plain array of numbers as it takes a Float32Array, in predict and predictPixels', async () => {
    const typed = await predictor.predict(Float32Array.from(images));
    const plain = await predictor.predict(images);
    expect(Array.from(plain.probabilities)).toEqual(Array.from(typed.probabilities));
    expect(Array.from(plain.classes)).toEqual(Array.from(typed.classes));
    // Raw pixels are in [0, 1] (predictPixels refuses others).
    const raw = images.map((v) => Math.abs(v));
    const pixels = await predictor.predictPixels(raw, 1);
    const normalized = await predictor.predict(Float32Array.from(raw).map((v) => (v - 0.5) / 0.25), 1);
    expect(Array.from(pixels.probabilities)).toEqual(Array.from(normalized.probabilities));
  });

  const withNaN = [...images];
  withNaN[6] = NaN;
  const predictCases: { name: string; run: () => Promise<unknown>; type: new (...args: never[]) => Error; error: RegExp }[] = [
    { name: 'a NaN value', run: () => predictor.predict(withNaN), type: RangeError, error: /^predict: image 1, value 2 \(index 6\) is NaN; every input must be a finite f32$/ },
    { name: 'an infinite pixel', run: () => predictor.predictPixels(Float32Array.of(0, 0, 0, -Infinity)), type: RangeError, error: /^predictPixels: image 0, value 3 \(index 3\) is -Infinity/ },
    { name: 'a value too large for f32', run: () => predictor.predict(Float64Array.of(0, 0, 1e39, 0)), type: RangeError, error: /^predict: image 0, value 2 \(index 2\) is 1e\+39/ },
    { name: 'a string among the values', run: () => predictor.predict(loose([0, 'x', 0, 0])), type: RangeError, error: /^predict: image 0, value 1 \(index 1\) is 'x'/ },
    { name: 'batchSize 0 (would never advance)', run: () => predictor.predict(images, 0), type: RangeError, error: /^predict: batchSize 0 must be a positive integer/ },
    { name: 'a fractional batchSize', run: () => predictor.predictPixels(images, 1.5), type: RangeError, error: /^predictPixels: batchSize 1\.5 must be a positive integer/ },
    { name: 'a string batchSize', run: () => predictor.predict(images, loose('64')), type: RangeError, error: /^predict: batchSize '64' must be a positive integer/ },
    { name: 'null images', run: () => predictor.predict(loose(null)), type: TypeError, error: /^predict: images must be a Float32Array or an array of numbers, got null$/ },
    { name: 'a string of images', run: () => predictor.predict(loose('abcd')), type: TypeError, error: /got 'abcd'$/ },
    { name: 'a partial image', run: () => predictor.predict(images.slice(0, 5)), type: ShapeError, error: /^predict: 5 values are not a whole number of 1x2x2 images$/ },
    {
      name: 'pixels with a zero std',
      run: () => new Predictor(device, model, { mean: 0, std: 0 }).predictPixels(images),
      type: RangeError,
      error: /^predictPixels: training statistics mean 0, std 0 cannot normalize pixels \(need a finite mean and a finite std > 0\)$/,
    },
  ];

  it.each(predictCases)('refuses $name before uploading anything', async ({ run, type, error }) => {
    const before = live();
    const uploads = vi.spyOn(device, 'tensor');
    try {
      const thrown = await run().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(thrown).toBeInstanceOf(type);
      expect((thrown as Error).message).toMatch(error);
      expect(uploads).not.toHaveBeenCalled();
    } finally {
      uploads.mockRestore();
    }
    expect(live()).toEqual(before);
  });

  it('refuses work after dispose(), before uploading, and a second dispose() is harmless', async () => {
    const before = live();
    const owned = new Predictor(device, smallModel(), { mean: 0, std: 1 }, true);
    await owned.predict(images);
    owned.dispose();
    expect(() => owned.dispose()).not.toThrow();
    expect(live()).toEqual(before);
    const uploads = vi.spyOn(device, 'tensor');
    try {
      await expect(owned.predict(images)).rejects.toThrow(/^predict: Predictor used after dispose\(\)$/);
      await expect(owned.predictPixels(images)).rejects.toThrow(/^predictPixels: Predictor used after dispose\(\)$/);
      expect(uploads).not.toHaveBeenCalled();
    } finally {
      uploads.mockRestore();
    }
    expect(live()).toEqual(before);
  });

  it.each([
    // Flat inputs: the first block is the Linear itself, which throws on its disposed weight.
    ['the first layer throws', () => mlp(device, { inputShape: [4], classes: 3, hidden: [4], seed: 1 })],
    // Image inputs: the Flatten's output is made, then the disposed Linear after it throws.
    ['a later layer of a block throws (the Flatten output before a disposed Linear)', smallModel],
  ])('leaks nothing when the model was disposed under it: %s', async (_, make) => {
    const gone = make();
    gone.dispose();
    const before = live();
    await expect(new Predictor(device, gone, { mean: 0, std: 1 }).predict(images)).rejects.toThrow(DisposedError);
    expect(live()).toEqual(before);
  });

  it('leaks nothing when the classifier throws in the second batch', async () => {
    const failing = smallModel();
    const forward = failing.classifier.forward.bind(failing.classifier);
    let calls = 0;
    failing.classifier.forward = (x, options) => {
      if (++calls === 2) throw new Error('injected classifier failure');
      return forward(x, options);
    };
    const before = live();
    await expect(new Predictor(device, failing, { mean: 0, std: 1 }).predict(images, 1)).rejects.toThrow(/injected classifier failure/);
    expect(calls).toBe(2);
    expect(live()).toEqual(before);
    failing.dispose();
  });

  it('leaks nothing when reading the probabilities fails', async () => {
    const before = live();
    const read = vi.spyOn(device, 'read').mockRejectedValueOnce(new Error('injected read failure'));
    try {
      await expect(predictor.predict(images)).rejects.toThrow(/injected read failure/);
      expect(read).toHaveBeenCalledOnce();
    } finally {
      read.mockRestore();
    }
    expect(live()).toEqual(before);
  });
});
