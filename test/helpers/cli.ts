/** Runs the built `sll` command in a child process, as a person would, with a timeout. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CLI = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

/** A training small enough for a few seconds on a CPU adapter: 8 steps an epoch on the digits. */
export const TINY = ['--hidden', '8', '--train-count', '400', '--validation', '100', '--batch', '50', '--epochs', '1', '--metrics-every', '2'];

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** The child is killed (SIGKILL) after this long, and the result says so. Default 30 s. */
  timeoutMs?: number;
  /** Called with each chunk of stdout and the child, e.g. to signal it at a chosen moment. */
  onStdout?: (text: string, child: import('node:child_process').ChildProcess) => void;
}

export function startCli(args: readonly string[], options: CliOptions = {}): { child: import('node:child_process').ChildProcess; done: Promise<CliResult> } {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm test builds it (npm run build)`);
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { ...process.env, SLL_DEBUG: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    options.onStdout?.(stdout, child);
  });
  child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
  const timeoutMs = options.timeoutMs ?? 30_000;
  const timer = setTimeout(() => {
    stderr += `\n[test] killed after ${timeoutMs} ms: the command hung\n`;
    child.kill('SIGKILL');
  }, timeoutMs);
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    }),
  );
  return { child, done };
}

export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).done;
}
