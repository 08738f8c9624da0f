// Aggregates finished runs into the README's accuracy table: mean test accuracy over seeds with
// the spread (min-max), the last epoch's validation accuracy, the time per epoch and the
// adapter, one row per model, method and recipe. Reads either the JSON records of
// bench/sll-fashion.mjs (a directory of *.json) or run directories written by `sll train`
// (--runs: every subdirectory with config.json and a finished metrics.jsonl).
//
//   node bench/sll-report.mjs [DIR]          records (default bench/results/fashion)
//   node bench/sll-report.mjs --runs DIR     run directories
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const usage = 'usage: node bench/sll-report.mjs [DIR] | --runs DIR';
if (args[0] === '--help' || args[0] === '-h') {
  console.log(usage);
  process.exit(0);
}
const fromRuns = args[0] === '--runs';
const dir = fromRuns ? args[1] : (args[0] ?? join(root, 'bench', 'results', 'fashion'));
if (!dir) {
  console.error(usage);
  process.exit(2);
}
if (!existsSync(dir)) {
  console.error(`sll-report: no such directory: ${dir}\n${usage}`);
  process.exit(2);
}

/** A run directory as a record: the fields the table reads, from config.json and metrics.jsonl. */
function recordOfRun(path) {
  const config = JSON.parse(readFileSync(join(path, 'config.json'), 'utf8'));
  const lines = readFileSync(join(path, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const test = lines.find((l) => l.kind === 'test');
  if (!test) return undefined;
  const { spec } = config;
  const model = Object.entries(spec.model).map(([k, v]) => (k === 'kind' ? v : `${k} ${v}`)).join(', ');
  const { seed, ...recipe } = spec;
  delete recipe.metricsEvery;
  return {
    model,
    method: spec.method,
    seed,
    recipe: {
      epochs: spec.epochs,
      batchSize: spec.batchSize,
      lr: spec.optimizer.lr,
      schedule: spec.schedule,
      heldOut: spec.dataset.validation,
      objective: spec.method === 'sll' ? spec.objective : undefined,
      key: JSON.stringify(recipe),
    },
    epochs: lines.filter((l) => l.kind === 'epoch'),
    test,
    // config.json holds the adapter as one line of text ('llvmpipe: Mesa ... (vulkan, core, ...)').
    adapter: { description: String(config.adapter).replace(/ \(.*$/, '') },
  };
}

const records = fromRuns
  ? readdirSync(dir)
      .filter((name) => existsSync(join(dir, name, 'config.json')) && existsSync(join(dir, name, 'metrics.jsonl')))
      .map((name) => recordOfRun(join(dir, name)) ?? (console.error(`${name}: not finished, skipped`), undefined))
      .filter(Boolean)
  : readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
const groups = new Map();
for (const r of records) {
  const key = `${r.model}|${r.method}|${JSON.stringify(r.recipe)}`;
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push(r);
}
const pct = (x) => (100 * x).toFixed(2);
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log('| model | method | seeds | test accuracy % (mean, min-max) | block heads % (mean) | validation % (last epoch) | s/epoch | recipe | adapter |');
console.log('|---|---|---|---|---|---|---|---|---|');
/** The objective's settings that differ from the default recipe (docs/algorithm.md, "The default recipe"), so that rows that differ say how. */
function objectiveChanges(objective) {
  const changes = [];
  if (objective.dropout) changes.push(`dropout ${objective.dropout}`);
  if (objective.alignment === false) changes.push('no alignment');
  if (objective.inputAlignment === false) changes.push('no input alignment');
  if (objective.alignmentWeight !== undefined && objective.alignmentWeight !== 1) changes.push(`alignment weight ${objective.alignmentWeight}`);
  if (objective.likelihoodWeight !== undefined && objective.likelihoodWeight !== 1) changes.push(`likelihood weight ${objective.likelihoodWeight}`);
  if (objective.projection && objective.projection !== 'gaussian') changes.push(`${objective.projection} projection`);
  if (objective.scaling && objective.scaling !== 'fan-in') changes.push(`${objective.scaling} scaling`);
  return changes.map((c) => `, ${c}`).join('');
}

for (const runs of groups.values()) {
  const acc = runs.map((r) => r.test.accuracy);
  const heads = runs[0].test.blockAccuracy.map((_, i) => pct(mean(runs.map((r) => r.test.blockAccuracy[i])))).join(' / ') || '-';
  // Runs trained on the whole training file (validation 0) have no validation accuracy.
  const val = runs.map((r) => r.epochs.at(-1).validation?.accuracy).filter((v) => v !== undefined);
  const seconds = runs.flatMap((r) => r.epochs.map((e) => e.seconds));
  const { recipe } = runs[0];
  const recipeText = [
    `${recipe.epochs} ep, batch ${recipe.batchSize}, Adam ${recipe.lr}, ${recipe.schedule.kind}`,
    recipe.schedule.warmupEpochs !== undefined ? ` (warm-up ${recipe.schedule.warmupEpochs} ep)` : '',
    // Run directories say how many images were held out; the older JSON records name the split.
    recipe.heldOut !== undefined ? (recipe.heldOut > 0 ? `, ${recipe.heldOut} held out` : ', no held-out split') : recipe.validation ? `, validation: ${recipe.validation}` : '',
    recipe.objective ? `, ${recipe.objective.mode} d0 ${recipe.objective.d0} tau ${recipe.objective.tau}` : '',
    recipe.objective ? objectiveChanges(recipe.objective) : '',
  ].join('');
  console.log(
    `| ${runs[0].model} | ${runs[0].method} | ${runs.map((r) => r.seed).join(', ')} | ${pct(mean(acc))} (${pct(Math.min(...acc))}-${pct(Math.max(...acc))}) | ${heads} | ${val.length > 0 ? pct(mean(val)) : '-'} | ${mean(seconds).toFixed(0)} | ${recipeText} | ${runs[0].adapter.description} |`,
  );
}
