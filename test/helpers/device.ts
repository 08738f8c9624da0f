/**
 * The device every test file shares, in Node (Dawn) and in a browser (navigator.gpu, in the
 * `browser` test project). It fails the suite when the adapter is not the expected one:
 * SLL_EXPECT_ADAPTER (a substring of the adapter's description or device name, e.g.
 * 'llvmpipe' on CI) and SLL_EXPECT_FEATURE_LEVEL ('core' unless set otherwise). In a browser
 * the adapter is the browser's own (SwiftShader in headless Chromium), so only the feature level
 * is held.
 */
import { afterAll } from 'vitest';
import { describeAdapter, openBrowserDevice, type Device } from '../../src/index.js';

/** True inside the browser test project. */
export const inBrowser = typeof window !== 'undefined' && typeof document !== 'undefined';

const env = (name: string): string | undefined => (inBrowser ? undefined : process.env[name]);

let opened: Promise<Device> | undefined;

export function checkExpectedAdapter(device: Device): void {
  const report = device.report;
  const wantLevel = env('SLL_EXPECT_FEATURE_LEVEL') ?? 'core';
  if (report.featureLevel !== wantLevel) {
    throw new Error(`expected a ${wantLevel} adapter, got ${describeAdapter(report)}`);
  }
  const wantName = env('SLL_EXPECT_ADAPTER');
  if (wantName) {
    const name = `${report.description} ${report.device} ${report.vendor}`.toLowerCase();
    if (!name.includes(wantName.toLowerCase())) throw new Error(`expected adapter matching '${wantName}', got ${describeAdapter(report)}`);
  }
}

/** Opens (once per test file) and returns the test device; it is destroyed after the file. */
export function testDevice(): Promise<Device> {
  if (!opened) {
    opened = openTestDevice().then((device) => {
      checkExpectedAdapter(device);
      return device;
    });
    afterAll(async () => {
      const device = await opened!;
      // close(), not destroy(): the test worker exits next, and must not race Dawn's teardown.
      await device.close();
      opened = undefined;
    });
  }
  return opened;
}

/** How many dispatches `run` encodes on `device` (it is called once; its result is disposed). */
export function dispatchesOf(device: Device, run: () => { dispose(): void }): number {
  const before = device.dispatchCount;
  run().dispose();
  return device.dispatchCount - before;
}

/** Node: Dawn, through the Node entry (imported only there: the browser bundle must not see it). */
async function openTestDevice(): Promise<Device> {
  if (inBrowser) return openBrowserDevice();
  const nodeEntry = '../../src/node.js';
  const { openNodeDevice } = (await import(/* @vite-ignore */ nodeEntry)) as typeof import('../../src/node.js');
  return openNodeDevice();
}
