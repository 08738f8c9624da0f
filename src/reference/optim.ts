/**
 * CPU references of the optimizer steps in src/ops/optim.ts: PyTorch's update rules, written out
 * (torch.optim.SGD, Adam and AdamW, single-tensor path, maximize = False, amsgrad = False,
 * capturable = False). Float64; each returns the new values and leaves its inputs alone.
 */

type Values = ArrayLike<number>;

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  /**
   * 1-based step number. PyTorch creates the momentum buffer on the first step as a copy of the
   * gradient (no dampening); later steps blend into it. Only step 1 is special.
   */
  step: number;
}

/**
 * torch.optim.SGD:
 *
 *   g = grad + weightDecay * param
 *   if momentum != 0:
 *     buf = g                                          (step 1)
 *     buf = momentum * buf + (1 - dampening) * g       (later steps)
 *     g = nesterov ? g + momentum * buf : buf
 *   param = param - lr * g
 *
 * `momentumBuffer` is ignored when momentum is 0 (and returned as undefined).
 */
export function sgdStep(
  param: Values,
  grad: Values,
  momentumBuffer: Values | undefined,
  { lr, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false, step }: SgdOptions,
): { param: Float64Array; momentumBuffer: Float64Array | undefined } {
  const next = new Float64Array(param.length);
  const buffer = momentum !== 0 ? new Float64Array(param.length) : undefined;
  for (let i = 0; i < param.length; i++) {
    let g = grad[i]! + weightDecay * param[i]!;
    if (buffer) {
      const b = step === 1 ? g : momentum * momentumBuffer![i]! + (1 - dampening) * g;
      buffer[i] = b;
      g = nesterov ? g + momentum * b : b;
    }
    next[i] = param[i]! - lr * g;
  }
  return { param: next, momentumBuffer: buffer };
}

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** false: Adam (L2 penalty added to the gradient). true: AdamW (decoupled decay of the weights). */
  decoupled?: boolean;
  /** 1-based step number, for the bias corrections. */
  step: number;
}

/**
 * torch.optim.Adam (decoupled = false) and torch.optim.AdamW (decoupled = true):
 *
 *   AdamW:  param = param * (1 - lr * weightDecay)
 *   Adam:   g = grad + weightDecay * param            (AdamW: g = grad)
 *   m = m + (1 - beta1) * (g - m)                      (PyTorch's exp_avg.lerp_(g, 1 - beta1))
 *   v = beta2 * v + (1 - beta2) * g * g
 *   stepSize = lr / (1 - beta1^step)
 *   denom = sqrt(v) / sqrt(1 - beta2^step) + eps
 *   param = param - stepSize * m / denom
 */
export function adamStep(
  param: Values,
  grad: Values,
  m: Values,
  v: Values,
  { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0, decoupled = false, step }: AdamOptions,
): { param: Float64Array; m: Float64Array; v: Float64Array } {
  const next = new Float64Array(param.length);
  const nextM = new Float64Array(param.length);
  const nextV = new Float64Array(param.length);
  const stepSize = lr / (1 - beta1 ** step);
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
  for (let i = 0; i < param.length; i++) {
    let p = param[i]!;
    let g = grad[i]!;
    if (decoupled) p *= 1 - lr * weightDecay;
    else g += weightDecay * p;
    const mi = m[i]! + (1 - beta1) * (g - m[i]!);
    const vi = beta2 * v[i]! + (1 - beta2) * g * g;
    nextM[i] = mi;
    nextV[i] = vi;
    next[i] = p - (stepSize * mi) / (Math.sqrt(vi) / biasCorrection2Sqrt + eps);
  }
  return { param: next, m: nextM, v: nextV };
}

/** True if any value is NaN or +-Infinity (what checkFinite flags). */
export function hasNonFinite(values: Values): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return true;
  return false;
}
