/**
 * Every script under bench/ answers --help with its usage (its header comment) and exit 0,
 * without starting its work: a benchmark asked for help must not run for minutes and write a
 * record.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { headerComment } from '../bench/lib/help.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const BENCH = join(ROOT, 'bench');

/** Scripts: every .mjs and .sh under bench/, but the shared modules (lib/, the suite, its kernel families, the browser page). */
function scripts(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return ['lib', 'browser', 'results', 'families'].includes(name) ? [] : scripts(path);
    return /\.(mjs|sh)$/.test(name) && name !== 'suite.mjs' ? [path] : [];
  });
}

describe('bench/ scripts answer --help', () => {
  const all = scripts(BENCH);
  it('finds the scripts', () => {
    expect(all.map((p) => relative(BENCH, p))).toEqual(expect.arrayContaining(['kernels/kernels.mjs', 'kernels/browser.mjs', 'results-doc.mjs', 'experiments/sll-speed.mjs', 'gpu/run-on-gpu.sh']));
  });

  for (const path of all) {
    it(`${relative(ROOT, path)} --help prints its usage and does nothing else`, () => {
      const started = performance.now();
      const run = path.endsWith('.sh') ? spawnSync('bash', [path, '--help'], { encoding: 'utf8' }) : spawnSync(process.execPath, [path, '--help'], { encoding: 'utf8', cwd: ROOT });
      expect(run.status, run.stderr).toBe(0);
      const header = path.endsWith('.sh')
        ? readFileSync(path, 'utf8').split('\n').slice(1).filter((_, i, lines) => lines.slice(0, i + 1).every((l) => l.startsWith('#'))).map((l) => l.replace(/^# ?/, '')).join('\n')
        : headerComment(path);
      expect(header.length).toBeGreaterThan(40);
      expect(run.stdout.trim()).toBe(header.trim());
      expect(performance.now() - started).toBeLessThan(20_000);
    });
  }
});
