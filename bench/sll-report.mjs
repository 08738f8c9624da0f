// Aggregates the run records of bench/sll-fashion.mjs (bench/results/fashion/*.json) into the
// README's accuracy table: mean test accuracy over seeds with the spread (min-max), the recipe,
// the time per epoch and the adapter, one row per model and method.
//
//   node bench/sll-report.mjs [DIR]
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = process.argv[2] ?? join(root, 'bench', 'results', 'fashion');
const records = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
const groups = new Map();
for (const r of records) {
  const key = `${r.model}|${r.method}|${JSON.stringify(r.recipe)}`;
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push(r);
}
const pct = (x) => (100 * x).toFixed(2);
console.log('| model | method | seeds | test accuracy % (mean, min-max) | validation % (last epoch) | s/epoch | recipe | adapter |');
console.log('|---|---|---|---|---|---|---|---|');
for (const runs of groups.values()) {
  const acc = runs.map((r) => r.test.accuracy);
  const mean = acc.reduce((a, b) => a + b, 0) / acc.length;
  const val = runs.map((r) => r.epochs.at(-1).validation.accuracy);
  const seconds = runs.flatMap((r) => r.epochs.map((e) => e.seconds));
  const { recipe } = runs[0];
  const recipeText = `${recipe.epochs} ep, batch ${recipe.batchSize}, Adam ${recipe.lr}, ${recipe.schedule.kind}${recipe.objective ? `, ${recipe.objective.mode} d0 ${recipe.objective.d0} tau ${recipe.objective.tau}` : ''}`;
  console.log(
    `| ${runs[0].model} | ${runs[0].method} | ${runs.map((r) => r.seed).join(', ')} | ${pct(mean)} (${pct(Math.min(...acc))}-${pct(Math.max(...acc))}) | ${pct(val.reduce((a, b) => a + b, 0) / val.length)} | ${(seconds.reduce((a, b) => a + b, 0) / seconds.length).toFixed(0)} | ${recipeText} | ${runs[0].adapter.description} |`,
  );
}
