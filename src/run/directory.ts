/**
 * A run's directory: config.json (what was asked), metrics.jsonl (one JSON line per logged step,
 * per epoch, for the test and for every status change), checkpoint.safetensors (the latest
 * state) and report.html (rendered from the other files). Everything is written atomically or
 * appended line by line, so a crash leaves every file readable.
 *
 * While a run writes the directory it holds run.lock (its pid, host and start time), so that a
 * second run started on the same directory stops at once instead of interleaving its metrics
 * with the first's. A lock whose process is gone (killed, crashed) is taken over with a notice,
 * and the temporary files that process's interrupted writes left are removed. Node only.
 */
import { appendFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { processRuns, removeStaleTemporaries, writeFileAtomic } from '../io/files.js';
import type { ReportEpoch, ReportStep, ReportTest } from '../report/html.js';

export type MetricsLine =
  | ({ kind: 'step' } & ReportStep)
  | ({ kind: 'epoch' } & ReportEpoch)
  | ({ kind: 'test'; count: number } & ReportTest)
  | { kind: 'status'; status: string; step: number; at: string };

export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  checkpoint: 'checkpoint.safetensors',
  report: 'report.html',
  lock: 'run.lock',
} as const;

/** The run directory is held by a live run: a second writer would corrupt it. */
export class RunLockedError extends Error {
  override name = 'RunLockedError';
}

interface LockRecord {
  pid: number;
  host: string;
  started: string;
}

export class RunDirectory {
  /** Whether this object holds the directory's run.lock (between lock() and its release). */
  locked = false;

  constructor(readonly dir: string) {}

  path(file: keyof typeof RUN_FILES): string {
    return join(this.dir, RUN_FILES[file]);
  }

  has(file: keyof typeof RUN_FILES): boolean {
    return existsSync(this.path(file));
  }

  /**
   * Creates the directory and its missing parents one level at a time. Node's recursive mkdir
   * can spin forever on paths under virtual file systems (/proc/x), so each level is made (and
   * any failure reported) on its own. Returns the directories it created, outermost first.
   */
  create(): string[] {
    const missing: string[] = [];
    let path = resolve(this.dir);
    for (;;) {
      const stat = statOrUndefined(path);
      if (stat) {
        if (!stat.isDirectory()) throw new Error(`${this.dir}: cannot create the run directory: ${path} is not a directory`);
        break;
      }
      missing.unshift(path);
      const parent = dirname(path);
      if (parent === path) break;
      path = parent;
    }
    const created: string[] = [];
    for (const level of missing) {
      try {
        mkdirSync(level);
        created.push(level);
      } catch (error) {
        // Another process may have just made it: then it is not ours to remove.
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST') throw new Error(`${this.dir}: cannot create the run directory (${code ?? (error as Error).message} at ${level})`, { cause: error });
      }
    }
    return created;
  }

  /**
   * Takes run.lock, creating the directory if needed. A lock held by a live process is a
   * RunLockedError; one left by a process that no longer runs (on this host) is taken over, and
   * `notice` hears about it and about the stale temporary files removed. Returns the release.
   */
  lock(notice: (text: string) => void = () => {}): () => void {
    const created = this.create();
    const path = this.path('lock');
    const record: LockRecord = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
    for (let attempt = 0; !this.claim(path, record); attempt++) {
      const held = this.readLock(path);
      const live = held ? held.host !== record.host || processRuns(held.pid) : lockIsFresh(path);
      if (live || attempt > 2) {
        const who = !held ? 'another process (its lock is being written)' : held.host !== record.host ? `process ${held.pid} on host ${held.host}` : `process ${held.pid}`;
        throw new RunLockedError(
          `${this.dir} is in use by the run of ${who}${held ? ` (started ${held.started})` : ''}; wait for it to end, or use another run directory` +
            `${held && held.host !== record.host ? ` (if that run is gone, delete ${path})` : ''}`,
        );
      }
      // Only one process can rename the stale lock away: the others find it gone and retry.
      const stale = `${path}.stale-${process.pid}-${Date.now()}`;
      try {
        renameSync(path, stale);
      } catch {
        continue;
      }
      const taken = this.readLock(stale);
      if (taken && held && (taken.pid !== held.pid || taken.started !== held.started)) {
        // Between the read and the rename another process took the lock: give it back.
        try {
          linkSync(stale, path);
        } finally {
          rmSync(stale, { force: true });
        }
        continue;
      }
      rmSync(stale, { force: true });
      notice(`${this.dir}: taking over the lock of process ${held?.pid ?? '(unreadable lock)'}, which no longer runs`);
    }
    for (const file of ['config', 'metrics', 'checkpoint', 'report'] as const) {
      for (const removed of removeStaleTemporaries(this.dir, RUN_FILES[file])) notice(`removed ${removed}, left by an interrupted write`);
    }
    this.locked = true;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.locked = false;
      rmSync(path, { force: true });
      // A run that failed before writing anything leaves no empty directories behind.
      for (const level of created.reverse()) {
        try {
          rmdirSync(level);
        } catch {
          break; // not empty: the run wrote something, keep it
        }
      }
    };
  }

  /**
   * Creates the lock with its content in one step: the record goes to a file of its own, which
   * is then hard-linked to run.lock (a link, unlike an open with 'wx', never shows a reader an
   * empty lock). False when the lock exists.
   */
  private claim(path: string, record: LockRecord): boolean {
    const mine = `${path}.${process.pid}-${Date.now()}`;
    writeFileSync(mine, JSON.stringify(record) + '\n');
    try {
      linkSync(mine, path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new Error(`${path}: cannot take the run lock (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
    } finally {
      rmSync(mine, { force: true });
    }
  }

  private readLock(path: string): LockRecord | undefined {
    try {
      const held = JSON.parse(readFileSync(path, 'utf8')) as LockRecord;
      return Number.isSafeInteger(held.pid) && typeof held.host === 'string' ? held : undefined;
    } catch {
      return undefined; // unreadable: live while fresh (lockIsFresh), else left by a dead process
    }
  }

  writeJson(file: 'config', value: unknown): void {
    writeFileAtomic(this.path(file), JSON.stringify(value, null, 2) + '\n');
  }

  readJson(file: 'config'): unknown {
    const path = this.path(file);
    const text = this.readText(path);
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new Error(`${path}: not valid JSON (${(error as Error).message})`);
    }
  }

  append(line: MetricsLine): void {
    appendFileSync(this.path('metrics'), JSON.stringify(line) + '\n');
  }

  /** Every line of metrics.jsonl; a torn last line (a crash mid-write) is skipped. */
  readMetrics(): MetricsLine[] {
    if (!this.has('metrics')) return [];
    const path = this.path('metrics');
    const lines = this.readText(path).split('\n');
    const out: MetricsLine[] = [];
    lines.forEach((text, i) => {
      if (text.trim() === '') return;
      try {
        out.push(JSON.parse(text) as MetricsLine);
      } catch (error) {
        if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.trim() !== '')) {
          throw new Error(`${path}:${i + 1}: not valid JSON (${(error as Error).message})`);
        }
      }
    });
    return out;
  }

  /**
   * Keeps the metrics of the first `steps` training steps and `epochs` epochs only: resuming
   * from a checkpoint repeats whatever was logged after it, and must not log it twice.
   */
  truncateMetrics(steps: number, epochs: number): void {
    const kept = this.readMetrics().filter((l) => (l.kind === 'step' ? l.step <= steps : l.kind === 'epoch' ? l.epoch <= epochs : l.kind === 'status'));
    writeFileAtomic(this.path('metrics'), kept.map((l) => JSON.stringify(l) + '\n').join(''));
  }

  writeCheckpoint(bytes: Uint8Array): void {
    writeFileAtomic(this.path('checkpoint'), bytes);
  }

  readCheckpoint(): Uint8Array {
    const path = this.path('checkpoint');
    if (!this.has('checkpoint')) throw new Error(`${path}: no checkpoint in ${this.dir} (a run writes one after its first epoch, or on Ctrl-C)`);
    return new Uint8Array(readFileSync(path));
  }

  writeReport(html: string): void {
    writeFileAtomic(this.path('report'), html);
  }

  private readText(path: string): string {
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      throw new Error(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  }
}

/** An unreadable lock younger than this is taken as one being written, not as debris. */
const FRESH_LOCK_MS = 10_000;

function lockIsFresh(path: string): boolean {
  const stat = statOrUndefined(path);
  return stat !== undefined && Date.now() - stat.mtimeMs < FRESH_LOCK_MS;
}

/** The path's stat, or undefined when it does not exist (also when a parent is a file: ENOTDIR). */
function statOrUndefined(path: string) {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}
