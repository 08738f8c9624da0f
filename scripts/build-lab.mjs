// Builds examples/lab/ into dist/lab/: one folder of static files (the page, its worker and the
// library bundled by vite, and the digits beside them) that works from any web server and any
// sub-path, since every URL in it is relative.
//
//   node scripts/build-lab.mjs [--out DIR]
import { cpSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--out');
const out = at >= 0 ? process.argv[at + 1] : join(root, 'dist', 'lab');

export async function buildLab(outDir = out) {
  await build({
    root: join(root, 'examples', 'lab'),
    base: './',
    configFile: false,
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, target: 'es2022' },
    worker: { format: 'es' },
  });
  const digits = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  mkdirSync(join(outDir, 'data'), { recursive: true });
  cpSync(digits, join(outDir, 'data', 'digits'), { recursive: true });
  return outDir;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`built ${await buildLab()}`);
}
