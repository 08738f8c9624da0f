// The ablation table: reads run directories written by `sll train` (config.json, metrics.jsonl),
// prints one markdown row per run with the SLL switches that differ from the first (baseline)
// run, the final validation and test accuracy, and each block head's test accuracy. With
// --copy DEST, copies each run's config.json and metrics.jsonl there (not the checkpoints), so
// the numbers can be committed with the adapter they came from.
//
//   node bench/sll-ablation-report.mjs runs/ablation [--copy bench/results/ablation-lavapipe]
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const dir = args[0];
if (!dir) {
  console.error('usage: node bench/sll-ablation-report.mjs RUNS_DIR [--copy DEST]');
  process.exit(2);
}
const copyAt = args.indexOf('--copy');
const copyTo = copyAt >= 0 ? args[copyAt + 1] : undefined;

const runs = [];
for (const name of readdirSync(dir).sort()) {
  const run = join(dir, name);
  if (!existsSync(join(run, 'config.json')) || !existsSync(join(run, 'metrics.jsonl'))) continue;
  const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
  const lines = readFileSync(join(run, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const test = lines.find((l) => l.kind === 'test');
  const epochs = lines.filter((l) => l.kind === 'epoch');
  if (!test) {
    console.error(`${name}: not finished, skipped`);
    continue;
  }
  runs.push({ name, config, test, last: epochs.at(-1), seconds: epochs.reduce((s, e) => s + e.seconds, 0) });
  if (copyTo) {
    mkdirSync(join(copyTo, name), { recursive: true });
    for (const f of ['config.json', 'metrics.jsonl']) copyFileSync(join(run, f), join(copyTo, name, f));
  }
}
if (runs.length === 0) {
  console.error(`no finished runs in ${dir}`);
  process.exit(1);
}
const order = ['baseline'];
runs.sort((a, b) => (order.indexOf(b.name) - order.indexOf(a.name)) || a.name.localeCompare(b.name));
const base = runs.find((r) => r.name === 'baseline') ?? runs[0];
const describe = (r) => {
  if (r.config.spec.method !== 'sll') return 'backprop (same model, optimizer, data)';
  const o = r.config.spec.objective;
  const b = base.config.spec.objective;
  const changed = Object.keys(o).filter((k) => JSON.stringify(o[k]) !== JSON.stringify(b[k]));
  if (r === base) return `${o.mode} mode, d0 = ${o.d0}, tau = ${o.tau}, p = ${o.dropout}, alignment ${o.alignment ? 'on' : 'off'}, ${o.projection}, ${o.scaling}`;
  return changed.map((k) => `${k} = ${JSON.stringify(o[k])}`).join(', ') || 'same as baseline';
};
const pct = (x) => (x === undefined ? '-' : (100 * x).toFixed(2));
const spec = base.config.spec;
console.log(`Adapter: ${base.config.adapter}`);
console.log(`Recipe: ${spec.model.kind} ${JSON.stringify(spec.model)}, ${spec.dataset.name}${spec.dataset.trainCount ? `, first ${spec.dataset.trainCount} training images` : ''}, validation ${spec.dataset.validation}, ${spec.epochs} epochs, batch ${spec.batchSize}, ${spec.optimizer.kind} ${spec.optimizer.lr}, ${spec.schedule.kind}${spec.schedule.kind === 'cosine' ? ` (warm-up ${spec.schedule.warmupEpochs} epoch)` : ''}, seed ${spec.seed}\n`);
console.log('| run | SLL objective (change from baseline) | validation % | test % | block heads, test % | time |');
console.log('|---|---|---|---|---|---|');
for (const r of runs) {
  console.log(`| ${r.name} | ${describe(r)} | ${pct(r.last?.validation?.accuracy)} | ${pct(r.test.accuracy)} | ${r.test.blockAccuracy.map(pct).join(' / ') || '-'} | ${r.seconds.toFixed(0)} s |`);
}
