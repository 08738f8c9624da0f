/**
 * Opening a device on whatever WebGPU implementation the host provides: `navigator.gpu` in a
 * browser, Dawn through the `webgpu` package in Node (src/node.ts supplies the providers).
 *
 * A core adapter is preferred; when none exists the engine falls back to compatibility mode
 * (in Node, last of all Dawn's OpenGL ES backend, for machines whose Vulkan driver Dawn refuses;
 * docs/architecture.md, "Adapters and kernel choice").
 */
import { WANTED_FEATURES, type AdapterReport, type FeatureLevel } from './adapter.js';
import { Device } from './device.js';
import { GpuUnavailableError } from './errors.js';
import { KERNEL_LAYOUTS, type KernelLayouts } from './workgroups.js';

/** One way of reaching adapters: a GPU object and the name of its backend. */
export interface GpuProvider {
  readonly gpu: GPU;
  readonly backend: string;
  /** Feature levels worth trying on this provider, in order. */
  readonly featureLevels: readonly FeatureLevel[];
}

export interface OpenDeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Refuse compatibility-mode adapters (default: accept them when no core adapter exists). */
  requireCore?: boolean;
  /** Leave out optional features even when the adapter has them (for testing fallbacks). */
  disableFeatures?: readonly string[];
  /** Text appended to the error when no adapter is found (how to install a driver). */
  installHint?: string;
  /**
   * Kernel layouts: 'auto' (default) takes the adapter's family, 'gpu' or 'software' forces one
   * (src/gpu/workgroups.ts, KernelLayouts). Results differ between families in the last bits.
   */
  kernels?: 'auto' | KernelLayouts;
}

export async function openDevice(providers: readonly GpuProvider[], options: OpenDeviceOptions = {}): Promise<Device> {
  if (options.kernels !== undefined && options.kernels !== 'auto' && !KERNEL_LAYOUTS.includes(options.kernels)) {
    throw new RangeError(`openDevice: kernels must be auto, ${KERNEL_LAYOUTS.join(' or ')}, got ${JSON.stringify(options.kernels)}`);
  }
  const tried: string[] = [];
  for (const level of ['core', 'compatibility'] as const) {
    if (level === 'compatibility' && options.requireCore) break;
    for (const provider of providers) {
      if (!provider.featureLevels.includes(level)) continue;
      let adapter: GPUAdapter | null = null;
      try {
        adapter = await provider.gpu.requestAdapter({ powerPreference: options.powerPreference, featureLevel: level });
      } catch (e) {
        tried.push(`${provider.backend}/${level}: ${(e as Error).message}`);
        continue;
      }
      if (!adapter) {
        tried.push(`${provider.backend}/${level}: no adapter`);
        continue;
      }
      return requestDevice(provider.gpu, adapter, provider.backend, level, options);
    }
  }
  throw new GpuUnavailableError(
    `No WebGPU adapter was found (tried ${tried.join('; ') || 'nothing'}).` + (options.installHint ? `\n${options.installHint}` : ''),
  );
}

async function requestDevice(instance: GPU, adapter: GPUAdapter, backend: string, level: FeatureLevel, options: OpenDeviceOptions): Promise<Device> {
  const features = WANTED_FEATURES.filter((f) => adapter.features.has(f) && !options.disableFeatures?.includes(f));
  if (adapter.features.has('core-features-and-limits')) features.push('core-features-and-limits' as (typeof WANTED_FEATURES)[number]);
  const requiredLimits: Record<string, number> = {};
  for (const name in adapter.limits) {
    // The engine binds one dynamic-offset buffer per kernel (its uniform), well inside the
    // defaults; asking for the adapter's maxima (10^6 on lavapipe) only makes Dawn warn.
    if (name.startsWith('maxDynamic')) continue;
    const value = (adapter.limits as unknown as Record<string, unknown>)[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  const gpuDevice = await adapter.requestDevice({ requiredFeatures: features as GPUFeatureName[], requiredLimits, label: 'sll-webgpu' });
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const name in gpuDevice.limits) {
    const value = (gpuDevice.limits as unknown as Record<string, unknown>)[name];
    if (typeof value === 'number') limits[name] = value;
  }
  const infoExtras = info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; isFallbackAdapter?: boolean };
  const report: AdapterReport = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    backend,
    featureLevel: grantedFeatureLevel(adapter, gpuDevice, level),
    isFallbackAdapter: infoExtras.isFallbackAdapter ?? false,
    subgroupMinSize: infoExtras.subgroupMinSize,
    subgroupMaxSize: infoExtras.subgroupMaxSize,
    features: [...gpuDevice.features].sort(),
    limits,
  };
  return new Device(gpuDevice, report, { instance, adapter }, options.kernels === 'auto' ? undefined : options.kernels);
}

/** One line naming the adapter, for logs and test output. */
export function describeAdapter(report: AdapterReport): string {
  const name = report.description || report.device || report.vendor || 'unknown adapter';
  const extras = [report.backend, report.featureLevel, report.isFallbackAdapter ? 'fallback/software' : 'hardware'];
  return `${name} (${extras.join(', ')}; features: ${report.features.join(', ') || 'none'})`;
}

/**
 * The feature level really granted. An implementation that knows compatibility mode marks core
 * devices with the 'core-features-and-limits' feature (Dawn, recent Chrome); one that does not
 * know it only has core devices.
 */
function grantedFeatureLevel(adapter: GPUAdapter, device: GPUDevice, requested: FeatureLevel): FeatureLevel {
  if (device.features.has('core-features-and-limits')) return 'core';
  const knowsCompatibility = 'featureLevel' in adapter || requested === 'compatibility';
  return knowsCompatibility ? 'compatibility' : 'core';
}
