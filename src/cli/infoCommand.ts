/**
 * `sll info`: the adapter the engine would run on, its backend and feature level, the limits
 * that bound tensor and kernel sizes, its optional features, and which of f16, timestamps and
 * subgroups the engine can use.
 */
import type { Device } from '../gpu/device.js';
import { describeAdapter } from '../gpu/open.js';
import { kernelChoices } from '../ops/choices.js';
import { formatHelp, parseArgs, UsageError, type CommandSpec } from './args.js';
import { formatBytes, type Output } from './progress.js';

export const INFO_COMMAND: CommandSpec = {
  name: 'info',
  summary: 'Show the WebGPU adapter: backend, feature level, limits, features, and what the engine can use.',
  usage: 'sll info [--json]',
  options: [{ name: 'json', type: 'boolean', help: 'print the adapter report as JSON' }],
};

/** Limits that decide what fits: buffer sizes, workgroup sizes and counts. */
const KEY_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
];

export async function infoCommand(argv: readonly string[], ctx: { openDevice: () => Promise<Device>; out: Output }): Promise<number> {
  const args = parseArgs(argv, INFO_COMMAND);
  if (args.help) {
    ctx.out.write(formatHelp(INFO_COMMAND) + '\n');
    return 0;
  }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument '${args.positionals[0]}'`, 'info');
  const device = await ctx.openDevice();
  try {
    const r = device.report;
    if (args.values.json) {
      ctx.out.write(JSON.stringify({ ...r, f16: device.hasF16, timestamps: device.hasTimestamps, subgroupSize: device.subgroupSize ?? null, kernels: kernelChoices(device) }, null, 2) + '\n');
      return 0;
    }
    const yes = (b: boolean, why: string) => (b ? 'yes' : `no (${why})`);
    const lines = [
      `adapter:        ${describeAdapter(r)}`,
      `vendor:         ${r.vendor || '?'}   architecture: ${r.architecture || '?'}   device: ${r.device || '?'}`,
      `backend:        ${r.backend}, ${r.featureLevel} feature level${r.isFallbackAdapter ? ', software (fallback) adapter: expect CPU speeds' : ''}`,
      `f16 tensors:    ${yes(device.hasF16, "no 'shader-f16' feature")}`,
      `timestamps:     ${yes(device.hasTimestamps, "no 'timestamp-query' feature")}`,
      `subgroups:      ${device.subgroupSize !== undefined ? `yes, size ${device.subgroupSize}` : r.features.includes('subgroups') ? 'yes' : "no ('subgroups' feature missing)"}`,
      `kernels:        ${kernelLine(device)}`,
      `features:       ${r.features.length ? r.features.join(', ') : 'none'}`,
      'limits:',
      ...KEY_LIMITS.filter((k) => r.limits[k] !== undefined).map((k) => `  ${k.padEnd(36)}${/Size$/.test(k) && r.limits[k]! >= 65536 ? `${formatBytes(r.limits[k]!)} (${r.limits[k]})` : r.limits[k]}`),
    ];
    ctx.out.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    await device.close();
  }
}

/** The kernel family and the main choices it makes, and whether SLL_KERNELS forced the family. */
function kernelLine(device: Device): string {
  const c = kernelChoices(device);
  const family = `${c.software ? 'software' : 'gpu'} layouts${device.kernelLayouts ? ' (forced by SLL_KERNELS)' : ''}`;
  return `${family}; matmul ${c.matmul.large} (thin: ${c.matmul.thin}), attention ${c.attention}`;
}
