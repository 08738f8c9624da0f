/**
 * Where `sll tune` keeps its tables and how the other commands find them: one JSON file per
 * adapter and driver (the file name is a slug of describeAdapter, which names the driver's
 * version on lavapipe and the GPU drivers Dawn reports), in $SLL_TUNING_DIR, else
 * $XDG_CACHE_HOME/sll-webgpu/tuning, else ~/.cache/sll-webgpu/tuning. SLL_TUNING=off makes every
 * command use the built-in rules (the test suite sets it, so tests run with fixed choices).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Device } from '../gpu/device.js';
import { describeAdapter } from '../gpu/open.js';
import { writeFileAtomic } from '../io/files.js';
import { adoptKernelTuning, type KernelTuning } from '../ops/tuningTable.js';

export function tuningDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SLL_TUNING_DIR) return env.SLL_TUNING_DIR;
  const cache = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(cache, 'sll-webgpu', 'tuning');
}

/** The table file of `adapter` (a describeAdapter line; its feature list is left out of the name). */
export function tuningFile(adapter: string, env: NodeJS.ProcessEnv = process.env): string {
  const slug = adapter.split('; features:')[0]!.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 120);
  return join(tuningDir(env), `${slug}.json`);
}

export function saveTuning(tuning: KernelTuning, env: NodeJS.ProcessEnv = process.env): string {
  const file = tuningFile(tuning.adapter, env);
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
  if (env.SLL_TUNING === 'off') return undefined;
  if (env.SLL_TUNING !== undefined && env.SLL_TUNING !== '' && env.SLL_TUNING !== 'on') {
    throw new RangeError(`SLL_TUNING must be on or off, got ${JSON.stringify(env.SLL_TUNING)}`);
  }
  const adapter = describeAdapter(device.report);
  const file = tuningFile(adapter, env);
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
