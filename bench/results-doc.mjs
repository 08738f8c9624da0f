// Writes docs/results.md, every result table of the project, from the records in bench/results/:
// accuracy runs (sll-fashion.mjs records and `sll train` run directories), ablations, memory,
// speed, profiles and kernel benchmarks. Nothing in the document is typed in but the targets
// (requirements, not measurements) and the words around the numbers: each table, each number in
// the prose and each verdict against a target is computed here from the records, so the document
// cannot drift from its data (test/results-doc.test.ts fails when docs/results.md differs from
// what this script makes). The run readers and summaries come from experiments/sll-report.mjs and
// experiments/sll-ablation-report.mjs.
//
//   node bench/results-doc.mjs        (npm run results) writes docs/results.md
import './lib/help.mjs'; // --help prints the comment above, before anything else loads
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ablationTable, baselineRun, readAblationRuns, specChanges } from './experiments/sll-ablation-report.mjs';
import { groupRecords, objectiveChanges, pct, readMetrics, readRecords, readRuns, summarize } from './experiments/sll-report.mjs';
import { comparisonActivation, hasComparisonRecipe, runTables } from './lib/comparisonTables.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const RESULTS_DIR = join(ROOT, 'bench', 'results');
export const DOC_PATH = join(ROOT, 'docs', 'results.md');

// ------------------------------------------------------------------ formatting

/** A fraction as the percentage the tables show, as a number: 0.89777 -> 89.78. */
const shown = (x) => Number((100 * x).toFixed(2));
/** A difference of shown percentages, in points with two decimals. */
const points = (x) => Math.abs(x).toFixed(2);
const thousands = (n) => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const MiB = 2 ** 20;
const mib = (bytes, digits) => (bytes / MiB).toFixed(digits);
/** A learning rate as the README writes it: 0.0012 -> '1.2e-3'. */
const rate = (lr) => lr.toExponential();
const code = (text) => `\`${text}\``;
const at = (...path) => code(`bench/results/${path.join('/')}`);
const METHOD = { sll: 'SLL', dgl: 'DGL', drtp: 'DRTP', predsim: 'PredSim', ff: 'Forward-Forward', dfa: 'DFA', backprop: 'backprop', 'tfjs-backprop': 'TF.js backprop' };
const list = (items) => (items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`);

function table(headers, rows) {
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

// ------------------------------------------------------------------ records

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** The files of `dir` whose names start with `prefix` and end with `ext`, by name. */
function filesOf(dir, prefix, ext) {
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith(ext))
    .sort();
}

/**
 * Adapter descriptions ('NVIDIA: 580.159.04 580.159.4.0') to the device the benchmark records name
 * ('nvidia-h200'), gathered from every JSON record that has a full adapter report; run
 * directories record only the description.
 */
function deviceNames(dir) {
  const names = new Map();
  const note = (adapter) => {
    if (adapter?.description && adapter.device) names.set(adapter.description.replace(/ \(.*$/, ''), adapter.device);
  };
  for (const f of filesOf(dir, '', '.json')) note(readJson(join(dir, f)).adapter);
  // The records of sll-fashion.mjs sit one level down (run directories, one further, have none).
  for (const d of readdirSync(dir).sort()) {
    if (!statSync(join(dir, d)).isDirectory()) continue;
    for (const f of filesOf(join(dir, d), '', '.json')) note(readJson(join(dir, d, f)).adapter);
  }
  return names;
}

/** An adapter in words: 'lavapipe (Mesa 25.0.7)', 'NVIDIA H200 (driver 580.159.04)'; lavapipe is Mesa's Vulkan driver on the CPU. */
function adapterLabel(description, devices) {
  const short = description.replace(/ \(.*$/, '');
  const mesa = /^llvmpipe: Mesa ([\d.]+)/.exec(short);
  if (mesa) return `lavapipe (Mesa ${mesa[1]})`;
  const device = devices.get(short);
  const driver = /^NVIDIA: ([\d.]+)/.exec(short);
  if (!device) return short;
  return `${device.split('-').map((w) => w.toUpperCase()).join(' ')}${driver ? ` (driver ${driver[1]})` : ''}`;
}

function adaptersOf(runs, devices) {
  return list([...new Set(runs.map((r) => adapterLabel(r.adapter.description, devices)))]);
}

// ------------------------------------------------------------------ models and recipes

const KIND_ORDER = ['mlp', 'cnn', 'vit'];
const KIND_NAME = { mlp: 'MLP', cnn: 'CNN', vit: 'ViT' };
const kindOf = (r) => r.spec?.model.kind ?? r.model.split(' ')[0];

/** A model as the tables name it, from a run's spec or a record's model name. */
function modelName(r) {
  const m = r.spec?.model;
  if (m?.kind === 'cnn') return `CNN ${m.channels.map((c) => `${new Array(m.convsPerStage ?? 1).fill(`conv${c}`).join('-')}-pool`).join('/')}/fc${m.hidden}`;
  if (m?.kind === 'vit') return `ViT patch ${m.patch}, dim ${m.dim}, depth ${m.depth}, ${m.heads} heads${m.pooling && m.pooling !== 'mean-token' ? `, ${m.pooling} pooling` : ''}`;
  if (m?.kind === 'mlp') return `MLP, hidden ${m.hidden.join('-')}`;
  return modelFromName(r.model);
}

/** The engine's model names ('cnn conv32-pool/conv64-pool/fc256/fc10') as the tables write them (the classifier layer left out). */
function modelFromName(name) {
  let m;
  if ((m = /^mlp (.*)$/.exec(name))) return `MLP ${m[1]}`;
  if ((m = /^cnn (.*)\/fc\d+$/.exec(name))) return `CNN ${m[1]}`;
  if ((m = /^vit patch(\d+) dim(\d+) depth(\d+) heads(\d+)/.exec(name))) return `ViT patch ${m[1]}, dim ${m[2]}, depth ${m[3]}, ${m[4]} heads`;
  return name;
}

/** The recipe of a run directory or of an sll-fashion.mjs record, in one shape. */
function recipeOf(r) {
  if (r.spec) {
    const s = r.spec;
    return { epochs: s.epochs, batch: s.batchSize, optimizer: s.optimizer.kind, lr: s.optimizer.lr, schedule: s.schedule.kind, warmup: s.schedule.warmupEpochs, heldOut: s.dataset.validation, trainCount: s.dataset.trainCount };
  }
  const c = r.recipe;
  const warmup = c.schedule.warmupSteps !== undefined ? c.schedule.warmupSteps / (c.schedule.totalSteps / c.epochs) : undefined;
  return { epochs: c.epochs, batch: c.batchSize, optimizer: c.optimizer, lr: c.lr, schedule: c.schedule.kind, warmup, validation: c.validation, trainCount: c.trainCount };
}

/** A recipe in words; `epochs: false` and `lr: false` leave those out (when a table has a column for them). */
function recipeText(r, { epochs = true, lr = true } = {}) {
  const c = recipeOf(r);
  const schedule = c.schedule === 'cosine' ? (c.warmup ? `a cosine schedule with ${c.warmup} warm-up epoch${c.warmup === 1 ? '' : 's'}` : 'a cosine schedule without warm-up') : `a ${c.schedule} rate`;
  let data;
  if (c.validation) data = `validation on the ${c.validation}`;
  else if (c.heldOut > 0) data = `${thousands(c.heldOut)} training images held out for validation${c.trainCount ? `, training on the first ${thousands(c.trainCount)} of the rest` : ''}`;
  else data = 'no held-out split (trained on every training image)';
  return [epochs ? `${c.epochs} epochs` : '', `batch ${c.batch}`, `${c.optimizer === 'adam' ? 'Adam' : c.optimizer} ${lr ? rate(c.lr) : '(rates in the table)'}`, schedule, data].filter(Boolean).join(', ');
}

/** The SLL objectives of a set of runs, per model: 'the CNN's SLL blocks in latent mode (d0 = 512, tau = 2)'. */
function objectivesText(runs) {
  const seen = new Map();
  for (const r of runs) {
    const o = r.spec?.objective ?? r.recipe.objective;
    if (r.method !== 'sll' || !o) continue;
    const text = `${o.mode} mode (d0 = ${o.d0}, tau = ${o.tau}${objectiveChanges(o)})`;
    seen.set(`${kindOf(r)}|${text}`, `the ${KIND_NAME[kindOf(r)]}'s in ${text}`);
  }
  return `SLL blocks: ${list([...seen.values()])}`;
}

// ------------------------------------------------------------------ accuracy tables and verdicts

/** Groups of runs (one per model, method and recipe) with their summaries, MLP/CNN/ViT and SLL first. */
function groupsOf(records) {
  return groupRecords(records)
    .map((runs) => ({ runs, ...summarize(runs) }))
    .sort((a, b) => KIND_ORDER.indexOf(kindOf(a.runs[0])) - KIND_ORDER.indexOf(kindOf(b.runs[0])) || (a.method === 'sll' ? 0 : 1) - (b.method === 'sll' ? 0 : 1));
}

function testCell(g) {
  const m = g.method === 'sll' ? `**${pct(g.test.mean)}**` : pct(g.test.mean);
  return g.seeds.length > 1 ? `${m} (${pct(g.test.min)}-${pct(g.test.max)})` : m;
}

/** The accuracy table of groups; optional columns: epochs, Adam rate, seconds per epoch. */
function accuracyTable(groups, { epochs = false, lr = false, time = false } = {}) {
  const columns = [
    ['model', (g) => modelName(g.runs[0])],
    epochs && ['epochs', (g) => String(g.recipe.epochs)],
    ['method', (g) => METHOD[g.method] ?? g.method],
    lr && ['Adam rate', (g) => rate(g.recipe.lr)],
    ['seeds', (g) => g.seeds.join(', ')],
    ['test accuracy %, mean (min-max)', testCell],
    ['block heads % (mean)', (g) => g.heads.map(pct).join(' / ')],
    ['validation % (last epoch, mean)', (g) => (g.validation === undefined ? '-' : pct(g.validation))],
    time && ['time per epoch', (g) => `${g.secondsPerEpoch.toFixed(0)} s`],
  ].filter(Boolean);
  return table(
    columns.map(([h]) => h),
    groups.map((g) => columns.map(([, cell]) => cell(g))),
  );
}

/** The SLL and backprop groups of one model kind. */
function pairOf(groups, kind) {
  const ofKind = groups.filter((g) => kindOf(g.runs[0]) === kind);
  return { sll: ofKind.find((g) => g.method === 'sll'), bp: ofKind.find((g) => g.method === 'backprop') };
}

/**
 * The verdict on 'SLL >= backprop - maxGap points [and >= floor %]', computed from the means as
 * the table shows them, with the per-seed gaps when both methods ran the same seeds.
 */
function gapVerdict({ sll, bp }, { maxGap, floor, perSeed = false }) {
  const s = shown(sll.test.mean);
  const gap = shown(bp.test.mean) - s;
  const gapMet = gap <= maxGap + 1e-9;
  const floorMet = floor === undefined || s >= floor;
  const target = `SLL >= backprop - ${maxGap.toFixed(1)} point${maxGap === 1 ? '' : 's'}${floor !== undefined ? ` and >= ${floor.toFixed(1)}%` : ''}`;
  const mark = (met) => (floor !== undefined && gapMet !== floorMet ? ` (${met ? 'met' : 'missed'})` : '');
  let text = `${KIND_NAME[kindOf(sll.runs[0])]}, target "${target}": **${gapMet && floorMet ? 'met' : 'missed'}**. `;
  text += `SLL's mean is ${points(gap)} points ${gap >= 0 ? 'below' : 'above'} backprop's${gapMet ? '' : `, ${points(gap - maxGap)} more than the target allows`}${mark(gapMet)}`;
  if (floor !== undefined) {
    text += ` and ${points(s - floor)} ${s >= floor ? 'above' : 'below'} ${floor.toFixed(1)}%${mark(floorMet)}`;
    const worstMet = shown(sll.test.min) >= floor;
    if (sll.seeds.length > 1) text += `; its worst seed, ${pct(sll.test.min)}%, is ${worstMet ? 'above' : 'below'} ${floor.toFixed(1)}%${worstMet === floorMet ? ' too' : ''}`;
  }
  text += '.';
  const seeds = sll.seeds.filter((seed) => bp.seeds.includes(seed));
  if (perSeed && seeds.length > 1) {
    const acc = (g, seed) => shown(g.runs.find((r) => r.seed === seed).test.accuracy);
    text += ` Per seed (${seeds.join(', ')}): ${seeds.map((seed) => points(acc(bp, seed) - acc(sll, seed))).join(', ')} points apart.`;
  }
  return text;
}

/** 'SLL +1.56 points, backprop +0.87' between the same models' groups of two tables. */
function gains(groups, before) {
  return ['sll', 'backprop']
    .map((method) => {
      const now = groups.find((g) => g.method === method);
      const then = before.find((g) => g.method === method && kindOf(g.runs[0]) === kindOf(now.runs[0]));
      const d = shown(now.test.mean) - shown(then.test.mean);
      return `${METHOD[method]} ${d >= 0 ? '+' : '-'}${points(d)} points`;
    })
    .join(', ');
}

/** Per method, the Adam rate of the best validation accuracy in the ViT ablation's learning-rate sweep (the lower rate on a tie). */
function bestRates(dir) {
  const runs = readAblationRuns(join(dir, 'vit-ablation-lavapipe'));
  const base = baselineRun(runs, 'sll-class');
  const best = ['sll', 'backprop'].map((method) => {
    const sweep = runs
      .filter((r) => r.config.spec.method === method && specChanges(r.config.spec, base.config.spec).every((c) => c.startsWith('lr = ')))
      .sort((a, b) => a.config.spec.optimizer.lr - b.config.spec.optimizer.lr);
    const top = sweep.reduce((a, b) => (shown(b.last.validation.accuracy) > shown(a.last.validation.accuracy) ? b : a));
    return `${METHOD[method]} ${rate(top.config.spec.optimizer.lr)} (${pct(top.last.validation.accuracy)}%)`;
  });
  return list(best);
}

/** Runs that change a base run, in a table of what changed and what they reached. */
function changesTable(base, baseLabel, runs) {
  const rows = [base, ...runs].map((r) => [
    code(r.name),
    r === base ? baseLabel : specChanges(r.spec, base.spec).join(', '),
    r.epochs.at(-1).validation ? pct(r.epochs.at(-1).validation.accuracy) : '-',
    pct(r.test.accuracy),
    r.test.blockAccuracy.map(pct).join(' / '),
  ]);
  return table(['run', 'change', 'validation % (last epoch)', 'test %', 'block heads, test %'], rows);
}

/** Where a directory of runs is and what every run in it holds: '`bench/results/x/`, each run's config.json and metrics.jsonl'. */
function runsAt(dir, name) {
  const runs = readdirSync(join(dir, name))
    .sort()
    .filter((run) => statSync(join(dir, name, run)).isDirectory());
  const files = runs.map((run) => readdirSync(join(dir, name, run)));
  const common = files[0].filter((f) => files.every((fs) => fs.includes(f))).sort();
  return `${at(name + '/')}, each run's ${list(common)}`;
}

const seedsText = (groups) => `seeds ${list([...new Set(groups.flatMap((g) => g.seeds))].sort().map(String))}`;

// ------------------------------------------------------------------ sections

function accuracySection(dir, devices) {
  const out = ['## Accuracy on Fashion-MNIST'];
  out.push(
    'Test accuracy is on the 10,000 test images, validation accuracy on the held-out training images after the last epoch; a mean is over seeds, with the lowest and highest seed in parentheses, and the block heads are the SLL blocks\' local classifiers.',
  );

  // The MLP, sll-fashion.mjs records, cosine schedule, on lavapipe.
  const cosine = readRecords(join(dir, 'fashion-lavapipe-cosine'));
  const constant = readRecords(join(dir, 'fashion-h200'));
  const cosineGroups = groupsOf(cosine);
  const constantGroups = groupsOf(constant);
  const mlp = pairOf(cosineGroups, 'mlp');
  const mlpConstant = pairOf(constantGroups, 'mlp');
  const seed0 = (g) => g.runs.find((r) => r.seed === 0);
  out.push(
    `### MLP, ${recipeOf(mlp.sll.runs[0]).epochs} epochs, cosine schedule`,
    `${code('bench/experiments/sll-fashion.mjs')}, one record per model, method and seed (${at('fashion-lavapipe-cosine/')}): ${recipeText(mlp.sll.runs[0])}; ${objectivesText(cosine)}; ${seedsText(cosineGroups)}, on ${adaptersOf(cosine, devices)}. ` +
      `The schedule was chosen on validation: with it seed 0 reached ${pct(seed0(mlp.sll).epochs.at(-1).validation.accuracy)}% (SLL) and ${pct(seed0(mlp.bp).epochs.at(-1).validation.accuracy)}% (backprop), against ${pct(mlpConstant.sll.validation)}% and ${pct(mlpConstant.bp.validation)}% (means of ${mlpConstant.sll.seeds.length} seeds) with a constant rate (next table).`,
    accuracyTable(cosineGroups),
    gapVerdict(mlp, { maxGap: 0.5, floor: 89.0 }),
  );

  // Both models at a constant rate, sll-fashion.mjs records, on the H200.
  out.push(
    '### MLP and CNN, constant rate',
    `The same script with a constant rate (${at('fashion-h200/')}): ${recipeText(constant[0], { epochs: false })}; ${objectivesText(constant)}; on ${adaptersOf(constant, devices)}.`,
    accuracyTable(constantGroups, { epochs: true, time: true }),
  );

  // The CNN, `sll train` run directories, cosine, on lavapipe; then its diagnostics.
  const cnnRuns = readRuns(join(dir, 'cnn-lavapipe'));
  const cnnGroups = groupsOf(cnnRuns);
  const cnn = pairOf(cnnGroups, 'cnn');
  out.push(
    `### CNN, ${cnnRuns[0].spec.epochs} epochs, cosine schedule`,
    `${code('sll train')} (${runsAt(dir, 'cnn-lavapipe')}): ${recipeText(cnnRuns[0])}; ${objectivesText(cnnRuns)}; ${seedsText(cnnGroups)}, on ${adaptersOf(cnnRuns, devices)}.`,
    accuracyTable(cnnGroups),
    gapVerdict(cnn, { maxGap: 1.0, floor: 91.5 }),
  );
  const diag = readRuns(join(dir, 'cnn-diag-lavapipe'));
  const cnnBase = cnnRuns.find((r) => r.method === 'sll' && r.seed === 0);
  const ref = readRuns(join(dir, 'cnn-ref-lavapipe'));
  const refGroups = groupsOf(ref);
  const refSll = pairOf(refGroups, 'cnn').sll;
  out.push(
    '### CNN diagnostics',
    `Seed 0 of the SLL recipe above with one switch changed (${runsAt(dir, 'cnn-diag-lavapipe')}), on ${adaptersOf(diag, devices)}:`,
    changesTable(cnnBase, `none (${code('cnn-lavapipe/' + cnnBase.name)})`, diag),
    `The same CNN trained the way the reference implementation's run was (${runsAt(dir, 'cnn-ref-lavapipe')}): ${recipeText(ref[0])}; on ${adaptersOf(ref, devices)}. SLL per seed: ${refSll.runs.map((r) => `${pct(r.test.accuracy)}% (seed ${r.seed})`).join(', ')}.`,
    accuracyTable(refGroups),
  );

  // The ViT at three learning rates, `sll train`, on lavapipe.
  const vit = [
    ['vit-lavapipe', ''],
    ['vit-lr2e-3-lavapipe', ''],
    ['vit-tuned-lr-lavapipe', ` Each method at the Adam rate of its best validation accuracy in the ViT ablation below: ${bestRates(dir)}.`],
  ];
  let first;
  for (const [name, what] of vit) {
    const runs = readRuns(join(dir, name));
    const groups = groupsOf(runs);
    const tuned = new Set(groups.map((g) => g.recipe.lr)).size > 1;
    out.push(
      `### ViT, ${runs[0].spec.epochs} epochs, ${tuned ? 'each method at its own rate' : `Adam ${rate(runs[0].spec.optimizer.lr)}`}`,
      `${code('sll train')} (${runsAt(dir, name)}): ${recipeText(runs[0], { lr: !tuned })}; ${objectivesText(runs)}; ${seedsText(groups)}, on ${adaptersOf(runs, devices)}.${what}` +
        (first ? ` Against Adam 1e-3 (${at(vit[0][0] + '/')}): ${gains(groups, first)}.` : ''),
      accuracyTable(groups, { lr: tuned }),
      gapVerdict(pairOf(groups, 'vit'), { maxGap: 1.5, perSeed: true }),
    );
    first ??= groups;
  }

  // CNN and ViT for 10 epochs on the H200, with two ViT probes.
  const h200 = readRuns(join(dir, 'fashion-h200-10ep'));
  const main = h200.filter((r) => /^[a-z]+-(sll|backprop)-seed\d+$/.test(r.name));
  const probes = h200.filter((r) => !main.includes(r));
  const h200Groups = groupsOf(main);
  // Runs stopped (SIGINT at a session's deadline) and continued by `sll train --resume` say so in their metrics.
  const resumed = h200.filter((r) => readMetrics(join(dir, 'fashion-h200-10ep', r.name, 'metrics.jsonl')).some((l) => l.kind === 'status' && l.status.startsWith('resumed')));
  const resumedKinds = [...new Set(resumed.map((r) => KIND_NAME[kindOf(r)]))];
  out.push(
    `### CNN and ViT, ${main[0].spec.epochs} epochs, on a GPU`,
    `The lavapipe recipes trained longer: ${code('sll train')} through ${code('bench/gpu/run-sll-jobs-on-gpu.sh bench/experiments/gpu-jobs-fashion.txt')} (${runsAt(dir, 'fashion-h200-10ep')}): ${recipeText(main[0])}; ${objectivesText(main)}; ${seedsText(h200Groups)}, on ${adaptersOf(main, devices)}. ` +
      `The ${h200.length} runs shared the GPU, so their epoch times are not speeds (see "Time per epoch")` +
      (resumed.length > 0 ? `; ${resumed.length} of them (${list(resumedKinds)} runs) were stopped and finished by ${code('sll train --resume')}.` : '.'),
    accuracyTable(h200Groups),
    gapVerdict(pairOf(h200Groups, 'cnn'), { maxGap: 1.0, floor: 91.5 }),
    gapVerdict(pairOf(h200Groups, 'vit'), { maxGap: 1.5, perSeed: true }),
  );
  if (probes.length > 0) {
    const probeBase = main.find((r) => r.name === 'vit-sll-seed0');
    out.push(`Probes on the ViT's seed 0, the same ${probeBase.spec.epochs} epochs:`, changesTable(probeBase, 'none', probes));
  }

  // The backprop baseline against TF.js.
  const tfjs = readRecords(join(dir, 'fashion-tfjs-lavapipe'));
  const ours = tfjs.find((r) => r.method === 'backprop');
  const theirs = tfjs.find((r) => r.method === 'tfjs-backprop');
  const samples = (r) => {
    const s = r.epochs.map((e) => e.samplesPerSecond);
    return `${Math.min(...s).toFixed(0)}-${Math.max(...s).toFixed(0)}`;
  };
  const apart = Math.abs(shown(ours.test.accuracy) - shown(theirs.test.accuracy));
  out.push(
    '### The backprop baseline against TF.js',
    `${code('bench/experiments/tfjs-mlp.mjs')} trains the same MLP with TF.js's WebGPU backend (same initialization, optimizer, batch and data order) beside this engine's backprop (${at('fashion-tfjs-lavapipe/')}): ${recipeText(ours)}; seed ${ours.seed}, on ${adapterLabel(ours.adapter.description, devices)}.`,
    table(
      ['implementation', 'test %', 'validation % (last epoch)', 'samples/s (per epoch)'],
      [
        ['this engine', pct(ours.test.accuracy), pct(ours.epochs.at(-1).validation.accuracy), samples(ours)],
        [`TF.js ${theirs.tfjs?.version ?? ''}`.trim(), pct(theirs.test.accuracy), pct(theirs.epochs.at(-1).validation.accuracy), samples(theirs)],
      ],
    ),
    `Target "within 0.5 points of TF.js": **${apart <= 0.5 ? 'met' : 'missed'}** (${points(apart)} points apart).`,
  );
  return out;
}

function ablationSection(dir, devices) {
  const out = ['## Ablations'];
  for (const [name, title, baseName] of [
    ['ablation-lavapipe', 'MLP', 'baseline'],
    ['vit-ablation-lavapipe', 'ViT', 'sll-class'],
  ]) {
    const runs = readAblationRuns(join(dir, name));
    const base = baselineRun(runs, baseName);
    const spec = base.config.spec;
    const adapter = adapterLabel(base.config.adapter, devices);
    out.push(
      `### ${title}`,
      `One ${code('sll train')} run per row, each changing one setting of the baseline run ${code(base.name)} (${runsAt(dir, name)}; ${code(`node bench/experiments/sll-ablation-report.mjs bench/results/${name}`)} prints this table): ${recipeText({ spec })}; seed ${spec.seed}, on ${adapter}. The time is the sum of the epochs' times.`,
      ablationTable(runs, base).join('\n'),
    );
  }
  return out;
}

/**
 * The local rules at equal budget (bench/experiments/rules-comparison.mjs): per model, the rate
 * grid (bench/results/rules-grid-lavapipe/lr<rate>/), the seeds at each rule's chosen rate
 * (bench/results/rules-lavapipe/, SLL's and backprop's MLP runs from the cosine table's
 * directory), the FLOPs and time per step of every rule (rules-speed-<adapter>.json), and the
 * answer to the paper's question from the means. Absent until rules-lavapipe/ holds records.
 */
function rulesSection(dir, devices) {
  const where = join(dir, 'rules-lavapipe');
  if (!existsSync(where)) return [];
  const gridRoot = join(dir, 'rules-grid-lavapipe');
  const gridAll = existsSync(gridRoot)
    ? readdirSync(gridRoot)
        .filter((d) => /^lr/.test(d))
        .flatMap((d) => readRecords(join(gridRoot, d)).map((r) => ({ ...r, name: `${d}/${r.name}` })))
    : [];
  // Records moved aside by rules-comparison.mjs (name.lr<rate>) ran at a rate the grid did not choose.
  const seededAll = readRecords(where).filter((r) => !/\.lr\d/.test(r.name));
  // The comparison trains each rule with its authors' activation (comparisonActivation); records
  // of another one (the ReLU PredSim that ran first) are listed apart, after each model's answer.
  const compared = (r) => activationOf(r) === comparisonActivation(r.method, kindOf(r));
  const grid = gridAll.filter(compared);
  const seeded = seededAll.filter(compared);
  const cosineTable = readRecords(join(dir, 'fashion-lavapipe-cosine'));
  // The CNN's and ViT's tables of `sll train` runs: they train through the same fit, seed and data order as the records.
  const tableRunsOf = (kind) => runTables(kind, 'lavapipe').flatMap((d) => (existsSync(join(dir, d)) ? readRuns(join(dir, d)).filter((r) => hasComparisonRecipe(r.spec, kind)) : []));
  const speedFile = filesOf(dir, 'rules-speed-', '.json')[0];
  const speed = speedFile ? readJson(join(dir, speedFile)) : undefined;
  // Each model's SLL and its nearest other local rule, for the closing reading of the ablations.
  const leads = [];
  const out = [
    '## Local rules at equal budget',
    `${code('bench/experiments/rules-comparison.mjs')} runs every rule that trains a model on Fashion-MNIST with that model's table recipe (the same epochs, batch 128, data order, cosine schedule with one warm-up epoch and the last 5,000 training images held out), each at its own Adam rate: first a grid, seed 0 on the first 20,000 training images for 2 epochs (${at('rules-grid-lavapipe/')}), the rate of the best final validation accuracy chosen; then seeds 0, 1 and 2 at that rate (${at('rules-lavapipe/')}; SLL's and backprop's runs are those of the accuracy tables above when the grid chose their rate: ${at('fashion-lavapipe-cosine/')} for the MLP, and for the CNN and the ViT the ${code('sll train')} runs of ${list(['cnn', 'vit'].flatMap((kind) => runTables(kind, 'lavapipe')).map((d) => at(`${d}/`)))}, which train through the same ${code('fit')} from the same seed and data order, ${code('bench/lib/comparisonTables.mjs')}). Every ${code('sll-fashion.mjs')} record keeps the ${code('node bench/experiments/sll-fashion.mjs ...')} command that made it, and every ${code('sll train')} run its config.json. Each rule trains its authors' activation where it is not ReLU: DRTP's blocks use tanh (a ReLU block drifts under its never-shrinking signal) and PredSim's LeakyReLU (its similarity loss drives ReLU units dead), ${code('docs/algorithm.md')}; every other rule trains the table's ReLU model. Forward-Forward predicts by the goodness of every label written in turn (its classifier is not trained); the others by the output classifier, a linear layer trained by cross-entropy on the last block's output with no gradient reaching the blocks (backprop's reaches them all).`,
  ];
  if (speed) {
    out.push(
      `What a step of each rule costs on each model, at batch ${speed.batch} (${code('node bench/experiments/sll-speed.mjs --methods all')}, ${at(speedFile)}, ${adapterLabel(speed.adapter.description, devices)}: the median of ${speed.windows} windows of ${speed.steps} steps after warm-up; an epoch is ${speed.stepsPerEpoch} steps, evaluation excluded). FLOPs are the device's counter: 2 per multiply-add of every matmul, convolution and attention product the step encodes, projections and local heads included.`,
      table(
        ['model', 'method', 'GFLOP per step', 'ms per step', 's per epoch', 'GFLOP per step against backprop'],
        speed.rows.flatMap((r) =>
          RULE_ORDER.filter((m) => r[m]).map((m) => [modelFromName(r.name), ruleLabel(m, { model: m === 'drtp' ? `${r.name} (tanh)` : r.name }), (r[m].flopsPerStep / 1e9).toFixed(2), time(r[m].msPerStep), time(r[m].secondsPerEpoch), r.backprop ? `${(r[m].flopsPerStep / r.backprop.flopsPerStep).toFixed(2)}x` : '-']),
        ),
      ),
    );
  }
  for (const kind of KIND_ORDER) {
    const gridOf = grid.filter((r) => kindOf(r) === kind);
    const runsOf = seeded.filter((r) => kindOf(r) === kind);
    const apartGrid = gridAll.filter((r) => kindOf(r) === kind && !compared(r));
    const apartRuns = seededAll.filter((r) => kindOf(r) === kind && !compared(r));
    const apart = otherActivations(apartGrid, apartRuns);
    if (runsOf.length === 0 && gridOf.length === 0) {
      if (apart) out.push(`### ${modelFromName(baseModel((apartRuns[0] ?? apartGrid[0]).model))}`, apart);
      continue;
    }
    const tableRuns = (kind === 'mlp' ? cosineTable : tableRunsOf(kind)).filter((r) => kindOf(r) === kind && (r.method === 'sll' || r.method === 'backprop'));
    const methods = [...new Set([...gridOf, ...runsOf, ...tableRuns].map((r) => r.method))].sort((a, b) => RULE_ORDER.indexOf(a) - RULE_ORDER.indexOf(b));
    const lrs = [...new Set(gridOf.map((r) => r.recipe.lr))].sort((a, b) => a - b);
    const final = (r) => r.epochs.at(-1).validation.accuracy;
    // The common grid: the rates most rules ran. A rate run for a few rules only (a point added
    // where a rule's best sat at an edge) widens theirs without unfinishing everyone else's.
    const ranAt = (lr) => new Set(gridOf.filter((r) => r.recipe.lr === lr).map((r) => r.method)).size;
    const gridRules = new Set(gridOf.map((r) => r.method)).size;
    const common = lrs.filter((lr) => 2 * ranAt(lr) > gridRules);
    const ownRates = (m) => lrs.filter((lr) => gridOf.some((r) => r.method === m && r.recipe.lr === lr));
    // The grid's choice: the best final validation accuracy over every rate the rule ran, the lowest rate on a tie; undefined until it ran the common grid.
    const chosen = new Map();
    for (const m of methods) {
      const finished = common.length > 0 && common.every((lr) => gridOf.some((r) => r.method === m && r.recipe.lr === lr));
      const tried = ownRates(m).map((lr) => gridOf.find((r) => r.method === m && r.recipe.lr === lr));
      if (finished) chosen.set(m, tried.reduce((best, r) => (final(r) > final(best) ? r : best)).recipe.lr);
    }
    const example = runsOf[0] ?? gridOf[0];
    out.push(`### ${modelFromName(baseModel(example.model))}`);
    if (gridOf.length > 0) {
      out.push(
        `The grid: final validation accuracy %, seed 0, ${recipeText(gridOf[0], { lr: false })} (${adaptersOf(gridOf, devices)}); the chosen rate in bold.`,
        table(
          ['method', ...lrs.map(rate)],
          methods.map((m) => [ruleLabel(m, gridOf.find((r) => r.method === m)), ...lrs.map((lr) => {
            const r = gridOf.find((x) => x.method === m && x.recipe.lr === lr);
            return r === undefined ? '-' : chosen.get(m) === lr ? `**${pct(final(r))}**` : pct(final(r));
          })]),
        ),
      );
      // A best rate at an end of the rates a rule ran may not be its best rate: said, so that its grid is widened.
      const atEdge = [...chosen].filter(([m, lr]) => ownRates(m).length > 1 && (lr === ownRates(m)[0] || lr === ownRates(m).at(-1)));
      if (atEdge.length > 0) out.push(`At the grid's edge (a wider grid might choose otherwise): ${list(atEdge.map(([m, lr]) => `${METHOD[m]} (${rate(lr)})`))}.`);
      const extra = lrs.filter((lr) => !common.includes(lr));
      if (extra.length > 0) out.push(`Rates beyond the common grid, run where a rule's best sat at its edge: ${list(extra.map((lr) => `${rate(lr)} (${list(methods.filter((m) => gridOf.some((r) => r.method === m && r.recipe.lr === lr)).map((m) => METHOD[m]))})`))}.`);
    }
    // The seeds at each rule's chosen rate; a rule whose grid is unfinished shows what ran, at its rate.
    const atRate = (m, records) => records.filter((r) => r.method === m && kindOf(r) === kind && (!chosen.has(m) || r.recipe.lr === chosen.get(m)));
    // A group per rule at its chosen rate; a rule without one, a group per rate it ran at.
    const groups = methods.flatMap((m) => groupRecords([...atRate(m, runsOf), ...atRate(m, tableRuns)]).map((runs) => ({ runs, ...summarize(runs) })));
    // Every rule that ran on the model is owed an answer, though its only runs be apart (another activation).
    const owed = [...new Set([...methods, ...[...gridAll, ...seededAll].filter((r) => kindOf(r) === kind).map((r) => r.method)])];
    if (groups.length === 0) {
      out.push(rulesAnswer(KIND_NAME[kind], groups, undefined, owed, chosen));
      if (apart) out.push(apart);
      continue;
    }
    const sllGroup = groups.find((g) => g.method === 'sll');
    const speedRow = speed?.rows.find((r) => modelFromName(r.name) === modelFromName(baseModel(example.model)));
    const step = (m) => speedRow?.[m];
    out.push(
      `Three seeds at the chosen rate, ${recipeText(groups[0].runs[0], { lr: false })} (${adaptersOf(groups.flatMap((g) => g.runs), devices)}).${speedRow ? " FLOPs and time per epoch are the step costs above (the runs' own epoch times shared the CPU with other work)." : ''}${chosen.size < methods.length ? ` Rules without a finished grid show their runs at the rate they ran (${list(methods.filter((m) => !chosen.has(m)).map((m) => METHOD[m]))}).` : ''}`,
      table(
        ['method', 'Adam rate', 'seeds', 'test accuracy %, mean (min-max)', 'against SLL (points)', 'validation % (last epoch, mean)', 'GFLOP per step', 's per epoch'],
        groups.map((g) => [
          ruleLabel(g.method, g.runs[0]),
          rate(g.recipe.lr),
          g.seeds.join(', '),
          testCell(g),
          g === sllGroup || !sllGroup ? '' : `${shown(g.test.mean) >= shown(sllGroup.test.mean) ? '+' : '-'}${points(shown(g.test.mean) - shown(sllGroup.test.mean))}`,
          g.validation === undefined ? '-' : pct(g.validation),
          step(g.method) ? (step(g.method).flopsPerStep / 1e9).toFixed(2) : '-',
          step(g.method) ? time(step(g.method).secondsPerEpoch) : '-',
        ]),
      ),
      rulesAnswer(KIND_NAME[kind], groups, sllGroup, owed, chosen),
    );
    if (apart) out.push(apart);
    const nearest = groups.filter((g) => g.method !== 'sll' && g.method !== 'backprop' && g.method !== 'dfa').sort((a, b) => b.test.mean - a.test.mean)[0];
    if (sllGroup && nearest) leads.push({ kind, sll: sllGroup, nearest });
  }
  out.push(...rulesWhy(dir, leads));
  return out;
}

/**
 * What the ablations (the Ablations section's runs) say about the comparison: SLL's fixed
 * readout against the learned heads of DGL and PredSim (latent mode, a learned head on a random
 * sketch, against class mode) and its alignment term, which no other rule has; beside SLL's lead
 * over the nearest local rule on each model compared so far. Numbers from the records.
 */
function rulesWhy(dir, leads) {
  const effects = [
    ['ablation-lavapipe', 'MLP', 'baseline', 'latent-512', 'alignment-off'],
    ['vit-ablation-lavapipe', 'ViT', 'sll-class', 'sll-latent-512', 'sll-class-no-alignment'],
  ].flatMap(([name, title, baseName, latentName, unalignedName]) => {
    if (!existsSync(join(dir, name))) return [];
    const runs = readAblationRuns(join(dir, name));
    const [base, latent, unaligned] = [baseName, latentName, unalignedName].map((n) => runs.find((r) => r.name === n));
    if (!base || !latent || !unaligned) return [];
    const delta = (r) => 100 * (r.test.accuracy - base.test.accuracy);
    return [{ title, latent: delta(latent), unaligned: delta(unaligned) }];
  });
  if (effects.length === 0) return [];
  // In percentage points.
  const signed = (x) => `${x >= 0 ? '+' : '-'}${points(x)}`;
  const per = (key) => list(effects.map((e, i) => `${signed(e[key])}${i === 0 ? ' points' : ''} on the ${e.title}`));
  const lead = (l) => shown(l.sll.test.mean) - shown(l.nearest.test.mean);
  const said = leads.map((l, i) => `${signed(lead(l))}${i === 0 ? ' points' : ''} against ${ruleLabel(l.nearest.method, l.nearest.runs[0])} on the ${KIND_NAME[l.kind]}`);
  const largestAlignment = Math.max(...effects.map((e) => -e.unaligned));
  const withinAlignment = leads.filter((l) => lead(l) < largestAlignment);
  return [
    '### What the ablations say about why',
    `SLL's MLP and ViT read each block through a fixed readout, a random projection to the K classes scored by its likelihood (class mode; the CNN's default is the latent mode below), where DGL and PredSim learn a head; and it alone ties each block's posterior to the block before it (alignment). The ablations below change one piece at a time (one seed each, a shorter recipe than the comparison's). A learned head on a random sketch instead of the fixed readout (latent mode, d0 = 512) moves SLL's test accuracy by ${per('latent')}: ${effects.every((e) => e.latent > 0) ? 'a learned head gains' : effects.every((e) => e.latent < 0) ? 'a learned head loses' : 'a learned head is not consistently better, and is'} within ${points(Math.max(...effects.map((e) => Math.abs(e.latent))))} points of the fixed readout. Switching alignment off moves it by ${per('unaligned')}.${said.length > 0 ? ` SLL's mean against the nearest other local rule in the comparison: ${list(said)}.` : ''}${withinAlignment.length > 0 ? ` Where that margin is smaller than what alignment adds (${list(withinAlignment.map((l) => KIND_NAME[l.kind]))}), the two experiments together suggest that SLL's standing against ${list([...new Set(withinAlignment.map((l) => `${METHOD[l.nearest.method] ?? l.nearest.method}'s`))])} learned head rests on its alignment, not its readout; an SLL without alignment has not been run at the comparison's recipe, so this is a reading of two experiments, not a measurement.` : ''}`,
  ];
}

/** A record's model name without its blocks' activation ('... (tanh)'). */
function baseModel(name) {
  return name.replace(/ \((tanh|leaky-relu)\)$/, '');
}

/** A record's blocks' activation, from its model's name ('... (tanh)'); ReLU when it names none. */
function activationOf(record) {
  return /\((tanh|leaky-relu)\)$/.exec(record.model ?? '')?.[1] ?? 'relu';
}

/**
 * One sentence on a model's runs of a rule with other blocks than the comparison's (its grid by
 * rate, its seeds' mean at each rate), or undefined when there are none.
 */
function otherActivations(gridRecords, seedRecords) {
  const methods = [...new Set([...gridRecords, ...seedRecords].map((r) => r.method))].sort((a, b) => RULE_ORDER.indexOf(a) - RULE_ORDER.indexOf(b));
  if (methods.length === 0) return undefined;
  const parts = methods.map((m) => {
    const label = `${METHOD[m] ?? m} with ${ACTIVATION_NAME[activationOf([...gridRecords, ...seedRecords].find((r) => r.method === m))]} blocks`;
    const points = gridRecords.filter((r) => r.method === m).sort((a, b) => a.recipe.lr - b.recipe.lr).map((r) => `${pct(r.epochs.at(-1).validation.accuracy)} at ${rate(r.recipe.lr)}`);
    const seeds = groupRecords(seedRecords.filter((r) => r.method === m)).map((runs) => ({ runs, ...summarize(runs) }));
    return [
      label,
      points.length > 0 ? `grid validation ${points.join(', ')}` : undefined,
      ...seeds.map((g) => `${g.seeds.length} seed${g.seeds.length > 1 ? 's' : ''} at ${rate(g.recipe.lr)}: ${testCell(g)}% test`),
    ].filter(Boolean).join(': ');
  });
  return `Outside the comparison (another activation than the rule's authors', on the same recipe): ${parts.join('; ')}.`;
}

const ACTIVATION_NAME = { relu: 'ReLU', tanh: 'tanh', 'leaky-relu': 'LeakyReLU' };

/** The order of the rules in the tables: SLL, the other local rules, backprop. */
const RULE_ORDER = ['sll', 'dgl', 'predsim', 'drtp', 'ff', 'dfa', 'backprop'];

/** A method as a table row names it, with its blocks' activation when it is not ReLU. */
function ruleLabel(method, record) {
  const activation = /\((tanh|leaky-relu)\)$/.exec(record?.model ?? '')?.[1];
  return `${METHOD[method] ?? method}${activation ? ` (${activation === 'tanh' ? 'tanh' : 'LeakyReLU'} blocks)` : ''}`;
}

/**
 * The paper's question on one model, answered from the table's means: does SLL beat every other
 * local rule at equal budget? Unsettled while a rule lacks its grid or three seeds.
 */
function rulesAnswer(kindName, groups, sllGroup, methods, chosen) {
  // The local rules: not backprop, nor DFA (a labelled extra, whose blocks wait for the output).
  const local = (m) => m !== 'backprop' && m !== 'dfa';
  const others = groups.filter((g) => g.method !== 'sll' && local(g.method));
  // `methods` may name a rule with no compared record yet (one that ran with another activation only).
  const missing = methods.filter((m) => local(m) && (!chosen.has(m) || (groups.find((g) => g.method === m)?.seeds.length ?? 0) < 3));
  if (!sllGroup) return `**Does SLL beat every local rule on the ${kindName}?** Not measured yet: SLL has no run at its chosen rate.`;
  if (!groups.some((g) => g.method !== 'sll' && local(g.method))) return `**Does SLL beat every local rule on the ${kindName}?** Not measured yet: no other local rule has a run at its chosen rate.`;
  const diff = (g) => shown(g.test.mean) - shown(sllGroup.test.mean);
  const below = others.filter((g) => diff(g) < 0);
  const notBelow = others.filter((g) => diff(g) >= 0);
  const overlaps = (g) => g.test.min <= sllGroup.test.max && g.test.max >= sllGroup.test.min;
  const said = (g) => `${ruleLabel(g.method, g.runs[0])} (${diff(g) >= 0 ? '+' : '-'}${points(diff(g))} points${g.seeds.length > 1 && sllGroup.seeds.length > 1 && overlaps(g) ? ', inside the seeds\' spread' : ''})`;
  const verdict = notBelow.length === 0 ? '**yes**' : '**no**';
  const parts = [
    `**Does SLL beat every local rule at equal budget on the ${kindName}?** ${missing.length > 0 ? `Not settled: ${list(missing.map((m) => METHOD[m]))} still ${missing.length === 1 ? 'lacks' : 'lack'} a finished grid or three seeds. So far, ` : ''}${missing.length > 0 ? verdict.replace(/\*\*/g, '') : verdict}`,
    below.length > 0 ? `: SLL's mean is above ${list(below.map(said))}` : '',
    notBelow.length > 0 ? `${below.length > 0 ? '; ' : ': '}${list(notBelow.map(said))} ${notBelow.length === 1 ? 'is' : 'are'} level with or above it` : '',
    '.',
  ];
  return parts.join('');
}

/** How the tables name the other local rules. */
const RULE_NAMES = { dgl: 'DGL', drtp: 'DRTP', predsim: 'PredSim', ff: 'Forward-Forward', dfa: 'DFA' };

/** The local rules besides SLL a memory record measured on a model ('mlp' or 'vit'; records from before they existed hold none). */
function otherRules(record, model = 'mlp') {
  return Object.keys(RULE_NAMES).filter((r) => record[model].some((row) => row.method === r));
}

function memorySection(dir, devices) {
  const out = ['## Memory against depth'];
  for (const file of filesOf(dir, 'memory-', '.json')) {
    const m = readJson(join(dir, file));
    const rows = (entries, depth, method) => entries.find((r) => r.depth === depth && r.method === method);
    const depths = (entries) => [...new Set(entries.map((r) => r.depth))];
    // Records before the width was written: an MLP layer of width w adds w^2 + w parameters (4 bytes each).
    const [d0, d1] = depths(m.mlp);
    const perLayer = (rows(m.mlp, d1, 'sll').parameterBytes - rows(m.mlp, d0, 'sll').parameterBytes) / 4 / (d1 - d0);
    const width = m.width ?? (Math.sqrt(1 + 4 * perLayer) - 1) / 2;
    const vitName = m.vit[0].name ? modelFromName(m.vit[0].name).replace(/, depth \d+/, '') : "ViT (sll.vit's defaults)";
    out.push(
      `${code('bench/experiments/sll-memory.mjs')} on ${adapterLabel(m.adapter.description, devices)}, batch ${m.batch}, record ${at(file)}: the peak bytes of one training step after a warm-up step, from the buffer pool's counters, in MiB. Activations are everything a step allocates beyond parameters, optimizer state and projections (activations and scratch; phi's output, once scratch, is an ordinary layer output in category activation since phi became a layer, which the sum does not see); GFLOP per step come from the device's counter (2 per multiply-add of every matmul, convolution and attention product, projections included).`,
      table(
        [`MLP width ${width}, depth`, 'SLL activations', ...otherRules(m).map((r) => `${RULE_NAMES[r]} activations`), 'backprop activations', 'parameters', 'Adam state', 'SLL projections', 'GFLOP per step, SLL / backprop'],
        depths(m.mlp).map((d) => {
          const s = rows(m.mlp, d, 'sll');
          const b = rows(m.mlp, d, 'backprop');
          const others = otherRules(m).map((r) => mib(rows(m.mlp, d, r).peakActivationBytes, 2));
          return [String(d), mib(s.peakActivationBytes, 2), ...others, mib(b.peakActivationBytes, 2), mib(s.parameterBytes, 1), mib(s.optimizerBytes, 1), mib(s.projectionBytes, 2), `${(s.flops / 1e9).toFixed(1)} / ${(b.flops / 1e9).toFixed(1)}`];
        }),
      ),
      table(
        [`${vitName}, depth`, 'SLL activations', ...otherRules(m, 'vit').map((r) => `${RULE_NAMES[r]} activations`), 'backprop activations', 'parameters', 'GFLOP per step, SLL / backprop'],
        depths(m.vit).map((d) => {
          const s = rows(m.vit, d, 'sll');
          const b = rows(m.vit, d, 'backprop');
          const others = otherRules(m, 'vit').map((r) => mib(rows(m.vit, d, r).peakActivationBytes, 1));
          return [String(d), mib(s.peakActivationBytes, 1), ...others, mib(b.peakActivationBytes, 1), mib(s.parameterBytes, 2), `${(s.flops / 1e9).toFixed(2)} / ${(b.flops / 1e9).toFixed(2)}`];
        }),
      ),
    );
    // Every rule's memory by category at each model's deepest depth: what its heads, similarity
    // maps or fixed matrices add to the parameters, optimizer state and projections.
    const byCategory = (entries, kind) => {
      const deepest = Math.max(...depths(entries));
      return entries
        .filter((r) => r.depth === deepest)
        .sort((a, b) => RULE_ORDER.indexOf(a.method) - RULE_ORDER.indexOf(b.method))
        .map((r) => [`${kind}, depth ${deepest}`, METHOD[r.method] ?? r.method, mib(r.peakActivationBytes, 2), mib(r.parameterBytes, 1), mib(r.optimizerBytes, 1), mib(r.projectionBytes, 2), mib(r.peakActivationBytes + r.parameterBytes + r.optimizerBytes + r.projectionBytes, 1)]);
    };
    out.push(
      "Every rule by category at the deepest depth of each sweep, MiB (parameters include each rule's heads and similarity maps; projections are fixed matrices, SLL's or DRTP's):",
      table(['model', 'method', 'activations', 'parameters', 'Adam state', 'projections', 'total'], [...byCategory(m.mlp, `MLP width ${width}`), ...byCategory(m.vit, vitName)]),
    );
  }
  return out;
}

/**
 * Host time per dispatch against Dawn's floor (bench/experiments/host-cost.mjs records): the
 * floor's three patterns, single ops, every model's step, where an op's host time goes, and the
 * verdicts against the targets: at most twice the floor per dispatch, and SLL's per dispatch no
 * more than backprop's.
 */
function hostCostSection(dir, devices) {
  const out = [];
  for (const file of filesOf(dir, 'host-cost-', '.json')) {
    const h = readJson(join(dir, file));
    const floor = h.floor.onePass;
    const times = (us) => `${(us / floor).toFixed(1)}x`;
    const stepPairs = new Map();
    for (const s of h.steps) {
      const key = `${s.model}|${s.batch}|${s.replay === true}`;
      stepPairs.set(key, { ...stepPairs.get(key), [s.method]: s });
    }
    const ratios = [...h.ops.map((o) => o.usPerDispatch / floor), ...h.steps.map((s) => s.hostUsPerDispatch / floor)];
    const within = ratios.filter((r) => r <= HOST_COST_TARGET).length;
    const sllDearer = [...stepPairs.values()].filter((p) => p.sll && p.backprop && p.sll.hostUsPerDispatch > p.backprop.hostUsPerDispatch);
    out.push(
      `### Host cost per dispatch`,
      `${code('bench/experiments/host-cost.mjs')} on ${adapterLabel(h.adapter.description, devices)}, record ${at(file)}: host time only (the GPU drained between windows, untimed; ${h.warmupMs !== undefined ? `a step's time is the time inside \`trainStep\`, each step begun with the GPU idle, so that a CPU adapter's GPU work does not share the cores with its encoding as no GPU's does), medians of ${h.windows} windows of at least ${h.stepsPerWindow} steps and ${h.windowMs} ms of host time${h.windowWallMs !== undefined ? ` or ${h.windowWallMs / 1000} s of wall time (a large step's GPU work is drained before each step)` : ''}, after a warm-up of ${h.warmupMs / 1000} s of host time${h.warmupWallMs !== undefined ? ` or ${h.warmupWallMs / 1000} s of wall time` : ''}` : `a step's time is the time inside \`trainStep\`, steps back to back with \`device.throttle()\` between, as training runs them), medians of ${h.windows} windows after a warm-up window`}. Dawn's floor is a trivial kernel dispatched ${thousands(h.dispatches)} times straight on the GPUDevice:`,
      table(['pattern', 'us per dispatch'], [
        ['(a) one compute pass, the bind group made once', h.floor.onePass.toFixed(2)],
        ['(b) a pass per dispatch, the bind group made once', h.floor.passPerDispatch.toFixed(2)],
        ['(c) one pass, a bind group created per dispatch', h.floor.bindGroupPerDispatch.toFixed(2)],
        ...(h.floor.submitPerDispatch !== undefined ? [['(d) a submit per dispatch (its own encoder and pass)', h.floor.submitPerDispatch.toFixed(2)]] : []),
        ...(h.engineShape ? [[`(e) one pass, ${h.engineShape.kernels} pipelines of the engine's shape cycled (${h.engineShape.storageBuffers} storage buffers and a dynamic-offset uniform each, bind groups made once)`, h.floor.engineShaped.toFixed(2)]] : []),
      ]),
      `The engine's single ops on tiny tensors, each result disposed at once, and a training step of each model, against pattern (a).${h.warmupMs !== undefined ? '' : " On a CPU adapter the GPU's work of the steps before shares the cores with a step's encoding, which inflates the host time of the large steps"}${h.steps.some((s) => s.replay) ? ` Each step both encoded by its rule's code (${code('replay: false')}) and replayed, as a trainer does by default once two steps in a row on the same inputs encoded the same work (${code('TrainerConfig.replay')})` : ''}:`,
      table(['op', 'us per op', 'dispatches', 'us per dispatch', 'against the floor'], h.ops.map((o) => [o.name, o.usPerOp.toFixed(1), String(o.dispatchesPerOp), o.usPerDispatch.toFixed(1), times(o.usPerDispatch)])),
      ...(h.replay
        ? [
            `The same work op by op and replayed from a recording (${code('device.record')}, ${code('src/gpu/recording.ts')}: Dawn's three calls per dispatch, the recorded uniforms written once, a submit after each run):`,
            table(['work', 'dispatches', 'op by op, us per dispatch', 'replayed, us per dispatch', 'replayed against the floor'], h.replay.map((r) => [r.name, String(r.dispatches), r.opUsPerDispatch.toFixed(1), r.replayUsPerDispatch.toFixed(1), times(r.replayUsPerDispatch)])),
          ]
        : []),
      table(
        ['model', 'batch', 'steps', 'SLL dispatches', 'SLL host ms', 'SLL us per dispatch', 'backprop dispatches', 'backprop host ms', 'backprop us per dispatch', 'against the floor, SLL / backprop', 'submits, SLL / backprop', 'buffers created, SLL / backprop'],
        [...stepPairs.values()].map(({ sll, backprop }) => [
          modelFromName(sll.model),
          String(sll.batch),
          sll.replay === undefined ? 'encoded' : sll.replay ? (sll.replayed && backprop.replayed ? 'replayed' : 'replay asked, not taken') : 'encoded',
          String(sll.dispatchesPerStep),
          (sll.hostUsPerStep / 1000).toFixed(2),
          sll.hostUsPerDispatch.toFixed(1),
          String(backprop.dispatchesPerStep),
          (backprop.hostUsPerStep / 1000).toFixed(2),
          backprop.hostUsPerDispatch.toFixed(1),
          `${times(sll.hostUsPerDispatch)} / ${times(backprop.hostUsPerDispatch)}`,
          `${sll.submitsPerStep ?? '-'} / ${backprop.submitsPerStep ?? '-'}`,
          `${sll.buffersCreatedPerStep ?? '-'} / ${backprop.buffersCreatedPerStep ?? '-'}`,
        ]),
      ),
      `Target "host time per dispatch at most ${HOST_COST_TARGET} times the floor, for single ops and every step": **${within === ratios.length ? 'met' : 'missed'}**: ${within} of ${ratios.length} rows within it, from ${Math.min(...ratios).toFixed(1)}x to ${Math.max(...ratios).toFixed(1)}x the floor. Target "SLL's host time per dispatch no more than backprop's": **${sllDearer.length === 0 ? 'met' : 'missed'}**${sllDearer.length > 0 ? `, dearer on ${list(sllDearer.map((p) => `${modelFromName(p.sll.model)} at batch ${p.sll.batch} (${p.sll.hostUsPerDispatch.toFixed(1)} against ${p.backprop.hostUsPerDispatch.toFixed(1)} us)`))}` : ''}.`,
      ...(h.engineShape ? [engineShapedVerdict(h)] : []),
      ...(h.adapter.isFallbackAdapter ? [`On this CPU adapter the large MLP's rows are bounded by the machine, not by the engine: the excess over the MLP 784-8-8-8-10, which makes the same dispatches, is a wait for the driver's threads (the evidence is in ${code('bench/experiments/host-cost.mjs')}'s header).`] : []),
      `Where an op's host time goes: V8's sampling profiler over ${thousands(h.profile.ops)} ${h.profile.op.split(',')[0]} ops (${h.profile.op}), self time by the engine's source file, Dawn's API (the native calls: setPipeline, setBindGroup, dispatchWorkgroups, the encoders, submit) and V8's own work:`,
      table(['where', 'share of the host time'], h.profile.selfTime.map((r) => [r.group.endsWith('.ts') ? code(`src/${r.group}`) : r.group, `${(100 * r.share).toFixed(1)}%`])),
      ...(h.stepProfile
        ? [
            `Where a${h.stepProfile.replayed ? ' replayed' : 'n encoded'} step's host time goes: the same profiler over ${thousands(h.stepProfile.steps)} ${h.stepProfile.replayed ? 'replayed' : 'encoded'} steps of the ${modelFromName(h.stepProfile.model)} (SLL, batch ${h.stepProfile.batch}), the samples inside ${code('trainStep')} only (V8's own work, which the profiler files under no step, is not counted), Dawn's native calls named by the engine's function that made them:`,
            table(['where', 'share of the host time'], h.stepProfile.selfTime.map((r) => [r.group.replace(/(^|called by )(\S+\.ts)/, (_, before, f) => `${before}${code(`src/${f}`)}`), `${(100 * r.share).toFixed(1)}%`])),
            `Dawn's calls take ${(100 * sumShares(h.stepProfile.selfTime, (g) => g.startsWith('native'))).toFixed(1)}% of the step's host time (encoding the dispatches alone ${(100 * sumShares(h.stepProfile.selfTime, (g) => g.startsWith('native') && g.endsWith(' encode'))).toFixed(1)}%); the engine's JavaScript the rest.`,
          ]
        : []),
    );
  }
  return out;
}

/** The summed share of a profile's rows whose group passes `which`. */
const sumShares = (rows, which) => rows.filter((r) => which(r.group)).reduce((a, r) => a + r.share, 0);

/**
 * The same rows against floor (e), the engine's shape of work with nothing of the engine: how
 * much of the gap to the trivial kernel's floor is Dawn's own cost of real pipelines and bind
 * groups, and how much is the engine's.
 */
function engineShapedVerdict(h) {
  const floor = h.floor.engineShaped;
  const ratios = [...h.ops.map((o) => o.usPerDispatch / floor), ...h.steps.map((s) => s.hostUsPerDispatch / floor)];
  const replayed = h.steps.filter((s) => s.replay).map((s) => s.hostUsPerDispatch / floor);
  const within = ratios.filter((r) => r <= HOST_COST_TARGET).length;
  return `Against pattern (e), ${floor.toFixed(2)} us, Dawn's own cost of dispatches shaped as the engine's (${(floor / h.floor.onePass).toFixed(1)}x pattern (a)'s): ${within} of ${ratios.length} rows within ${HOST_COST_TARGET}x, from ${Math.min(...ratios).toFixed(1)}x to ${Math.max(...ratios).toFixed(1)}x${replayed.length ? `; replayed steps from ${Math.min(...replayed).toFixed(1)}x to ${Math.max(...replayed).toFixed(1)}x` : ''}.`;
}

/** The host cost target: at most this many times Dawn's floor per dispatch (a requirement, not a measurement). */
const HOST_COST_TARGET = 2;

/** Times as the tables write them: a decimal below 20, whole numbers above. */
const time = (x) => (x < 20 ? x.toFixed(1) : x.toFixed(0));

/** The recipes' batch: the work targets are for the default recipe. */
const DEFAULT_BATCH = 128;

/**
 * The targets of SLL's time against its work, for a record at the default batch:
 * its milliseconds per counted GFLOP within 10% of backprop's on each model, and the MLP's step
 * (class mode, d0 = K) at least 1.25 times faster than backprop's, its FLOP ceiling being 1.34.
 */
function workVerdicts(rows) {
  const counted = rows.filter((r) => r.sll.flopsPerStep > 0 && r.backprop.flopsPerStep > 0);
  if (counted.length === 0) return [];
  const perFlop = (t) => t.msPerStep / (t.flopsPerStep / 1e9);
  const verdict = (met) => (met ? 'met' : '**missed**');
  const parts = counted.map((r) => {
    const ratio = perFlop(r.sll) / perFlop(r.backprop);
    return `${modelFromName(r.name)} ${verdict(ratio <= 1.1)} (${ratio.toFixed(2)}x backprop's ms per GFLOP)`;
  });
  const lines = [`Target "SLL's milliseconds per counted GFLOP within 10% of backprop's": ${parts.join('; ')}.`];
  const mlp = counted.find((r) => r.model === 'mlp');
  if (mlp) {
    const speedup = mlp.backprop.msPerStep / mlp.sll.msPerStep;
    const ceiling = mlp.backprop.flopsPerStep / mlp.sll.flopsPerStep;
    lines.push(`Target "the MLP's SLL step at least 1.25x faster than backprop's" (class mode, d0 = K; the FLOP ceiling is ${ceiling.toFixed(2)}x): ${verdict(speedup >= 1.25)}, ${speedup.toFixed(2)}x.`);
  }
  return [lines.join(' ')];
}

function speedSection(dir, devices) {
  const out = ['## Time per epoch'];
  for (const file of filesOf(dir, 'speed-', '.json')) {
    const s = readJson(join(dir, file));
    out.push(
      `${code('bench/experiments/sll-speed.mjs')} on ${adapterLabel(s.adapter.description, devices)}, record ${at(file)}: batch ${s.batch}, 28x28x1 inputs, the median of ${s.windows} windows of ${s.steps} steps after warm-up; an epoch is ${s.stepsPerEpoch} steps, evaluation excluded.`,
      table(
        ['model', 'SLL ms/step', 'backprop ms/step', 'SLL s/epoch', 'backprop s/epoch', 'SLL / backprop', 'GFLOP/step, SLL / backprop'],
        s.rows.map((r) => [
          modelFromName(r.name),
          time(r.sll.msPerStep),
          time(r.backprop.msPerStep),
          time(r.sll.secondsPerEpoch),
          time(r.backprop.secondsPerEpoch),
          (r.sll.msPerStep / r.backprop.msPerStep).toFixed(2),
          `${(r.sll.flopsPerStep / 1e9).toFixed(2)} / ${(r.backprop.flopsPerStep / 1e9).toFixed(2)}`,
        ]),
      ),
    );
    if (s.batch === DEFAULT_BATCH) out.push(...workVerdicts(s.rows));
    const throttled = s.rows.flatMap((r) => ['sll', 'backprop'].filter((m) => r[m].msPerStepThrottled !== undefined).map((m) => ({ r, m, t: r[m] })));
    if (throttled.length > 0) {
      out.push(
        "The same steps with `await device.throttle()` after each (what `fit` and the command do), in windows alternating with the plain ones, and the host's part of a step: the time inside `trainStep` (encoding and submitting; the GPU runs behind it). A host part close to the whole step means the host is the bottleneck, where a per-step cost would show:",
        table(
          ['model', 'method', 'ms/step', 'with throttle', 'change', 'host ms/step (share)'],
          throttled.map(({ r, m, t }) => [
            modelFromName(r.name),
            METHOD[m],
            time(t.msPerStep),
            time(t.msPerStepThrottled),
            `${t.msPerStepThrottled >= t.msPerStep ? '+' : ''}${((100 * (t.msPerStepThrottled - t.msPerStep)) / t.msPerStep).toFixed(0)}%`,
            t.hostMsPerStep === undefined ? '-' : `${time(t.hostMsPerStep)} (${((100 * t.hostMsPerStep) / t.msPerStep).toFixed(0)}%)`,
          ]),
        ),
      );
    }
  }
  for (const file of filesOf(dir, 'profile-', '.json')) {
    const p = readJson(join(dir, file));
    const matmulShare = (r) => (100 * r.kernels.filter((k) => k.kernel.startsWith('matmul:')).reduce((a, k) => a + k.ms, 0)) / r.gpuMs;
    out.push(
      `${code('bench/experiments/profile-step.mjs')} on ${adapterLabel(p.adapter.description, devices)}, record ${at(file)}: a training step at batch ${p.batch}, timed unprofiled and then per kernel with GPU timestamps (a pass per dispatch), means of ${p.steps} steps.`,
      table(
        ['model', 'method', 'ms/step', 'ms/step in kernels', 'dispatches/step', 'matmul kernels, share of kernel time', 'largest kernel (share)'],
        p.results.map((r) => [
          modelFromName(r.model),
          METHOD[r.method],
          time(r.wallMs),
          time(r.gpuMs),
          r.dispatches.toFixed(0),
          `${matmulShare(r).toFixed(0)}%`,
          `${code(r.kernels[0].kernel)} (${((100 * r.kernels[0].ms) / r.gpuMs).toFixed(0)}%)`,
        ]),
      ),
    );
  }
  return out;
}

// Our 1024-cube matmul against the native BLAS on the same CPU cores: at least this share of it.
const NATIVE_BLAS_SHARE = 0.25;

/**
 * The native BLAS's figure beside a CPU adapter's record (bench/lib/nativeBlas.mjs) and the
 * target on it, or why there is none; nothing for a GPU's record (the BLAS runs on the CPU).
 */
function nativeBlasLine(k) {
  if (k.adapter.architecture !== 'software') return [];
  const ours = k.results.find((r) => r.name === `matmul ${k.nativeBlas?.size ?? 1024} cube`);
  if (!ours) return [];
  if (!k.nativeBlas) return ['Native BLAS: not measured in this record (`bench/lib/nativeBlas.mjs` came after it).'];
  if (k.nativeBlas.skipped) return [`Native BLAS: skipped (${k.nativeBlas.skipped}).`];
  const { size, gflops: theirs, numpy, library } = k.nativeBlas;
  const share = ours.ours.gflops / theirs;
  return [
    `Native BLAS on the same cores, ${code('bench/lib/nativeBlas.mjs')}: numpy ${numpy} with ${library}, float32 ${size} cube, ${gflops(theirs)} GFLOPS (the median of 7 calls after 3 warm-ups, in a process of its own, run after the kernels). Our ${size} cube is ${(100 * share).toFixed(0)}% of it. Target "at least ${100 * NATIVE_BLAS_SHARE}% of the native BLAS": ${share >= NATIVE_BLAS_SHARE ? 'met' : `**missed** (${gflops(ours.ours.gflops)} against the ${gflops(NATIVE_BLAS_SHARE * theirs)} it asks)`}.`,
  ];
}

// The kernel targets, per benchmark case, for the CPU adapter (requirements, not measurements).
const KERNEL_TARGETS = {
  'matmul 1024 cube': { gflops: 25, ratio: 6 },
  'matmul 1000 cube (ragged)': { gflops: 15 },
  'matmul 256x1000 x 1000x10 (head)': { gflops: 10 },
  'conv2d 64x32x14x14, 3x3 -> 64, pad 1': { ratio: 3 },
};

/** GFLOPS (or GB/s) as the tables write them: thousands separated above 50, one decimal above 1, two above 0.01, else two significant digits. */
const gflops = (x) => (x >= 50 ? thousands(x) : x >= 1 ? x.toFixed(1) : x >= 0.01 ? x.toFixed(2) : x.toPrecision(2));

/**
 * A kernel row is memory-bound when it counts `bytes` moved instead of `flops` (softmax, layer
 * norm, elementwise): its figures are GB/s. Records from before such rows have only GFLOPS.
 */
const memoryBound = (r) => r.bytes !== undefined;
/** One engine's rate on a row, in the row's unit. */
const rateOf = (r, m) => (memoryBound(r) ? m.gbps : m.gflops);
/** One engine's rate as a cell: GFLOPS bare, as the tables always wrote them; GB/s with its unit. */
const rateCell = (r, m) => (memoryBound(r) ? `${gflops(m.gbps)} GB/s` : gflops(m.gflops));
/** Ours over TF.js on a row, the same in either unit ('4.7x'); '-' without a TF.js figure. */
const oursOverTfjs = (r) => (r?.tfjs.medianMs !== undefined ? `${(rateOf(r, r.ours) / rateOf(r, r.tfjs)).toFixed(1)}x` : '-');

/** The unit sentence of a kernel table: GFLOPS, and GB/s where the record has memory-bound rows. */
function kernelUnits(results) {
  return results.some(memoryBound) ? 'GFLOPS, or GB/s where a cell says so (the bytes of the inputs read once and of the outputs written once, over the time)' : 'GFLOPS';
}

/** Where TF.js has no single op for ours, the ops that stand in for it, once per op (a sentence, or none). */
function composedPeers(results) {
  const composed = new Map(results.filter((r) => r.tfjsComposed).map((r) => [r.op, r.tfjsComposed]));
  if (composed.size === 0) return [];
  return [`Where TF.js has no single op for ours, its figure is of its ops composed in one ${code('tf.tidy')}: ${[...composed].map(([op, ops]) => `${code(op)} as ${ops}`).join('; ')}.`];
}

/** The kernel column of a row: the convolutions' method and flavour, else the chosen variant. */
function ourKernel(r) {
  return r.op.startsWith('conv2d') ? ['implicit GEMM', r.ours.variant].filter(Boolean).join(', ') : (r.ours.variant ?? '');
}

/** A browser record's adapter in words: 'SwiftShader in Chromium 156.0.8078.114'. */
function browserAdapterLabel(k) {
  const name = k.adapter.architecture === 'swiftshader' ? 'SwiftShader' : [k.adapter.vendor, k.adapter.architecture].filter(Boolean).join(' ') || 'an unnamed adapter';
  return `${name} in ${k.host.browser ?? 'a browser'}`;
}

/**
 * The browser's figures beside Node's: each record of bench/kernels/browser.mjs with the Node
 * record from the same machine (the same CPU in `host.machine`), case by case.
 */
function browserKernelSection(dir, devices, nodeRecords, browserRecords) {
  const out = [];
  for (const { file, k: b } of browserRecords) {
    // The same machine, run with the same settings (a quick or smoke record is no peer of a full one).
    const sameRun = (k) => k.settings?.runs === b.settings.runs && Boolean(k.settings?.smoke) === Boolean(b.settings.smoke);
    const peer = nodeRecords.find(({ k }) => k.host?.machine && k.host.machine === b.host.machine && sameRun(k));
    const nodeRow = (name) => peer?.k.results.find((r) => r.name === name);
    const tfjsCell = (r) => (r?.tfjs.medianMs !== undefined ? rateCell(r, r.tfjs) : '-');
    const jsCell = (r) => (!r.js || r.js.skipped ? (r.js && !/^no JS loop/.test(r.js.skipped) ? 'skipped' : '-') : gflops(r.js.gflops));
    const rows = b.results.map((r) => {
      const n = nodeRow(r.name);
      return [r.name, n ? rateCell(n, n.ours) : '-', tfjsCell(n), oursOverTfjs(n), rateCell(r, r.ours), tfjsCell(r), oursOverTfjs(r), jsCell(r), ourKernel(r)];
    });
    // The kernel target in the browser: every case at least TF.js (3x for the compute-bound
    // families) and at least the JS loop where the benchmark ran one, judged on the figures shown.
    const computeBound = (r) => /^(matmul|conv2d|attention)/.test(r.op);
    const misses = b.results.flatMap((r) => {
      const ours = rateOf(r, r.ours);
      const want = computeBound(r) ? 3 : 1;
      const found = [];
      // Two decimals: a near miss (0.96x) must not read as its target (1.0x).
      if (r.tfjs.medianMs !== undefined && ours < want * rateOf(r, r.tfjs)) found.push(`${r.name} ${(ours / rateOf(r, r.tfjs)).toFixed(2)}x TF.js (wants ${want}x)`);
      if (r.js && !r.js.skipped && r.js.gflops > ours) found.push(`${r.name} ${ours.toFixed(2)} against the JS loop's ${r.js.gflops.toFixed(2)}`);
      return found;
    });
    const verdict = `Target "every family at least as fast as TF.js and as the plain JS loop, the compute-bound ones (matmul, convolutions, attention) at least 3x TF.js", in Chromium: ${misses.length === 0 ? 'met' : `**missed** on ${list(misses)}`}.`;
    const nodeLabel = peer ? adapterLabel(peer.k.adapter.description, devices) : undefined;
    out.push(
      `${code('bench/kernels/browser.mjs')} (${code('npm run bench:browser')}) ran the same cases (${code('bench/kernels/families/')}, timed by ${code('bench/kernels/suite.mjs')}) in a page in headless Chromium, on ${browserAdapterLabel(b)}, record ${at(file)}` +
        (peer
          ? `, beside Node's record ${at(peer.file)} on ${nodeLabel} from the same machine (${b.host.machine}). Chromium brings its own WebGPU implementation and adapter, so the two hosts differ in adapter as well as host; within each host, ours and TF.js share the adapter.`
          : `; no Node record from the same machine (${b.host.machine}) is in ${code('bench/results/')}.`) +
        ` ${kernelUnits(b.results)}, medians of ${b.settings.runs} timed runs after warm-up:`,
      table(['case', 'Node: ours', 'Node: TF.js', 'Node: ours / TF.js', 'Chromium: ours', 'Chromium: TF.js', 'Chromium: ours / TF.js', 'Chromium: JS loop', 'our kernel in Chromium'], rows),
      verdict,
      ...composedPeers(b.results),
    );
  }
  return out;
}

function kernelSection(dir, devices) {
  const out = ['## Kernel speed'];
  // A record says which host made it (records from before hosts were named are Node's).
  const records = filesOf(dir, 'kernels-', '.json').map((file) => ({ file, k: readJson(join(dir, file)) }));
  const nodeRecords = records.filter(({ k }) => k.host?.kind !== 'browser');
  const browserRecords = records.filter(({ k }) => k.host?.kind === 'browser');
  for (const { file, k } of nodeRecords) {
    const software = k.adapter.architecture === 'software';
    const rows = k.results.map((r) => {
      const target = software ? KERNEL_TARGETS[r.name] : undefined;
      const ours = rateCell(r, r.ours);
      const ratio = r.tfjs.medianMs !== undefined ? Number((rateOf(r, r.ours) / rateOf(r, r.tfjs)).toFixed(1)) : undefined;
      // Judged on the figure as the table shows it (thousands separators aside).
      const shown = Number(gflops(rateOf(r, r.ours)).replace(/,/g, ''));
      let verdict = '';
      if (target) {
        const met = (target.gflops === undefined || shown >= target.gflops) && (target.ratio === undefined || (ratio !== undefined && ratio >= target.ratio));
        const wants = [target.gflops !== undefined ? `>= ${target.gflops}` : '', target.ratio !== undefined ? `>= ${target.ratio}x TF.js` : ''].filter(Boolean).join(' and ');
        verdict = `${wants}: ${met ? 'met' : '**missed**'}`;
      }
      const js = r.js.skipped ? (/^no JS loop/.test(r.js.skipped) ? '-' : 'skipped') : gflops(r.js.gflops);
      return [r.name, target?.ratio && ratio !== undefined ? `${ours} (${ratio.toFixed(1)}x)` : ours, r.tfjs.medianMs !== undefined ? rateCell(r, r.tfjs) : '-', js, ...(software ? [verdict] : []), ourKernel(r)];
    });
    out.push(
      `${code('bench/kernels/kernels.mjs')} (${code('npm run bench')}) on ${adapterLabel(k.adapter.description, devices)}, record ${at(file)}: ${kernelUnits(k.results)}, the median of ${k.settings.runs} timed runs after warm-up, for our kernels beside TF.js ${k.tfjs.version}'s ${k.tfjs.backend} backend on the same adapter in the same process, and a plain JS loop where one call takes under ${thousands(k.settings.jsLimitMs)} ms.` +
        (software ? " The targets are the project's, for this CPU adapter." : ''),
      table(['case', 'ours', 'TF.js', 'JS loop', ...(software ? ['target'] : []), 'our kernel'], rows),
      ...nativeBlasLine(k),
      ...composedPeers(k.results),
    );
  }
  out.push(...browserKernelSection(dir, devices, nodeRecords, browserRecords));
  for (const file of filesOf(dir, 'tests-', '.txt')) {
    const text = readFileSync(join(dir, file), 'utf8');
    const tests = /Tests\s+(\d+) passed(?: \| (\d+) skipped)?/.exec(text);
    const adapter = /^adapter: (.*)$/m.exec(text);
    if (!tests) continue;
    out.push(`The test suite on ${adapter ? adapterLabel(adapter[1], devices) : file}, log ${at(file)}: ${tests[1]} tests passed${tests[2] ? `, ${tests[2]} skipped` : ''}.`);
  }
  for (const file of filesOf(dir, 'tuning-', '.json')) {
    const t = readJson(join(dir, file));
    const saver = t.host?.kind === 'browser' ? "a table kept by the lab's Tune" : 'a table saved by `sll tune`';
    // How far the built-in choice is behind the measured best, where they differ.
    const closeness = (r) => {
      const builtIn = r.variants[r.builtIn];
      if (builtIn && 'ms' in builtIn) return `${r.builtIn} takes ${(builtIn.ms / r.variants[r.chosen].ms).toFixed(2)}x ${r.chosen}'s time`;
      return /^over 4x/.test(builtIn?.skipped ?? '') ? `${r.builtIn} over 4x ${r.chosen}'s` : `${r.builtIn} does not run here`;
    };
    const variants = [...new Set(t.rows.flatMap((r) => Object.keys(r.variants)))];
    const agree = t.rows.filter((r) => r.builtIn === r.chosen).length;
    out.push(
      `Tuned per adapter: ${t.host?.kind === 'browser' ? `${code('npm run bench:browser -- --tune')} (what the lab's Tune measures) on ${browserAdapterLabel(t)}` : `${code('node bench/kernels/tune-record.mjs')} (what ${code('sll tune')} measures) on ${adapterLabel(t.adapter.description, devices)}`}, record ${at(file)}: every matmul variant on the products of each shape class (the default models' at batch 128), ms summed over the class's products, the median of ${t.runs} calls after a warm-up each; a variant over 4x the best on a product is not timed further (> 4x best), and n/a is one the adapter cannot run. The built-in rules choose the measured best in ${agree} of ${t.rows.length} classes${agree === t.rows.length ? `: ${saver} changes nothing here` : `; ${saver} changes ${list(t.rows.filter((r) => r.builtIn !== r.chosen).map((r) => `${r.shapeClass} (${r.builtIn} -> ${r.chosen}, ${closeness(r)})`))}`}.`,
      table(
        ['class', 'products (m x k x n)', ...variants, 'built-in', 'measured best'],
        t.rows.map((r) => [r.shapeClass, r.shapes.map(([m, n, k]) => `${m} x ${k} x ${n}`).join(', '), ...variants.map((v) => { const c = r.variants[v]; return c && 'ms' in c ? c.ms.toFixed(2) : /^over 4x/.test(c?.skipped ?? '') ? '> 4x best' : 'n/a'; }), r.builtIn, r.chosen]),
      ),
    );
  }
  for (const file of filesOf(dir, 'matmul-check-', '.json')) {
    const c = readJson(join(dir, file));
    const checked = Object.entries(c.correctness).map(([variant, r]) =>
      r.skipped ? `${code(variant)} skipped (${r.skipped})` : `${code(variant)} ${r.worstErrorOverTolerance < 1 ? 'within' : '**outside**'} tolerance on ${r.cases} cases (worst error ${r.worstErrorOverTolerance.toFixed(2)} of it)`,
    );
    const variants = [...new Set(c.timings.flatMap((t) => Object.keys(t).filter((key) => !['m', 'n', 'k', 'chosen'].includes(key))))];
    out.push(
      `${code('bench/kernels/matmul-check.mjs')} on ${adapterLabel(c.adapter.description, devices)}, record ${at(file)}: every matmul variant against the reference: ${list(checked)}. Then the variants timed side by side, in GFLOPS:`,
      table(
        ['m x n x k', 'chosen', ...variants],
        c.timings.map((t) => [`${t.m} x ${t.n} x ${t.k}`, t.chosen, ...variants.map((v) => (t[v] === undefined ? '-' : gflops(t[v])))]),
      ),
    );
  }
  return out;
}

// ------------------------------------------------------------------ the document

/** The whole document, as markdown, from the records under `dir`. */
export function resultsMarkdown(dir = RESULTS_DIR) {
  const devices = deviceNames(dir);
  const blocks = [
    '# Results',
    '<!-- Generated by bench/results-doc.mjs from the records in bench/results/: do not edit by hand. Change the records or the generator and run `npm run results` (node bench/results-doc.mjs); test/results-doc.test.ts fails while this file and the records disagree. -->',
    'Every table and number below is computed from the records in `bench/results/`, which name the adapter they ran on; each section says which records. Verdicts against the targets are computed from the same numbers.',
    ...accuracySection(dir, devices),
    ...rulesSection(dir, devices),
    ...ablationSection(dir, devices),
    ...memorySection(dir, devices),
    ...speedSection(dir, devices),
    ...hostCostSection(dir, devices),
    ...kernelSection(dir, devices),
  ];
  return `${blocks.join('\n\n')}\n`;
}

/**
 * Called by every benchmark after it writes a record: when the record is under bench/results/
 * (where docs/results.md is made from), the document is made again at once, so that a fresh
 * record never leaves the document, and test/results-doc.test.ts, behind it.
 */
export function refreshResultsDoc(recordPath) {
  const under = relative(RESULTS_DIR, resolve(recordPath));
  if (under.startsWith('..') || isAbsolute(under)) return;
  writeFileSync(DOC_PATH, resultsMarkdown());
  console.log(`docs/results.md made again with ${relative(ROOT, resolve(recordPath))}: commit the record and the document together`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(DOC_PATH, resultsMarkdown());
  console.log('wrote docs/results.md');
}
