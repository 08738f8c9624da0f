/**
 * The lab (examples/lab/), end to end: built into its static folder by scripts/build-lab.mjs,
 * served from a sub-path, and driven through Playwright in Debian's Chromium as a visitor would.
 * Each check is its own test; the page must never log a console error. A screenshot of the lab
 * after training is written to docs/lab.png (when SLL_LAB_SCREENSHOT is set) and, in any run,
 * into SLL_ARTIFACTS (CI's ci-artifacts/) or beside the build. Needs Chromium: skipped without
 * it, unless SLL_REQUIRE_BROWSER=1.
 */
import { mkdtempSync, renameSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchChromium } from '../scripts/chromium.mjs';
import { locateDataset } from '../src/data/registry.js';
import { runCli, TINY } from './helpers/cli.js';

/** Fashion-MNIST where `sll train` finds it (CI installs Debian's): the lab's build copies it beside the page. */
const haveFashion = locateDataset('fashion-mnist').dir !== undefined;

describe.runIf(chromiumAvailable())('the SLL lab in a browser', () => {
  let server: Server;
  let url: string;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const built = mkdtempSync(join(tmpdir(), 'sll-lab-'));

  beforeAll(async () => {
    const { buildLab } = (await import(new URL('../scripts/build-lab.mjs', import.meta.url).href)) as { buildLab: (out: string) => Promise<{ fashion: string }> };
    // Built into a sub-folder and served from above it: every URL in the lab must be relative.
    const { fashion } = await buildLab(join(built, 'some', 'path'));
    if (haveFashion) expect(fashion).toMatch(/^copied from /);
    const { serveDirectory } = (await import(new URL('../scripts/static-server.mjs', import.meta.url).href)) as { serveDirectory: (root: string) => Promise<Server> };
    server = await serveDirectory(built);
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/some/path/`;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1200, height: 1100 } });
    page.on('console', (m) => void (m.type() === 'error' && problems.push(m.text())));
    page.on('pageerror', (e) => void problems.push(e.message));
    await page.goto(url);
    await page.waitForSelector('#start:not([disabled])', { timeout: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  const text = async (id: string) => (await page.textContent(`#${id}`)) ?? '';
  /** Saves the page's checkpoint as `name` beside the build and evaluates it with `sll eval --json`. */
  const saveAndEvaluate = async (name: string) => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
    const saved = join(built, name);
    await download.saveAs(saved);
    const result = await runCli(['eval', saved, '--json'], { cwd: built, timeoutMs: 60_000 });
    expect(result.code, result.stderr).toBe(0);
    return { saved, evaluated: JSON.parse(result.stdout) as { accuracy: number; count: number } };
  };
  const settings = async (values: Record<string, string>, method: 'sll' | 'backprop') => {
    for (const [name, value] of Object.entries(values)) await page.fill(`input[name=${name}]`, value);
    await page.check(`input[name=method][value=${method}]`);
  };

  it('names the adapter and says when it is a software one', async () => {
    expect(await text('adapter')).toMatch(/Adapter: .*\(browser, core/);
    expect(await page.isVisible('#notice')).toBe(true);
    expect(await text('notice')).toContain('software');
  });

  it('training a small SLL MLP for an epoch raises the validation accuracy far above chance, and describes the model', async () => {
    await settings({ depth: '2', width: '64', lr: '0.003', batch: '64', epochs: '1' }, 'sll');
    await page.click('#start');
    await page.waitForFunction(() => /finished/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 120_000 });
    expect(await text('model')).toMatch(/^mlp 784-64-64-10, sll \(class mode, d0 10, tau 1, alignment on\) \(\d[\d,]* parameters\)$/);
    expect(Number((await text('accuracy')).replace('%', ''))).toBeGreaterThan(50);
    expect(Number(await text('step'))).toBe(112);
    for (const chart of ['loss', 'training-accuracy', 'accuracy', 'speed']) expect(await page.locator(`#${chart}-chart svg`).count(), chart).toBe(1);
    // Live during the epoch: a training-accuracy line for every unit, one point per report (every
    // 10 steps), and the classifier's last point far above chance.
    const lines = await page.$$eval('#training-accuracy-chart path[data-series]', (ps) => ps.map((p) => p.getAttribute('data-series')));
    expect(lines).toEqual(['block 1', 'block 2', 'classifier']);
    const classifierLine = await page.getAttribute('#training-accuracy-chart path[data-series=classifier]', 'd');
    expect(classifierLine!.match(/[ML]/g)).toHaveLength(12); // 112 steps: reports at 10, 20, ..., 110 and at the epoch's end
    expect(await text('training-accuracy')).toMatch(/^block 1 \d+\.\d%, block 2 \d+\.\d%, classifier \d+\.\d%$/);
    expect(Number(/classifier (\d+\.\d)%/.exec(await text('training-accuracy'))![1])).toBeGreaterThan(50);
  });

  it('shows test images with their labels and the predicted classes', async () => {
    await page.waitForFunction(() => document.querySelectorAll('#grid figure').length === 16, null, { timeout: 30_000 });
    const captions = await page.$$eval('#grid figcaption', (cs) => cs.map((c) => c.textContent ?? ''));
    expect(captions.every((c) => /^\d -> \d$/.test(c))).toBe(true);
    // Most of them right after an epoch, and each wrong one marked.
    const right = captions.filter((c) => c[0] === c.at(-1)).length;
    expect(right).toBeGreaterThan(8);
    expect(await page.locator('#grid figcaption.wrong').count()).toBe(16 - right);
  });

  it('a digit drawn on the canvas gets a probability for every class from every head and the classifier', async () => {
    // The mouse acts at viewport coordinates: bring the pad into view first.
    await page.locator('#pad').scrollIntoViewIfNeeded();
    const box = (await page.locator('#pad').boundingBox())!;
    // A vertical stroke: a 1.
    await page.mouse.move(box.x + box.width / 2, box.y + box.height * 0.15);
    await page.mouse.down();
    for (let t = 0.15; t <= 0.85; t += 0.05) await page.mouse.move(box.x + box.width / 2, box.y + box.height * t);
    await page.mouse.up();
    await page.click('#predict');
    await page.waitForSelector('#probabilities tr.unit', { timeout: 30_000 });
    const rows = await page.$$eval('#probabilities tr.unit', (trs) => trs.map((tr) => ({ name: tr.querySelector('th')!.textContent, p: Array.from(tr.querySelectorAll('td'), (td) => Number(td.textContent)) })));
    expect(rows.map((r) => r.name)).toEqual(['block 1 head', 'block 2 head', 'classifier']);
    for (const r of rows) {
      expect(r.p).toHaveLength(10);
      expect(Math.abs(r.p.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(0.06); // two decimals each
    }
    // The stroke was read: the classifier takes it for a 1 (an empty pad reads as something else).
    const classifier = rows.at(-1)!.p;
    expect(classifier.indexOf(Math.max(...classifier))).toBe(1);
    // The lab after training, with its test images and a drawn digit: the run's artifact, kept
    // where SLL_ARTIFACTS says (CI sets it) or beside the build.
    await page.screenshot({ path: join(process.env.SLL_ARTIFACTS ?? built, 'lab.png'), fullPage: true });
    if (process.env.SLL_LAB_SCREENSHOT) await page.screenshot({ path: new URL('../docs/lab.png', import.meta.url).pathname, fullPage: true });
  });

  it('a checkpoint saved by the page is read by sll eval, with the test accuracy the page showed', async () => {
    const shown = Number(/finished: test accuracy (\d+\.\d+)%/.exec(await text('status'))![1]);
    const { evaluated } = await saveAndEvaluate('from-the-page.safetensors');
    expect(evaluated.count).toBe(2000);
    // Within half a point: the two adapters (SwiftShader, lavapipe) round differently.
    expect(Math.abs(100 * evaluated.accuracy - shown)).toBeLessThan(0.5);
  });

  it('a checkpoint made by sll train loads in the page, with the test accuracy the command printed', async () => {
    const run = join(built, 'cli-run');
    const trained = await runCli(['train', ...TINY, '--out', run], { cwd: built, timeoutMs: 60_000 });
    expect(trained.code, trained.stderr).toBe(0);
    const printed = Number(/test accuracy (\d+\.\d+)% on 2000 images/.exec(trained.stdout)![1]);
    await page.setInputFiles('#load', join(run, 'checkpoint.safetensors'));
    await page.waitForFunction(() => /^loaded: /.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 60_000 });
    expect(await text('model')).toMatch(/^mlp 784-8-10, sll \(class mode, d0 10, tau 1, alignment on\)/);
    const loaded = Number(/loaded: test accuracy (\d+\.\d+)%/.exec(await text('status'))![1]);
    expect(Math.abs(loaded - printed)).toBeLessThan(0.5);
    await page.click('#reset');
    await page.waitForFunction(() => document.getElementById('status')!.textContent === 'ready', null, { timeout: 30_000 });
  });

  it('changing the method, the depth and an SLL switch changes the model described', async () => {
    await settings({ depth: '2', width: '32', lr: '0.001', batch: '64', epochs: '1' }, 'sll');
    await page.selectOption('select[name=mode]', 'latent');
    await page.fill('input[name=d0]', '64');
    await page.fill('input[name=tau]', '2');
    await page.uncheck('input[name=alignment]');
    await page.click('#start');
    await page.waitForFunction(() => document.getElementById('model')!.textContent !== 'none yet', null, { timeout: 30_000 });
    expect(await text('model')).toMatch(/^mlp 784-32-32-10, sll \(latent mode, d0 64, tau 2, alignment off\) \(\d[\d,]* parameters\)$/);
    await page.click('#reset');
    await page.waitForFunction(() => document.getElementById('status')!.textContent === 'ready', null, { timeout: 30_000 });
    await page.selectOption('select[name=mode]', 'class');
    await page.fill('input[name=tau]', '1');
    await page.check('input[name=alignment]');
    // The SLL switches are greyed out under backprop, and say nothing there.
    await page.check('input[name=method][value=backprop]');
    expect(await page.$eval('#sll', (f) => (f as HTMLFieldSetElement).disabled)).toBe(true);
  });

  it('the memory panel shows every category, with parameters and activations above zero', async () => {
    const rows = await page.$$eval('#memory tr', (trs) => trs.slice(1).map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')));
    expect(rows.map((r) => r[0])).toEqual(['parameter', 'optimizer', 'projection', 'activation', 'scratch', 'staging']);
    const peak = (category: string) => Number.parseFloat(rows.find((r) => r[0] === category)![2]!);
    expect(peak('parameter')).toBeGreaterThan(0);
    expect(peak('activation')).toBeGreaterThan(0);
  });

  it('pause stops the step counter, resume continues it, and reset clears the charts', async () => {
    await settings({ depth: '3', width: '32', lr: '0.001', batch: '16', epochs: '5' }, 'backprop');
    await page.click('#start');
    await page.waitForFunction(() => Number(document.getElementById('step')!.textContent) >= 20, null, { timeout: 60_000 });
    expect(await text('model')).toMatch(/^mlp 784-32-32-32-10, backprop/);
    await page.click('#pause');
    await page.waitForFunction(() => /paused at step \d+/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 30_000 });
    const stoppedAt = Number(await text('step'));
    await page.waitForTimeout(1500);
    expect(Number(await text('step'))).toBe(stoppedAt);
    await page.click('#pause'); // resume
    await page.waitForFunction((at) => Number(document.getElementById('step')!.textContent) > at, stoppedAt, { timeout: 30_000 });
    await page.click('#reset');
    await page.waitForFunction(() => document.getElementById('status')!.textContent === 'ready', null, { timeout: 30_000 });
    expect(await page.locator('#loss-chart svg').count()).toBe(0);
    expect(await text('step')).toBe('0');
    expect(await text('model')).toBe('none yet');
  });

  it("a depth sweep of 1 to 4 blocks draws SLL's and backprop's peak activation memory, backprop's rising and SLL's flat", async () => {
    await page.fill('input[name=width]', '256');
    await page.fill('#sweep-depth', '4');
    await page.click('#sweep');
    await page.waitForFunction(() => document.getElementById('sweep-status')!.textContent === 'done', null, { timeout: 120_000 });
    const rows = await page.$$eval('#sweep-table tr', (trs) => trs.slice(1).map((tr) => Array.from(tr.querySelectorAll('td'), (td) => Number(td.textContent))));
    expect(rows.map((r) => r[0])).toEqual([1, 2, 3, 4]);
    const [sll1, backprop1] = [rows[0]![1]!, rows[0]![2]!];
    const [sll4, backprop4] = [rows[3]![1]!, rows[3]![2]!];
    expect(backprop4).toBeGreaterThan(1.3 * backprop1);
    expect(Math.abs(sll4 - sll1)).toBeLessThan(0.05 * sll1);
    expect(await page.locator('#sweep-chart svg').count()).toBe(1);
  });

  it.runIf(haveFashion)('offers Fashion-MNIST only when the server has its files, and trains on it, naming its garments', async () => {
    // Served without the files, the option says where they go and cannot be chosen.
    const fashion = join(built, 'some', 'path', 'data', 'fashion-mnist');
    renameSync(fashion, `${fashion}-elsewhere`);
    try {
      const other = await browser.newPage();
      await other.goto(url);
      await other.waitForSelector('#start:not([disabled])', { timeout: 60_000 });
      const option = await other.$eval('select[name=dataset] option[value=fashion-mnist]', (o) => ({ disabled: (o as HTMLOptionElement).disabled, text: o.textContent }));
      expect(option).toEqual({ disabled: true, text: 'Fashion-MNIST (not served here: its four .gz files go in data/fashion-mnist/)' });
      await other.close();
    } finally {
      renameSync(`${fashion}-elsewhere`, fashion);
    }
    // Served with them (this page loaded while they were there), it trains on them.
    expect(await page.$eval('select[name=dataset] option[value=fashion-mnist]', (o) => (o as HTMLOptionElement).disabled)).toBe(false);
    await page.selectOption('select[name=dataset]', 'fashion-mnist');
    await settings({ depth: '1', width: '64', lr: '0.003', batch: '128', epochs: '1' }, 'sll');
    await page.click('#start');
    await page.waitForFunction(() => Number(document.getElementById('step')!.textContent) >= 40, null, { timeout: 120_000 });
    expect(await text('data')).toBe('Fashion-MNIST: 55,000 training, 5,000 validation and 10,000 test images');
    await page.click('#pause');
    // A paused model shows its test images too, captioned with the garments' names.
    await page.waitForFunction(() => /paused at step \d+/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelectorAll('#grid figure').length === 16, null, { timeout: 30_000 });
    const captions = await page.$$eval('#grid figcaption', (cs) => cs.map((c) => c.textContent ?? ''));
    const garment = '(T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot)';
    expect(captions.every((c) => new RegExp(`^${garment} -> ${garment}$`).test(c)), captions.join(', ')).toBe(true);
    // Fashion-MNIST's first test image is an ankle boot; after 40 steps most are right (chance: 1.6 of 16).
    expect(captions[0]).toMatch(/^Ankle boot -> /);
    expect(captions.filter((c) => c.split(' -> ')[0] === c.split(' -> ')[1]).length).toBeGreaterThan(6);
    // Its checkpoint names its dataset: sll eval finds Fashion-MNIST's 10,000 test images for it,
    // and the page, loading it back, shows the same test accuracy.
    const { saved, evaluated } = await saveAndEvaluate('fashion-from-the-page.safetensors');
    expect(evaluated.count).toBe(10000);
    await page.setInputFiles('#load', saved);
    await page.waitForFunction(() => /^loaded: /.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 60_000 });
    expect(await text('data')).toBe('Fashion-MNIST: 55,000 training, 5,000 validation and 10,000 test images');
    const loaded = Number(/loaded: test accuracy (\d+\.\d+)%/.exec(await text('status'))![1]);
    expect(Math.abs(loaded - 100 * evaluated.accuracy)).toBeLessThan(0.5);
    await page.click('#reset');
    await page.waitForFunction(() => document.getElementById('status')!.textContent === 'ready', null, { timeout: 30_000 });
    await page.selectOption('select[name=dataset]', 'digits');
  });

  it('logged no console error', () => {
    expect(problems).toEqual([]);
  });

  it('without WebGPU, shows what the visitor can do instead of failing', async () => {
    const plain = await launchChromium({ webgpu: false });
    try {
      const other = await plain.newPage();
      const errors: string[] = [];
      other.on('pageerror', (e) => void errors.push(e.message));
      await other.goto(url);
      await other.waitForSelector('#nogpu', { state: 'visible', timeout: 30_000 });
      expect(await other.textContent('#nogpu')).toMatch(/needs WebGPU: use a recent Chrome or Edge/);
      expect(await other.isDisabled('#start')).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await plain.close();
    }
  });
});
