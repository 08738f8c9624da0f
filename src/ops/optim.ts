/**
 * Optimizer steps on the GPU, in place on f32 parameters (shaders/optim.wgsl): SGD with
 * momentum, dampening, weight decay and Nesterov, Adam and AdamW, with PyTorch's update rules
 * (written out in src/reference/optim.ts), and `createOptimizer`, which owns the state tensors.
 *
 * Non-finite guard: `checkFinite(grad, flag)` raises a u32 flag when a tensor holds NaN or Inf,
 * and every step takes `skipIfFlagged: flag`, which turns the whole step into a no-op on the GPU
 * (params and state bit-identical) when any flag element is nonzero. The trainer checks every
 * gradient into one flag, steps, and reads the flag every N steps, never waiting in the loop.
 */
import { ShapeError } from '../gpu/errors.js';
import { describeValue } from '../gpu/dtype.js';
import { formatShape } from '../gpu/shape.js';
import { Tensor } from '../gpu/tensor.js';
import { withDense } from '../gpu/strided.js';
import { columnWorkgroupSize, elementWorkgroups, runLayout } from '../gpu/workgroups.js';
import { checkOptions, required, requireDtype, requireSameDevice, requireSameShape, requireTensor, requireTensorList, type OptionTable } from './checks.js';
import { resolveOptimizerConfig, type AdamHyper, type OptimizerConfig, type SgdHyper } from './optimizerSettings.js';

export type { AdamHyper, OptimizerConfig, SgdHyper } from './optimizerSettings.js';


export interface StepGuard {
  /** u32 flag tensor (from checkFinite): when any element is nonzero the step changes nothing. */
  skipIfFlagged?: Tensor;
  /**
   * A u32 tensor the host writes once per step with the values that change from step to step,
   * from element `valuesAt` (writeStepValues: SGD's lr and first-step flag, Adam's step size,
   * second bias correction and decay factor; floats as f32 bits). The kernel reads them there
   * instead of from its uniforms, which then stay the same every step, as the replay of a
   * recorded step needs (src/gpu/recording.ts). The step's own lr and step must be the ones the
   * values were written for.
   */
  stepValues?: Tensor;
  valuesAt?: number;
}

/** Words of step values an SGD step reads (lr, first step) and an Adam step (step size, bias correction, decay). */
const SGD_STEP_VALUE_WORDS = 2;
const ADAM_STEP_VALUE_WORDS = 3;
/** Words of step values any optimizer's step reads at most: the room to leave for one in a step buffer. */
export const STEP_VALUE_WORDS = Math.max(SGD_STEP_VALUE_WORDS, ADAM_STEP_VALUE_WORDS);

export interface SgdStepOptions extends SgdHyper, StepGuard {
  /**
   * 1-based step number. On step 1 the momentum buffer is set to the gradient, as PyTorch
   * creates it; on later steps (the default) the gradient is blended into it. With a zeroed
   * buffer the two agree unless dampening is nonzero.
   */
  step?: number;
}

export interface AdamStepOptions extends AdamHyper, StepGuard {
  /** false: Adam, L2 term added to the gradient. true: AdamW, param *= 1 - lr * weightDecay. */
  decoupled?: boolean;
  /** 1-based step number, for the bias corrections. */
  step: number;
}

const SGD_STEP_OPTIONS: OptionTable = { lr: required('number'), momentum: 'number', dampening: 'number', weightDecay: 'number', nesterov: 'boolean', step: 'integer', skipIfFlagged: 'tensor', stepValues: 'tensor', valuesAt: 'integer' };
const ADAM_STEP_OPTIONS: OptionTable = { lr: required('number'), beta1: 'number', beta2: 'number', eps: 'number', weightDecay: 'number', decoupled: 'boolean', step: required('integer'), skipIfFlagged: 'tensor', stepValues: 'tensor', valuesAt: 'integer' };
const STEP_GUARD: OptionTable = { skipIfFlagged: 'tensor', stepValues: 'tensor', valuesAt: 'integer' };
const CHECK_FINITE_OPTIONS: OptionTable = { index: 'integer', mark: 'integer', stepValues: 'tensor', valuesAt: 'integer' };

/** Checks step values and where a kernel reads `words` of them: a dense u32 tensor that holds them. */
function requireStepValues(op: string, stepValues: Tensor | undefined, valuesAt: number | undefined, words: number): void {
  if (stepValues === undefined) {
    if (valuesAt !== undefined) throw new ShapeError(`${op}: valuesAt ${valuesAt} given without stepValues`);
    return;
  }
  requireDtype(op, 'stepValues', stepValues, ['u32']);
  if (!stepValues.isContiguous) throw new ShapeError(`${op}: stepValues ${stepValues.toString()} must be contiguous`);
  const at = valuesAt ?? 0;
  if (!Number.isInteger(at) || at < 0 || at + words > stepValues.size) {
    throw new ShapeError(`${op}: valuesAt ${at} leaves no room for ${words} step values in stepValues ${formatShape(stepValues.shape)}`);
  }
}

/** The uniform's `valuesAt`: where the step values are, 0 (unread) without them. */
function valuesAtOf({ stepValues, valuesAt }: StepGuard): number {
  return stepValues ? (valuesAt ?? 0) : 0;
}

/** The per-step scalars of an SGD step, as its kernel reads them: [lr, first step (1 or 0)]. */
function sgdStepScalars(lr: number, step: number | undefined): [number, number] {
  return [lr, step === 1 ? 1 : 0];
}

/** The per-step scalars of an Adam step, as its kernel reads them: [lr / (1 - beta1^step), sqrt(1 - beta2^step), decay factor]. */
function adamStepScalars(options: AdamStepOptions): [number, number, number] {
  const { lr, beta1 = 0.9, beta2 = 0.999, weightDecay = 0, decoupled = false, step } = options;
  return [lr / (1 - beta1 ** step), Math.sqrt(1 - beta2 ** step), decoupled ? 1 - lr * weightDecay : 1];
}

function requireRange(op: string, name: string, value: number, ok: boolean, range: string): void {
  if (!Number.isFinite(value) || !ok) throw new RangeError(`${op}: ${name} = ${value} is outside ${range}`);
}

function checkSgdHyper(op: string, { lr, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false }: SgdHyper): void {
  requireRange(op, 'lr', lr, lr >= 0, '[0, inf)');
  requireRange(op, 'momentum', momentum, momentum >= 0, '[0, inf)');
  requireRange(op, 'dampening', dampening, true, 'the finite numbers');
  requireRange(op, 'weightDecay', weightDecay, weightDecay >= 0, '[0, inf)');
  // PyTorch refuses the same combination: Nesterov needs momentum and no dampening.
  if (nesterov && (momentum <= 0 || dampening !== 0)) throw new RangeError(`${op}: Nesterov momentum needs momentum > 0 and dampening = 0`);
}

function checkAdamHyper(op: string, { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0 }: AdamHyper): void {
  requireRange(op, 'lr', lr, lr >= 0, '[0, inf)');
  requireRange(op, 'beta1', beta1, beta1 >= 0 && beta1 < 1, '[0, 1)');
  requireRange(op, 'beta2', beta2, beta2 >= 0 && beta2 < 1, '[0, 1)');
  requireRange(op, 'eps', eps, eps >= 0, '[0, inf)');
  requireRange(op, 'weightDecay', weightDecay, weightDecay >= 0, '[0, inf)');
}

function checkStep(op: string, step: number): void {
  if (!Number.isSafeInteger(step) || step < 1) throw new RangeError(`${op}: step = ${step} must be a 1-based integer`);
}

/** A tensor updated in place: f32, dense (kernels bind it from element 0). */
function requireInPlaceF32(op: string, name: string, t: Tensor): void {
  requireDtype(op, name, t, ['f32']);
  if (!t.isContiguous) throw new ShapeError(`${op}: ${name} ${t.toString()} is updated in place and must be contiguous`);
}

function requireFlag(op: string, flag: Tensor): void {
  requireDtype(op, 'flag', flag, ['u32']);
  if (flag.size === 0) throw new ShapeError(`${op}: flag ${formatShape(flag.shape)} has no elements`);
  if (!flag.isContiguous) throw new ShapeError(`${op}: flag ${flag.toString()} must be contiguous`);
}

/** Tensors bound read_write in one dispatch must not share storage with any other binding. */
function requireDistinct(op: string, named: ReadonlyArray<[string, Tensor | undefined]>): void {
  const present = named.filter((entry): entry is [string, Tensor] => entry[1] !== undefined);
  for (let i = 0; i < present.length; i++) {
    for (let j = i + 1; j < present.length; j++) {
      if (present[i]![1].storage === present[j]![1].storage) throw new ShapeError(`${op}: ${present[i]![0]} and ${present[j]![0]} share storage`);
    }
  }
}

/**
 * The variants and binding of a step over `size` elements with an optional guard flag: vec4
 * lanes when the size allows (every bound tensor has the param's size), and `count` in Values.
 */
function stepLayout(size: number, flag: Tensor | undefined, stepValues: Tensor | undefined): { variant: string[]; binding: Record<string, Tensor>; count: number } {
  const vec4 = size % 4 === 0;
  return {
    variant: [flag ? 'guarded' : 'unguarded', vec4 ? 'vec4' : 'scalar', stepValues ? 'stepValues' : 'uniformStep'],
    binding: { ...(flag ? { skipFlags: flag } : {}), ...(stepValues ? { stepValues } : {}) },
    count: vec4 ? size / 4 : size,
  };
}

/**
 * The checks every step shares: one device, an in-place f32 param, an f32 grad of its shape,
 * state tensors of its shape, a usable flag, step values with room for the step's (`words`),
 * and no storage shared between bindings.
 */
function checkOperands(op: string, param: Tensor, grad: Tensor, state: ReadonlyArray<[string, Tensor]>, guard: StepGuard, words: number): void {
  const { skipIfFlagged: flag, stepValues } = guard;
  requireSameDevice(op, { param, grad, ...Object.fromEntries(state), ...(flag ? { flag } : {}), ...(stepValues ? { stepValues } : {}) });
  requireInPlaceF32(op, 'param', param);
  requireDtype(op, 'grad', grad, ['f32']);
  requireSameShape(op, ['param', 'grad'], param, grad);
  for (const [name, t] of state) {
    requireInPlaceF32(op, name, t);
    requireSameShape(op, ['param', name], param, t);
  }
  if (flag) requireFlag(op, flag);
  requireStepValues(op, stepValues, guard.valuesAt, words);
  requireDistinct(op, [['param', param], ['grad', grad], ...state, ['flag', flag], ['stepValues', stepValues]]);
}

// ---------------------------------------------------------------- non-finite check

/**
 * Elements per checkFinite thread on CPU adapters. On lavapipe, a scan of the four tensors of a
 * 784-1000-1000 pair of units (1.79M elements) took 3.6 ms with 16 a thread, 2.0-2.1 ms with
 * 64 and 1.9 ms with 256 (an Adam step over the same tensors: 8-10 ms); 64 keeps a thread per
 * run for small tensors (a bias) without paying much for the large ones.
 */
const SOFTWARE_CHECK_RUN = 64;

/** Values (vec4 lanes where the size allows) per Adam thread on CPU adapters. */
const SOFTWARE_STEP_RUN = 4;

/** Tensors one checkFinite dispatch scans (the kernel's bindings values, values1..values3). */
const CHECK_SLOTS = 4;
const CHECK_BINDINGS = ['values', 'values1', 'values2', 'values3'] as const;

/**
 * Raises flag[index] if any element of `t` (a tensor, or a list of them) is NaN or +-Inf: a zero
 * flag becomes `mark` (default 1, any nonzero u32), and a raised one keeps its first mark, so
 * several checks can share one flag and a trainer can record which step went bad first (mark =
 * step number + 1). Zero the flag before the first check. A list is scanned four tensors per
 * dispatch (a unit's gradients in one: dispatches are what a small step's host time is made of).
 */
export function checkFinite(t: Tensor | readonly Tensor[], flag: Tensor, options: { index?: number; mark?: number; stepValues?: Tensor; valuesAt?: number } = {}): void {
  // A list holds Tensors; anything else (a plain array of numbers too) is checked as one operand.
  const isList = Array.isArray(t) && (t.length === 0 || t.some((x) => x instanceof Tensor));
  const list: readonly Tensor[] = isList ? (t as readonly Tensor[]) : [t as Tensor];
  const named: Record<string, Tensor> = isList ? Object.fromEntries(list.map((x, i) => [`tensor[${i}]`, x])) : { tensor: list[0]! };
  const { index = 0, mark = 1, stepValues, valuesAt } = checkOptions('checkFinite', options, CHECK_FINITE_OPTIONS);
  const device = requireSameDevice('checkFinite', { ...named, flag, ...(stepValues ? { stepValues } : {}) });
  for (const [name, x] of Object.entries(named)) requireDtype('checkFinite', name, x, ['f32']);
  requireFlag('checkFinite', flag);
  if (!Number.isInteger(index) || index < 0 || index >= flag.size) {
    throw new ShapeError(`checkFinite: flag index ${index} is outside flag ${formatShape(flag.shape)}`);
  }
  if (!Number.isInteger(mark) || mark < 1 || mark > 0xffffffff) {
    throw new RangeError(`checkFinite: mark must be an integer in [1, 2^32 - 1], got ${mark}`);
  }
  requireStepValues('checkFinite', stepValues, valuesAt, 1);
  for (const [name, x] of Object.entries(named)) requireDistinct('checkFinite', [[name, x], ['flag', flag], ['stepValues', stepValues]]);
  const nonEmpty = list.filter((x) => x.size > 0);
  // The grid counts runs per tensor (the kernel never lets a run straddle two), not elements.
  const { run, wg } = runLayout(device, 0, SOFTWARE_CHECK_RUN);
  const kernel = device.kernel({ file: 'optim', entry: 'checkFinite', variant: ['unguarded', 'scalar', stepValues ? 'stepValues' : 'uniformStep'], overrides: { WG: wg, CHECK_RUN: run } });
  for (let first = 0; first < nonEmpty.length; first += CHECK_SLOTS) {
    withDense(nonEmpty.slice(first, first + CHECK_SLOTS), (...dense) => {
      const workgroups = elementWorkgroups(dense.reduce((sum, d) => sum + Math.ceil(d.size / run), 0), wg);
      const bindings: Record<string, Tensor> = { flags: flag, ...(stepValues ? { stepValues } : {}) };
      const counts = [0, 0, 0, 0];
      CHECK_BINDINGS.forEach((name, slot) => {
        // A slot with nothing to scan binds the first tensor again, with a count of 0.
        bindings[name] = dense[slot] ?? dense[0]!;
        counts[slot] = dense[slot]?.size ?? 0;
      });
      // With step values the mark is read there, and the uniform holds 0 in its place.
      device.dispatch(kernel, bindings, { counts, flagIndex: index, mark: stepValues ? 0 : mark, valuesAt: valuesAtOf({ stepValues, valuesAt }), _pad1: 0 }, workgroups);
    });
  }
}

// ---------------------------------------------------------------- SGD

function checkSgdOperands(param: Tensor, grad: Tensor, state: Tensor | null | undefined, options: SgdStepOptions): void {
  const op = 'sgdStep';
  requireSameDevice(op, { param, grad });
  checkOptions(op, options, SGD_STEP_OPTIONS);
  if (state !== null && state !== undefined) requireTensor(op, 'state', state);
  checkSgdHyper(op, options);
  if (options.step !== undefined) checkStep(op, options.step);
  const withMomentum = (options.momentum ?? 0) !== 0;
  if (withMomentum && !state) throw new ShapeError(`${op}: momentum ${options.momentum} needs a momentum buffer (operand state) of shape ${formatShape(param.shape)}, got ${describeValue(state)}`);
  checkOperands(op, param, grad, withMomentum ? [['momentum buffer', state!]] : [], options, SGD_STEP_VALUE_WORDS);
}

function encodeSgd(param: Tensor, grad: Tensor, state: Tensor | null | undefined, options: SgdStepOptions): void {
  const device = param.device;
  const { lr, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false, step, stepValues } = options;
  if (param.size === 0) return;
  const withMomentum = momentum !== 0;
  const { variant, binding, count } = stepLayout(param.size, options.skipIfFlagged, stepValues);
  // With step values the per-step scalars are read there, and the uniform holds zeros in their place.
  const [stepLr, firstStep] = stepValues ? [0, 0] : sgdStepScalars(lr, step);
  withDense([grad], (dg) => {
    const kernel = device.kernel({ file: 'optim', entry: withMomentum ? 'sgdMomentum' : 'sgdPlain', variant, overrides: { WG: columnWorkgroupSize(device) } });
    device.dispatch(
      kernel,
      { param, grad: dg, ...(withMomentum ? { momentumBuffer: state! } : {}), ...binding },
      {
        count,
        lr: stepLr,
        momentum,
        oneMinusDampening: 1 - dampening,
        weightDecay,
        nesterov: nesterov ? 1 : 0,
        firstStep,
        valuesAt: valuesAtOf(options),
      },
      elementWorkgroups(count, columnWorkgroupSize(device)),
    );
  });
}

/**
 * One torch.optim.SGD step on `param`, in place. `state` is the momentum buffer (f32, the
 * param's shape, category 'optimizer'); it may be null when momentum is 0.
 */
export function sgdStep(param: Tensor, grad: Tensor, state: Tensor | null | undefined, options: SgdStepOptions): void {
  checkSgdOperands(param, grad, state, options);
  encodeSgd(param, grad, state, options);
}

// ---------------------------------------------------------------- Adam / AdamW

function checkAdamOperands(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, options: AdamStepOptions): void {
  const op = options?.decoupled === true ? 'adamwStep' : 'adamStep';
  checkOptions(op, options, ADAM_STEP_OPTIONS);
  checkAdamHyper(op, options);
  checkStep(op, options.step);
  checkOperands(op, param, grad, [['m', m], ['v', v]], options, ADAM_STEP_VALUE_WORDS);
}

function encodeAdam(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, options: AdamStepOptions): void {
  const device = param.device;
  const { beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0, decoupled = false, stepValues } = options;
  if (param.size === 0) return;
  const { variant, binding, count } = stepLayout(param.size, options.skipIfFlagged, stepValues);
  // With step values the per-step scalars are read there, and the uniform holds zeros in their place.
  const [stepSize, biasCorrection2Sqrt, decay] = stepValues ? [0, 0, 0] : adamStepScalars(options);
  withDense([grad], (dg) => {
    const { run, wg, workgroups } = runLayout(device, count, SOFTWARE_STEP_RUN);
    const kernel = device.kernel({ file: 'optim', entry: 'adamStep', variant, overrides: { WG: wg, STEP_RUN: run } });
    device.dispatch(
      kernel,
      { param, grad: dg, expAvg: m, expAvgSq: v, ...binding },
      {
        count,
        oneMinusBeta1: 1 - beta1,
        beta2,
        oneMinusBeta2: 1 - beta2,
        eps,
        weightDecay: decoupled ? 0 : weightDecay,
        decay,
        stepSize,
        biasCorrection2Sqrt,
        valuesAt: valuesAtOf(options),
        _pad1: 0,
        _pad2: 0,
      },
      workgroups,
    );
  });
}

/**
 * One torch.optim.Adam (decoupled: false) or AdamW (decoupled: true) step on `param`, in place,
 * with its first and second moment tensors `m` and `v` (f32, the param's shape).
 */
export function adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, options: AdamStepOptions): void {
  checkAdamOperands(param, grad, m, v, options);
  encodeAdam(param, grad, m, v, options);
}

// ---------------------------------------------------------------- optimizer objects

/**
 * Owns the per-parameter state tensors (category 'optimizer', zero-initialised on a
 * parameter's first step) and counts steps. `lr` may be changed between steps (schedules).
 *
 * `stepCount` counts step() calls. A step the GPU skipped on a raised flag still counts (the
 * host cannot know without a readback); a trainer that reads its flags later may correct it,
 * e.g. `optimizer.stepCount -= skipped`, so that Adam's bias corrections follow the steps taken.
 */
export class Optimizer {
  stepCount = 0;
  lr: number;
  private readonly state = new Map<Tensor, Tensor[]>();
  private disposed = false;

  /** The config, completed with its defaults and checked against OPTIMIZER_SETTINGS (the training spec's rules). */
  readonly config: Readonly<OptimizerConfig>;

  constructor(config: Readonly<OptimizerConfig>) {
    this.config = resolveOptimizerConfig(config, 'Optimizer');
    this.lr = this.config.lr;
  }

  /** The state tensors each parameter gets: a momentum buffer, or m and v. */
  get slotNames(): readonly string[] {
    if (this.config.kind === 'sgd') return (this.config.momentum ?? 0) !== 0 ? ['momentum buffer'] : [];
    return ['m', 'v'];
  }

  /** One step over every (param, grad) pair. Everything is checked before anything is encoded. */
  step(params: readonly Tensor[], grads: readonly Tensor[], options: StepGuard = {}): void {
    const { kind } = this.config;
    if (this.disposed) throw new ShapeError(`${kind}: optimizer used after dispose()`);
    requireTensorList(kind, 'params', params);
    requireTensorList(kind, 'grads', grads);
    const guard = checkOptions(kind, options, STEP_GUARD) as StepGuard;
    if (params.length !== grads.length) throw new ShapeError(`${kind}: ${params.length} params and ${grads.length} grads`);
    if (new Set(params).size !== params.length) throw new ShapeError(`${kind}: a parameter appears twice in one step`);
    const step = this.stepCount + 1;
    const hyper = { ...this.config, lr: this.lr };
    if (kind === 'sgd') checkSgdHyper(kind, hyper);
    else checkAdamHyper(kind, hyper);
    // State is allocated on a parameter's first step, after every check has passed.
    params.forEach((param, i) => {
      const state = (this.state.get(param) ?? []).map((t, slot): [string, Tensor] => [this.slotNames[slot]!, t]);
      checkOperands(kind, param, grads[i]!, state, guard, kind === 'sgd' ? SGD_STEP_VALUE_WORDS : ADAM_STEP_VALUE_WORDS);
    });
    params.forEach((param, i) => {
      let state = this.state.get(param);
      if (!state) {
        // State outlives the step it is made in (and any device.scope around that step).
        state = this.slotNames.map(() => param.device.keep(param.device.zeros(param.shape, 'f32', 'optimizer')));
        this.state.set(param, state);
      }
      if (this.config.kind === 'sgd') encodeSgd(param, grads[i]!, state[0], { ...this.config, lr: this.lr, step, ...guard });
      else encodeAdam(param, grads[i]!, state[0]!, state[1]!, { ...this.config, lr: this.lr, step, decoupled: kind === 'adamw', ...guard });
    });
    this.stepCount = step;
  }

  /**
   * Writes the values the next step() reads when given `stepValues` (at its learning rate and
   * step count as they are now) into `words` from `at`: f32 bits for the floats. Where the
   * uniforms would hold the same numbers, so the step's results are bitwise the same.
   */
  writeStepValues(words: Uint32Array, at: number): void {
    const floats = new Float32Array(words.buffer, words.byteOffset, words.length);
    const step = this.stepCount + 1;
    if (this.config.kind === 'sgd') {
      const [lr, firstStep] = sgdStepScalars(this.lr, step);
      floats[at] = lr;
      words[at + 1] = firstStep;
    } else {
      const scalars = adamStepScalars({ ...this.config, lr: this.lr, step, decoupled: this.config.kind === 'adamw' });
      for (let i = 0; i < ADAM_STEP_VALUE_WORDS; i++) floats[at + i] = scalars[i]!;
    }
  }

  /** The state tensors of one parameter (momentum buffer, or [m, v]); empty before its first step. */
  stateOf(param: Tensor): readonly Tensor[] {
    return this.state.get(param) ?? [];
  }

  /**
   * Sets a parameter's state tensors from host values (resuming from a checkpoint), one array
   * per slot of `slotNames`, each of the parameter's size. Replaces any state it had.
   */
  loadState(param: Tensor, values: readonly Float32Array[]): void {
    const kind = this.config.kind;
    if (values.length !== this.slotNames.length) throw new ShapeError(`${kind}: state of ${values.length} tensors given, ${this.slotNames.length} expected (${this.slotNames.join(', ') || 'none'})`);
    values.forEach((v, slot) => {
      if (v.length !== param.size) throw new ShapeError(`${kind}: state '${this.slotNames[slot]}' has ${v.length} values for a parameter of ${param.size}`);
    });
    for (const t of this.state.get(param) ?? []) t.dispose();
    if (values.length === 0) this.state.delete(param);
    else this.state.set(param, values.map((v) => param.device.keep(param.device.tensor(v, param.shape, 'f32', 'optimizer'))));
  }

  /** Bytes held by all state tensors. */
  get stateBytes(): number {
    let bytes = 0;
    for (const tensors of this.state.values()) for (const t of tensors) bytes += t.bytes;
    return bytes;
  }

  /** Releases every state tensor. */
  dispose(): void {
    for (const tensors of this.state.values()) for (const t of tensors) t.dispose();
    this.state.clear();
    this.disposed = true;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * An optimizer over any number of parameters. Defaults follow PyTorch: SGD momentum 0,
 * dampening 0, no weight decay; Adam betas (0.9, 0.999), eps 1e-8, weight decay 0; AdamW the
 * same but weight decay 1e-2.
 */
export function createOptimizer(config: OptimizerConfig): Optimizer {
  return new Optimizer(config);
}
