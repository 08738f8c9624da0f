// What the benchmarks that put the local rules side by side share.
import { sll } from '../../dist/src/index.js';

/**
 * The blocks' activation a rule is measured with: its default under the command
 * (sll.defaultActivation): tanh for DRTP, its authors' choice (its signal never shrinks, so a
 * block needs a bounded activation to saturate), ReLU for every other rule. Passed to each run
 * by name all the same, so that a record's command says it.
 */
export function ruleActivation(method) {
  return sll.defaultActivation(method);
}
