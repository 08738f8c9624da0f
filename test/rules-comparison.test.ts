/**
 * bench/experiments/rules-comparison.mjs without training anything: its usage errors, and the
 * runs its --dry-run plans (which rules a model takes, the rate grid, DRTP's tanh blocks, output
 * paths relative to the repository, so that the commands kept in the records hold no machine's
 * paths). Needs the build (the script reads the methods from dist/).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { comparisonActivation } from '../bench/lib/comparisonTables.mjs';
import { defaultActivation } from '../src/sll/rules.js';
import { METHODS } from '../src/sll/trainingSettings.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, ['bench/experiments/rules-comparison.mjs', ...args], { cwd: root, encoding: 'utf8' });

describe('rules-comparison.mjs', () => {
  it("compares each rule with its default activation under the command, as the results page assumes without a build", () => {
    for (const kind of ['mlp', 'cnn']) for (const method of METHODS) expect(comparisonActivation(method, kind), `${kind} ${method}`).toBe(defaultActivation(method));
    expect(comparisonActivation('predsim', 'cnn')).toBe('leaky-relu');
    // The ViT's blocks have no activation to choose, and its records name none.
    for (const method of METHODS) expect(comparisonActivation(method, 'vit'), method).toBe('relu');
  });

  it.each([
    [['--model', 'rnn'], /--model must be mlp, cnn, vit, got rnn/],
    [['--phase', 'later'], /--phase must be grid, seeds or all, got later/],
    [['--lrs', '1e-3,0'], /--lrs takes positive rates, got 0/],
    [['--rules', 'sll,hebb'], /--rules takes sll, dgl, drtp, predsim, ff, dfa, backprop, got hebb/],
  ])('refuses %j with exit code 2, naming the flag', (args, says) => {
    const done = run(...args, '--dry-run');
    expect(done.status).toBe(2);
    expect(done.stderr).toMatch(says);
  });

  it("plans the ViT's grid: the rules that train it, every rate, relative paths", () => {
    const done = run('--model', 'vit', '--phase', 'grid', '--rules', 'dgl,drtp,ff,predsim', '--lrs', '1e-3,3e-3', '--tag', 'test-never-written', '--dry-run');
    expect(done.status).toBe(0);
    const commands = done.stdout.split('\n').filter((line) => line.startsWith('$ '));
    // DRTP and Forward-Forward do not train a ViT (sll.methodModelProblem): DGL and PredSim, at
    // both rates, PredSim's without the LeakyReLU of its MLP and CNN blocks (a ViT's take none).
    const grid = (method: string, lr: string) => `$ node bench/experiments/sll-fashion.mjs --model vit --method ${method} --seed 0 --lr ${lr} --schedule cosine --activation relu --out bench/results/rules-grid-test-never-written/lr${lr} --epochs 2 --train-count 20000`;
    expect(commands).toEqual([grid('dgl', '1e-3'), grid('dgl', '3e-3'), grid('predsim', '1e-3'), grid('predsim', '3e-3')]);
    // The CNN's PredSim takes its authors' LeakyReLU blocks.
    const cnn = run('--model', 'cnn', '--phase', 'grid', '--rules', 'predsim', '--lrs', '1e-3', '--tag', 'test-never-written', '--dry-run');
    expect(cnn.stdout).toContain('--model cnn --method predsim --seed 0 --lr 1e-3 --schedule cosine --activation leaky-relu --out bench/results/rules-grid-test-never-written/lr1e-3');
  });

  it('sll-fashion.mjs, which it runs, refuses to write over an existing record before any work, saying what the record holds', () => {
    const done = spawnSync(process.execPath, ['bench/experiments/sll-fashion.mjs', '--model', 'mlp', '--method', 'sll', '--seed', '0', '--out', 'bench/results/fashion-lavapipe-cosine'], { cwd: root, encoding: 'utf8' });
    expect(done.status).toBe(2);
    expect(done.stderr).toMatch(/bench\/results\/fashion-lavapipe-cosine\/mlp-sll-seed0\.json exists \(sll, seed 0, Adam 0\.001, 10 epochs, 2026-11-26T20:42:23\.716Z\): pass --replace to write over it, or --out another directory/);
  });

  it("lets the CNN table's sll train runs stand for SLL's seeds at their rate, but never for a grid point", () => {
    // A results directory of its own: the CNN table's SLL runs (Adam 1e-3) under tag 't'.
    const results = mkdtempSync(join(tmpdir(), 'sll-rules-'));
    try {
      for (const seed of [0, 1, 2]) cpSync(join(root, 'bench', 'results', 'cnn-lavapipe', `sll-seed${seed}`), join(results, 'cnn-t', `sll-seed${seed}`), { recursive: true });
      const planned = (...args: string[]) => {
        const done = run('--model', 'cnn', '--rules', 'sll', '--lrs', '1e-3,3e-3', '--tag', 't', '--results', results, '--dry-run', ...args);
        expect(done.status, done.stderr).toBe(0);
        return done.stdout.split('\n').filter((line) => line.startsWith('$ ')).map((line) => / --seed (\d) --lr (\S+) .* --epochs (\d)/.exec(line)!.slice(1).join(' '));
      };
      // The grid is short runs of its own: both points are planned, 1e-3 included.
      expect(planned('--phase', 'grid')).toEqual(['0 1e-3 2', '0 3e-3 2']);
      const grid = (lr: string, accuracy: number) => {
        mkdirSync(join(results, 'rules-grid-t', `lr${lr}`), { recursive: true });
        writeFileSync(join(results, 'rules-grid-t', `lr${lr}`, 'cnn-sll-seed0.json'), JSON.stringify({ recipe: { lr: Number(lr) }, epochs: [{ validation: { accuracy } }] }));
      };
      // The grid chooses 1e-3, the table's rate: its three runs stand for the seeds.
      grid('1e-3', 0.9);
      grid('3e-3', 0.8);
      expect(planned('--phase', 'seeds')).toEqual([]);
      // The grid chooses 3e-3: the seeds are trained.
      grid('3e-3', 0.95);
      expect(planned('--phase', 'seeds')).toEqual(['0 3e-3 5', '1 3e-3 5', '2 3e-3 5']);
    } finally {
      rmSync(results, { recursive: true, force: true });
    }
  });

  it("gives DRTP tanh blocks, and waits for a rule's whole grid before its seeds", () => {
    const done = run('--model', 'cnn', '--rules', 'drtp', '--lrs', '1e-3', '--tag', 'test-never-written', '--dry-run');
    expect(done.status).toBe(0);
    expect(done.stdout).toContain('--method drtp --seed 0 --lr 1e-3 --schedule cosine --activation tanh --out bench/results/rules-grid-test-never-written/lr1e-3');
    // A dry run writes no grid record, so the seeds have no rate yet.
    expect(done.stdout).toContain('rates chosen by the grid (1e-3): drtp (grid not complete)');
    expect(done.stdout).toContain('drtp: the grid is not complete (1e-3); run --phase grid first');
  });
});
