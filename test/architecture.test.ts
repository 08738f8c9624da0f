/**
 * The shape of the code, checked: what may import what (docs/architecture.md, "Layers").
 *
 * - The engine (src/gpu, src/random, src/ops, src/nn, src/sll) never imports the float64
 *   reference: the reference is held to the engine, not the other way round.
 * - src/gpu, the runtime, imports nothing outside itself; src/random imports nothing at all;
 *   nor do src/settings, the schema of every setting, and src/platform, Node's built-ins; src/io
 *   imports no dataset code.
 * - Nothing under src/ imports the command line (src/cli) but the command line itself.
 * - No import cycle at all among the modules of src/, type-only imports included: a reader can
 *   take the files in an order where each needs only those before it. Where two types must know
 *   each other, one side declares the small interface it needs and the other implements it (a
 *   Tensor sees its device as the TensorHost of tensor.ts, which Device implements; device.ts
 *   names itself there by a module augmentation, `declare module './tensor.js'`, counted below
 *   as a type-only import of tensor.ts, the direction device.ts already imports it in).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../src/', import.meta.url).pathname;

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every relative import, re-export and module augmentation in src/, as paths relative to src/. */
function importEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(?:(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?|(declare\s+module\s+))'(\.[^']+)'/gm)) {
      const target = resolve(dirname(file), m[3]!).replace(/\.js$/, '.ts');
      edges.push({ from: relative(SRC, file), to: relative(SRC, target), typeOnly: m[1] !== undefined || m[2] !== undefined });
    }
  }
  return edges;
}

const edges = importEdges();
const folder = (path: string) => path.split('/')[0]!;

function violations(rule: (e: Edge) => boolean): string[] {
  return edges.filter(rule).map((e) => `${e.from} imports ${e.to}`);
}

/** Cycles in the graph of the given edges, each as a path of files. */
function cycles(graph: readonly Edge[]): string[] {
  const next = new Map<string, string[]>();
  for (const e of graph) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const found: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const to of next.get(file) ?? []) {
      if (state.get(to) === 'open') found.push([...stack.slice(stack.indexOf(to)), to].join(' -> '));
      else if (!state.has(to)) visit(to);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of next.keys()) if (!state.has(file)) visit(file);
  return found;
}

describe('the import graph of src/', () => {
  it('is read: every source file and its relative imports', () => {
    expect(edges.length).toBeGreaterThan(200);
    expect(edges.some((e) => e.from === 'sll/trainer.ts' && e.to === 'ops/optim.ts')).toBe(true);
  });

  it('the engine never imports the float64 reference', () => {
    expect(violations((e) => ['gpu', 'random', 'ops', 'nn', 'sll'].includes(folder(e.from)) && folder(e.to) === 'reference')).toEqual([]);
  });

  it('src/gpu imports nothing outside itself, and src/random nothing at all', () => {
    expect(violations((e) => folder(e.from) === 'gpu' && folder(e.to) !== 'gpu')).toEqual([]);
    expect(violations((e) => folder(e.from) === 'random' && folder(e.to) !== 'random')).toEqual([]);
  });

  it('src/settings (the schema of every setting) and src/platform (Node\'s built-ins) import nothing outside themselves', () => {
    expect(edges.some((e) => e.to === 'settings/schema.ts')).toBe(true);
    expect(edges.some((e) => e.to === 'platform/nodeBuiltins.ts')).toBe(true);
    expect(violations((e) => ['settings', 'platform'].includes(folder(e.from)) && folder(e.to) !== folder(e.from))).toEqual([]);
  });

  it('src/io needs no dataset code', () => {
    expect(violations((e) => folder(e.from) === 'io' && folder(e.to) === 'data')).toEqual([]);
  });

  it('nothing but the command line imports the command line', () => {
    expect(violations((e) => folder(e.from) !== 'cli' && folder(e.to) === 'cli')).toEqual([]);
  });

  it('has no import cycle, type-only imports included', () => {
    expect(edges.some((e) => e.from === 'gpu/device.ts' && e.to === 'gpu/tensor.ts')).toBe(true);
    expect(edges.some((e) => e.from === 'gpu/tensor.ts' && e.to === 'gpu/device.ts')).toBe(false);
    expect(cycles(edges)).toEqual([]);
  });

  it('finds a cycle when there is one, type-only or not (the checker itself works)', () => {
    expect(cycles([{ from: 'a.ts', to: 'b.ts', typeOnly: false }, { from: 'b.ts', to: 'a.ts', typeOnly: false }])).toEqual(['a.ts -> b.ts -> a.ts']);
    expect(cycles([{ from: 'a.ts', to: 'b.ts', typeOnly: false }, { from: 'b.ts', to: 'c.ts', typeOnly: true }, { from: 'c.ts', to: 'a.ts', typeOnly: true }])).toEqual(['a.ts -> b.ts -> c.ts -> a.ts']);
  });
});

/**
 * Code that runs in a browser (the lab, the plain example, the kernel benchmark's page) reaches
 * the library through its public entry only (src/index.ts, or its build dist/src/index.js), so
 * that nothing Node-only (src/node.ts, src/run, src/cli, a node: module) can end up in a page,
 * and a page uses what the library promises to its users, nothing deeper.
 */
describe('the imports of browser code', () => {
  const ROOT = new URL('../', import.meta.url).pathname;
  const BROWSER_CODE = ['examples/lab', 'examples/browser', 'bench/kernels/browser', 'bench/kernels/suite.mjs', 'bench/kernels/families'];
  const files = BROWSER_CODE.flatMap((entry) => {
    const path = join(ROOT, entry);
    return statSync(path).isDirectory() ? readdirSync(path).filter((n) => /\.(ts|js|mjs)$/.test(n)).map((n) => join(path, n)) : [path];
  });
  const ENTRIES = new Set(['src/index.ts', 'src/index.js', 'dist/src/index.js']);

  function importsOf(file: string): string[] {
    const text = readFileSync(file, 'utf8');
    return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?'([^']+)'|import\(\s*'([^']+)'\s*\)|new URL\('([^']+\.(?:ts|js|mjs))'/g)].map((m) => (m[1] ?? m[2] ?? m[3])!);
  }

  it('reads every file of it', () => {
    expect(files.map((f) => relative(ROOT, f))).toEqual(expect.arrayContaining(['examples/lab/worker.ts', 'examples/lab/lab.ts', 'examples/browser/main.js', 'bench/kernels/browser/page.mjs', 'bench/kernels/suite.mjs']));
  });

  /** Whether `file` (browser code) may import `spec`: the entry, other browser code, or a package; never Node. */
  function allowed(file: string, spec: string): boolean {
    if (spec.startsWith('node:') || /^(fs|path|os|child_process|zlib|crypto|url|http)$/.test(spec)) return false;
    if (spec.startsWith('/')) return ENTRIES.has(spec.slice(1));
    if (!spec.startsWith('.')) return true;
    const target = relative(ROOT, resolve(dirname(file), spec));
    const inBrowserCode = BROWSER_CODE.some((entry) => target === entry || target.startsWith(`${entry}/`));
    return inBrowserCode || ENTRIES.has(target.replace(/\.js$/, '.ts')) || ENTRIES.has(target);
  }

  it('imports the library through its public entry only, and nothing of Node', () => {
    const bad = files.flatMap((file) => importsOf(file).filter((spec) => !allowed(file, spec)).map((spec) => `${relative(ROOT, file)} imports ${spec}`));
    expect(bad).toEqual([]);
  });

  it('refuses an import around the entry or of Node, and takes the entry and the page\'s own files (the checker itself works)', () => {
    const worker = join(ROOT, 'examples/lab/worker.ts');
    expect(allowed(worker, '../../src/sll/fit.js')).toBe(false);
    expect(allowed(worker, '../../src/node.js')).toBe(false);
    expect(allowed(worker, 'node:fs')).toBe(false);
    expect(allowed(join(ROOT, 'examples/browser/main.js'), '/dist/src/cli/main.js')).toBe(false);
    expect(allowed(worker, '../../src/index.js')).toBe(true);
    expect(allowed(worker, './protocol.js')).toBe(true);
    expect(allowed(join(ROOT, 'examples/browser/main.js'), '/dist/src/index.js')).toBe(true);
  });
});
