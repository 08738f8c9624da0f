// Types of bench/lib/comparisonTables.mjs, for the tests (the project type-checks test/, and
// plain .mjs files carry none).

/** Epochs of each model's comparison recipe. */
export declare const COMPARISON_EPOCHS: Record<'mlp' | 'cnn' | 'vit', number>;
/** The directories of `sll train` runs whose SLL and backprop runs stand for the comparison's seeds. */
export declare function runTables(model: string, tag: string): string[];
/** Whether a `sll train` run's spec trains a model's comparison recipe. */
export declare function hasComparisonRecipe(spec: unknown, model: string): boolean;
/** The blocks' activation a rule is compared with: its authors' where not ReLU. */
export declare function comparisonActivation(method: string, model: string): 'relu' | 'tanh' | 'leaky-relu';
