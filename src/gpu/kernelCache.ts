/**
 * The kernel cache: a KernelSpec (shader file, entry point, variant, override constants) compiled
 * once per device and the same Kernel handed back after. Shader modules are shared by the entry
 * points of one file and variant; each spec gets its pipeline and bind-group layout (from the
 * reflected interface, with the uniform at a dynamic offset). Building a pipeline is far too slow
 * for a dispatch, and a step asks for the same kernels every time, so the lookup by key is the
 * hot path and a build the exception. WebGPU reports build errors late: each build runs in a
 * validation error scope whose verdict goes to the device's errors, which turn the compiler's
 * messages into a KernelError at positions of the WGSL files (variants and includes resolved).
 */
import type { DeviceErrors } from './deviceErrors.js';
import { KernelError } from './errors.js';
import { Kernel, bindGroupLayoutEntries, kernelKey, type KernelSpec } from './kernel.js';
import { loadShader } from './shaderLibrary.js';

export class KernelCache {
  /** Kernels by their canonical key (kernelKey: overrides sorted), one Kernel per pipeline. */
  private readonly kernels = new Map<string, Kernel>();
  /**
   * The same kernels by a key written as the spec comes (overrides in the caller's order): the
   * lookup of every dispatch, which sorts nothing and maps nothing. A spec met in another order
   * gets its own entry here, pointing at the one Kernel of its canonical key.
   */
  private readonly bySpelling = new Map<string, Kernel>();
  private readonly modules = new Map<string, GPUShaderModule>();

  constructor(
    private readonly gpu: GPUDevice,
    private readonly errors: DeviceErrors,
  ) {}

  /** The compiled kernel for a spec (cached). Compilation errors surface at the next flush. */
  get(spec: KernelSpec): Kernel {
    const spelling = spellingKey(spec);
    const hit = this.bySpelling.get(spelling);
    if (hit) return hit;
    const kernel = this.canonical(spec);
    this.bySpelling.set(spelling, kernel);
    return kernel;
  }

  /** The kernel of the spec's canonical key, built on a miss. */
  private canonical(spec: KernelSpec): Kernel {
    const key = kernelKey(spec);
    const cached = this.kernels.get(key);
    if (cached) return cached;
    this.errors.assertUsable('kernel');
    const shader = loadShader(spec.file, spec.variant ?? []);
    const entry = shader.entries.get(spec.entry);
    if (!entry) {
      throw new KernelError(`shaders/${spec.file}.wgsl has no compute entry point '${spec.entry}' (has: ${[...shader.entries.keys()].join(', ')})`);
    }
    for (const name of Object.keys(spec.overrides ?? {})) {
      if (!entry.overrides.includes(name)) {
        throw new KernelError(`shaders/${spec.file}.wgsl:${spec.entry} has no override '${name}' (has: ${entry.overrides.join(', ') || 'none'})`);
      }
    }
    const moduleKey = `${spec.file}|${shader.variant.join(',')}`;
    const fileLabel = `shaders/${spec.file}.wgsl`;
    this.gpu.pushErrorScope('validation');
    let module = this.modules.get(moduleKey);
    if (!module) {
      module = this.gpu.createShaderModule({ code: shader.code, label: fileLabel });
      this.modules.set(moduleKey, module);
    }
    const bindGroupLayout = this.gpu.createBindGroupLayout({ label: key, entries: bindGroupLayoutEntries(entry) });
    const pipeline = this.gpu.createComputePipeline({
      label: key,
      layout: this.gpu.createPipelineLayout({ label: key, bindGroupLayouts: [bindGroupLayout] }),
      compute: { module, entryPoint: spec.entry, constants: spec.overrides as Record<string, number> | undefined },
    });
    const shaderModule = module;
    this.errors.track(
      this.gpu.popErrorScope().then(async (error) => {
        if (!error) return;
        const info = await shaderModule.getCompilationInfo();
        const lines = info.messages
          .filter((m) => m.type === 'error')
          .map((m) => {
            const at = shader.locate(m.lineNum);
            return `shaders/${at.file}.wgsl:${at.line}:${m.linePos}: ${m.message}`;
          });
        const variant = shader.variant.length ? ` [variant ${shader.variant.join(',')}]` : '';
        throw new KernelError(
          `kernel ${spec.entry} from ${fileLabel}${variant} failed to build:\n` + (lines.length ? lines.join('\n') : error.message),
        );
      }),
    );
    const kernel = new Kernel(key, pipeline, shader, entry, bindGroupLayout);
    this.kernels.set(key, kernel);
    return kernel;
  }
}

/**
 * A spec's key as written: file, entry, variants and overrides in the order given. Names hold no
 * ':', '[', ']', '{', '}', ',' or '=' (file and entry names are identifiers, override values
 * numbers or booleans), so two different specs never share a key.
 */
function spellingKey(spec: KernelSpec): string {
  let key = spec.file + ':' + spec.entry + '[';
  if (spec.variant) for (const v of spec.variant) key += v + ',';
  key += ']{';
  const overrides = spec.overrides;
  if (overrides) for (const name in overrides) key += name + '=' + overrides[name] + ',';
  return key + '}';
}
