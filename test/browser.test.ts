// The core runs unchanged in a browser: examples/browser/ in headless Chromium opens a device
// on navigator.gpu, holds a kernel to its CPU reference, trains a small SLL model, saves it as
// checkpoint bytes and predicts with a Predictor rebuilt from them (scripts/browser-check.mjs).
// Needs Chromium (CI installs Debian's); without it the test is skipped, unless
// SLL_REQUIRE_BROWSER=1 makes that a failure.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
const available = existsSync(chromium);
if (!available && process.env.SLL_REQUIRE_BROWSER === '1') {
  throw new Error(`SLL_REQUIRE_BROWSER=1 but there is no Chromium at ${chromium}`);
}

describe.runIf(available)('browser', () => {
  it('runs the library in headless Chromium and matches the reference', async () => {
    const output = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['scripts/browser-check.mjs', '--chromium', chromium], { timeout: 150_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`browser check failed: ${error.message}\n${stdout}\n${stderr.slice(-1500)}`));
        else resolve(stdout);
      });
    });
    console.log(output.trim());
    expect(output).toMatch(/adapter: .*\(browser, /);
    expect(output).toMatch(/SLL MLP in the page: trained accuracy \d+\.\d%; checkpoint [\d.]+ KiB; predictor from it: \d+\.\d%/);
    expect(output).toMatch(/browser-check: ok/);
  });
});
