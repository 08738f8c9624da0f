// Aggregates finished runs into accuracy tables: mean test accuracy over seeds with the spread
// (min-max), the block heads' mean test accuracy, the last epoch's validation accuracy, the time
// per epoch and the adapter, one row per model, method and recipe. Reads either the JSON records
// of bench/experiments/sll-fashion.mjs (a directory of *.json) or run directories written by
// `sll train` (--runs: every subdirectory with config.json and a finished metrics.jsonl).
// bench/results-doc.mjs imports the readers and summaries below for docs/results.md.
//
//   node bench/experiments/sll-report.mjs [DIR]          records (default bench/results/fashion)
//   node bench/experiments/sll-report.mjs --runs DIR     run directories
import '../lib/help.mjs'; // --help prints the comment above, before anything else loads
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A fraction as a percentage with two decimals: 0.8978 -> '89.78'. */
export const pct = (x) => (100 * x).toFixed(2);
export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The lines of a metrics.jsonl file, parsed. */
export function readMetrics(path) {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/**
 * A run directory as a record (the fields the tables read, from config.json and metrics.jsonl),
 * or undefined when the run has no test line (not finished).
 */
export function recordOfRun(path) {
  const config = JSON.parse(readFileSync(join(path, 'config.json'), 'utf8'));
  const lines = readMetrics(join(path, 'metrics.jsonl'));
  const test = lines.find((l) => l.kind === 'test');
  if (!test) return undefined;
  const { spec } = config;
  const model = Object.entries(spec.model).map(([k, v]) => (k === 'kind' ? v : `${k} ${v}`)).join(', ');
  const { seed, ...recipe } = spec;
  delete recipe.metricsEvery;
  return {
    name: path.split(/[\\/]/).at(-1),
    spec,
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

/** The finished runs of a directory of run directories, by name; `skipped(name)` hears of unfinished ones. */
export function readRuns(dir, skipped = () => {}) {
  return readdirSync(dir)
    .sort()
    .filter((name) => existsSync(join(dir, name, 'config.json')) && existsSync(join(dir, name, 'metrics.jsonl')))
    .map((name) => recordOfRun(join(dir, name)) ?? skipped(name))
    .filter(Boolean);
}

/** The JSON records of a directory written by sll-fashion.mjs or tfjs-mlp.mjs, by file name. */
export function readRecords(dir) {
  return readdirSync(dir)
    .sort()
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ name: f.replace(/\.json$/, ''), ...JSON.parse(readFileSync(join(dir, f), 'utf8')) }));
}

/** Records grouped by model, method and recipe (everything but the seed), in first-seen order. */
export function groupRecords(records) {
  const groups = new Map();
  for (const r of records) {
    const key = `${r.model}|${r.method}|${JSON.stringify(r.recipe)}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  return [...groups.values()];
}

/**
 * One group's numbers, as fractions (not percentages): test accuracy (mean, min, max), each block
 * head's mean test accuracy, the last epoch's mean validation accuracy (undefined for runs
 * trained on the whole training file), the mean epoch time in seconds.
 */
export function summarize(runs) {
  const acc = runs.map((r) => r.test.accuracy);
  const heads = (runs[0].test.blockAccuracy ?? []).map((_, i) => mean(runs.map((r) => r.test.blockAccuracy[i])));
  const val = runs.map((r) => r.epochs.at(-1).validation?.accuracy).filter((v) => v !== undefined);
  return {
    model: runs[0].model,
    method: runs[0].method,
    seeds: runs.map((r) => r.seed),
    test: { mean: mean(acc), min: Math.min(...acc), max: Math.max(...acc) },
    heads,
    validation: val.length > 0 ? mean(val) : undefined,
    secondsPerEpoch: mean(runs.flatMap((r) => r.epochs.map((e) => e.seconds))),
    recipe: runs[0].recipe,
    adapter: runs[0].adapter.description,
  };
}

/** The objective's settings that differ from the default recipe (docs/algorithm.md, "The default recipe"), so that rows that differ say how. */
export function objectiveChanges(objective) {
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

/** A recipe in a few words: '10 ep, batch 128, Adam 0.001, cosine (warm-up 1 ep), 5000 held out, ...'. */
export function recipeText(recipe) {
  return [
    `${recipe.epochs} ep, batch ${recipe.batchSize}, Adam ${recipe.lr}, ${recipe.schedule.kind}`,
    recipe.schedule.warmupEpochs !== undefined ? ` (warm-up ${recipe.schedule.warmupEpochs} ep)` : '',
    // Run directories say how many images were held out; the older JSON records name the split.
    recipe.heldOut !== undefined ? (recipe.heldOut > 0 ? `, ${recipe.heldOut} held out` : ', no held-out split') : recipe.validation ? `, validation: ${recipe.validation}` : '',
    recipe.objective ? `, ${recipe.objective.mode} d0 ${recipe.objective.d0} tau ${recipe.objective.tau}` : '',
    recipe.objective ? objectiveChanges(recipe.objective) : '',
  ].join('');
}

/** The command's table: a markdown row per group of records. */
export function reportTable(records) {
  const lines = [
    '| model | method | seeds | test accuracy % (mean, min-max) | block heads % (mean) | validation % (last epoch) | s/epoch | recipe | adapter |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const runs of groupRecords(records)) {
    const s = summarize(runs);
    const heads = s.heads.map(pct).join(' / ') || '-';
    lines.push(
      `| ${s.model} | ${s.method} | ${s.seeds.join(', ')} | ${pct(s.test.mean)} (${pct(s.test.min)}-${pct(s.test.max)}) | ${heads} | ${s.validation !== undefined ? pct(s.validation) : '-'} | ${s.secondsPerEpoch.toFixed(0)} | ${recipeText(s.recipe)} | ${s.adapter} |`,
    );
  }
  return lines.join('\n');
}

function main(args) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const usage = 'usage: node bench/experiments/sll-report.mjs [DIR] | --runs DIR';
  if (args[0] === '--help' || args[0] === '-h') {
    console.log(usage);
    return 0;
  }
  const fromRuns = args[0] === '--runs';
  const dir = fromRuns ? args[1] : (args[0] ?? join(root, 'bench', 'results', 'fashion'));
  if (!dir) {
    console.error(usage);
    return 2;
  }
  if (!existsSync(dir)) {
    console.error(`sll-report: no such directory: ${dir}\n${usage}`);
    return 2;
  }
  const records = fromRuns ? readRuns(dir, (name) => console.error(`${name}: not finished, skipped`)) : readRecords(dir);
  console.log(reportTable(records));
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
