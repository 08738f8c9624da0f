// Atomic file writes: content lands whole, an existing file is replaced whole, and a failure
// leaves no temporary file behind and names the path. Host-side only: no device is opened.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/io/files.js';

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
