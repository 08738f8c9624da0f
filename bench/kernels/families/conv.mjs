// The conv family of the kernel benchmark (bench/kernels/suite.mjs runs it): conv2d forward with
// a bias, stride 1, on one layer (CONV_LAYER, which the conv-backward family measures too).
// Work: 2 * outputs * Cin * kH * kW FLOPs (convFlops), reported in GFLOPS. TF.js's peer is
// tf.conv2d plus tf.add of the bias; TF.js lays data out NHWC with [kH, kW, Cin, Cout] filters
// where ours is NCHW with [Cout, Cin, kH, kW], so its inputs are transposed on the device before
// the timing and its result after it (the layout helpers here, which conv-backward shares). The
// row names the kernel flavour our dispatcher picks for the output channels. The CPU adapter's
// target for the full case is KERNEL_TARGETS in bench/results-doc.mjs.
import { randomData } from './shared.mjs';

/** The conv layer every conv case measures, forward and backward. */
export const CONV_LAYER = { batch: 64, inChannels: 32, outChannels: 64, size: 14, kernel: 3, padding: 1 };
export const SMOKE_CONV_LAYER = { batch: 2, inChannels: 3, outChannels: 5, size: 9, kernel: 3, padding: 1 };

/** The multiply-adds of a stride-1 conv of `c`'s shape, as FLOPs (its gradients do as many each). */
export const convFlops = (c) => 2 * c.batch * c.outChannels * c.size * c.size * c.inChannels * c.kernel * c.kernel;

/** TF.js's copies of our NCHW data and [Cout, Cin, kH, kW] weights: NHWC and [kH, kW, Cin, Cout], transposed on the device. */
export const toNhwc = (tf, data, shape) => tf.tidy(() => tf.transpose(tf.tensor4d(data, shape), [0, 2, 3, 1]));
export const toHwio = (tf, data, shape) => tf.tidy(() => tf.transpose(tf.tensor4d(data, shape), [2, 3, 1, 0]));
/** A TF.js result read back in our layout: transposed by `perm` on the device, then read. */
export const readPermuted = (tf, perm) => async (t) => {
  const ours = tf.transpose(t, perm);
  const values = await ours.data();
  ours.dispose();
  return values;
};
export const NHWC_TO_NCHW = [0, 3, 1, 2];

/** The cases: `full` for full and --quick runs, `smoke` for the smoke run (see suite.mjs). */
const cases = {
  full: [{ name: 'conv2d 64x32x14x14, 3x3 -> 64, pad 1', ...CONV_LAYER }],
  smoke: [{ name: 'conv2d 2x3x9x9, 3x3 -> 5, pad 1 (smoke)', ...SMOKE_CONV_LAYER }],
};

async function run(bench, c) {
  const { device, ops, tf } = bench;
  const xShape = [c.batch, c.inChannels, c.size, c.size];
  const wShape = [c.outChannels, c.inChannels, c.kernel, c.kernel];
  const xData = randomData(c.batch * c.inChannels * c.size * c.size, 3);
  const wData = randomData(c.outChannels * c.inChannels * c.kernel * c.kernel, 4);
  const biasData = randomData(c.outChannels, 5);
  const x = device.tensor(xData, xShape);
  const w = device.tensor(wData, wShape);
  const bias = device.tensor(biasData, [c.outChannels]);
  const flops = convFlops(c);
  const row = await bench.compare(
    { flops },
    () => ops.conv2d(x, w, { bias, stride: 1, padding: c.padding }),
    () => {
      const tx = toNhwc(tf, xData, xShape);
      const tw = toHwio(tf, wData, wShape);
      const tb = tf.tensor1d(biasData);
      return { inputs: [tx, tw, tb], make: () => tf.tidy(() => tf.add(tf.conv2d(tx, tw, 1, c.padding), tb)), values: readPermuted(tf, NHWC_TO_NCHW) };
    },
  );
  for (const t of [x, w, bias]) t.dispose();
  // The forward pass blocks output channels: its kernel flavour is chosen for those.
  const ours = { variant: ops.chooseConvKernel(device, c.outChannels), ...row.ours };
  return [{ op: 'conv2d', name: c.name, shape: { ...c }, flops, ours, tfjs: row.tfjs, js: { skipped: 'no JS loop for conv2d' } }];
}

export const conv = { name: 'conv', cases, run };
