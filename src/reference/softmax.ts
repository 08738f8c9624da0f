/**
 * CPU references for src/ops/softmax.ts (float64). Rows are the consecutive runs of `cols`
 * values (the last axis); `temperature` tau gives softmax(x / tau).
 */
type Values = ArrayLike<number>;

/** log sum_j exp(z_j) of one row, stable: the max is taken out first. */
export function logSumExp(z: Values): number {
  let m = -Infinity;
  for (let j = 0; j < z.length; j++) m = Math.max(m, z[j]!);
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let j = 0; j < z.length; j++) s += Math.exp(z[j]! - m);
  return m + Math.log(s);
}

/** Calls `f` with each row's index and values. */
function forEachRow(x: Values, cols: number, f: (row: number, values: Float64Array) => void): void {
  const rows = cols === 0 ? 0 : x.length / cols;
  for (let r = 0; r < rows; r++) f(r, Float64Array.from({ length: cols }, (_, j) => x[r * cols + j]!));
}

/** log softmax(x / tau) row by row: z_j - logsumexp(z). */
export function logSoftmax(x: Values, cols: number, temperature = 1): Float64Array {
  const out = new Float64Array(x.length);
  forEachRow(x, cols, (r, row) => {
    const z = row.map((v) => v / temperature);
    const lse = logSumExp(z);
    z.forEach((v, j) => (out[r * cols + j] = v - lse));
  });
  return out;
}

/** softmax(x / tau) row by row. */
export function softmax(x: Values, cols: number, temperature = 1): Float64Array {
  return logSoftmax(x, cols, temperature).map(Math.exp);
}

/** dL/dx of y = softmax(x / tau): y * (dy - sum(dy * y)) / tau. */
export function softmaxBackward(dy: Values, y: Values, cols: number, temperature = 1): Float64Array {
  const out = new Float64Array(y.length);
  forEachRow(y, cols, (r, row) => {
    let dot = 0;
    row.forEach((v, j) => (dot += dy[r * cols + j]! * v));
    row.forEach((v, j) => (out[r * cols + j] = (v * (dy[r * cols + j]! - dot)) / temperature));
  });
  return out;
}

/** dL/dx of y = log softmax(x / tau), given y: (dy - exp(y) * sum(dy)) / tau. */
export function logSoftmaxBackward(dy: Values, y: Values, cols: number, temperature = 1): Float64Array {
  const out = new Float64Array(y.length);
  forEachRow(y, cols, (r, row) => {
    let total = 0;
    for (let j = 0; j < cols; j++) total += dy[r * cols + j]!;
    row.forEach((v, j) => (out[r * cols + j] = (dy[r * cols + j]! - Math.exp(v) * total) / temperature));
  });
  return out;
}
