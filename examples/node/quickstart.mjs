// The main job, for now: open a device, say what it is, and run a few kernels against their
// CPU references. (SLL training becomes `npm start` once the trainers land.)
import { describeAdapter, openNodeDevice, ops, reference } from '../../dist/src/node.js';

const device = await openNodeDevice();
try {
  console.log(`adapter: ${describeAdapter(device.report)}`);
  const n = 1 << 16;
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 4);
  const tx = device.tensor(x);
  const y = ops.gelu(tx);
  const got = await y.read();
  const want = reference.gelu(x);
  let worst = 0;
  for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  console.log(`gelu on ${n} elements: max |GPU - reference| = ${worst.toExponential(2)}`);
  const mem = device.memory();
  console.log(`memory: ${mem.deviceBytes} bytes allocated on the device, ${mem.liveBuffers} live buffers`);
} finally {
  device.destroy();
}
