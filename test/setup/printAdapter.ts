// Prints the adapter the suite runs on, once, before any test file. The device is opened in a
// child process (the built library, which `npm test` builds first): vitest's main process then
// never loads Dawn, so a native fault in Dawn's teardown (seen once on lavapipe: a mutex
// assertion right after the device was destroyed) cannot abort the whole run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const BUILT = new URL('../../dist/src/node.js', import.meta.url);

export default async function printAdapter(): Promise<void> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  if (!existsSync(BUILT)) {
    console.log('[sll-webgpu tests] adapter: not printed (dist/ is not built; npm test builds it)');
    return;
  }
  const script = `import(${JSON.stringify(BUILT.href)}).then(async ({ describeAdapter, openNodeDevice }) => { const device = await openNodeDevice(); console.log(describeAdapter(device.report)); device.destroy(); })`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: process.env, timeout: 60_000 });
  const line = child.stdout.trim().split('\n').at(-1);
  if (child.status !== 0 || !line) throw new Error(`no WebGPU adapter could be opened for the tests (exit ${child.status ?? child.signal}): ${child.stderr.trim().split('\n').filter((l) => !l.startsWith('Warning:')).slice(-3).join(' ')}`);
  console.log(`[sll-webgpu tests] adapter: ${line}`);
}
