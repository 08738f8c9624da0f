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
