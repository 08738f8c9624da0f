/**
 * docs/results.md is generated from the records in bench/results/ by bench/results-doc.mjs. This
 * test makes the document again, in memory, and holds the committed file to it, so that no table
 * or verdict can drift from its data; and it checks a few numbers that the records hold, so that a
 * generator that writes too little cannot pass. No GPU: it reads files.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOC_PATH, resultsMarkdown } from '../bench/results-doc.mjs';

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
    // The CNN on the H200, 10 epochs, and the ViT with each method at its own rate.
    expect(made).toContain('**91.86** (91.75-91.95)');
    expect(made).toContain('| ViT patch 4, dim 64, depth 4, 4 heads | SLL | 1.2e-2 | 0, 1, 2 | **86.01** (85.55-86.35) |');
    // Ablation, memory, speed and kernel tables.
    expect(made).toContain('| baseline | class mode, d0 = 10, tau = 1, p = 0, alignment on, gaussian, fan-in | 86.22 | 85.36 |');
    expect(made).toContain('| 32 | 7.77 | 38.01 | 121.4 | 242.8 | 1.25 | 32.9 / 48.4 |');
    expect(made).toContain('| MLP 784-1000-1000-1000-10 | 5.6 | 3.3 | 2.4 | 1.4 | 1.70 |');
    expect(made).toContain('| matmul 1024 cube | 25.9 (4.7x) | 5.6 | skipped | >= 25 and >= 6x TF.js: **missed** | subgroup |');
    // The browser's figures beside Node's from the same machine.
    expect(made).toContain('| matmul 1024 cube | 25.9 | 5.6 | 4.7x | 2.2 | 0.99 | 2.2x | tiled |');
    expect(made).toContain('496 tests passed, 39 skipped');
  });

  it('names no path of the machine that made it', () => {
    expect(made).not.toMatch(/\/(home|tmp|work|Users)\//);
  });
});
