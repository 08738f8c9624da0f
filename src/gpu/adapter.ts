/**
 * What the engine got from the adapter: the report a Device carries (vendor, architecture,
 * backend, feature level, fallback or not, subgroup sizes, features and limits) for logs, run
 * reports, checkpoints and benchmark records, and the optional features the engine asks for.
 * Plain data, filled in by open.ts when a device is opened; kernel choices read it
 * (workgroups.ts) to tell a CPU adapter from a GPU.
 */
export type FeatureLevel = 'core' | 'compatibility';

/** What the engine got from the adapter, for logs, reports and benchmark records. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The WebGPU implementation's backend (e.g. 'vulkan', 'opengles', 'browser'). */
  backend: string;
  featureLevel: FeatureLevel;
  /** A software or otherwise degraded adapter (Dawn reports lavapipe as one). */
  isFallbackAdapter: boolean;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  /** Optional features granted to the device. */
  features: string[];
  limits: Record<string, number>;
}

/** Optional features the engine asks for when the adapter has them. */
export const WANTED_FEATURES = ['shader-f16', 'timestamp-query', 'subgroups'] as const;
