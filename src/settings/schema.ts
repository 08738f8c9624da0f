/**
 * A small, strict schema for settings read from JSON: each field's check and default declared
 * once, so that the same declaration validates a config file, completes a partial one, and
 * writes the defaults into `--help`.
 *
 * A check (or a default that cannot be computed) throws its reason as a string; the resolver
 * adds the field's path and where the settings came from.
 *
 * Strict, because a misspelt key that is silently ignored trains on settings nobody asked for:
 * an unknown key is an error naming the nearest known one. A section given in part is completed
 * from the defaults, keeping what was given. A section with variants (a model's `kind`, an
 * optimizer's `kind`) takes the fields of the variant chosen, and a field of another variant is
 * an error that says which variant it belongs to.
 */

/** A setting that is wrong: `path` is the dotted field ('model.hidden[1]'), `why` the rest. */
export class SpecError extends RangeError {
  override name = 'SpecError';
  constructor(
    readonly path: string,
    readonly why: string,
    where = 'config',
  ) {
    super(`${where}: ${path === '' ? '' : `${path} `}${why}`);
  }
}

/** What a default may look at: the fields resolved before it, in its own section and at the root. */
export interface DefaultScope<C> {
  section: Readonly<Record<string, unknown>>;
  root: Readonly<Record<string, unknown>>;
  context: C;
}

export interface Field<C = unknown> {
  type: 'field';
  /** Returns the value, or throws `why` as a string (the path is added by the resolver). */
  check: (value: unknown, scope: DefaultScope<C>) => unknown;
  /** A constant, or a function of what was resolved before; absent: the field stays absent. */
  default?: unknown;
  /** For a default that is a function: how `--help` states it, e.g. 'K (latent: 512)'. */
  defaultText?: string;
}

export interface Section<C = unknown> {
  type: 'section';
  fields: Readonly<Record<string, Node<C>>>;
}

export interface Variants<C = unknown> {
  type: 'variants';
  /** The field that chooses the variant ('kind'). */
  key: string;
  /** The variant when the key is absent: a constant or a function of what was resolved before. */
  default: string | ((scope: DefaultScope<C>) => string);
  defaultText?: string;
  variants: Readonly<Record<string, Readonly<Record<string, Node<C>>>>>;
}

export type Node<C = unknown> = Field<C> | Section<C> | Variants<C>;

/** Deeper than any settings this project reads; past it a value is refused before anything recurses into it. */
export const MAX_SETTINGS_DEPTH = 32;

/**
 * How deeply `value` nests objects and arrays, counted without recursion (a config nested
 * thousands of levels deep must get a message, not a stack overflow); stops counting past `max`.
 */
export function nestingDepth(value: unknown, max = MAX_SETTINGS_DEPTH): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > max) return deepest;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}

function checkDepth(value: unknown, where: string): void {
  if (nestingDepth(value) > MAX_SETTINGS_DEPTH) throw new SpecError('', `nests objects or arrays more than ${MAX_SETTINGS_DEPTH} levels deep; no setting is deeper than a few`, where);
}

/** Resolves `input` against a root section: a complete, checked copy, or a SpecError. */
export function resolveSection<C>(schema: Section<C>, input: unknown, context: C, where = 'config'): Record<string, unknown> {
  checkDepth(input, where);
  const root: Record<string, unknown> = {};
  resolveFields(schema.fields, input, '', { root, context, where }, root);
  return root;
}

/**
 * Checks one setting (a field, a section or a variants node) on its own, as a library call's
 * option: `where` names the call ('Trainer', 'fit'), `path` the option. Defaults fill what is
 * absent. Throws a SpecError naming both.
 */
export function resolveSetting<C>(node: Node<C>, value: unknown, path: string, where: string, context: C = {} as C): unknown {
  checkDepth(value, where);
  const holder: Record<string, unknown> = {};
  return resolveNode(node, value, path, { root: holder, context, where }, holder);
}

interface Walk<C> {
  root: Record<string, unknown>;
  context: C;
  where: string;
}

function resolveNode<C>(node: Node<C>, value: unknown, path: string, walk: Walk<C>, section: Record<string, unknown>): unknown {
  const scope: DefaultScope<C> = { section, root: walk.root, context: walk.context };
  if (node.type === 'field') {
    if (value === undefined) {
      let fallback: unknown;
      try {
        fallback = typeof node.default === 'function' ? (node.default as (s: DefaultScope<C>) => unknown)(scope) : node.default;
      } catch (why) {
        if (typeof why === 'string') throw new SpecError(path, why, walk.where);
        throw why;
      }
      return fallback === undefined ? undefined : structuredClone(fallback);
    }
    try {
      return node.check(value, scope);
    } catch (why) {
      if (typeof why === 'string') throw new SpecError(path, why, walk.where);
      throw why;
    }
  }
  const out: Record<string, unknown> = {};
  if (node.type === 'section') {
    resolveFields(node.fields, value, path, walk, out);
    return out;
  }
  const given = value === undefined ? {} : objectOf(value, path, walk.where);
  const variantNames = Object.keys(node.variants);
  const chosen = given[node.key] ?? (typeof node.default === 'function' ? node.default(scope) : node.default);
  if (typeof chosen !== 'string' || !Object.hasOwn(node.variants, chosen)) {
    throw new SpecError(join(path, node.key), `must be one of ${variantNames.join(', ')}, got ${JSON.stringify(chosen)}`, walk.where);
  }
  out[node.key] = chosen;
  const fields = node.variants[chosen]!;
  for (const key of Object.keys(given)) {
    if (key === node.key || Object.hasOwn(fields, key)) continue;
    const owners = variantNames.filter((v) => Object.hasOwn(node.variants[v]!, key));
    if (owners.length > 0) {
      throw new SpecError(join(path, key), `is a field of ${node.key} ${owners.map((o) => `'${o}'`).join(' or ')}, not of '${chosen}'`, walk.where);
    }
  }
  resolveFields(fields, withoutKey(given, node.key), path, walk, out);
  return out;
}

function resolveFields<C>(fields: Readonly<Record<string, Node<C>>>, value: unknown, path: string, walk: Walk<C>, out: Record<string, unknown>): void {
  const given = value === undefined ? {} : objectOf(value, path, walk.where);
  const known = Object.keys(fields);
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(fields, key)) {
      const near = nearest(key, known);
      throw new SpecError(join(path, key), `is not a known field${near ? ` (did you mean ${join(path, near)}?)` : ''}; known here: ${known.join(', ')}`, walk.where);
    }
  }
  for (const key of known) {
    const resolved = resolveNode(fields[key]!, given[key], join(path, key), walk, out);
    if (resolved !== undefined) out[key] = resolved;
  }
}

function objectOf(value: unknown, path: string, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SpecError(path, `must be a JSON object, got ${JSON.stringify(value)}`, where);
  }
  return value as Record<string, unknown>;
}

function withoutKey(record: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _dropped, ...rest } = record;
  return rest;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** The known name closest to `name` by edit distance, when it is close enough to be a typo. */
export function nearest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The node at a dotted path, within the variant `variant` where a section has variants. */
export function nodeAt<C>(schema: Section<C>, path: string, variant?: string): Node<C> | undefined {
  let node: Node<C> | undefined = schema;
  for (const key of path.split('.')) {
    if (node?.type === 'section') node = node.fields[key];
    else if (node?.type === 'variants') node = key === node.key ? node : node.variants[variant ?? (node.default as string)]?.[key];
    else return undefined;
  }
  return node;
}

/** How `--help` states a field's default: the constant as written, or its defaultText. */
export function defaultTextOf(node: Node<never> | undefined): string | undefined {
  if (!node) return undefined;
  if (node.type === 'variants') return node.defaultText ?? (typeof node.default === 'string' ? node.default : undefined);
  if (node.type !== 'field') return undefined;
  if (node.defaultText !== undefined) return node.defaultText;
  if (node.default === undefined || typeof node.default === 'function') return undefined;
  if (typeof node.default === 'boolean') return node.default ? 'on' : 'off';
  return Array.isArray(node.default) ? node.default.join(',') : String(node.default);
}

// Field builders: each returns the value checked, or throws `why` as a string.

/** A value as a message shows it: numbers as JavaScript writes them (NaN, not JSON's null), the rest as JSON. */
function shown(v: unknown): string {
  return typeof v === 'number' ? String(v) : JSON.stringify(v) ?? String(v);
}

export function integer<C>(options: { min?: number; max?: number; default?: Field<C>['default']; defaultText?: string } = {}): Field<C> {
  const { min = 1, max = Number.MAX_SAFE_INTEGER } = options;
  const what = min === 1 && max === Number.MAX_SAFE_INTEGER ? 'a positive integer' : max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
  return field((v) => {
    if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) throw `must be ${what}, got ${shown(v)}`;
    return v;
  }, options);
}

/** The largest finite float32, and the smallest normal one (GPUs may flush smaller magnitudes to 0). */
export const FLOAT32_MAX = 3.4028234663852886e38;
export const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

/**
 * Why a finite number cannot reach a kernel as given, or undefined when it can: kernels read
 * every setting as float32, so a value that overflows it, or a nonzero one below its smallest
 * normal number (which rounds to 0 or is flushed to 0), would silently become another setting.
 */
export function float32Problem(v: number): string | undefined {
  if (Math.abs(v) > FLOAT32_MAX && !Number.isFinite(Math.fround(v))) return `which overflows float32 (the largest is ${FLOAT32_MAX.toPrecision(5)}), the precision the kernels compute in`;
  if (v !== 0 && Math.abs(v) < FLOAT32_MIN_NORMAL) return `which is below float32's smallest normal number (${FLOAT32_MIN_NORMAL.toPrecision(3)}): the kernels would see 0`;
  return undefined;
}

/**
 * A finite number within bounds, checked as the kernels will see it: in float32 (see
 * float32Problem), and with the bounds applied to its float32 rounding, so that a dropout of
 * 0.99999999 (1 in float32) is refused as 1 is.
 */
export function number<C>(options: { min?: number; max?: number; exclusiveMin?: boolean; exclusiveMax?: boolean; default?: Field<C>['default']; defaultText?: string }): Field<C> {
  const { min = -Infinity, max = Infinity, exclusiveMin = false, exclusiveMax = false } = options;
  const low = min === -Infinity ? '' : exclusiveMin ? `> ${min}` : `>= ${min}`;
  const high = max === Infinity ? '' : exclusiveMax ? `< ${max}` : `<= ${max}`;
  const what = low && high ? `in ${exclusiveMin ? '(' : '['}${min}, ${max}${exclusiveMax ? ')' : ']'}` : low || high || 'finite';
  const within = (n: number) => (exclusiveMin ? n > min : n >= min) && (exclusiveMax ? n < max : n <= max);
  return field((v) => {
    const n = v as number;
    if (typeof v !== 'number' || !Number.isFinite(n) || !within(n)) throw `must be a number ${what}, got ${shown(v)}`;
    const problem = float32Problem(n);
    if (problem) throw `must be a number ${what} that float32 can hold, got ${n}, ${problem}`;
    const f = Math.fround(n);
    if (!within(f)) throw `must be a number ${what}, got ${n}, which is ${f} in float32, the precision the kernels compute in`;
    return v;
  }, options);
}

export function boolean<C>(options: { default?: Field<C>['default']; defaultText?: string } = {}): Field<C> {
  return field((v) => {
    if (typeof v !== 'boolean') throw `must be true or false, got ${shown(v)}`;
    return v;
  }, options);
}

export function oneOf<C>(choices: readonly string[], options: { default?: Field<C>['default']; defaultText?: string } = {}): Field<C> {
  return field((v) => {
    if (typeof v !== 'string' || !choices.includes(v)) throw `must be one of ${choices.join(', ')}, got ${shown(v)}`;
    return v;
  }, options);
}

export function text<C>(options: { default?: Field<C>['default']; defaultText?: string } = {}): Field<C> {
  return field((v) => {
    if (typeof v !== 'string' || v === '') throw `must be a non-empty string, got ${shown(v)}`;
    return v;
  }, options);
}

/** A non-empty list of positive integers (widths, channel counts). */
export function positiveIntegers<C>(options: { default?: Field<C>['default']; defaultText?: string } = {}): Field<C> {
  return field((v) => {
    if (!Array.isArray(v) || v.length === 0) throw `must be a non-empty list of positive integers, got ${shown(v)}`;
    const bad = v.findIndex((x) => !Number.isSafeInteger(x) || x < 1);
    if (bad >= 0) throw `element ${bad} must be a positive integer, got ${shown(v[bad])}`;
    return [...v];
  }, options);
}

function field<C>(check: (v: unknown, scope: DefaultScope<C>) => unknown, options: { default?: Field<C>['default']; defaultText?: string }): Field<C> {
  return { type: 'field', check, ...(options.default !== undefined ? { default: options.default } : {}), ...(options.defaultText !== undefined ? { defaultText: options.defaultText } : {}) };
}
