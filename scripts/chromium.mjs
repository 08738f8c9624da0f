// Where the browser tests, the lab's end-to-end test and the browser benchmark find Chromium,
// and the flags they start it with: Debian's /usr/bin/chromium (CHROMIUM to change it), never
// a downloaded browser.
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * WebGPU is behind a flag on Linux; as root Chromium needs --no-sandbox; the rest keeps a
 * closed network from being dialled at every start.
 */
export const CHROMIUM_ARGS = ['--enable-unsafe-webgpu', '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Whether Chromium is there. Its absence is a skip, except with SLL_REQUIRE_BROWSER=1 (CI),
 * where it is an error naming the path.
 */
export function chromiumAvailable() {
  const available = existsSync(CHROMIUM);
  if (!available && process.env.SLL_REQUIRE_BROWSER === '1') throw new Error(`SLL_REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM} (set CHROMIUM to its path)`);
  return available;
}

/** Headless Chromium through Playwright: with WebGPU, or with it switched off (`webgpu: false`). */
export async function launchChromium({ webgpu = true } = {}) {
  const { chromium } = await import('playwright');
  const args = webgpu ? CHROMIUM_ARGS : ['--disable-features=WebGPU', ...CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu')];
  return chromium.launch({ executablePath: CHROMIUM, args });
}
