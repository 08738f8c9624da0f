/**
 * File writes that never leave a half-written file behind: a checkpoint or report interrupted by
 * Ctrl-C, a crash or a full disk must leave either the old file or the new one, whole.
 *
 * The data goes to a temporary file in the target's directory (same file system, so the rename is
 * atomic), is flushed to disk with fsync, and is renamed over the target; then the directory is
 * fsynced so the rename itself survives a power loss. Without the first fsync a crash soon after
 * the rename can leave an empty or partial file under the target's name on some file systems.
 *
 * The temporary file is `${path}.tmp-${pid}-${16 hex digits}`. A process killed mid-write leaves
 * it behind; removeStaleTemporaries deletes those whose process is gone.
 *
 * Fault injection, for tests of what an interrupted or failing write leaves: the environment
 * variable SLL_FAULT_WRITE holds comma-separated rules `TARGET:ACTION@BYTES[/MS]`. A rule applies to a
 * write whose path is TARGET or ends in `/TARGET` or `\TARGET` (a file name such as
 * `checkpoint.safetensors`, or a path's tail). BYTES bytes of the data reach the temporary file
 * (all of them, if it is shorter), then ACTION:
 *   enospc@BYTES      the write fails as with a full disk (error code ENOSPC);
 *   pause@BYTES       the process sleeps, blocked, until it is killed;
 *   pause@BYTES/MS    the process sleeps MS milliseconds, then finishes the write.
 * For example SLL_FAULT_WRITE="checkpoint.safetensors:enospc@4096". The variable is parsed when
 * its value changes, not on every write; a malformed value fails every write, naming the rule.
 *
 * Node only; its modules are fetched when a function runs (nodeBuiltin), so importing this file
 * from code that also runs in a browser is harmless.
 */
import { nodeBuiltin } from '../platform/nodeBuiltins.js';

type Fs = typeof import('node:fs');

/** Error codes of a directory fsync that mean "not supported here" (Windows, some file systems). */
const DIRECTORY_SYNC_UNSUPPORTED = new Set(['EISDIR', 'EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EPERM', 'EACCES', 'EBADF']);

/**
 * Writes `data` (bytes, or a string as UTF-8) to `path` atomically: readers see the old content or
 * the new, never a mix or a truncation. On failure the temporary file is removed and the error is
 * rethrown naming `path` (the original error is its `cause`); the target is then untouched, unless
 * the failure was the final directory sync, after the rename.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const fs = nodeBuiltin('node:fs', 'writing a file atomically');
  const { dirname } = nodeBuiltin('node:path', 'writing a file atomically');
  // Unique per process and call; 'wx' below refuses to reuse an existing name in any case.
  const random = Array.from(globalThis.crypto.getRandomValues(new Uint32Array(2)), (word) => word.toString(16).padStart(8, '0')).join('');
  const temp = `${path}.tmp-${process.pid}-${random}`;

  let fd: number | undefined;
  try {
    const fault = faultFor(path);
    fd = fs.openSync(temp, 'wx');
    if (fault) writeWithFault(fs, fd, data, fault);
    else fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temp, path);
  } catch (error) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // Already failing; the first error is the one to report.
      }
    }
    try {
      fs.rmSync(temp, { force: true });
    } catch {
      // Best effort: the error below is what matters.
    }
    throw new Error(`${path}: cannot write file (${(error as Error).message})`, { cause: error });
  }

  const directory = dirname(path);
  let dirFd: number | undefined;
  try {
    dirFd = fs.openSync(directory, 'r');
    fs.fsyncSync(dirFd);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === undefined || !DIRECTORY_SYNC_UNSUPPORTED.has(code)) {
      throw new Error(`${path}: written, but syncing its directory ${directory} failed (${(error as Error).message})`, { cause: error });
    }
  } finally {
    if (dirFd !== undefined) fs.closeSync(dirFd);
  }
}

/**
 * Deletes the temporary files that writeFileAtomic left in `dir` for the target `baseName`
 * (`${baseName}.tmp-PID-HEX`) whose process no longer runs: debris of a process killed mid-write.
 * Those of live processes (which may be writing now) are kept, as are those of a pid reused by
 * another process since. Returns the paths removed; a missing `dir` has none.
 */
export function removeStaleTemporaries(dir: string, baseName: string): string[] {
  const fs = nodeBuiltin('node:fs', 'removing stale temporary files');
  const { join } = nodeBuiltin('node:path', 'removing stale temporary files');
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return [];
    throw new Error(`${dir}: cannot list the directory for stale temporary files (${(error as Error).message})`, { cause: error });
  }
  const prefix = `${baseName}.tmp-`;
  const removed: string[] = [];
  for (const name of names) {
    const match = name.startsWith(prefix) ? /^(\d+)-[0-9a-f]{16}$/.exec(name.slice(prefix.length)) : null;
    if (!match || processRuns(Number(match[1]))) continue;
    const path = join(dir, name);
    fs.rmSync(path, { force: true });
    removed.push(path);
  }
  return removed;
}

/** Whether a process with this pid exists (signal 0 tests without sending; EPERM: it exists). */
export function processRuns(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code !== 'ESRCH';
  }
}

interface WriteFault {
  target: string;
  action: 'enospc' | 'pause';
  /** Bytes written before the fault. */
  after: number;
  /** How long a pause lasts; Infinity: until the process is killed. */
  pauseMs: number;
}

let faultText: string | undefined;
let faults: WriteFault[] = [];

/** The SLL_FAULT_WRITE rule for `path`, if any (the variable is parsed when its value changes). */
function faultFor(path: string): WriteFault | undefined {
  const text = process.env.SLL_FAULT_WRITE;
  if (text !== faultText) {
    faults = parseFaults(text ?? '');
    faultText = text;
  }
  return faults.find((f) => path === f.target || path.endsWith(`/${f.target}`) || path.endsWith(`\\${f.target}`));
}

function parseFaults(text: string): WriteFault[] {
  return text.split(',').filter((rule) => rule.trim() !== '').map((rule) => {
    const match = /^(.+):(enospc|pause)@(\d+)(?:\/(\d+))?$/.exec(rule.trim());
    if (!match || (match[2] === 'enospc' && match[4] !== undefined)) {
      throw new Error(`SLL_FAULT_WRITE: rule ${JSON.stringify(rule)} is not TARGET:enospc@BYTES, TARGET:pause@BYTES or TARGET:pause@BYTES/MS`);
    }
    return { target: match[1]!, action: match[2] as WriteFault['action'], after: Number(match[3]), pauseMs: match[4] !== undefined ? Number(match[4]) : Infinity };
  });
}

/** Writes `data` to `fd` as a fault rule says: its first bytes, then the failure or the pause. */
function writeWithFault(fs: Fs, fd: number, data: Uint8Array | string, fault: WriteFault): void {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const cut = Math.min(fault.after, bytes.length);
  writeAll(fs, fd, bytes.subarray(0, cut));
  if (fault.action === 'enospc') {
    throw Object.assign(new Error(`ENOSPC: no space left on device, write (injected by SLL_FAULT_WRITE after ${cut} bytes)`), { code: 'ENOSPC' });
  }
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, fault.pauseMs);
  writeAll(fs, fd, bytes.subarray(cut));
}

function writeAll(fs: Fs, fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}
