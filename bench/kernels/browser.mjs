// Kernel benchmark, browser host: builds the page in bench/kernels/browser/ with vite (the
// library's src/ and TF.js bundled, as the lab is), serves it, runs it in headless Chromium
// through Playwright (Debian's Chromium, scripts/chromium.mjs) and writes the record beside
// Node's: bench/results/kernels-browser-<adapter>.json. The timing is bench/kernels/suite.mjs
// and the cases are its families (bench/kernels/families/), the same as `npm run bench` runs in
// Node.
//
//   npm run bench:browser [-- --quick | --smoke] [--only FAMILY] [--all-variants] [--out DIR]   (FAMILY: suite.mjs's FAMILIES)
//   npm run bench:browser -- --tune [--runs 3]   the kernel tuning record of the browser's adapter
//                                        instead (bench/results/tuning-browser-<adapter>.json)
//   npm run bench:browser -- --serve     builds and serves the page, for any browser to open
import '../lib/help.mjs'; // --help prints the comment above, before anything else loads
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { CHROMIUM, chromiumAvailable, launchChromium } from '../../scripts/chromium.mjs';
import { serveDirectory } from '../../scripts/static-server.mjs';
import { machineName } from '../lib/machine.mjs';
import { option, orUsageError } from '../lib/options.mjs';
import { adapterSlug, benchSettingsFromArgs } from './suite.mjs';
import { refreshResultsDoc } from '../results-doc.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Builds the page into `outDir` (relative URLs only: it works from any sub-path). */
export async function buildBenchPage(outDir) {
  await build({
    root: join(root, 'bench', 'kernels', 'browser'),
    base: './',
    configFile: false,
    logLevel: 'warn',
    // TF.js makes the bundle large; that is expected here, not a warning.
    build: { outDir, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 8000 },
  });
  return outDir;
}

/**
 * Runs the benchmark in headless Chromium with the page's query (`smoke`, `quick`,
 * `only=...`); `onLine` gets the table as the page logs it. Resolves to the page's record, with
 * the machine and the browser's version added to its host.
 */
export async function runInBrowser({ query = '', timeoutMs = 30 * 60_000, onLine = () => {} } = {}) {
  const page = await buildBenchPage(mkdtempSync(join(tmpdir(), 'sll-bench-page-')));
  const server = await serveDirectory(page);
  const browser = await launchChromium();
  try {
    const tab = await browser.newPage();
    const errors = [];
    tab.on('console', (m) => (m.type() === 'error' ? errors.push(m.text()) : m.type() === 'log' && onLine(m.text())));
    // An uncaught error (a module that failed to load, say) ends the wait at once, not at the timeout.
    const failed = new Promise((_, reject) => tab.on('pageerror', (e) => reject(new Error(`the page failed: ${e.message}`))));
    failed.catch(() => {}); // an error after the record arrived is reported below, not as an unhandled rejection
    await tab.goto(`http://127.0.0.1:${server.address().port}/?run&${query}`);
    await Promise.race([tab.waitForFunction(() => window.kernelBenchmark !== undefined, null, { timeout: timeoutMs, polling: 500 }), failed]);
    const outcome = await tab.evaluate(() => window.kernelBenchmark);
    if (outcome.error) throw new Error(`the page failed: ${outcome.error}`);
    if (errors.length > 0) throw new Error(`the page logged errors: ${errors.join('; ')}`);
    const { record } = outcome;
    record.host = { ...record.host, browser: `Chromium ${browser.version()}`, machine: machineName() };
    return record;
  } finally {
    await browser.close();
    server.close();
    rmSync(page, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const settings = orUsageError(() => benchSettingsFromArgs(args));
  if (args.includes('--serve')) {
    const port = Number(process.env.PORT ?? 8081);
    const dir = await buildBenchPage(join(root, 'dist', 'bench-kernels'));
    await serveDirectory(dir, port);
    console.log(`the kernel benchmark page: http://localhost:${port}/ (Ctrl-C to stop)`);
  } else {
    if (!chromiumAvailable()) {
      console.error(`no Chromium at ${CHROMIUM}: install Debian's chromium, or set CHROMIUM to its path (or use --serve and open the page yourself)`);
      process.exit(1);
    }
    const outDir = option('out', join(root, 'bench', 'results'));
    mkdirSync(outDir, { recursive: true });
    if (args.includes('--tune')) {
      const runs = orUsageError(() => {
        // A record of the small products would stand beside the real one under the same name.
        for (const flag of ['--quick', '--smoke', '--only', '--all-variants']) if (args.includes(flag)) throw new Error(`--tune measures the full products and takes only --runs, not ${flag}`);
        const n = Number(option('runs', '3'));
        if (!Number.isInteger(n) || n < 1) throw new Error(`--runs must be a positive integer, got ${option('runs', '3')}`);
        return n;
      });
      const record = await runInBrowser({ query: `tune&runs=${runs}`, onLine: console.log });
      const file = join(outDir, `tuning-browser-${adapterSlug(record.adapter)}.json`);
      writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
      refreshResultsDoc(file);
      console.log(`\nwrote ${file}`);
    } else {
      const query = [settings.smoke && 'smoke', settings.quick && 'quick', settings.only !== 'all' && `only=${settings.only}`, settings.allVariants && 'allVariants'].filter(Boolean).join('&');
      const record = await runInBrowser({ query, onLine: console.log });
      // A run of one family goes to a file of its own: it must not write over the record of every family.
      const file = join(outDir, `kernels-browser-${adapterSlug(record.adapter)}${settings.smoke ? '-smoke' : settings.quick ? '-quick' : ''}${settings.only !== 'all' ? `-${settings.only}` : ''}.json`);
      writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
      refreshResultsDoc(file);
      console.log(`\nwrote ${file}`);
    }
  }
}
