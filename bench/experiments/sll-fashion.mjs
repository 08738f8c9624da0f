// One training run on Fashion-MNIST (Debian's dataset-fashion-mnist): a model, a method, a
// seed. Trains on the first 55,000 training images, evaluates on the last 5,000 (validation)
// after every epoch, and on the 10,000 test images at the end; writes a JSON record with the
// adapter, the recipe and every number to bench/results/.
//
//   npm run build && node bench/experiments/sll-fashion.mjs --model mlp --method sll --seed 0 --epochs 10
//     [--batch 128] [--lr 1e-3] [--schedule constant|cosine] [--warmup 0] [--out DIR]
//     [--data-dir DIR] [--train-count N (a quick check on a subset)] [--activation relu|tanh|leaky-relu (the MLP's and the CNN's; default relu, DRTP tanh, PredSim leaky-relu)]
//     [--beta 0.99 (PredSim's)] [--replace (write over an existing record of the same name)]
//   --method takes every Trainer method: sll, dgl, drtp, predsim, ff, dfa, backprop.
import '../lib/help.mjs'; // --help prints the comment above, before anything else loads
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeAdapter, openNodeDevice, data, sll } from '../../dist/src/node.js';
import { option } from '../lib/options.mjs';
import { refreshResultsDoc } from '../results-doc.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const modelName = option('model', 'mlp');
const method = option('method', 'sll');
const seed = Number(option('seed', 0));
const epochs = Number(option('epochs', 10));
const batchSize = Number(option('batch', 128));
const lr = Number(option('lr', 1e-3));
const scheduleKind = option('schedule', 'constant');
// The command's default: ReLU, DRTP's tanh, PredSim's LeakyReLU (an unknown method is refused below).
const activation = option('activation', sll.METHODS.includes(method) ? sll.defaultActivation(method) : 'relu');
const beta = Number(option('beta', sll.PREDSIM_BETA_DEFAULT));
const outDir = option('out', join(root, 'bench', 'results', 'fashion'));
// The record's file, known before any work: an existing one is not written over unless asked (a
// run at another rate or for longer would otherwise replace a committed result without a word).
const file = join(outDir, `${modelName}${activation === 'relu' ? '' : `-${activation}`}-${method}${method === 'predsim' && beta !== sll.PREDSIM_BETA_DEFAULT ? `-beta${beta}` : ''}-seed${seed}.json`);
if (existsSync(file) && !process.argv.includes('--replace')) {
  const old = JSON.parse(readFileSync(file, 'utf8'));
  console.error(`${file} exists (${old.method}, seed ${old.seed}, Adam ${old.recipe?.lr}, ${old.recipe?.epochs} epochs, ${old.date}): pass --replace to write over it, or --out another directory`);
  process.exit(2);
}

const dataDir = option('data-dir', undefined);
const dataset = data.loadFashionMnist(dataDir ? { dir: dataDir } : {});
const split = data.splitValidation(dataset, 5000);
const trainCount = option('train-count', undefined);
const train = trainCount ? data.subset(split.train, Number(trainCount)) : split.train;
const validation = split.validation;
const device = await openNodeDevice();
const stepsPerEpoch = Math.floor(train.count / batchSize);
const schedule = scheduleKind === 'cosine' ? { kind: 'cosine', warmupSteps: Number(option('warmup', stepsPerEpoch)), totalSteps: stepsPerEpoch * epochs } : { kind: 'constant' };
const model =
  modelName === 'mlp' ? sll.mlp(device, { inputShape: dataset.shape, classes: 10, seed, activation })
  : modelName === 'cnn' ? sll.cnn(device, { inputShape: dataset.shape, classes: 10, seed, activation })
  : sll.vit(device, { inputShape: dataset.shape, classes: 10, seed });
const objective = modelName === 'cnn' ? () => sll.latentModeObjective() : undefined;
const predsim = method === 'predsim' ? { beta } : undefined;
const trainer = new sll.Trainer(device, model, { method, optimizer: { kind: 'adam', lr }, schedule, seed, metricsEvery: 50, ...(objective ? { objective } : {}), ...(predsim ? { predsim } : {}) });
console.log(`${describeAdapter(device.report)}\n${model.name}, ${method}${predsim ? ` (beta ${beta})` : ''}, seed ${seed}, ${epochs} epochs, batch ${batchSize}, Adam ${lr}, ${scheduleKind}`);
const started = Date.now();
const records = await sll.fit(trainer, train, dataset.shape, {
  epochs,
  batchSize,
  seed,
  evaluateOn: validation,
  onEpoch: (r) => console.log(`epoch ${r.epoch + 1}: ${r.seconds.toFixed(0)} s, ${r.samplesPerSecond.toFixed(0)} samples/s, validation ${(100 * r.evaluation.accuracy).toFixed(2)}% heads [${r.evaluation.blockAccuracy.map((a) => (100 * a).toFixed(1)).join(', ')}]`),
});
const test = await sll.evaluate(trainer, dataset.test, dataset.shape, 500);
console.log(`test accuracy ${(100 * test.accuracy).toFixed(2)}%, heads [${test.blockAccuracy.map((a) => (100 * a).toFixed(1)).join(', ')}]`);
const record = {
  date: new Date().toISOString(),
  // What made this record, to make it again.
  command: ['node', 'bench/experiments/sll-fashion.mjs', ...process.argv.slice(2)].join(' '),
  adapter: device.report,
  model: model.name,
  method,
  seed,
  recipe: { epochs, batchSize, optimizer: 'adam', lr, schedule, objective: method === 'sll' ? (objective ? objective(0) : sll.classModeObjective(10)) : undefined, predsim, validation: 'last 5,000 training images', trainCount: train.count },
  epochs: records.map((r) => ({ epoch: r.epoch + 1, seconds: r.seconds, samplesPerSecond: r.samplesPerSecond, validation: r.evaluation, losses: r.metrics.at(-1)?.units })),
  test,
  seconds: (Date.now() - started) / 1000,
  memory: { ...trainer.stateBytes(), peakActivation: device.memory().peak.activation, peakScratch: device.memory().peak.scratch },
};
mkdirSync(outDir, { recursive: true });
writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
refreshResultsDoc(file);
console.log(`wrote ${file}`);
trainer.dispose();
model.dispose();
device.destroy();
