/**
 * `sll tune`: times every matmul variant that runs on this adapter on the products of each shape
 * class the default models make (src/ops/tune.ts), prints the table against the built-in
 * choices, and saves the fastest per class for this adapter and driver (src/cli/tuningCache.ts).
 * `sll train`, `sll eval` and `sll info` put the saved table in force; a resumed run keeps the
 * table it was trained with.
 */
import type { Device } from '../gpu/device.js';
import { tuneKernels, type TuningRow } from '../ops/tune.js';
import { MATMUL_VARIANTS } from '../ops/matmulVariants.js';
import { formatHelp, parseArgs, UsageError, type CommandSpec } from './args.js';
import type { Output } from './progress.js';
import { describeKernelTuning } from '../ops/tuningTable.js';
import { saveTuning, tuningDir } from './tuningCache.js';

export const TUNE_COMMAND: CommandSpec = {
  name: 'tune',
  summary: "Measure the matmul variants on this adapter and save the fastest per shape class for 'sll train' and 'sll eval'.",
  usage: 'sll tune [--runs N] [--quick] [--dry-run] [--json]',
  options: [
    { name: 'runs', type: 'number', help: 'timed calls per product and variant, after a warm-up (median)', defaultText: '3', value: 'N' },
    { name: 'quick', type: 'boolean', help: 'small products only: checks the command in seconds; saves nothing (such a table would mean little)' },
    { name: 'dry-run', type: 'boolean', help: 'measure and print, save nothing' },
    { name: 'json', type: 'boolean', help: 'print the table and the measurements as JSON' },
  ],
  epilog: [
    'Tables are kept per adapter, driver and kernel layouts (SLL_KERNELS) in $SLL_TUNING_DIR, else',
    '$XDG_CACHE_HOME/sll-webgpu/tuning, else ~/.cache/sll-webgpu/tuning.',
    'SLL_TUNING=off makes every command use the built-in choices. A run records the table it used',
    '(config.json, checkpoints), and --resume puts that table back whatever is saved now.',
  ].join('\n'),
};

export async function tuneCommand(argv: readonly string[], ctx: { openDevice: () => Promise<Device>; out: Output }): Promise<number> {
  const args = parseArgs(argv, TUNE_COMMAND);
  if (args.help) {
    ctx.out.write(formatHelp(TUNE_COMMAND) + '\n');
    return 0;
  }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument '${args.positionals[0]}'`, 'tune');
  const runs = (args.values.runs as number | undefined) ?? 3;
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) throw new UsageError(`--runs must be an integer from 1 to 100, got ${runs}`, 'tune');
  const json = args.values.json === true;
  const device = await ctx.openDevice();
  try {
    if (!json) {
      ctx.out.write(`timing ${MATMUL_VARIANTS.join(', ')} on each shape class (median of ${runs} after a warm-up; ms summed over the class's products)\n`);
      ctx.out.write(`${'class'.padEnd(8)}${MATMUL_VARIANTS.map((v) => v.padStart(10)).join('')}   built-in -> tuned\n`);
    }
    const { tuning, rows } = await tuneKernels(device, { runs, quick: args.values.quick === true, onRow: json ? undefined : (row) => ctx.out.write(formatRow(row) + '\n') });
    const quick = args.values.quick === true;
    const file = args.values['dry-run'] === true || quick ? undefined : saveTuning(tuning);
    if (json) {
      ctx.out.write(JSON.stringify({ tuning, rows, file: file ?? null }, null, 2) + '\n');
    } else {
      ctx.out.write(`${file ? `saved ${file}` : `not saved (${args.values['dry-run'] === true ? '--dry-run' : '--quick'}; would go in ${tuningDir()})`}: ${describeKernelTuning(tuning)}\n`);
    }
    return 0;
  } finally {
    await device.close();
  }
}

function formatRow(row: TuningRow): string {
  const cells = MATMUL_VARIANTS.map((v) => {
    const r = row.variants[v];
    return (r === undefined || 'skipped' in r ? 'n/a' : r.ms.toFixed(2)).padStart(10);
  });
  const change = row.builtIn === row.chosen ? `${row.chosen} (same)` : `${row.builtIn} -> ${row.chosen}`;
  return `${row.shapeClass.padEnd(8)}${cells.join('')}   ${change}`;
}
