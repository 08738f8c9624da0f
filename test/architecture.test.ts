/**
 * The shape of the code, checked: what may import what (docs/architecture.md, "Layers").
 *
 * - The engine (src/gpu, src/random, src/ops, src/nn, src/sll) never imports the float64
 *   reference: the reference is held to the engine, not the other way round.
 * - src/gpu, the runtime, imports nothing outside itself; src/random imports nothing at all;
 *   nor do src/settings, the schema of every setting, and src/platform, Node's built-ins; src/io
 *   imports no dataset code.
 * - Nothing under src/ imports the command line (src/cli) but the command line itself.
 * - No import cycle among modules. A type-only cycle is allowed within one folder, where two
 *   types know each other (a Tensor has its Device, a Device makes Tensors); types are erased,
 *   so it never orders module evaluation.
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

/** Every relative import and re-export in src/, as paths relative to src/. */
function importEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'(\.[^']+)'/gm)) {
      const target = resolve(dirname(file), m[2]!).replace(/\.js$/, '.ts');
      edges.push({ from: relative(SRC, file), to: relative(SRC, target), typeOnly: m[1] !== undefined });
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
    expect(edges.some((e) => e.from === 'sll/trainer.ts' && e.to === 'ops/matmul.ts')).toBe(true);
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

  it('has no cycle among value imports, and type-only cycles only within one folder', () => {
    expect(cycles(edges.filter((e) => !e.typeOnly))).toEqual([]);
    const crossFolder = cycles(edges).filter((cycle) => new Set(cycle.split(' -> ').map(folder)).size > 1);
    expect(crossFolder).toEqual([]);
  });

  it('finds a cycle when there is one (the checker itself works)', () => {
    expect(cycles([{ from: 'a.ts', to: 'b.ts', typeOnly: false }, { from: 'b.ts', to: 'a.ts', typeOnly: false }])).toEqual(['a.ts -> b.ts -> a.ts']);
  });
});
