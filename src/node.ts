/**
 * Node entry point: everything in the core, plus a device opener on Dawn (the `webgpu` package).
 * This is the only module that knows about Dawn.
 */
import { create, globals } from 'webgpu';
import type { Device } from './gpu/device.js';
import { openDevice as openOnProviders, type GpuProvider, type OpenDeviceOptions } from './gpu/open.js';
import { KERNEL_LAYOUTS } from './gpu/workgroups.js';

export * from './index.js';
/** A training run with its directory (config, metrics, checkpoints, report, lock): what `sll train` calls. */
export { runTraining, type RunEvents, type RunOptions, type RunResult } from './run/runTraining.js';

/** The exact commands that give a Debian 12 machine a WebGPU adapter without a GPU. */
export const CPU_DRIVER_HINT = [
  'To run without a GPU, install the CPU Vulkan driver (lavapipe) from Mesa 25 or later.',
  'On Debian 12 (bookworm) as root: add bookworm-backports to apt, then',
  '  apt-get update && apt-get install -y -t bookworm-backports mesa-vulkan-drivers',
  '(scripts/install-cpu-vulkan.sh in this repository does both). On Ubuntu 24.04+: apt-get install -y mesa-vulkan-drivers.',
  "Debian 12's own Mesa 22.3 is refused by Dawn. With a GPU, install its vendor's Vulkan driver.",
].join('\n');

let globalsInstalled = false;

/** Puts GPUBufferUsage, GPUMapMode and friends on globalThis, as a browser has them. */
export function installWebGpuGlobals(): void {
  if (globalsInstalled) return;
  for (const [name, value] of Object.entries(globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  globalsInstalled = true;
}

export interface NodeDeviceOptions extends OpenDeviceOptions {
  /** Extra Dawn toggles, e.g. ['backend=vulkan'] or ['enable-dawn-features=...']. */
  dawnOptions?: string[];
}

/**
 * Dawn toggles every Node device gets. Dawn rounds GPU timestamps down to 65.5 us by default (a
 * guard against timing attacks in browsers), which would blur the profiler's per-dispatch times.
 */
const NODE_DAWN_OPTIONS = ['disable-dawn-features=timestamp_quantization'];

/**
 * Opens a device on Dawn. Tries Dawn's default backend (Vulkan on Linux, Metal on macOS, D3D12
 * on Windows) in core mode, then in compatibility mode, then Dawn's OpenGL ES backend in
 * compatibility mode (surfaceless EGL). Fails with the install commands when nothing works.
 * The kernel layouts come from `options.kernels`, else from the SLL_KERNELS environment variable
 * (auto, gpu or software), else from the adapter.
 */
export async function openNodeDevice(options: NodeDeviceOptions = {}): Promise<Device> {
  installWebGpuGlobals();
  const defaultBackend = process.platform === 'darwin' ? 'metal' : process.platform === 'win32' ? 'd3d12' : 'vulkan';
  const dawnOptions = [...NODE_DAWN_OPTIONS, ...(options.dawnOptions ?? [])];
  const providers: GpuProvider[] = [
    { gpu: create(dawnOptions), backend: defaultBackend, featureLevels: ['core', 'compatibility'] },
  ];
  if (process.platform === 'linux') {
    let gles: GPU | undefined; // created only if every other path failed
    providers.push({
      get gpu() {
        process.env.EGL_PLATFORM ??= 'surfaceless';
        gles ??= create(['backend=opengles', ...dawnOptions]);
        return gles;
      },
      backend: 'opengles',
      featureLevels: ['compatibility'],
    });
  }
  const kernels = options.kernels ?? kernelsFromEnvironment();
  return openOnProviders(providers, { ...options, kernels, installHint: options.installHint ?? CPU_DRIVER_HINT });
}

/** SLL_KERNELS, checked: a misspelt value must not silently run the adapter's own kernels. */
function kernelsFromEnvironment(): OpenDeviceOptions['kernels'] {
  const value = process.env.SLL_KERNELS;
  if (value === undefined || value === '') return undefined;
  if (value === 'auto' || (KERNEL_LAYOUTS as readonly string[]).includes(value)) return value as OpenDeviceOptions['kernels'];
  throw new RangeError(`SLL_KERNELS must be auto, ${KERNEL_LAYOUTS.join(' or ')}, got ${JSON.stringify(value)}`);
}
