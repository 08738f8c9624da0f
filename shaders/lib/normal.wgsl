// The standard normal distribution's CDF, for exact (erf-form) GELU. WGSL has no erf.

const SQRT_HALF: f32 = 0.70710678118654752;
const INV_SQRT_2PI: f32 = 0.39894228040143268;

// erfc with fractional error below 1.2e-7 everywhere (Numerical Recipes, Chebyshev fit), which
// keeps GELU exact to f32 precision, its tails included.
fn erfc(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  let r = t * exp(poly);
  return select(2.0 - r, r, x >= 0.0);
}

// Standard normal CDF.
fn phi(x: f32) -> f32 {
  return 0.5 * erfc(-x * SQRT_HALF);
}

// gelu(x) = x * Phi(x).
fn gelu(x: f32) -> f32 {
  return x * phi(x);
}

// gelu'(x) = Phi(x) + x * phi(x), phi the standard normal density.
fn geluDerivative(x: f32) -> f32 {
  return phi(x) + x * INV_SQRT_2PI * exp(-0.5 * x * x);
}
