// Where the local rules comparison (bench/experiments/rules-comparison.mjs, docs/results.md's
// "Local rules at equal budget") finds SLL's and backprop's seeds already trained: the accuracy
// tables whose runs have each model's comparison recipe. Free of the built library, so that the
// results generator can read it without a build.

/** Epochs of each model's recipe (the accuracy tables'): MLP 10, CNN 5, ViT 3. */
export const COMPARISON_EPOCHS = { mlp: 10, cnn: 5, vit: 3 };

/**
 * The directories of `sll train` runs under bench/results/ whose SLL and backprop runs have the
 * model's comparison recipe (the MLP's table is sll-fashion.mjs records instead:
 * fashion-<tag>-cosine/). Such a run trains through the same fit (src/sll/fit.ts), from the same
 * seed, on the same data in the same order as sll-fashion.mjs would, so it stands for that run
 * at its rate: a 2-epoch CNN check gave 68.89% test accuracy both ways.
 */
export function runTables(model, tag) {
  return { cnn: [`cnn-${tag}`], vit: [`vit-${tag}`, `vit-lr2e-3-${tag}`, `vit-tuned-lr-${tag}`] }[model] ?? [];
}

/**
 * Whether a `sll train` run's spec trains a model's comparison recipe, as far as the run's own
 * spec says without the library's defaults: the model's kind and epochs, batch 128, Adam, a
 * cosine schedule with one warm-up epoch, 5,000 images held out, every other one trained on.
 * (bench/experiments/rules-comparison.mjs also holds the model and SLL objective to their
 * defaults.)
 */
export function hasComparisonRecipe(spec, model) {
  return spec.model.kind === model && spec.epochs === COMPARISON_EPOCHS[model] && spec.batchSize === 128 && spec.optimizer.kind === 'adam' && spec.schedule.kind === 'cosine' && spec.schedule.warmupEpochs === 1 && spec.dataset.validation === 5000 && spec.dataset.trainCount === undefined;
}

/**
 * The blocks' activation each rule is compared with, where it is not ReLU: its authors' (DRTP's
 * tanh, PredSim's LeakyReLU), which is its default under the command (src/sll/rules.ts, read by
 * bench/lib/rules.mjs from the built library; test/rules-comparison.test.ts holds the two equal).
 * Written here so that the results generator needs no build. A record trained with another
 * activation is outside the comparison: docs/results.md lists it apart.
 */
const COMPARISON_ACTIVATION = { drtp: 'tanh', predsim: 'leaky-relu' };

/** The ViT's blocks have no such choice (GELU inside, a residual out): ReLU stands for them, as its records name none. */
export function comparisonActivation(method, model) {
  return model === 'vit' ? 'relu' : (COMPARISON_ACTIVATION[method] ?? 'relu');
}
