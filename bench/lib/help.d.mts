/** Types for help.mjs, read by the tests. */
export function headerComment(path: string): string;
