// Types of scripts/chromium.mjs, for the TypeScript that imports it (vitest.config.ts, tests).
import type { Browser } from 'playwright';

/** Debian's Chromium, or the CHROMIUM environment variable. */
export declare const CHROMIUM: string;
/** The flags every headless start uses (WebGPU on, no sandbox, no network chatter). */
export declare const CHROMIUM_ARGS: string[];
/** Whether Chromium is there; throws when SLL_REQUIRE_BROWSER=1 and it is not. */
export declare function chromiumAvailable(): boolean;
/** Headless Chromium through Playwright: with WebGPU, or with it switched off (`webgpu: false`). */
export declare function launchChromium(options?: { webgpu?: boolean }): Promise<Browser>;
