/**
 * Small versions of the three architectures on 8x8 single-channel images, and a seeded split
 * they learn from: what the pinned-weights and trainer-replay tests train.
 */
import { defaultModelSpec, type ModelSpec } from '../../src/sll/spec.js';
import { rng } from './numeric.js';

export const SHAPE: [number, number, number] = [1, 8, 8];
export const CLASSES = 10;

export const MODELS: Record<'mlp' | 'cnn' | 'vit', ModelSpec> = {
  mlp: { ...defaultModelSpec('mlp'), hidden: [24, 24] } as ModelSpec,
  cnn: { ...defaultModelSpec('cnn'), channels: [4, 8], hidden: 16 } as ModelSpec,
  vit: { ...defaultModelSpec('vit'), patch: 4, dim: 16, depth: 2, heads: 2 } as ModelSpec,
};

/** `count` seeded images whose class shifts their mean, so the losses move. */
export function syntheticSplit(count = 96, seed = 11) {
  const next = rng(seed);
  const per = SHAPE[0] * SHAPE[1] * SHAPE[2];
  const images = new Float32Array(count * per);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % CLASSES;
    for (let k = 0; k < per; k++) images[i * per + k] = (next() - 0.5) * 2 + (k % CLASSES === labels[i] ? 1 : 0);
  }
  return { images, labels, count };
}
