/** Opening a device in a browser through `navigator.gpu`. */
import type { Device } from './device.js';
import { GpuUnavailableError } from './errors.js';
import { openDevice, type OpenDeviceOptions } from './open.js';

export async function openBrowserDevice(options: OpenDeviceOptions = {}): Promise<Device> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) {
    throw new GpuUnavailableError(
      'This browser exposes no navigator.gpu. Use a browser with WebGPU (Chrome/Edge 113+, Firefox 141+, Safari 26+), ' +
        'served over https or localhost; on Linux Chromium may need --enable-unsafe-webgpu.',
    );
  }
  return openDevice([{ gpu, backend: 'browser', featureLevels: ['core', 'compatibility'] }], {
    ...options,
    installHint: options.installHint ?? 'Check chrome://gpu (or about:support) for WebGPU status and blocklisted drivers.',
  });
}
