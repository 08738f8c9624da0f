/**
 * CPU reference for src/ops/matmul.ts (float64): batched matrix products with transposes, batch
 * broadcasting, and the fused bias + activation epilogue.
 */
import { broadcastShapes, formatShape, sizeOf, type Shape } from '../gpu/shape.js';
import { normalCdf } from './elementwise.js';

type Values = ArrayLike<number>;

export type MatmulActivation = 'none' | 'relu' | 'gelu';

export interface MatmulReferenceOptions {
  /** `a` is stored as [..., K, M] and used transposed. */
  transposeA?: boolean;
  /** `b` is stored as [..., N, K] and used transposed. */
  transposeB?: boolean;
  /** [N] values added to every row of the product. */
  bias?: Values;
  activation?: MatmulActivation;
}

/** The output shape [...batch, M, N] of a product of row-major `a` and `b` (shapes as stored). */
export function matmulShape(aShape: Shape, bShape: Shape, transposeA = false, transposeB = false): number[] {
  const m = aShape[aShape.length - (transposeA ? 1 : 2)]!;
  const n = bShape[bShape.length - (transposeB ? 2 : 1)]!;
  const batch = broadcastShapes(aShape.slice(0, -2), bShape.slice(0, -2));
  if (!batch) throw new Error(`reference matmul: batch dimensions of ${formatShape(aShape)} and ${formatShape(bShape)} do not broadcast`);
  return [...batch, m, n];
}

/**
 * out[z, i, j] = act(sum_k A[z, i, k] B[z, k, j] + bias[j]), where A and B are `a` and `b` read
 * through their transposes, and a side with one batch (or none) is shared by every batch.
 */
export function matmul(a: Values, aShape: Shape, b: Values, bShape: Shape, options: MatmulReferenceOptions = {}): Float64Array {
  const { transposeA = false, transposeB = false, bias, activation = 'none' } = options;
  if (aShape.length < 2 || bShape.length < 2) {
    throw new Error(`reference matmul: operands need rank >= 2, got ${formatShape(aShape)} and ${formatShape(bShape)}`);
  }
  const [m, kA] = transposeA ? [aShape.at(-1)!, aShape.at(-2)!] : [aShape.at(-2)!, aShape.at(-1)!];
  const [kB, n] = transposeB ? [bShape.at(-1)!, bShape.at(-2)!] : [bShape.at(-2)!, bShape.at(-1)!];
  if (kA !== kB) throw new Error(`reference matmul: inner dimensions ${kA} and ${kB} differ`);
  const k = kA;
  const aBatches = sizeOf(aShape.slice(0, -2));
  const bBatches = sizeOf(bShape.slice(0, -2));
  const batches = sizeOf(matmulShape(aShape, bShape, transposeA, transposeB).slice(0, -2));
  if ((aBatches !== 1 && aBatches !== batches) || (bBatches !== 1 && bBatches !== batches)) {
    throw new Error(`reference matmul: batches of ${formatShape(aShape)} and ${formatShape(bShape)} must match, or one side must have a single batch`);
  }

  // Element (row, col) of the logical (untransposed) operand in batch z.
  const readA = (z: number, row: number, col: number) =>
    a[(aBatches === 1 ? 0 : z) * m * k + (transposeA ? col * m + row : row * k + col)]!;
  const readB = (z: number, row: number, col: number) =>
    b[(bBatches === 1 ? 0 : z) * k * n + (transposeB ? col * k + row : row * n + col)]!;

  const out = new Float64Array(batches * m * n);
  for (let z = 0; z < batches; z++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = bias ? bias[j]! : 0;
        for (let p = 0; p < k; p++) sum += readA(z, i, p) * readB(z, p, j);
        out[(z * m + i) * n + j] = activate(sum, activation);
      }
    }
  }
  return out;
}

function activate(x: number, activation: MatmulActivation): number {
  switch (activation) {
    case 'none':
      return x;
    case 'relu':
      return Math.max(x, 0);
    case 'gelu':
      return x * normalCdf(x);
  }
}
