// The core runs unchanged in a page: examples/browser/ in headless Chromium (driven by
// Playwright over Debian's Chromium) opens a device on navigator.gpu, holds a kernel to its CPU
// reference, trains a small SLL model, saves it as checkpoint bytes and predicts with a
// Predictor rebuilt from them, with no console error. Needs Chromium (CI installs Debian's);
// without it the test is skipped, unless SLL_REQUIRE_BROWSER=1 makes that a failure.
import type { Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { chromiumAvailable, launchChromium } from '../scripts/chromium.mjs';

describe.runIf(chromiumAvailable())('the browser example', () => {
  it('runs the library in headless Chromium and matches the reference', async () => {
    const { serveDirectory } = (await import(new URL('../scripts/static-server.mjs', import.meta.url).href)) as { serveDirectory: () => Promise<Server> };
    const server = await serveDirectory();
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => void (m.type() === 'error' && problems.push(m.text())));
      page.on('pageerror', (e) => void problems.push(e.message));
      const port = (server.address() as { port: number }).port;
      await page.goto(`http://127.0.0.1:${port}/examples/browser/`);
      // The page sets body[data-done] to 'ok' or 'failed' when it has finished.
      await page.waitForSelector('body[data-done]', { timeout: 120_000 });
      const verdict = await page.getAttribute('body', 'data-done');
      const log = (await page.textContent('#log')) ?? '';
      console.log(log.trim());
      expect(log).toMatch(/adapter: .*\(browser, /);
      expect(log).toMatch(/SLL MLP in the page: trained accuracy \d+\.\d%; checkpoint [\d.]+ KiB; predictor from it: \d+\.\d%/);
      expect(verdict, log).toBe('ok');
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
      server.close();
    }
  });
});
