// Prints the adapter the suite runs on, once, before any test file.
import { describeAdapter, openNodeDevice } from '../../src/node.js';

export default async function printAdapter(): Promise<void> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const device = await openNodeDevice();
  console.log(`[sll-webgpu tests] adapter: ${describeAdapter(device.report)}`);
  device.destroy();
}
