/**
 * Every script under bench/ answers --help with its usage (its header comment) and exit 0,
 * without starting its work: a benchmark asked for help must not run for minutes and write a
 * record. And a flag a script's header does not name is refused with exit 2, not ignored.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { headerComment, headerFlags } from '../bench/lib/help.mjs';

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

  // The Node scripts that import bench/lib/help.mjs refuse a flag their header does not name,
  // before any work (the sll-ablation and sll-report scripts take a directory, not flags).
  for (const path of all.filter((p) => p.endsWith('.mjs') && readFileSync(p, 'utf8').includes('lib/help.mjs'))) {
    it(`${relative(ROOT, path)} refuses a flag it does not take, naming the ones it does`, () => {
      const run = spawnSync(process.execPath, [path, '--no-such-flag', '1'], { encoding: 'utf8', cwd: ROOT });
      expect(run.status, run.stdout).toBe(2);
      const takes = headerFlags(path);
      expect(run.stderr).toContain(`${relative(ROOT, path)}: unknown flag --no-such-flag (it takes ${takes.join(', ') || 'no flags'}; --help prints its usage)`);
    });
  }
});
