/** Types for help.mjs, read by the tests. */
export function headerComment(path: string): string;
/** The flags a script's header names (`--name`), which are all it takes. */
export function headerFlags(path: string): string[];
