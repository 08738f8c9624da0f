// The kernel tuning of this machine's adapter as a record: what `sll tune` measures (every
// matmul variant on the products of each shape class, src/ops/tune.ts), written to
// bench/results/tuning-<adapter>.json for docs/results.md ("Tuned per adapter"), with the
// built-in choice beside the measured one per class. Saves no table for the command (that is
// `sll tune`'s job) and applies none while it measures. In a browser: `npm run bench:browser --
// --tune` (bench/kernels/browser.mjs) writes the same record for the browser's adapter.
//
//   npm run build && node bench/kernels/tune-record.mjs [--runs 3] [--out DIR]
import '../lib/help.mjs'; // --help prints the comment above, before anything else loads
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeAdapter, openNodeDevice, ops } from '../../dist/src/node.js';
import { machineName } from '../lib/machine.mjs';
import { option, orUsageError } from '../lib/options.mjs';
import { refreshResultsDoc } from '../results-doc.mjs';
import { adapterSlug, tuningRecord, tuningRowLine } from './suite.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const runs = orUsageError(() => {
  const n = Number(option('runs', '3'));
  if (!Number.isInteger(n) || n < 1) throw new Error(`--runs must be a positive integer, got ${option('runs', '3')}`);
  return n;
});
const device = await openNodeDevice();
const adapterSummary = describeAdapter(device.report);
console.log(`adapter: ${adapterSummary}`);
const { tuning, rows } = await ops.tuneKernels(device, {
  runs,
  onRow: (row) => console.log(tuningRowLine(row)),
});
const record = tuningRecord({ device, adapterSummary, host: { kind: 'node', version: process.version, machine: machineName() }, runs, shapes: ops.TUNING_SHAPES, tuning, rows });
const outDir = option('out', join(root, 'bench', 'results'));
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `tuning-${adapterSlug(device.report)}.json`);
writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
refreshResultsDoc(file);
console.log(`wrote ${file}`);
device.destroy();
