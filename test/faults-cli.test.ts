/**
 * Faults a training run left alone must survive, each run through the built command in a child
 * process: Ctrl-C and SIGTERM stop within one step with a checkpoint and a recorded status, and a
 * run stopped either way and resumed ends bitwise where an uninterrupted run ends; a kill during
 * a checkpoint write loses nothing and the next run cleans up; a full disk fails naming the file;
 * a damaged checkpoint is refused naming the tensor; a diverging run stops with exit 3; two runs
 * cannot share a directory; a lock left by a dead process is taken over; a silent server does
 * not hang a download. Writes are paused or failed at a chosen byte through SLL_FAULT_WRITE
 * (src/io/files.ts), so that no case depends on timing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunDirectory } from '../src/run/directory.js';
import { runCli, startCli, TINY } from './helpers/cli.js';
import { expectSameWeights, lastStatus } from './helpers/runs.js';

const work = mkdtempSync(join(tmpdir(), 'sll-faults-'));
const dir = (name: string) => join(work, name);
/** TINY for three epochs: 8 steps an epoch, a metrics line every 2 steps. */
const THREE_EPOCHS = TINY.map((a, i) => (TINY[i - 1] === '--epochs' ? '3' : a));

/** A pid that no process has now: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('sll train under faults', () => {
  it('an uninterrupted reference run finishes (exit 0)', async () => {
    const result = await runCli(['train', ...THREE_EPOCHS, '--out', dir('straight')], { cwd: work });
    expect(result.code, result.stderr).toBe(0);
  });

  it('Ctrl-C stops within one step, not at the next metrics read, and saves a checkpoint there', async () => {
    // 400 steps an epoch and one metrics read per epoch: before the fix the loop ran on to it.
    const args = ['train', '--hidden', '8', '--train-count', '4000', '--validation', '100', '--batch', '10', '--epochs', '50', '--metrics-every', '400', '--out', dir('ctrl-c')];
    let signalled = false;
    const { done } = startCli(args, {
      cwd: work,
      onStdout: (text, child) => {
        if (!signalled && text.includes('run directory:')) {
          signalled = true;
          setTimeout(() => child.kill('SIGINT'), 300);
        }
      },
    });
    const result = await done;
    expect(result.code, result.stderr).toBe(130);
    expect(result.stdout).toContain('SIGINT: stopping after this step and saving a checkpoint');
    const match = /stopped at epoch (\d+), batch (\d+) \(checkpoint saved/.exec(result.stdout);
    expect(match, result.stdout).not.toBeNull();
    const batch = Number(match![2]);
    expect(batch).toBeGreaterThan(0);
    expect(batch).toBeLessThan(400);
    expect(lastStatus(dir('ctrl-c'))).toMatchObject({ status: expect.stringMatching(/^stopped at epoch \d+, batch \d+/) });
  });

  it('SIGTERM stops with exit 143 and a recorded status, and the resumed run ends bitwise where the uninterrupted one ends', async () => {
    let signalled = false;
    const { done } = startCli(['train', ...THREE_EPOCHS, '--out', dir('sigterm')], {
      cwd: work,
      onStdout: (text, child) => {
        if (!signalled && /epoch 2\/3 {2}step/.test(text)) {
          signalled = true;
          child.kill('SIGTERM');
        }
      },
    });
    const stopped = await done;
    expect(stopped.code, stopped.stderr).toBe(143);
    expect(stopped.stdout).toContain('SIGTERM: stopping after this step');
    expect(lastStatus(dir('sigterm'))).toMatchObject({ status: expect.stringMatching(/^stopped at epoch 2, batch [1-7] /) });
    expect(existsSync(join(dir('sigterm'), 'run.lock'))).toBe(false);
    const resumed = await runCli(['train', '--resume', dir('sigterm')], { cwd: work });
    expect(resumed.code, resumed.stderr).toBe(0);
    expectSameWeights(dir('straight'), dir('sigterm'));
  });

  it('a kill during a checkpoint write leaves the last checkpoint whole; the next run takes over the lock, removes the debris and ends bitwise right', async () => {
    const run = dir('killed');
    let signalled = false;
    const first = startCli(['train', ...THREE_EPOCHS, '--out', run], {
      cwd: work,
      onStdout: (text, child) => {
        if (!signalled && /epoch 2\/3 {2}step/.test(text)) {
          signalled = true;
          child.kill('SIGINT');
        }
      },
    });
    expect((await first.done).code).toBe(130);
    const before = readFileSync(join(run, 'checkpoint.safetensors'));

    // Resume with the checkpoint writer pausing after 100 bytes, and kill it there.
    let killed = false;
    const second = startCli(['train', '--resume', run], { cwd: work, env: { SLL_FAULT_WRITE: 'checkpoint.safetensors:pause@100' } });
    const poll = setInterval(() => {
      if (!killed && readdirSync(run).some((f) => f.startsWith('checkpoint.safetensors.tmp-'))) {
        killed = true;
        second.child.kill('SIGKILL');
      }
    }, 20);
    const result = await second.done;
    clearInterval(poll);
    expect(result.signal).toBe('SIGKILL');
    expect(readFileSync(join(run, 'checkpoint.safetensors')).equals(before)).toBe(true);
    expect(readdirSync(run).filter((f) => f.includes('.tmp-'))).toHaveLength(1);
    expect(existsSync(join(run, 'run.lock'))).toBe(true);

    const third = await runCli(['train', '--resume', run], { cwd: work });
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toContain(`taking over the lock of process ${second.child.pid}, which no longer runs`);
    expect(third.stdout).toMatch(/removed .*checkpoint\.safetensors\.tmp-\d+-[0-9a-f]{16}, left by an interrupted write/);
    expect(readdirSync(run).filter((f) => f.includes('.tmp-') || f === 'run.lock')).toEqual([]);
    expectSameWeights(dir('straight'), run);
  });

  it('a full disk during a checkpoint write fails naming the file, leaves no temporary file and no lock, and records the failure', async () => {
    const run = dir('full-disk');
    const result = await runCli(['train', ...TINY, '--out', run], { cwd: work, env: { SLL_FAULT_WRITE: 'checkpoint.safetensors:enospc@100' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/checkpoint\.safetensors: cannot write file \(ENOSPC/);
    expect(readdirSync(run).filter((f) => f.includes('.tmp-') || f === 'run.lock')).toEqual([]);
    expect(lastStatus(run)).toMatchObject({ status: expect.stringMatching(/^failed: .*ENOSPC.*; no checkpoint was written yet/) });
  });

  it('a checkpoint damaged on disk is refused by eval and by resume, naming the tensor', async () => {
    const run = dir('damaged');
    expect((await runCli(['train', ...TINY, '--out', run], { cwd: work })).code).toBe(0);
    const path = join(run, 'checkpoint.safetensors');
    const bytes = readFileSync(path);
    bytes[bytes.length - 5]! ^= 0x40; // inside the last tensor's data
    writeFileSync(path, bytes);
    for (const args of [['eval', run], ['train', '--resume', run]]) {
      const result = await runCli(args, { cwd: work });
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr).toMatch(/checkpoint\.safetensors: tensor '[^']+' does not match its sha256 digest/);
    }
  });

  it('a diverging run (Adam at lr 1e6) stops with exit 3 and says that no checkpoint exists yet', async () => {
    const run = dir('diverged');
    const result = await runCli(['train', ...TINY, '--lr', '1e6', '--out', run], { cwd: work });
    expect(result.code, result.stderr).toBe(3);
    expect(result.stdout).toMatch(/stopped: the run diverged: .+'s loss is .+ at step 2, over 10 x 2\.303/);
    expect(result.stdout).toContain('no checkpoint was written yet');
    expect(result.stdout).not.toContain('checkpoint: ');
    expect(existsSync(join(run, 'checkpoint.safetensors'))).toBe(false);
    expect(lastStatus(run)).toMatchObject({ status: expect.stringMatching(/^stopped: the run diverged/) });
    // The guard can be turned off: the same run then goes to the end.
    expect((await runCli(['train', ...TINY, '--lr', '1e6', '--divergence-factor', '0', '--out', dir('diverged-unguarded')], { cwd: work })).code).toBe(0);
  });

  it('a second run on a directory in use stops at once and leaves the first run alone', async () => {
    const run = dir('shared');
    const args = ['train', ...TINY.map((a, i) => (TINY[i - 1] === '--epochs' ? '500' : a)), '--out', run];
    let second: Promise<Awaited<ReturnType<typeof runCli>>> | undefined;
    let firstPid = 0;
    const first = startCli(args, {
      cwd: work,
      onStdout: (text, child) => {
        if (!second && text.includes('run directory:')) {
          firstPid = child.pid!;
          second = runCli([...args.slice(0, -2), '--out', run], { cwd: work }).then((r) => (child.kill('SIGINT'), r));
        }
      },
    });
    const result = await first.done;
    const other = await second!;
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`is in use by the run of process ${firstPid}`);
    expect(other.stdout).not.toMatch(/^loading /m);
    expect(result.code).toBe(130);
    const statuses = new RunDirectory(run).readMetrics().filter((l) => l.kind === 'status');
    expect(statuses.map((s) => (s as { status: string }).status)).toEqual(['started', expect.stringMatching(/^stopped at epoch/)]);
  });

  it('a lock and temporary files left by a dead process are taken over and removed, with a message', async () => {
    const run = dir('stale');
    mkdirSync(run);
    const pid = deadPid();
    writeFileSync(join(run, 'run.lock'), JSON.stringify({ pid, host: (await import('node:os')).hostname(), started: '2026-01-01T00:00:00.000Z' }));
    writeFileSync(join(run, `config.json.tmp-${pid}-0123456789abcdef`), '{"half": ');
    const result = await runCli(['train', ...TINY, '--out', run], { cwd: work });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`taking over the lock of process ${pid}, which no longer runs`);
    expect(result.stdout).toMatch(new RegExp(`removed .*config\\.json\\.tmp-${pid}-0123456789abcdef, left by an interrupted write`));
    expect(readdirSync(run).filter((f) => f.includes('.tmp-') || f === 'run.lock')).toEqual([]);
  });
});

describe('sll data fetch under faults', () => {
  it('a server that accepts the connection and never answers is given up on after the idle timeout', async () => {
    const sockets: import('node:net').Socket[] = [];
    const server = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const result = await runCli(['data', 'fetch', 'mnist', '--dir', dir('silent'), '--mirror', `http://127.0.0.1:${port}/`, '--idle-timeout', '1'], { cwd: work, timeoutMs: 20_000 });
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/train-images-idx3-ubyte\.gz: no data from the server for 1 s \(idle timeout\)/);
      expect(result.ms).toBeLessThan(15_000);
      expect(existsSync(dir('silent')) ? readdirSync(dir('silent')) : []).toEqual([]);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});
