/**
 * The fixed random projections R_i (d0 x d_i) that turn a block's features into the logits of
 * its auxiliary posterior (docs/algorithm.md, "The local unit", step 3). Never trained.
 *
 * R_i is drawn by the counter RNG from (projection seed, i), so it can be regenerated on any
 * adapter. This implementation stores each R_i once, at construction, in memory category
 * 'projection' (reported apart from parameters and activations): regenerating it inside every
 * step would cost a Philox evaluation per entry per step, more than the matmul that reads it,
 * and the stored size is small next to the block's own weights (d0 x d_i against d_i x d_{i-1}).
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { affine } from '../ops/elementwise.js';
import { bernoulli, normal, type Seed } from '../ops/random.js';
import { normal as cpuNormal } from '../random/philox.js';
import { domainSeed } from '../random/seeds.js';
import type { LocalObjectiveConfig } from './config.js';

/** The 64-bit Philox key of projection `index` under a run seed (src/random/seeds.ts). */
export function projectionSeed(seed: number, index: number): Seed {
  return domainSeed(seed, 'projection', index);
}

export function createProjection(device: Device, rows: number, cols: number, config: Pick<LocalObjectiveConfig, 'projection' | 'scaling'>, seed: Seed): Tensor {
  const std = 1 / Math.sqrt(config.scaling === 'fan-in' ? cols : rows);
  if (config.projection === 'gaussian') return normal(device, [rows, cols], { seed, std, category: 'projection' });
  if (config.projection === 'orthogonal') return device.tensor(orthogonalRows(rows, cols, std, seed), [rows, cols], 'f32', 'projection');
  // Rademacher: +-std with equal probability.
  const coin = bernoulli(device, [rows, cols], { seed, p: 0.5, category: 'scratch' });
  const signs = affine(coin, 2 * std, -std, 'projection');
  coin.dispose();
  return signs;
}

/**
 * Orthogonal rows, scaled to the norm a Gaussian row of this std has on average (std sqrt(cols)):
 * the same normal stream as the Gaussian projection (drawn by the CPU reference of the counter
 * RNG), made orthonormal by modified Gram-Schmidt in float64. Needs rows <= cols.
 */
export function orthogonalRows(rows: number, cols: number, std: number, seed: Seed): Float32Array {
  if (rows > cols) throw new RangeError(`orthogonal projection: ${rows} orthogonal rows do not fit in ${cols} dimensions (d0 must be <= the feature width)`);
  const m = cpuNormal(rows * cols, { seed });
  for (let r = 0; r < rows; r++) {
    const row = m.subarray(r * cols, (r + 1) * cols);
    for (let q = 0; q < r; q++) {
      const prev = m.subarray(q * cols, (q + 1) * cols);
      let dot = 0;
      for (let k = 0; k < cols; k++) dot += row[k]! * prev[k]!;
      for (let k = 0; k < cols; k++) row[k]! -= dot * prev[k]!;
    }
    let norm = 0;
    for (let k = 0; k < cols; k++) norm += row[k]! * row[k]!;
    norm = Math.sqrt(norm);
    for (let k = 0; k < cols; k++) row[k]! /= norm;
  }
  const scale = std * Math.sqrt(cols);
  return Float32Array.from(m, (v) => v * scale);
}
