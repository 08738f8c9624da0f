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
import { appendFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { processRuns, removeStaleTemporaries, writeFileAtomic } from '../io/files.js';
import { fileFailure } from '../platform/nodeBuiltins.js';
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

/**
 * What a directory holds, as far as starting or resuming a run in it goes:
 * - `new`: it does not exist, or holds nothing (a dead run's lock and interrupted writes aside);
 * - `run`: a run's config.json and its checkpoint: it can be continued (`--resume`);
 * - `run-without-checkpoint`: a run's config.json, with its metrics.jsonl or alone, but no
 *   checkpoint (it died before its first): resuming starts it again from its beginning with that
 *   config;
 * - `not-a-run`: anything else, named in `entries`; a run never writes there;
 * - `not-a-directory`: a file (or something else) is in the way.
 */
export type DirectoryState =
  | { kind: 'new' }
  | { kind: 'run' | 'run-without-checkpoint'; entries: string[] }
  | { kind: 'not-a-run'; entries: string[]; why: string }
  | { kind: 'not-a-directory' };

/** Names a run leaves besides its files: its lock while it runs, and the debris of writes it could not finish. */
function isRunDebris(name: string): boolean {
  return name === RUN_FILES.lock || /^run\.lock\.(stale-)?\d+-\d+$/.test(name) || Object.values(RUN_FILES).some((file) => name.startsWith(`${file}.tmp-`));
}

/** A run's config.json: what trainInDirectory writes (a spec and the data it was read with). */
function isRunConfig(json: unknown): json is { spec: Record<string, unknown>; data: Record<string, unknown> } {
  const record = json as Record<string, unknown> | null;
  return typeof record === 'object' && record !== null && typeof record.spec === 'object' && record.spec !== null && typeof record.data === 'object' && record.data !== null;
}

function listed(entries: readonly string[]): string {
  return entries.length <= 6 ? entries.join(', ') : `${entries.slice(0, 6).join(', ')} and ${entries.length - 6} more`;
}

/** Why a new run may not start in `dir`, or undefined when it may: a run never writes over what is not a run's. */
export function newRunRefusal(dir: string, state: DirectoryState): string | undefined {
  switch (state.kind) {
    case 'new':
      return undefined;
    case 'run':
      return `${dir} already holds a run: continue it with --resume ${dir}, or choose another --out directory`;
    case 'run-without-checkpoint':
      return `${dir} holds a run that stopped before its first checkpoint: start it again from its beginning, with its own config.json, by --resume ${dir}; or choose another --out directory`;
    case 'not-a-run':
      return `${dir} is not empty and holds no run (${state.why}; it holds ${listed(state.entries)}): a run writes only into a new or empty directory, so nothing there is written over; choose another --out directory`;
    case 'not-a-directory':
      return `${dir} exists and is not a directory`;
  }
}

/** Why `dir` cannot be resumed, or undefined when it can (a run without a checkpoint starts again from its beginning). */
export function resumeRefusal(dir: string, state: DirectoryState): string | undefined {
  switch (state.kind) {
    case 'run':
    case 'run-without-checkpoint':
      return undefined;
    case 'new':
      return `no run there (${existsSync(dir) ? 'the directory is empty' : 'the directory does not exist'}): start one with --out ${dir}`;
    case 'not-a-run':
      return `not a run directory (${state.why})`;
    case 'not-a-directory':
      return `${dir} exists and is not a directory`;
  }
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

  /** What the directory holds (see DirectoryState); reads, never writes. */
  state(): DirectoryState {
    let stat;
    try {
      stat = statOrUndefined(resolve(this.dir));
    } catch (error) {
      throw new Error(`${this.dir}: cannot read the directory (${fileFailure(error)})`, { cause: error });
    }
    if (!stat) return { kind: 'new' };
    if (!stat.isDirectory()) return { kind: 'not-a-directory' };
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (error) {
      throw new Error(`${this.dir}: cannot list the directory (${fileFailure(error)})`, { cause: error });
    }
    const entries = names.filter((name) => !isRunDebris(name)).sort();
    if (entries.length === 0) return { kind: 'new' };
    if (!entries.includes(RUN_FILES.config)) return { kind: 'not-a-run', entries, why: `no ${RUN_FILES.config} of a run` };
    let config: unknown;
    try {
      config = JSON.parse(readFileSync(this.path('config'), 'utf8'));
    } catch (error) {
      return { kind: 'not-a-run', entries, why: `its ${RUN_FILES.config} cannot be read as JSON (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` };
    }
    if (!isRunConfig(config)) return { kind: 'not-a-run', entries, why: `its ${RUN_FILES.config} is not a run's (no spec and data in it)` };
    if (entries.includes(RUN_FILES.checkpoint)) return { kind: 'run', entries };
    // A run appends its first metrics line right after writing config.json. A run's config with
    // nothing else is a run killed in between (starting it again writes over its config only);
    // with other files but no metrics it is a copied config among someone's files.
    if (!entries.includes(RUN_FILES.metrics) && entries.length > 1) {
      return { kind: 'not-a-run', entries, why: `it holds a run's ${RUN_FILES.config} but no ${RUN_FILES.metrics} (a copied config? start a run from it with --config)` };
    }
    return { kind: 'run-without-checkpoint', entries };
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
      if (live || attempt > 2) throw this.lockedError(held);
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

  /** A RunLockedError when a live run holds the directory's lock (read only, nothing taken), else undefined. */
  inUse(): RunLockedError | undefined {
    const path = this.path('lock');
    if (!existsSync(path)) return undefined;
    const held = this.readLock(path);
    const live = held ? held.host !== hostname() || processRuns(held.pid) : lockIsFresh(path);
    return live ? this.lockedError(held) : undefined;
  }

  private lockedError(held: LockRecord | undefined): RunLockedError {
    const other = held !== undefined && held.host !== hostname();
    const who = !held ? 'another process (its lock is being written)' : other ? `process ${held.pid} on host ${held.host}` : `process ${held.pid}`;
    return new RunLockedError(
      `${this.dir} is in use by the run of ${who}${held ? ` (started ${held.started})` : ''}; wait for it to end, or use another run directory` +
        `${other ? ` (if that run is gone, delete ${this.path('lock')})` : ''}`,
    );
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
