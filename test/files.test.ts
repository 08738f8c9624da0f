// Atomic file writes: content lands whole, an existing file is replaced whole, and a failure
// leaves no temporary file behind and names the path; injected faults (SLL_FAULT_WRITE) and a
// process killed mid-write leave the target as it was, and removeStaleTemporaries cleans up after
// dead processes only. Host-side only: no device is opened.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { removeStaleTemporaries, writeFileAtomic } from '../src/io/files.js';

const tempRoot = mkdtempSync(join(tmpdir(), 'sll-files-test-'));
afterAll(() => rmSync(tempRoot, { recursive: true, force: true }));
const tempDir = () => mkdtempSync(join(tempRoot, 'd'));

describe('writeFileAtomic', () => {
  it('writes bytes and strings, leaving no temporary file', () => {
    const dir = tempDir();
    const bytes = new Uint8Array([0, 1, 2, 255]);
    writeFileAtomic(join(dir, 'a.bin'), bytes);
    writeFileAtomic(join(dir, 'b.txt'), 'héllo\n');
    expect(Array.from(readFileSync(join(dir, 'a.bin')))).toEqual([0, 1, 2, 255]);
    expect(readFileSync(join(dir, 'b.txt'), 'utf8')).toBe('héllo\n');
    expect(readdirSync(dir).sort()).toEqual(['a.bin', 'b.txt']);
  });

  it('writes a view into a larger buffer as just its bytes, and an empty file', () => {
    const dir = tempDir();
    const big = new Uint8Array([9, 9, 1, 2, 3, 9]);
    writeFileAtomic(join(dir, 'view.bin'), big.subarray(2, 5));
    writeFileAtomic(join(dir, 'empty.bin'), new Uint8Array(0));
    expect(Array.from(readFileSync(join(dir, 'view.bin')))).toEqual([1, 2, 3]);
    expect(readFileSync(join(dir, 'empty.bin')).length).toBe(0);
  });

  it('replaces an existing file whole, longer or shorter', () => {
    const dir = tempDir();
    const path = join(dir, 'checkpoint.safetensors');
    writeFileSync(path, 'x'.repeat(10_000));
    writeFileAtomic(path, 'short');
    expect(readFileSync(path, 'utf8')).toBe('short');
    const large = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
    writeFileAtomic(path, large);
    expect(readFileSync(path).equals(Buffer.from(large))).toBe(true);
    expect(readdirSync(dir)).toEqual(['checkpoint.safetensors']);
  });

  it('names the path and leaves nothing behind when the directory is missing', () => {
    const dir = tempDir();
    const path = join(dir, 'missing', 'report.html');
    expect(() => writeFileAtomic(path, 'x')).toThrow(`${path}: cannot write file (ENOENT`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('removes the temporary file when the rename fails, keeping the target as it was', () => {
    const dir = tempDir();
    // A non-empty directory at the target path: the temp file is written, the rename fails.
    const path = join(dir, 'occupied');
    mkdirSync(path);
    writeFileSync(join(path, 'keep.txt'), 'kept');
    let error: unknown;
    try {
      writeFileAtomic(path, 'new content');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot write file \\(E`));
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(readdirSync(dir)).toEqual(['occupied']);
    expect(readFileSync(join(path, 'keep.txt'), 'utf8')).toBe('kept');
  });
});

describe('SLL_FAULT_WRITE', () => {
  afterEach(() => {
    delete process.env.SLL_FAULT_WRITE;
  });

  it('enospc: the write fails after the given bytes, naming the path, the target keeps its old content and no temporary is left', () => {
    const dir = tempDir();
    const path = join(dir, 'checkpoint.safetensors');
    writeFileSync(path, 'old checkpoint');
    process.env.SLL_FAULT_WRITE = 'checkpoint.safetensors:enospc@4096';
    let error: unknown;
    try {
      writeFileAtomic(path, new Uint8Array(1 << 16).fill(7));
    } catch (caught) {
      error = caught;
    }
    expect((error as Error).message).toBe(`${path}: cannot write file (ENOSPC: no space left on device, write (injected by SLL_FAULT_WRITE after 4096 bytes))`);
    expect(((error as Error).cause as { code?: string }).code).toBe('ENOSPC');
    expect(readFileSync(path, 'utf8')).toBe('old checkpoint');
    // Other targets are written as usual.
    writeFileAtomic(join(dir, 'report.html'), 'report');
    expect(readdirSync(dir).sort()).toEqual(['checkpoint.safetensors', 'report.html']);
    delete process.env.SLL_FAULT_WRITE;
    writeFileAtomic(path, 'new checkpoint');
    expect(readFileSync(path, 'utf8')).toBe('new checkpoint');
  });

  it('pause/MS: the write waits, then finishes whole; a malformed rule fails the write naming the variable', () => {
    const dir = tempDir();
    const path = join(dir, 'slow.bin');
    process.env.SLL_FAULT_WRITE = 'other.bin:enospc@0, slow.bin:pause@3/300';
    const started = performance.now();
    writeFileAtomic(path, new Uint8Array([1, 2, 3, 4, 5]));
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(Array.from(readFileSync(path))).toEqual([1, 2, 3, 4, 5]);
    process.env.SLL_FAULT_WRITE = 'slow.bin:enospc';
    expect(() => writeFileAtomic(path, 'x')).toThrow('SLL_FAULT_WRITE: rule "slow.bin:enospc" is not TARGET:enospc@BYTES');
    expect(readdirSync(dir)).toEqual(['slow.bin']);
  });

  it('pause: a process killed mid-write leaves the target whole and a temporary that removeStaleTemporaries deletes', async () => {
    const files = new URL('../dist/src/io/files.js', import.meta.url).pathname;
    expect(existsSync(files), 'dist/ is built by npm test; run npm run build first').toBe(true);
    const dir = tempDir();
    const path = join(dir, 'checkpoint.safetensors');
    writeFileSync(path, 'old checkpoint');
    const script = `import { writeFileAtomic } from ${JSON.stringify(files)}; writeFileAtomic(${JSON.stringify(path)}, new Uint8Array(100000).fill(1));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, SLL_FAULT_WRITE: 'checkpoint.safetensors:pause@4096' }, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_, signal) => resolve(signal)));
    let temp: string | undefined;
    for (let waited = 0; temp === undefined && waited < 20_000 && child.exitCode === null; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const name = readdirSync(dir).find((n) => n.startsWith(`checkpoint.safetensors.tmp-${child.pid}-`));
      if (name && statSync(join(dir, name)).size === 4096) temp = join(dir, name);
    }
    expect(temp, 'the child paused with 4096 bytes written (is dist/ up to date? run npm run build)').toBeDefined();
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(readFileSync(path, 'utf8')).toBe('old checkpoint');
    expect(removeStaleTemporaries(dir, 'checkpoint.safetensors')).toEqual([temp]);
    expect(readdirSync(dir)).toEqual(['checkpoint.safetensors']);
  });
});

describe('removeStaleTemporaries', () => {
  it("removes the temporaries of dead processes and keeps live ones', other files' and other names", () => {
    const dir = tempDir();
    // A process that has exited: its pid no longer runs.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const names = [
      'checkpoint.safetensors',
      `checkpoint.safetensors.tmp-${dead}-0123456789abcdef`,
      `checkpoint.safetensors.tmp-${process.pid}-fedcba9876543210`,
      `report.html.tmp-${dead}-0123456789abcdef`,
      `checkpoint.safetensors.tmp-${dead}-notours`,
    ];
    for (const name of names) writeFileSync(join(dir, name), 'x');
    expect(removeStaleTemporaries(dir, 'checkpoint.safetensors')).toEqual([join(dir, names[1]!)]);
    expect(readdirSync(dir).sort()).toEqual(names.filter((_, i) => i !== 1).sort());
    expect(removeStaleTemporaries(join(dir, 'missing'), 'checkpoint.safetensors')).toEqual([]);
  });
});
