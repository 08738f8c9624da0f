// `--help` for every script under bench/: imported first by each one (before its heavy
// imports run), it prints the script's own header comment, which holds its purpose and usage,
// and exits 0. One place, so a script's help is the comment a reader sees at its top and cannot
// drift from it; a script run with --help never starts its work.
import { readFileSync } from 'node:fs';

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

const script = process.argv[1];
if (script && process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
  process.stdout.write(headerComment(script) + '\n');
  process.exit(0);
}
