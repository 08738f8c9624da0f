// The conv-backward family of the kernel benchmark (bench/kernels/suite.mjs runs it): the input
// gradient and the weight gradient of the conv family's layer (conv.mjs), two rows per case.
// Work: each does the forward's multiply-adds, 2 * outputs * Cin * kH * kW FLOPs, reported in
// GFLOPS. TF.js's peers: tf.conv2dTranspose for the input gradient, and for the weight gradient
// the Conv2DBackpropFilter kernel run directly (tfjs-core exports no op for it), each on
// NHWC copies of our NCHW data and read back transposed into our layout (conv.mjs's helpers).
// Each row names the kernel flavour our dispatcher picks: for the input channels (the input
// gradient) or the output channels (the weight gradient).
import { CONV_LAYER, NHWC_TO_NCHW, SMOKE_CONV_LAYER, convFlops, readPermuted, toHwio, toNhwc } from './conv.mjs';
import { randomData } from './shared.mjs';

/** The cases, the forward's layer; `full` for full and --quick runs, `smoke` for the smoke run (see suite.mjs). */
const cases = {
  full: [{ layer: '64x32x14x14, 3x3 -> 64, pad 1', ...CONV_LAYER }],
  smoke: [{ layer: '2x3x9x9, 3x3 -> 5, pad 1 (smoke)', ...SMOKE_CONV_LAYER }],
};

async function run(bench, c) {
  const { device, ops, tf } = bench;
  const { layer, ...shape } = c;
  const xShape = [c.batch, c.inChannels, c.size, c.size];
  const wShape = [c.outChannels, c.inChannels, c.kernel, c.kernel];
  // Stride 1, so dy has the input's height and width less the kernel's reach past the padding.
  const outSize = c.size + 2 * c.padding - c.kernel + 1;
  const dyShape = [c.batch, c.outChannels, outSize, outSize];
  const xData = randomData(xShape.reduce((p, d) => p * d), 6);
  const wData = randomData(wShape.reduce((p, d) => p * d), 7);
  const dyData = randomData(dyShape.reduce((p, d) => p * d), 8);
  const x = device.tensor(xData, xShape);
  const w = device.tensor(wData, wShape);
  const dy = device.tensor(dyData, dyShape);
  // The input gradient and the weight gradient do the forward's multiply-adds, each.
  const flops = convFlops(c);
  const geometry = { stride: 1, padding: c.padding };
  const input = await bench.compare(
    { flops },
    () => ops.conv2dBackwardInput(dy, w, xShape, geometry),
    () => {
      const tdy = toNhwc(tf, dyData, dyShape);
      const tw = toHwio(tf, wData, wShape);
      const nhwc = [c.batch, c.size, c.size, c.inChannels];
      return { inputs: [tdy, tw], make: () => tf.conv2dTranspose(tdy, tw, nhwc, 1, c.padding), values: readPermuted(tf, NHWC_TO_NCHW) };
    },
  );
  const weight = await bench.compare(
    { flops },
    () => ops.conv2dBackwardWeight(dy, x, wShape, geometry),
    () => {
      const tx = toNhwc(tf, xData, xShape);
      const tdy = toNhwc(tf, dyData, dyShape);
      // tfjs-core 4.22 exports no op for the filter gradient (conv2DBackpropFilter is internal),
      // so this runs the kernel its conv2d gradient runs, directly: no forward pass, no tape.
      const attrs = { strides: 1, pad: c.padding, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: [c.kernel, c.kernel, c.inChannels, c.outChannels] };
      return { inputs: [tx, tdy], make: () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x: tx, dy: tdy }, attrs), values: readPermuted(tf, [3, 2, 0, 1]) };
    },
  );
  for (const t of [x, w, dy]) t.dispose();
  const js = { skipped: 'no JS loop for conv2d' };
  return [
    // The input gradient blocks input channels, the weight gradient output channels.
    { op: 'conv2dBackwardInput', name: `conv2d input grad ${layer}`, shape, flops, ours: { variant: ops.chooseConvKernel(device, c.inChannels), ...input.ours }, tfjs: input.tfjs, tfjsPeer: 'tf.conv2dTranspose', js },
    { op: 'conv2dBackwardWeight', name: `conv2d weight grad ${layer}`, shape, flops, ours: { variant: ops.chooseConvKernel(device, c.outChannels), ...weight.ours }, tfjs: weight.tfjs, tfjsPeer: 'the Conv2DBackpropFilter kernel, through tf.engine().runKernel', js },
  ];
}

export const convBackward = { name: 'conv-backward', cases, run };
