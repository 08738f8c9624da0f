/**
 * CPU references for src/ops/layernorm.ts (float64). Rows are the consecutive runs of `cols`
 * values (the last axis).
 */
type Values = ArrayLike<number>;

export interface LayerNormValues {
  y: Float64Array;
  mean: Float64Array;
  rstd: Float64Array;
}

/** y = (x - mean) * rstd * gamma + beta, rstd = 1 / sqrt(biased variance + eps). */
export function layerNorm(x: Values, gamma: Values, beta: Values, cols: number, eps = 1e-5): LayerNormValues {
  const rows = x.length / cols;
  const y = new Float64Array(x.length);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += x[r * cols + j]!;
    const m = sum / cols;
    let squares = 0;
    for (let j = 0; j < cols; j++) squares += (x[r * cols + j]! - m) ** 2;
    const s = 1 / Math.sqrt(squares / cols + eps);
    for (let j = 0; j < cols; j++) y[r * cols + j] = (x[r * cols + j]! - m) * s * gamma[j]! + beta[j]!;
    mean[r] = m;
    rstd[r] = s;
  }
  return { y, mean, rstd };
}

/**
 * Gradients of layerNorm given dL/dy and the saved mean and rstd:
 * dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma, xhat = (x - mean) * rstd;
 * dgamma = sum over rows of dy * xhat; dbeta = sum over rows of dy.
 */
export function layerNormBackward(
  dy: Values,
  x: Values,
  mean: Values,
  rstd: Values,
  gamma: Values,
  cols: number,
): { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const rows = x.length / cols;
  const dx = new Float64Array(x.length);
  const dgamma = new Float64Array(cols);
  const dbeta = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const xhat = Float64Array.from({ length: cols }, (_, j) => (x[r * cols + j]! - mean[r]!) * rstd[r]!);
    const g = Float64Array.from({ length: cols }, (_, j) => dy[r * cols + j]! * gamma[j]!);
    let meanG = 0;
    let meanGXhat = 0;
    for (let j = 0; j < cols; j++) {
      meanG += g[j]! / cols;
      meanGXhat += (g[j]! * xhat[j]!) / cols;
    }
    for (let j = 0; j < cols; j++) {
      dx[r * cols + j] = rstd[r]! * (g[j]! - meanG - xhat[j]! * meanGXhat);
      dgamma[j] = dgamma[j]! + dy[r * cols + j]! * xhat[j]!;
      dbeta[j] = dbeta[j]! + dy[r * cols + j]!;
    }
  }
  return { dx, dgamma, dbeta };
}
