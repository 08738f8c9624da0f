/**
 * File writes that never leave a half-written file behind: a checkpoint or report interrupted by
 * Ctrl-C, a crash or a full disk must leave either the old file or the new one, whole.
 *
 * The data goes to a temporary file in the target's directory (same file system, so the rename is
 * atomic), is flushed to disk with fsync, and is renamed over the target; then the directory is
 * fsynced so the rename itself survives a power loss. Without the first fsync a crash soon after
 * the rename can leave an empty or partial file under the target's name on some file systems.
 *
 * Node only; its modules are fetched when a function runs (nodeBuiltin), so importing this file
 * from code that also runs in a browser is harmless.
 */
import { nodeBuiltin } from '../data/idx.js';

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
    fd = fs.openSync(temp, 'wx');
    fs.writeFileSync(fd, data);
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
