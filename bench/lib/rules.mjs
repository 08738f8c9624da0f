// What the benchmarks that put the local rules side by side share.
import { sll } from '../../dist/src/index.js';

/**
 * The blocks' activation a rule is measured with: its default under the command
 * (sll.defaultActivation), its authors' choice where it is not ReLU: tanh for DRTP (its signal
 * never shrinks, so a block needs a bounded activation to saturate), LeakyReLU for PredSim (its
 * similarity loss drives ReLU units dead). Passed to each run by name all the same, so that a
 * record's command says it. The ViT's blocks have no activation to choose: ReLU stands for them.
 * (bench/lib/comparisonTables.mjs writes the same choice without the built library, for the
 * results page.)
 */
export function ruleActivation(method, model) {
  // The ViT's blocks take no activation: its records then name none, whatever the rule.
  return model === 'vit' ? 'relu' : sll.defaultActivation(method);
}
