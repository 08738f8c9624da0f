import { describe, expect, it } from 'vitest';
import { openNodeDevice, describeAdapter, KernelError, LimitError, DeviceLostError, ShapeError, ops } from '../src/node.js';
import { registerShaderSource } from '../src/gpu/shaderLibrary.js';
import { checkExpectedAdapter, testDevice } from './helpers/device.js';

const device = await testDevice();

describe('device', () => {
  it('upload lands after the commands encoded before it (a queue write would otherwise jump ahead of them)', async () => {
    const t = device.tensor([1, 2, 3]);
    const other = device.tensor([10, 10, 10]);
    device.submit();
    ops.addInPlace(t, other); // encoded, not submitted
    device.upload(t, [7, 8, 9]);
    expect(Array.from(await t.read())).toEqual([7, 8, 9]);
    ops.addInPlace(t, other);
    expect(Array.from(await t.read())).toEqual([17, 18, 19]);
    t.dispose();
    other.dispose();
  });


  it('reports the adapter it runs on, and it is the expected one', () => {
    console.log(`adapter: ${describeAdapter(device.report)}`);
    expect(device.report.description.length + device.report.device.length).toBeGreaterThan(0);
    expect(() => checkExpectedAdapter(device)).not.toThrow();
    expect(device.report.limits.maxStorageBufferBindingSize).toBe(device.limits.maxStorageBufferBindingSize);
  });

  it('requests the optional features the adapter has', () => {
    for (const f of ['shader-f16', 'subgroups', 'timestamp-query']) {
      expect(device.report.features.includes(f)).toBe(device.gpu.features.has(f));
    }
  });

  it('surfaces a WGSL compile error with file, line and message', async () => {
    registerShaderSource('broken_for_test', '@compute @workgroup_size(1)\nfn main() {\n  let x: u32 = 1.5;\n}\n');
    await expect(device.prepareKernel({ file: 'broken_for_test', entry: 'main' })).rejects.toThrow(/shaders\/broken_for_test\.wgsl:3:\d+: .*abstract-float/);
  });

  it('maps a compile error inside an included library file back to that file', async () => {
    registerShaderSource('lib/brokenHelperForTest', '// helper\nfn helper() -> u32 { return 2.5; }\n');
    registerShaderSource('includesBrokenForTest', '//#include lib/brokenHelperForTest\n@compute @workgroup_size(1)\nfn main() { _ = helper(); }\n');
    await expect(device.prepareKernel({ file: 'includesBrokenForTest', entry: 'main' })).rejects.toThrow(/shaders\/lib\/brokenHelperForTest\.wgsl:2:\d+: /);
  });

  it('refuses a tensor over maxStorageBufferBindingSize, naming the limit', () => {
    const limit = device.limits.maxStorageBufferBindingSize;
    const elements = Math.floor(limit / 4) + 1;
    expect(() => device.empty([elements])).toThrow(LimitError);
    expect(() => device.empty([elements])).toThrow(/maxStorageBufferBindingSize/);
  });

  it('turns an out-of-memory error scope into an error naming the tensor and its size', async () => {
    // A real OOM cannot be provoked safely on a CPU adapter; the device's own error scope is
    // made to report one for the next allocation, which exercises the same path.
    const gpu = device.gpu;
    const original = gpu.popErrorScope.bind(gpu);
    let armed = true;
    gpu.popErrorScope = async () => {
      const real = await original();
      if (!armed) return real;
      armed = false;
      return { message: 'simulated out of memory' } as GPUError;
    };
    try {
      const t = device.empty([1000, 1001]); // a size no earlier test left in the pool
      await expect(device.flush()).rejects.toThrow(/could not allocate tensor \[1000, 1001\] f32 \(4004000 B, activation\)/);
      t.dispose();
    } finally {
      gpu.popErrorScope = original;
    }
    await expect(device.flush()).resolves.toBeUndefined();
  });

  it('names unknown kernels, entries and overrides', () => {
    expect(() => device.kernel({ file: 'no_such_file', entry: 'x' })).toThrow(KernelError);
    expect(() => device.kernel({ file: 'elementwise', entry: 'nope' })).toThrow(/has no compute entry point 'nope'/);
    expect(() => device.kernel({ file: 'elementwise', entry: 'unaryMap', overrides: { NOPE: 1 } })).toThrow(/no override 'NOPE'/);
  });

  it('hands back one kernel per spec, whatever the order of its overrides, and another for other values', () => {
    const k = device.kernel({ file: 'elementwise', entry: 'unaryMap', overrides: { UNARY_OP: 1, WG: 64 } });
    expect(device.kernel({ file: 'elementwise', entry: 'unaryMap', overrides: { UNARY_OP: 1, WG: 64 } })).toBe(k);
    expect(device.kernel({ file: 'elementwise', entry: 'unaryMap', overrides: { WG: 64, UNARY_OP: 1 } })).toBe(k);
    expect(device.kernel({ file: 'elementwise', entry: 'unaryMap', overrides: { UNARY_OP: 1, WG: 128 } })).not.toBe(k);
    expect(device.kernel({ file: 'elementwise', entry: 'unaryMap', overrides: { UNARY_OP: 2, WG: 64 } })).not.toBe(k);
  });

  it('re-uses a bind group for the same buffers, each dispatch with its own uniforms', async () => {
    const t = device.tensor([1, 2, 3]);
    const other = device.tensor([10, 20, 30]);
    const third = device.tensor([100, 200, 300]);
    const groups = countBindGroups();
    try {
      ops.addInPlace(t, other, 1); // may create one (a fresh pair of buffers)
      const afterFirst = groups.created;
      // Same buffers, other alphas: the cached group, the uniform at its own dynamic offset.
      ops.addInPlace(t, other, 2);
      ops.addInPlace(t, other, -0.5);
      expect(groups.created).toBe(afterFirst);
      expect(Array.from(await t.read())).toEqual([26, 52, 78]);
      // Another buffer in the same place: a new group, and the result uses that buffer.
      ops.addInPlace(t, third, 1);
      expect(groups.created).toBe(afterFirst + 1);
      expect(Array.from(await t.read())).toEqual([126, 252, 378]);
    } finally {
      groups.restore();
      for (const x of [t, other, third]) x.dispose();
    }
  });

  it('binds a re-used buffer at its new size, not through the group of its old one', async () => {
    const small = device.tensor([1, 2, 3]);
    const smallOther = device.tensor([10, 20, 30]);
    ops.addInPlace(small, smallOther, 1); // caches a group binding both buffers at 12 bytes
    const buffer = small.buffer;
    const otherBuffer = smallOther.buffer;
    smallOther.dispose(); // the pool hands back the latest release first
    small.dispose();
    device.submit(); // buffers released before a submit are not handed to uploads
    const groups = countBindGroups();
    // The pool hands the same buffers back for 5 elements (one size bucket).
    const t = device.tensor([1, 2, 3, 4, 5]);
    const other = device.tensor([10, 20, 30, 40, 50]);
    try {
      expect(t.buffer).toBe(buffer);
      expect(other.buffer).toBe(otherBuffer);
      ops.addInPlace(t, other, 1);
      expect(groups.created).toBe(1);
      expect(Array.from(await t.read())).toEqual([11, 22, 33, 44, 55]);
    } finally {
      groups.restore();
      for (const x of [t, other]) x.dispose();
    }
  });

  it('throttle() bounds the submitted but unfinished work, and lets a macrotask run each call', async () => {
    const x = device.tensor(new Float32Array(1 << 16).fill(1));
    const y = device.tensor(new Float32Array(1 << 16).fill(1));
    let most = 0;
    let macrotasks = 0;
    for (let i = 0; i < 60; i++) {
      for (let k = 0; k < 20; k++) ops.addInPlace(x, y);
      // Scheduled before the call: it runs before throttle() resolves only if throttle yields a macrotask.
      setImmediate(() => macrotasks++);
      const before = macrotasks;
      await device.throttle();
      expect(macrotasks).toBe(before + 1);
      most = Math.max(most, device.queuedSubmits);
    }
    expect(most).toBeLessThanOrEqual(device.maxQueuedSubmits);
    expect((await x.read())[0]).toBe(1 + 60 * 20);
    for (const t of [x, y]) t.dispose();
  });

  it('scope() frees what its function made and did not return; the result and kept tensors live on', () => {
    const live = () => device.memory().live;
    const before = live();
    const outside = device.tensor([1, 2, 3]);
    let kept: ReturnType<typeof device.tensor> | undefined;
    const result = device.scope(() => {
      const a = device.tensor([1, 2, 3]);
      const b = ops.add(a, outside);
      kept = device.keep(ops.mul(a, outside));
      const inner = device.scope(() => ({ pair: [ops.add(b, b), device.tensor([9])] }));
      device.tensor([7, 7]); // made and dropped
      return { sum: b, inner };
    });
    expect(outside.disposed).toBe(false);
    expect(result.sum.disposed).toBe(false);
    expect(result.inner.pair.every((t) => !t.disposed)).toBe(true);
    expect(kept!.disposed).toBe(false);
    for (const t of [outside, result.sum, ...result.inner.pair, kept!]) t.dispose();
    expect(live()).toEqual(before);
  });

  it('scope() frees everything its function made when it throws, and refuses an async function', async () => {
    const before = device.memory().live;
    expect(() =>
      device.scope(() => {
        device.tensor([1, 2, 3]);
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(() => device.scope(async () => device.tensor([1]))).toThrow(/fn returned a Promise/);
    await Promise.resolve();
    expect(device.memory().live).toEqual(before);
  });

  it('rejects mismatched data length before any upload', () => {
    expect(() => device.tensor([1, 2, 3], [2, 2])).toThrow(ShapeError);
  });
});

describe('device lifetime', () => {
  it('rejects work after destroy with a clear error', async () => {
    const other = await openNodeDevice();
    const t = other.tensor([1, 2, 3]);
    other.destroy();
    expect(() => other.empty([4])).toThrow(DeviceLostError);
    await expect(t.read()).rejects.toThrow(/destroyed/);
  });

  it('close() lets submitted work finish, destroys the device, and does nothing a second time', async () => {
    const other = await openNodeDevice();
    const y = ops.relu(other.tensor(new Float32Array(4096).fill(-1)));
    other.submit();
    await other.close(10);
    expect(other.isDestroyed).toBe(true);
    expect(() => other.empty([4])).toThrow(DeviceLostError);
    await other.close(10);
    y.dispose();
  });

  it('rejects a pending read when the device is lost mid-flight', async () => {
    const other = await openNodeDevice();
    const t = other.tensor(new Float32Array(1024).fill(1));
    const y = ops.relu(t);
    const pending = y.read();
    other.gpu.destroy(); // as if the device were lost under us
    await expect(pending).rejects.toThrow(DeviceLostError);
    other.destroy();
  });
});

describe('kernel layouts', () => {
  it('a device takes its adapter\'s layouts, or the ones it is opened with, and a wrong name is an error that names it', async () => {
    const gpu = await openNodeDevice({ kernels: 'gpu' });
    const software = await openNodeDevice({ kernels: 'software' });
    try {
      expect(gpu.kernelLayouts).toBe('gpu');
      expect(ops.kernelChoices(gpu)).toMatchObject({ software: false, matmul: { large: 'tiled', thin: 'skinny' }, attention: 'fused' });
      expect(ops.kernelChoices(software).software).toBe(true);
      // The forced family really changes the kernels that run, and not their results beyond rounding.
      const a = gpu.tensor(Float32Array.from({ length: 64 * 48 }, (_, i) => Math.sin(i)), [64, 48]);
      const b = software.tensor(await a.read(), [64, 48]);
      gpu.startProfiling();
      const ya = ops.matmul(a, a.transpose());
      expect((await gpu.stopProfiling()).map((k) => k.kernel)).toEqual(['matmul:matmulTiled']);
      const yb = ops.matmul(b, b.transpose());
      const [va, vb] = [await ya.read(), await yb.read()];
      va.forEach((x, i) => expect(Math.abs(x - vb[i]!)).toBeLessThan(1e-4));
    } finally {
      gpu.destroy();
      software.destroy();
    }
    await expect(openNodeDevice({ kernels: 'cpu' as 'gpu' })).rejects.toThrow(/^openDevice: kernels must be auto, gpu or software, got "cpu"$/);
    const saved = process.env.SLL_KERNELS;
    process.env.SLL_KERNELS = 'GPU';
    try {
      await expect(openNodeDevice()).rejects.toThrow(/^SLL_KERNELS must be auto, gpu or software, got "GPU"$/);
    } finally {
      if (saved === undefined) delete process.env.SLL_KERNELS;
      else process.env.SLL_KERNELS = saved;
    }
  });
});

/** Counts the device's bind-group creations until `restore()`. */
function countBindGroups(): { readonly created: number; restore(): void } {
  const gpu = device.gpu;
  const create = gpu.createBindGroup.bind(gpu);
  const counter = {
    created: 0,
    restore: () => {
      gpu.createBindGroup = create;
    },
  };
  gpu.createBindGroup = (descriptor) => {
    counter.created++;
    return create(descriptor);
  };
  return counter;
}
