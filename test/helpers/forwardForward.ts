/**
 * Float64 references for Forward-Forward's tests (test/forward-forward*.test.ts): the logistic
 * goodness loss and the length normalisation between blocks, as src/sll/forwardForward.ts and
 * the trainer compute them in f32.
 */

/** Mean over the rows of softplus(g - theta) - t (g - theta), g = sum u^2, theta = d, t = 1 for the first half of the rows (the positives). */
export function goodnessLoss(u: Float64Array, rows: number, d: number): number {
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let g = 0;
    for (let j = 0; j < d; j++) g += u[r * d + j]! ** 2;
    const x = g - d;
    const t = r < rows / 2 ? 1 : 0;
    total += Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))) - t * x;
  }
  return total / rows;
}

/** Rows divided by their root mean square (+1e-8). */
export function normalizeRows(x: Float64Array, rows: number, width: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let squares = 0;
    for (let j = 0; j < width; j++) squares += x[r * width + j]! ** 2;
    const rms = Math.sqrt(squares / width) + 1e-8;
    for (let j = 0; j < width; j++) y[r * width + j] = x[r * width + j]! / rms;
  }
  return y;
}
