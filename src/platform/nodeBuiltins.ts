/**
 * Node's built-in modules for the code that needs them (files, gzip, hashing), fetched when a
 * function runs, so that importing such code from a module that also runs in a browser is
 * harmless; and Node's file errors in words. How the browser-safe folders (src/data, src/io)
 * reach Node's API; imports nothing.
 */

export type NodeBuiltins = {
  'node:fs': typeof import('node:fs');
  'node:zlib': typeof import('node:zlib');
  'node:module': typeof import('node:module');
  'node:path': typeof import('node:path');
  'node:crypto': typeof import('node:crypto');
  'node:os': typeof import('node:os');
};

/**
 * One of Node's built-in modules, fetched at call time so that importing src/data stays
 * browser-safe. `purpose` names the caller for the error outside Node.
 */
export function nodeBuiltin<K extends keyof NodeBuiltins>(id: K, purpose: string): NodeBuiltins[K] {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const module = proc?.getBuiltinModule?.(id);
  if (!module) throw new Error(`${purpose} needs Node.js 20.16 or later (${id} via process.getBuiltinModule)`);
  return module as NodeBuiltins[K];
}

/**
 * Why a file operation failed, in words and without the path (the caller's message names it):
 * Node's "ENOENT: no such file or directory, open '/x'" becomes "no such file or directory
 * (ENOENT)"; a Node code of its own (ERR_...) is left out, its message kept.
 */
export function fileFailure(error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(error);
  if (typeof code !== 'string' || code.startsWith('ERR_')) return text;
  // "CODE: words, syscall 'path'" (and "-> 'dest'" for a rename): the words.
  const words = new RegExp(`^${code}: (.*?)(?:, \\w+ '.*)?$`, 's').exec(text)?.[1];
  return `${words ?? text} (${code})`;
}
