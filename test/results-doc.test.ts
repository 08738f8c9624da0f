/**
 * docs/results.md is generated from the records in bench/results/ by bench/results-doc.mjs. This
 * test makes the document again, in memory, and holds the committed file to it, so that no table
 * or verdict can drift from its data; and it checks a few numbers that the records hold, so that a
 * generator that writes too little cannot pass. No GPU: it reads files.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DOC_PATH, RESULTS_DIR, resultsMarkdown } from '../bench/results-doc.mjs';

describe('docs/results.md', () => {
  const made = resultsMarkdown();

  it('is exactly what bench/results-doc.mjs makes from bench/results/', () => {
    const committed = readFileSync(DOC_PATH, 'utf8');
    // One assertion on the whole text: its diff shows the first lines that differ.
    expect(committed, 'docs/results.md differs from its records: run `node bench/results-doc.mjs` (npm run results) and commit the result').toBe(made);
  });

  it('holds the numbers of the records', () => {
    // The MLP on Fashion-MNIST, cosine schedule, 3 seeds (bench/results/fashion-lavapipe-cosine/).
    expect(made).toContain('| MLP 784-1000-1000-1000-10 | SLL | 0, 1, 2 | **89.78** (89.74-89.86) |');
    expect(made).toContain('| MLP 784-1000-1000-1000-10 | backprop | 0, 1, 2 | 89.84 (89.78-89.92) |');
    expect(made).toMatch(/target "SLL >= backprop - 0\.5 points and >= 89\.0%": \*\*met\*\*\. SLL's mean is 0\.06 points below/);
    // The other local rules on the MLP, seed 0 each (bench/results/rules-lavapipe/).
    expect(made).toContain('| MLP 784-1000-1000-1000-10 | DGL | 0 | 89.65 | 89.42 / 89.68 / 89.64 | 89.94 |');
    expect(made).toContain('| MLP 784-1000-1000-1000-10 | PredSim | 0 | 89.84 | 89.13 / 89.70 / 89.85 | 89.74 |');
    expect(made).toContain('DGL 89.65% (0.13 points below SLL\'s mean), PredSim (beta 0.99) 89.84% (0.06 points above SLL\'s mean) and DRTP (tanh blocks) 85.63% (4.15 points below SLL\'s mean)');
    // The CNN on the H200, 10 epochs, and the ViT with each method at its own rate.
    expect(made).toContain('**91.86** (91.75-91.95)');
    expect(made).toContain('| ViT patch 4, dim 64, depth 4, 4 heads | SLL | 1.2e-2 | 0, 1, 2 | **86.01** (85.55-86.35) |');
    // Ablation, memory (every local rule beside backprop, on the MLP and the ViT), speed and kernel tables.
    expect(made).toContain('| baseline | class mode, d0 = 10, tau = 1, p = 0, alignment on, gaussian, fan-in | 86.22 | 85.36 |');
    expect(made).toContain('| 32 | 7.78 | 7.79 | 7.74 | 21.44 | 19.06 | 38.01 | 121.4 | 242.8 | 1.25 | 32.9 / 48.4 |');
    expect(made).toContain('| 12 | 80.6 | 80.6 | 80.6 | 586.9 | 1.55 | 35.32 / 35.31 |');
    expect(made).toContain('| MLP 784-1000-1000-1000-10 | 5.6 | 3.3 | 2.4 | 1.4 | 1.70 |');
    expect(made).toContain('| matmul 1024 cube | 20.7 (4.2x) | 5.0 | skipped | >= 25 and >= 6x TF.js: **missed** | subgroup |');
    // The browser's figures beside Node's from the same machine.
    expect(made).toContain('| matmul 1024 cube | 20.7 | 5.0 | 4.2x | 1.9 | 0.86 | 2.2x | tiled |');
    expect(made).toContain('| softmax 4096x10 (classifier head) | 1.0 GB/s | 0.02 GB/s | 60.5x | 0.57 GB/s | 0.0019 GB/s | 300.1x |  |');
    expect(made).toContain('496 tests passed, 39 skipped');
    // The throttle's cost where the host is the bottleneck (a batch-1 step, mostly encoding).
    expect(made).toContain('| MLP 784-8-10 | SLL | 1.9 | 2.0 | +2% | 1.4 (73%) |');
  });

  it('shows a memory-bound kernel row in GB/s, and the TF.js ops composed for it', () => {
    // The H200's record has no such row: one is added to a copy of it.
    const dir = mkdtempSync(join(tmpdir(), 'sll-results-'));
    try {
      cpSync(RESULTS_DIR, dir, { recursive: true });
      const file = join(dir, 'kernels-nvidia-h200.json');
      const record = JSON.parse(readFileSync(file, 'utf8')) as { results: unknown[] };
      record.results.push({
        op: 'layerNorm',
        name: 'layernorm 4096x256',
        shape: { rows: 4096, cols: 256 },
        bytes: 4 * (2 * 4096 * 256 + 2 * 256),
        ours: { medianMs: 0.5, gbps: 16.8 },
        tfjs: { medianMs: 2, gbps: 4.2 },
        tfjsComposed: 'tf.moments, then the rest',
        js: { skipped: 'no JS loop for layerNorm' },
      });
      writeFileSync(file, JSON.stringify(record));
      const withRow = resultsMarkdown(dir);
      expect(withRow).toContain('| layernorm 4096x256 | 16.8 GB/s | 4.2 GB/s | - |  |');
      expect(withRow).toContain('on NVIDIA H200 (driver 580.159.04), record `bench/results/kernels-nvidia-h200.json`: GFLOPS, or GB/s where a cell says so');
      expect(withRow).toContain('its figure is of its ops composed in one `tf.tidy`: `layerNorm` as tf.moments, then the rest.');
      // The rows that were there read as before.
      expect(withRow).toContain('| matmul 1024 cube | 10,009 | 11,358 | skipped | tiled |');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names no path of the machine that made it', () => {
    expect(made).not.toMatch(/\/(home|tmp|work|Users)\//);
  });
});
