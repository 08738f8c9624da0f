/** What the command's tests read back from a run directory: its checkpoint's tensors and its statuses. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { RunDirectory } from '../../src/run/directory.js';

/** Every tensor of a run's checkpoint, as raw bytes by name. */
export function tensorsOf(runDir: string): Map<string, Buffer> {
  const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(join(runDir, 'checkpoint.safetensors'))));
  return new Map([...tensors].map(([name, t]) => [name, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));
}

/** The two runs' checkpoints hold the same tensors, bit for bit. */
export function expectSameWeights(a: string, b: string): void {
  const left = tensorsOf(a);
  const right = tensorsOf(b);
  expect([...right.keys()].sort()).toEqual([...left.keys()].sort());
  for (const [name, bytes] of left) expect(right.get(name)!.equals(bytes), name).toBe(true);
}

export const lastStatus = (runDir: string) => new RunDirectory(runDir).readMetrics().filter((l) => l.kind === 'status').at(-1);
