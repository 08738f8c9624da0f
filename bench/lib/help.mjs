// `--help` for every script under bench/: imported first by each one (before its heavy
// imports run), it prints the script's own header comment, which holds its purpose and usage,
// and exits 0. One place, so a script's help is the comment a reader sees at its top and cannot
// drift from it; a script run with --help never starts its work. The flags that comment names
// are also all the script takes: any other is refused (exit 2) before the work starts.
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The leading `//` comment of a script (after a shebang), without the slashes. */
export function headerComment(path) {
  const lines = readFileSync(path, 'utf8').split('\n');
  const start = lines[0]?.startsWith('#!') ? 1 : 0;
  const header = [];
  for (const line of lines.slice(start)) {
    if (!line.startsWith('//')) break;
    header.push(line.replace(/^\/\/ ?/, ''));
  }
  return header.join('\n');
}

/** The flags a script's header names (`--name`), which are all it takes. */
export function headerFlags(path) {
  return [...new Set(headerComment(path).match(/--[a-z0-9][a-z0-9-]*/g) ?? [])];
}

const script = process.argv[1];
if (script && process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
  process.stdout.write(headerComment(script) + '\n');
  process.exit(0);
}
// A flag the script does not take is refused before any work starts, rather than ignored (a
// mistyped --out would otherwise write over a committed record). Only for the scripts of bench/
// run as programs: a test runner that imports one of their modules has flags of its own.
const benchDir = fileURLToPath(new URL('..', import.meta.url));
if (script && resolve(script).startsWith(benchDir) && script.endsWith('.mjs')) {
  const known = headerFlags(script);
  const unknown = process.argv.slice(2).filter((a) => a.startsWith('--') && !known.includes(a.split('=')[0]));
  if (unknown.length > 0) {
    process.stderr.write(`${relative(process.cwd(), script)}: unknown flag ${unknown.join(', ')} (it takes ${known.join(', ') || 'no flags'}; --help prints its usage)\n`);
    process.exit(2);
  }
}
