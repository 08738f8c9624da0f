/**
 * `sll data` lists the known datasets and where each was found; `sll data fetch NAME` downloads
 * the official files with a progress bar and MD5 verification.
 */
import { fetchDataset, IDLE_TIMEOUT_MS, MAX_TIMER_MS, mirrorProblem, type FetchProgress } from '../data/fetch.js';
import { knownDatasets, locateDataset } from '../data/registry.js';
import { formatHelp, parseArgs, UsageError, type CommandSpec } from './args.js';
import { requireKnownDataset } from './datasetName.js';
import { formatBytes, type Output } from './progress.js';

/** The longest timeout in seconds: Node's timers wait at most 2^31 - 1 ms (24.8 days). */
export const MAX_TIMEOUT_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

export const DATA_COMMAND: CommandSpec = {
  name: 'data',
  summary: 'List the known datasets and where they were found, or download one.',
  usage: 'sll data [list]\n       sll data fetch NAME [--dir DIR] [--mirror URL] [--timeout SECONDS]',
  options: [
    { name: 'dir', type: 'string', help: 'fetch: directory to download into', defaultText: '$SLL_DATA_DIR/NAME or ~/.cache/sll-webgpu/datasets/NAME', value: 'DIR' },
    { name: 'mirror', type: 'string', help: "fetch: http(s) base URL replacing the official one ({name} becomes the dataset's name)", defaultText: '$SLL_DATA_MIRROR', value: 'URL' },
    { name: 'timeout', type: 'number', help: `fetch: give up when the whole download takes longer than this (at most ${MAX_TIMEOUT_SECONDS})`, defaultText: 'none', value: 'SECONDS' },
    { name: 'idle-timeout', type: 'number', help: `fetch: give up when the server sends nothing for this long (0: never; at most ${MAX_TIMEOUT_SECONDS})`, defaultText: String(IDLE_TIMEOUT_MS / 1000), value: 'SECONDS' },
  ],
  epilog: 'Files are checked against the MD5 sums their publishers give; a mismatch deletes the download.',
};

export async function dataCommand(argv: readonly string[], ctx: { out: Output }): Promise<number> {
  const args = parseArgs(argv, DATA_COMMAND);
  if (args.help) {
    ctx.out.write(formatHelp(DATA_COMMAND) + '\n');
    return 0;
  }
  const [action = 'list', name, ...rest] = args.positionals;
  if (action === 'list') {
    if (name !== undefined) throw new UsageError(`'sll data list' takes no dataset name (got '${name}')`, 'data');
    const lines: string[] = [];
    for (const info of knownDatasets()) {
      const found = locateDataset(info.name);
      lines.push(`${info.name.padEnd(14)}${info.title}, ${info.classes} classes`);
      const before = found.searched.slice(0, -1);
      lines.push(`${''.padEnd(14)}${found.dir ? `found in ${found.dir}${before.length > 0 ? ` (looked first in ${before.join(', ')})` : ''}` : `not found (looked in ${found.searched.join(', ')}); get it with: sll data fetch ${info.name}`}`);
    }
    ctx.out.write(lines.join('\n') + '\n');
    return 0;
  }
  if (action !== 'fetch') throw new UsageError(`unknown action '${action}' (use list or fetch)`, 'data');
  if (name === undefined) throw new UsageError(`which dataset? known: ${knownDatasets().map((d) => d.name).join(', ')}`, 'data');
  if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`, 'data');
  requireKnownDataset(name, '', 'data');
  const timeout = args.values.timeout as number | undefined;
  if (timeout !== undefined && !(timeout > 0)) throw new UsageError(`--timeout must be positive, got ${timeout}`, 'data');
  if (timeout !== undefined && timeout > MAX_TIMEOUT_SECONDS) throw new UsageError(`--timeout must be at most ${MAX_TIMEOUT_SECONDS} seconds (24.8 days), got ${timeout}`, 'data');
  const idleTimeout = args.values['idle-timeout'] as number | undefined;
  if (idleTimeout !== undefined && !(idleTimeout >= 0)) throw new UsageError(`--idle-timeout must be 0 (never) or positive, got ${idleTimeout}`, 'data');
  if (idleTimeout !== undefined && idleTimeout > MAX_TIMEOUT_SECONDS) {
    throw new UsageError(`--idle-timeout must be at most ${MAX_TIMEOUT_SECONDS} seconds (24.8 days), or 0 for never, got ${idleTimeout}`, 'data');
  }
  // The mirror is checked here, so a file: or mistyped one is a usage error naming where it came from.
  const mirror = args.values.mirror as string | undefined;
  const envMirror = process.env.SLL_DATA_MIRROR || undefined;
  const mirrorFrom = mirror !== undefined ? '--mirror' : envMirror !== undefined ? 'SLL_DATA_MIRROR' : undefined;
  const mirrorUrl = (mirror ?? envMirror)?.replaceAll('{name}', name);
  const problem = mirrorUrl !== undefined && mirrorFrom !== undefined ? mirrorProblem(mirrorUrl, mirrorFrom) : undefined;
  if (problem) throw new UsageError(problem, 'data');
  let lineOpen = false;
  const show = (p: FetchProgress) => {
    const where = `[${p.index + 1}/${p.count}] ${p.file}`;
    if (p.state === 'present') {
      ctx.out.write(`${lineOpen ? '\n' : ''}${where}: already present, checksum ok\n`);
      lineOpen = false;
      return;
    }
    if (p.state === 'done') {
      ctx.out.write(`${ctx.out.isTTY ? '\r\x1b[2K' : ''}${where}: ${formatBytes(p.bytes)} downloaded, checksum ok\n`);
      lineOpen = false;
      return;
    }
    if (!ctx.out.isTTY) {
      if (p.bytes === 0) ctx.out.write(`${where}: downloading from ${p.url}\n`);
      return;
    }
    const fraction = p.total ? Math.min(p.bytes / p.total, 1) : undefined;
    const bar = fraction === undefined ? '' : ` [${'#'.repeat(Math.round(30 * fraction))}${'.'.repeat(30 - Math.round(30 * fraction))}] ${(100 * fraction).toFixed(0)}%`;
    ctx.out.write(`\r\x1b[2K${where}${bar} ${formatBytes(p.bytes)}${p.total ? ` of ${formatBytes(p.total)}` : ''}`);
    lineOpen = true;
  };
  const result = await fetchDataset(name, {
    ...(args.values.dir !== undefined ? { dir: args.values.dir as string } : {}),
    ...(args.values.mirror !== undefined ? { mirror: args.values.mirror as string } : {}),
    // Whole milliseconds: AbortSignal.timeout takes an integer.
    ...(timeout !== undefined ? { signal: AbortSignal.timeout(Math.ceil(timeout * 1000)) } : {}),
    ...(idleTimeout !== undefined ? { idleTimeoutMs: idleTimeout * 1000 } : {}),
    onProgress: show,
  });
  if (lineOpen) ctx.out.write('\n');
  ctx.out.write(`${name}: ${result.files.length} file(s) in ${result.dir ?? '(bundled)'}\n`);
  return 0;
}
