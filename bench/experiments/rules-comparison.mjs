// The local rules comparison of docs/results.md ("Local rules at equal budget"): every rule that
// trains a model, on Fashion-MNIST with that model's table recipe (MLP 10 epochs, CNN 5, ViT 3;
// cosine schedule with one warm-up epoch, batch 128, Adam, the last 5,000 training images held
// out), each at the Adam rate it does best with on validation in a short run, then three seeds.
//
//   grid:  every rule at each rate of --lrs, seed 0, on the first 20,000 training images for
//          2 epochs (one of them warm-up); records in bench/results/rules-grid-<tag>/lr<rate>/.
//   seeds: every rule at the rate of its best final validation accuracy in the grid (the lowest
//          rate on a tie), seeds 0, 1 and 2, the full recipe; records in
//          bench/results/rules-<tag>/. SLL's and backprop's come from fashion-<tag>-cosine/
//          (the MLP's table) or the CNN's and ViT's tables of `sll train` runs
//          (bench/lib/comparisonTables.mjs) when a run there has the chosen rate and the recipe.
//
// Each run is one `node bench/experiments/sll-fashion.mjs ...` command, printed before it starts
// and kept in its record, so every row of the tables is reproducible alone. A run whose record
// exists with the same rate is skipped, so the script picks up where an interrupted one stopped;
// a record with another rate is moved aside to <name>.lr<rate>.json, never written over. Each
// rule's MLP and CNN blocks use its authors' activation where it is not ReLU (bench/lib/rules.mjs):
// DRTP's tanh (sll.methodModelProblem says why it must be bounded), PredSim's LeakyReLU.
// Runs one training at a time: a CPU adapter has no cores to spare for two.
//
//   npm run build && node bench/experiments/rules-comparison.mjs --model mlp [--phase grid|seeds|all]
//     [--rules sll,dgl,drtp,predsim,ff,dfa,backprop] [--lrs 3e-4,1e-3,3e-3,1e-2,3e-2] [--tag lavapipe]
//     [--results bench/results] [--dry-run]
import '../lib/help.mjs'; // --help prints the comment above, before anything else loads
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sll } from '../../dist/src/index.js';
import { option, orUsageError } from '../lib/options.mjs';
import { COMPARISON_EPOCHS, hasComparisonRecipe, runTables } from '../lib/comparisonTables.mjs';
import { ruleActivation } from '../lib/rules.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const GRID = { trainCount: 20_000, epochs: 2 };
const SEEDS = [0, 1, 2];

const model = option('model', 'mlp');
const phase = option('phase', 'all');
const tag = option('tag', 'lavapipe');
const dryRun = process.argv.includes('--dry-run');
// In ascending order, so that a tie goes to the lowest rate, as docs/results.md reads the grid.
const lrs = option('lrs', '3e-4,1e-3,3e-3,1e-2,3e-2').split(',').sort((a, b) => Number(a) - Number(b));
const rules = orUsageError(() => {
  if (!COMPARISON_EPOCHS[model]) throw new Error(`--model must be ${Object.keys(COMPARISON_EPOCHS).join(', ')}, got ${model}`);
  if (!['grid', 'seeds', 'all'].includes(phase)) throw new Error(`--phase must be grid, seeds or all, got ${phase}`);
  for (const lr of lrs) if (!(Number(lr) > 0)) throw new Error(`--lrs takes positive rates, got ${lr}`);
  const asked = option('rules', sll.METHODS.join(',')).split(',');
  for (const r of asked) if (!sll.METHODS.includes(r)) throw new Error(`--rules takes ${sll.METHODS.join(', ')}, got ${r}`);
  return asked.filter((r) => !sll.methodModelProblem(r, model));
});

// Relative to the repository root (the runs' working directory), so that the commands kept in the records hold no machine's paths.
// Relative to the repository root unless given otherwise (--results: a test's own directory).
const results = option('results', join('bench', 'results'));
const gridDir = (lr) => join(results, `rules-grid-${tag}`, `lr${lr}`);
const seedsDir = join(results, `rules-${tag}`);
/** The record name sll-fashion.mjs writes for a rule and seed. */
const recordName = (rule, seed) => `${model}${ruleActivation(rule, model) === 'relu' ? '' : `-${ruleActivation(rule, model)}`}-${rule}-seed${seed}.json`;
const readRecord = (file) => (existsSync(resolve(root, file)) ? JSON.parse(readFileSync(resolve(root, file), 'utf8')) : undefined);

function run(rule, seed, lr, out, extra) {
  const args = ['bench/experiments/sll-fashion.mjs', '--model', model, '--method', rule, '--seed', String(seed), '--lr', lr, '--schedule', 'cosine', '--activation', ruleActivation(rule, model), '--out', out, ...extra];
  console.log(`\n$ node ${args.join(' ')}`);
  if (dryRun) return;
  const done = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (done.status !== 0) {
    console.error(`rules-comparison: that run ended with ${done.signal ?? `exit code ${done.status}`}; stopping (rerun to go on from here)`);
    process.exit(1);
  }
}

/**
 * The rates of the finished `sll train` runs of the model's accuracy tables (runTables) for a
 * rule and seed that have the comparison's recipe: the default model and SLL objective, the
 * model's epochs, batch 128, Adam, a cosine schedule with one warm-up epoch, 5,000 images held
 * out and every other one trained on. Each stands for the sll-fashion.mjs run at its rate.
 */
function tableRates(rule, seed) {
  const defaults = sll.resolveTrainingSpec({ method: rule, model: { kind: model }, dataset: { name: 'fashion-mnist', validation: 5000 } }, { classes: 10 });
  const same = (a, b) => JSON.stringify({ ...b, ...a }) === JSON.stringify(b);
  return runTables(model, tag).flatMap((table) => {
    const run = resolve(root, results, table, `${rule}-seed${seed}`);
    if (!existsSync(join(run, 'config.json')) || !existsSync(join(run, 'metrics.jsonl'))) return [];
    if (!readFileSync(join(run, 'metrics.jsonl'), 'utf8').includes('"kind":"test"')) return [];
    const { spec } = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    return hasComparisonRecipe(spec, model) && same(spec.model, defaults.model) && (rule !== 'sll' || same(spec.objective, defaults.objective)) ? [spec.optimizer.lr] : [];
  });
}

/**
 * Runs the job unless its record exists at this rate (in `out`, or in `alsoIn`: the MLP's table
 * of records); a record at another rate is moved aside first. `fromTables`: a table run of the
 * full recipe at this rate stands for it (seeds only: a grid point is a short run of its own).
 */
function ensure(rule, seed, lr, out, extra, { alsoIn = [], fromTables = false } = {}) {
  for (const dir of [out, ...alsoIn]) {
    const found = readRecord(join(dir, recordName(rule, seed)));
    if (found && Number(found.recipe.lr) === Number(lr)) return;
  }
  if (fromTables && ['sll', 'backprop'].includes(rule) && tableRates(rule, seed).some((r) => Number(r) === Number(lr))) return;
  const file = join(out, recordName(rule, seed));
  const stale = readRecord(file);
  if (stale && !dryRun) {
    // Never over another record: a second record of the same rate moved aside gets a number.
    let aside = file.replace(/\.json$/, `.lr${stale.recipe.lr}.json`);
    for (let n = 2; existsSync(resolve(root, aside)); n++) aside = file.replace(/\.json$/, `.lr${stale.recipe.lr}-${n}.json`);
    console.log(`moving ${file} (rate ${stale.recipe.lr}) aside to ${aside}`);
    renameSync(resolve(root, file), resolve(root, aside));
  }
  run(rule, seed, lr, out, extra);
}

/** The grid's rate for a rule: the best final validation accuracy, the lowest rate on a tie. */
function chosenRate(rule) {
  let best;
  for (const lr of lrs) {
    const r = readRecord(join(gridDir(lr), recordName(rule, 0)));
    if (!r) return undefined;
    const accuracy = r.epochs.at(-1).validation.accuracy;
    if (!best || accuracy > best.accuracy) best = { lr, accuracy };
  }
  return best.lr;
}

if (phase !== 'seeds') {
  for (const rule of rules) for (const lr of lrs) ensure(rule, 0, lr, gridDir(lr), ['--epochs', String(GRID.epochs), '--train-count', String(GRID.trainCount)]);
}
if (phase !== 'grid') {
  const table = join(results, `fashion-${tag}-cosine`);
  console.log(`rates chosen by the grid (${lrs.join(', ')}): ${rules.map((rule) => `${rule} ${chosenRate(rule) ?? '(grid not complete)'}`).join(', ')}`);
  for (const seed of SEEDS) {
    for (const rule of rules) {
      const lr = chosenRate(rule);
      if (lr === undefined) {
        console.log(`${rule}: the grid is not complete (${lrs.join(', ')}); run --phase grid first`);
        continue;
      }
      ensure(rule, seed, lr, seedsDir, ['--epochs', String(COMPARISON_EPOCHS[model])], { alsoIn: ['sll', 'backprop'].includes(rule) && model === 'mlp' ? [table] : [], fromTables: true });
    }
  }
}
