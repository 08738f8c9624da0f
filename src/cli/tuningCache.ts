/**
 * Where `sll tune` keeps its tables and how the other commands find them: one JSON file per
 * adapter and driver (describeAdapter's line, which names the driver's version on lavapipe and
 * the GPU drivers Dawn reports, and its features) and kernel layouts (SLL_KERNELS), in
 * $SLL_TUNING_DIR, else $XDG_CACHE_HOME/sll-webgpu/tuning, else ~/.cache/sll-webgpu/tuning.
 * SLL_TUNING=off makes every command use the built-in rules (the test suite sets it, so tests run
 * with fixed choices).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Device } from '../gpu/device.js';
import { describeAdapter } from '../gpu/open.js';
import { writeFileAtomic } from '../io/files.js';
import type { KernelLayouts } from '../gpu/workgroups.js';
import { adoptKernelTuning, layoutsOf, type KernelTuning } from '../ops/tuningTable.js';

export function tuningDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SLL_TUNING_DIR) return env.SLL_TUNING_DIR;
  const cache = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(cache, 'sll-webgpu', 'tuning');
}

/**
 * The table file of `adapter` (a describeAdapter line) under `layouts`: a readable slug of the
 * adapter's name, and a hash of the whole line and the layouts, so that every field that can
 * change the kernels (a feature, a forced family) gets a file of its own.
 */
export function tuningFile(adapter: string, layouts: KernelLayouts, env: NodeJS.ProcessEnv = process.env): string {
  const slug = adapter.split(' (')[0]!.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 80);
  return join(tuningDir(env), `${slug}-${layouts}-${fnv1a(`${adapter}\n${layouts}`)}.json`);
}

/** 32-bit FNV-1a of a string's UTF-16 units, as 8 hex digits: a short, stable file-name key. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, '0');
}

/** SLL_TUNING, checked before anything opens a device: unset, on or off. */
export function checkTuningEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  if (env.SLL_TUNING !== undefined && env.SLL_TUNING !== '' && env.SLL_TUNING !== 'on' && env.SLL_TUNING !== 'off') {
    throw new RangeError(`SLL_TUNING must be on or off, got ${JSON.stringify(env.SLL_TUNING)}`);
  }
}

export function saveTuning(tuning: KernelTuning, env: NodeJS.ProcessEnv = process.env): string {
  const file = tuningFile(tuning.adapter, tuning.layouts, env);
  mkdirSync(tuningDir(env), { recursive: true });
  writeFileAtomic(file, JSON.stringify({ ...tuning, created: new Date().toISOString() }, null, 2) + '\n');
  return file;
}

/**
 * Puts this adapter's saved table in force on `device`, if there is one and SLL_TUNING is not
 * 'off'; returns a line saying what was used, or undefined when nothing was. A damaged file or a
 * table from another adapter is not used, and the line says why: a run never fails for it.
 */
export function applySavedTuning(device: Device, env: NodeJS.ProcessEnv = process.env): string | undefined {
  checkTuningEnvironment(env);
  if (env.SLL_TUNING === 'off') return undefined;
  const adapter = describeAdapter(device.report);
  const file = tuningFile(adapter, layoutsOf(device), env);
  if (!existsSync(file)) return undefined;
  let kept: unknown;
  try {
    kept = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    return `${file}: ${(error as Error).message}: not used (run 'sll tune' again)`;
  }
  const { used, message } = adoptKernelTuning(device, adapter, kept, file);
  return used ? `${message} (${file})` : message.replace(/\(tune again\)$/, "(run 'sll tune' again)");
}
