// The ablation table: reads run directories written by `sll train` (config.json, metrics.jsonl),
// prints one markdown row per run with what differs from the baseline run (the run named
// 'baseline', else the first SLL run by name, else --baseline NAME), the final validation and
// test accuracy, each block head's test accuracy and the training time. With --copy DEST, copies
// each run's config.json and metrics.jsonl there (not the checkpoints), so the numbers can be
// committed with the adapter they came from. bench/results-doc.mjs imports the functions below.
//
//   node bench/experiments/sll-ablation-report.mjs runs/ablation [--baseline NAME] [--copy bench/results/ablation-lavapipe]
import '../lib/help.mjs'; // --help prints the comment above, before anything else loads
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMetrics } from './sll-report.mjs';

/** The finished runs of a directory, by name: { name, dir, config, test, last (epoch line), seconds (all epochs) }. */
export function readAblationRuns(dir, skipped = () => {}) {
  const runs = [];
  for (const name of readdirSync(dir).sort()) {
    const run = join(dir, name);
    if (!existsSync(join(run, 'config.json')) || !existsSync(join(run, 'metrics.jsonl'))) continue;
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    const lines = readMetrics(join(run, 'metrics.jsonl'));
    const test = lines.find((l) => l.kind === 'test');
    const epochs = lines.filter((l) => l.kind === 'epoch');
    if (!test) {
      skipped(name);
      continue;
    }
    runs.push({ name, dir: run, config, test, last: epochs.at(-1), seconds: epochs.reduce((s, e) => s + e.seconds, 0) });
  }
  return runs;
}

/** The baseline run: the one named `name` (default 'baseline'), else the first SLL run. */
export function baselineRun(runs, name = 'baseline') {
  return runs.find((r) => r.name === name) ?? runs.find((r) => r.config.spec.method === 'sll') ?? runs[0];
}

// Settings that say nothing about the experiment: the seed is the same for every row of an
// ablation, and how often metrics were written does not change a result.
const IGNORED = new Set(['seed', 'metricsEvery', 'method', 'objective']);
const formatValue = (key, value) => (key === 'lr' && typeof value === 'number' ? value.toExponential() : JSON.stringify(value));

/**
 * What a spec changes against the baseline's, as 'key = value' texts: the objective's keys (SLL
 * runs only), then the model's, the optimizer's, the schedule's, the dataset's and the other
 * top-level settings. Keys are named without their section ('tau = 2', 'lr = 2e-3').
 */
export function specChanges(spec, base) {
  const changes = [];
  const compare = (a = {}, b = {}) => {
    for (const k of Object.keys(a)) if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) changes.push(`${k} = ${formatValue(k, a[k])}`);
  };
  if (spec.method === 'sll' && base.method === 'sll') compare(spec.objective, base.objective);
  for (const section of ['model', 'optimizer', 'schedule', 'dataset']) compare(spec[section], base[section]);
  for (const k of Object.keys(spec)) {
    if (IGNORED.has(k) || typeof spec[k] === 'object') continue;
    if (JSON.stringify(spec[k]) !== JSON.stringify(base[k])) changes.push(`${k} = ${formatValue(k, spec[k])}`);
  }
  return changes;
}

/** A run's row label: the baseline's whole objective, a backprop run as such, else the changes. */
export function describeRun(r, base) {
  const o = r.config.spec.objective;
  if (r === base) return `${o.mode} mode, d0 = ${o.d0}, tau = ${o.tau}, p = ${o.dropout}, alignment ${o.alignment ? 'on' : 'off'}, ${o.projection}, ${o.scaling}`;
  const changes = specChanges(r.config.spec, base.config.spec);
  if (r.config.spec.method !== 'sll') return changes.length > 0 ? `${r.config.spec.method}, ${changes.join(', ')}` : `${r.config.spec.method} (same model, optimizer, data)`;
  return changes.join(', ') || 'same as baseline';
}

/**
 * Rows in reading order: the baseline, then the SLL runs, then backprop; within a method the runs
 * at the baseline's learning rate by name, then the others by rate.
 */
export function orderRuns(runs, base) {
  const lr = (r) => r.config.spec.optimizer.lr;
  const key = (r) => [r === base ? 0 : 1, r.config.spec.method === 'sll' ? 0 : 1, lr(r) === lr(base) ? 0 : 1, lr(r)];
  return [...runs].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
    return a.name.localeCompare(b.name);
  });
}

const pct = (x) => (x === undefined ? '-' : (100 * x).toFixed(2));

/** The baseline's recipe in one line (model, data, epochs, optimizer, schedule, seed). */
export function recipeLine(base) {
  const spec = base.config.spec;
  return `${spec.model.kind} ${JSON.stringify(spec.model)}, ${spec.dataset.name}${spec.dataset.trainCount ? `, first ${spec.dataset.trainCount} training images` : ''}, validation ${spec.dataset.validation}, ${spec.epochs} epochs, batch ${spec.batchSize}, ${spec.optimizer.kind} ${spec.optimizer.lr}, ${spec.schedule.kind}${spec.schedule.kind === 'cosine' ? ` (warm-up ${spec.schedule.warmupEpochs} epoch)` : ''}, seed ${spec.seed}`;
}

/** The ablation table, as markdown lines: a row per run, in orderRuns' order. */
export function ablationTable(runs, base) {
  const lines = ['| run | SLL objective (change from baseline) | validation % | test % | block heads, test % | time |', '|---|---|---|---|---|---|'];
  for (const r of orderRuns(runs, base)) {
    lines.push(`| ${r.name} | ${describeRun(r, base)} | ${pct(r.last?.validation?.accuracy)} | ${pct(r.test.accuracy)} | ${r.test.blockAccuracy.map(pct).join(' / ') || '-'} | ${r.seconds.toFixed(0)} s |`);
  }
  return lines;
}

function main(args) {
  const dir = args[0];
  if (!dir) {
    console.error('usage: node bench/experiments/sll-ablation-report.mjs RUNS_DIR [--baseline NAME] [--copy DEST]');
    return 2;
  }
  const option = (name) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1] : undefined);
  const copyTo = option('--copy');
  const runs = readAblationRuns(dir, (name) => console.error(`${name}: not finished, skipped`));
  if (runs.length === 0) {
    console.error(`no finished runs in ${dir}`);
    return 1;
  }
  if (copyTo) {
    for (const r of runs) {
      mkdirSync(join(copyTo, r.name), { recursive: true });
      for (const f of ['config.json', 'metrics.jsonl']) copyFileSync(join(r.dir, f), join(copyTo, r.name, f));
    }
  }
  const base = baselineRun(runs, option('--baseline'));
  console.log(`Adapter: ${base.config.adapter}`);
  console.log(`Recipe: ${recipeLine(base)}\n`);
  console.log(ablationTable(runs, base).join('\n'));
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
