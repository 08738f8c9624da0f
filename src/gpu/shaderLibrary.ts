/**
 * WGSL sources, variant selection and reflection.
 *
 * A shader file may hold variant regions: lines `//#variant NAME` open a block, and `//#end`
 * closes the region. Exactly one block per region is kept, chosen by name; the others are
 * blanked line for line, so compiler messages keep the file's line numbers. Per-thread register
 * tiles must be constant-sized in WGSL, and this is how a kernel comes in a small fixed set of
 * shapes without string templating.
 *
 * A line `//#include lib/NAME` appends shaders/lib/NAME.wgsl after the file (WGSL declarations
 * may come in any order), so helpers shared by several kernels (workgroup reductions, erf) are
 * written once; the file's own lines keep their numbers, and compiler messages that point into
 * the appended part are mapped back to the library file.
 *
 * Bindings and uniform layouts are read with wgsl_reflect, so no byte offset is written twice.
 */
import { WgslReflect, ResourceType } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { FunctionInfo, MemberInfo } from 'wgsl_reflect/wgsl_reflect.module.js';
import { KernelError } from './errors.js';
import { shaderSources } from './shaderSources.generated.js';

export interface UniformMember {
  readonly name: string;
  readonly offset: number;
  /** 'u32', 'i32' or 'f32' */
  readonly scalar: 'u32' | 'i32' | 'f32';
  /** 1 for a scalar, 2..4 for vectors */
  readonly components: number;
}

export interface EntryReflection {
  readonly name: string;
  readonly workgroupSize: readonly [number, number, number] | null;
  /** Storage buffers used by this entry point, by name. */
  readonly storage: ReadonlyArray<{ name: string; group: number; binding: number; access: string }>;
  /** The uniform struct used by this entry point, if any. */
  readonly uniform?: { name: string; group: number; binding: number; size: number; members: readonly UniformMember[] };
  readonly overrides: readonly string[];
}

export interface ShaderVariant {
  readonly file: string;
  readonly variant: readonly string[];
  readonly code: string;
  readonly entries: ReadonlyMap<string, EntryReflection>;
  /** Maps a line of `code` (1-based) to the shader file and line it came from. */
  locate(line: number): { file: string; line: number };
}

const VARIANT_OPEN = /^\s*\/\/#variant\s+([A-Za-z0-9_]+)\s*$/;
const VARIANT_END = /^\s*\/\/#end\s*$/;
const INCLUDE = /^\s*\/\/#include\s+(lib\/[A-Za-z0-9_]+)\s*$/;

interface IncludedPart {
  file: string;
  /** First line of the part in the combined code (1-based). */
  firstLine: number;
}

/** Blanks each `//#include` line and appends the library files it names, once each. */
function resolveIncludes(file: string, code: string): { code: string; parts: IncludedPart[] } {
  const lines = code.split('\n');
  const wanted: string[] = [];
  lines.forEach((line, i) => {
    const include = INCLUDE.exec(line);
    if (!include) return;
    if (!wanted.includes(include[1]!)) wanted.push(include[1]!);
    lines[i] = '';
  });
  const parts: IncludedPart[] = [];
  for (const name of wanted) {
    const source = extraSources.get(name) ?? shaderSources[name];
    if (source === undefined) throw new KernelError(`shaders/${file}.wgsl includes shaders/${name}.wgsl, which does not exist`);
    if (INCLUDE.test(source) || VARIANT_OPEN.test(source)) {
      throw new KernelError(`shaders/${name}.wgsl: library files may not include others or hold variants`);
    }
    lines.push(`// ---- shaders/${name}.wgsl ----`);
    parts.push({ file: name, firstLine: lines.length + 1 });
    lines.push(...source.split('\n'));
  }
  return { code: lines.join('\n'), parts };
}

/** Keeps one block of each variant region (by name) and blanks the rest. */
export function selectVariant(file: string, source: string, names: readonly string[]): string {
  const lines = source.split('\n');
  const out: string[] = [];
  let inRegion = false;
  let blocksInRegion: string[] = [];
  let keepBlock = false;
  let keptInRegion = 0;
  const used = new Set<string>();
  const closeRegion = (line: number) => {
    if (keptInRegion !== 1) {
      throw new KernelError(
        `shaders/${file}.wgsl:${line}: variant region offers [${blocksInRegion.join(', ')}] and the selection ` +
          `[${names.join(', ')}] picks ${keptInRegion} of them (exactly one is needed)`,
      );
    }
  };
  lines.forEach((line, i) => {
    const open = VARIANT_OPEN.exec(line);
    if (open) {
      if (!inRegion) {
        inRegion = true;
        blocksInRegion = [];
        keptInRegion = 0;
      }
      const name = open[1]!;
      blocksInRegion.push(name);
      keepBlock = names.includes(name);
      if (keepBlock) {
        keptInRegion++;
        used.add(name);
      }
      out.push('');
    } else if (VARIANT_END.test(line)) {
      if (!inRegion) throw new KernelError(`shaders/${file}.wgsl:${i + 1}: //#end without //#variant`);
      closeRegion(i + 1);
      inRegion = false;
      out.push('');
    } else {
      out.push(!inRegion || keepBlock ? line : '');
    }
  });
  if (inRegion) throw new KernelError(`shaders/${file}.wgsl: variant region not closed with //#end`);
  const unused = names.filter((n) => !used.has(n));
  if (unused.length > 0) throw new KernelError(`shaders/${file}.wgsl has no variant named ${unused.join(', ')}`);
  return out.join('\n');
}

function scalarOf(typeName: string): { scalar: UniformMember['scalar']; components: number } | undefined {
  const scalars = ['u32', 'i32', 'f32'] as const;
  for (const s of scalars) if (typeName === s) return { scalar: s, components: 1 };
  const vec = /^vec([234])<?(u32|i32|f32)>?$/.exec(typeName) ?? /^vec([234])(u|i|f)$/.exec(typeName);
  if (vec) {
    const kind = vec[2]!;
    const scalar = (kind.length === 1 ? `${kind}32` : kind) as UniformMember['scalar'];
    return { scalar, components: Number(vec[1]) };
  }
  return undefined;
}

function reflectUniformMembers(file: string, members: readonly MemberInfo[]): UniformMember[] {
  return members.map((m) => {
    const typeName = m.type.getTypeName();
    const kind = scalarOf(typeName);
    if (!kind) throw new KernelError(`shaders/${file}.wgsl: uniform member '${m.name}' has type ${typeName}; only u32/i32/f32 scalars and vectors are supported`);
    return { name: m.name, offset: m.offset, ...kind };
  });
}

function reflectEntry(file: string, fn: FunctionInfo, moduleOverrides: readonly string[]): EntryReflection {
  const storage: Array<{ name: string; group: number; binding: number; access: string }> = [];
  let uniform: EntryReflection['uniform'];
  for (const r of fn.resources) {
    if (r.resourceType === ResourceType.Storage) {
      storage.push({ name: r.name, group: r.group, binding: r.binding, access: r.access });
    } else if (r.resourceType === ResourceType.Uniform) {
      if (uniform) throw new KernelError(`shaders/${file}.wgsl: entry ${fn.name} uses two uniform buffers; the launcher supports one`);
      const members = r.members;
      if (!members) throw new KernelError(`shaders/${file}.wgsl: uniform '${r.name}' must be a struct`);
      uniform = { name: r.name, group: r.group, binding: r.binding, size: r.size, members: reflectUniformMembers(file, members) };
    } else {
      throw new KernelError(`shaders/${file}.wgsl: entry ${fn.name} uses resource '${r.name}' of a kind the launcher does not bind`);
    }
    if (r.group !== 0) throw new KernelError(`shaders/${file}.wgsl: '${r.name}' is in @group(${r.group}); kernels use group 0 only`);
  }
  return {
    name: fn.name,
    workgroupSize: fn.workgroupSize,
    storage,
    uniform,
    // wgsl_reflect lists only overrides the entry function names itself, not those used by the
    // functions it calls, so every override of the module is offered.
    overrides: moduleOverrides,
  };
}

const variantCache = new Map<string, ShaderVariant>();

/** The source of one shader file with a variant selected, and its reflection (cached). */
export function loadShader(file: string, variant: readonly string[] = []): ShaderVariant {
  const key = `${file}|${variant.join(',')}`;
  const cached = variantCache.get(key);
  if (cached) return cached;
  const source = extraSources.get(file) ?? shaderSources[file];
  if (source === undefined) {
    throw new KernelError(`no shader file shaders/${file}.wgsl (known: ${Object.keys(shaderSources).join(', ')})`);
  }
  const { code, parts } = resolveIncludes(file, selectVariant(file, source, variant));
  const locate = (line: number) => {
    for (let i = parts.length - 1; i >= 0; i--) {
      const part = parts[i]!;
      if (line >= part.firstLine) return { file: part.file, line: line - part.firstLine + 1 };
    }
    return { file, line };
  };
  let reflect: WgslReflect;
  try {
    reflect = new WgslReflect(code);
  } catch (e) {
    throw new KernelError(`shaders/${file}.wgsl [${variant.join(',')}]: reflection failed: ${(e as Error).message}`);
  }
  const entries = new Map<string, EntryReflection>();
  const moduleOverrides = reflect.overrides.map((o) => o.name);
  for (const fn of reflect.entry.compute) entries.set(fn.name, reflectEntry(file, fn, moduleOverrides));
  const result: ShaderVariant = { file, variant: [...variant], code, entries, locate };
  variantCache.set(key, result);
  return result;
}

const extraSources = new Map<string, string>();

/**
 * Adds a shader source under a name, beside the files in shaders/ (for kernels defined by a
 * user of the library, and for tests of the error paths). Replacing a name clears its cache.
 */
export function registerShaderSource(file: string, source: string): void {
  extraSources.set(file, source);
  variantCache.clear(); // files that include it must be rebuilt too
}
