// Types of bench/results-doc.mjs, for test/results-doc.test.ts (the project type-checks test/,
// and plain .mjs files carry none).

/** The results directory the document is made from by default: bench/results/. */
export declare const RESULTS_DIR: string;
/** Where `node bench/results-doc.mjs` writes the document: docs/results.md. */
export declare const DOC_PATH: string;
/** docs/results.md as the records under `dir` (default bench/results/) make it. */
export declare function resultsMarkdown(dir?: string): string;
