/**
 * Checkpoints in the safetensors format: every trained tensor (blocks, local heads, classifier)
 * and its optimizer state as F32 tensors, and in `__metadata__` the training spec, the data's
 * shape and normalization, the position in training and the trainer's counters, each a JSON
 * string, `sha256` (since format /2): a JSON object of tensor name to the SHA-256 of its bytes,
 * in lowercase hex, and `metadataSha256` (since /3): the SHA-256 of the other metadata entries,
 * taken over the UTF-8 JSON text of their [key, value] pairs sorted by key, so that a damaged
 * spec, position or digest list is caught as a damaged tensor is. The fixed projections are not
 * stored: they are regenerated from the seed.
 *
 * Bytes in, bytes out (browser-safe): writing a file atomically is src/io/files.ts's job, and the
 * digests come from Web Crypto (globalThis.crypto.subtle), which Node and browsers both have.
 * A checkpoint is untrusted input. `readCheckpoint` is the way in: decodeCheckpoint validates the
 * container (decodeSafetensors) and the metadata, and checks that the digests name exactly the
 * tensors present; verifyCheckpoint (async, as Web Crypto is) then refuses metadata that do not
 * match their digest, a tensor whose bytes do not match its digest, and a weight or optimizer
 * state that is NaN or infinite. Restoring checks every tensor's name, dtype and shape against
 * the model the metadata rebuilds. Checkpoints of the older formats still load, each with a
 * notice of what it cannot verify: /2 its metadata, /1 anything.
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { kernelChoiceDifferences, kernelChoices, type KernelChoices } from '../ops/choices.js';
import { checkKernelTuning, describeKernelTuning, kernelTuningOf, sameKernelTuning, useKernelTuning } from '../ops/tuningTable.js';
import { describeAdapter } from '../gpu/open.js';
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type SafetensorsTensor, type SafetensorsTensorInput } from '../io/safetensors.js';
import type { Position } from './fit.js';
import type { Model } from './model.js';
import { buildModel, resolveTrainingSpec, type TrainingSpec } from './spec.js';
import type { Trainer, TrainerCounters } from './trainer.js';

/** The format written: /3 adds the metadata's digest to /2, which added the tensors' digests to /1. */
export const CHECKPOINT_FORMAT = 'sll-webgpu-checkpoint/3';
/** The formats read, and which digests each carries. */
const CHECKPOINT_FORMATS_READ: ReadonlyMap<string, { tensorDigests: boolean; metadataDigest: boolean }> = new Map([
  [CHECKPOINT_FORMAT, { tensorDigests: true, metadataDigest: true }],
  ['sll-webgpu-checkpoint/2', { tensorDigests: true, metadataDigest: false }],
  ['sll-webgpu-checkpoint/1', { tensorDigests: false, metadataDigest: false }],
]);
/** The metadata entry holding the SHA-256 of the others. */
const METADATA_DIGEST_KEY = 'metadataSha256';

/** What a checkpoint knows about its data: enough to rebuild the model and normalize new images. */
export interface CheckpointData {
  name: string;
  inputShape: [number, number, number];
  classes: number;
  /** The normalization of the training pixels ([0, 1]-scaled), applied before the model. */
  mean: number;
  std: number;
  classNames?: string[];
}

export interface CheckpointMeta {
  /** The format the file was written in (CHECKPOINT_FORMAT, or an older one still read). */
  format: string;
  spec: TrainingSpec;
  data: CheckpointData;
  /** The next batch to train. */
  position: Position;
  counters: TrainerCounters;
  /** Adapter it was saved on (bitwise resumption holds on the same adapter). */
  adapter: string;
  /** The kernel choices it was trained with (absent in checkpoints older than the record). */
  kernels?: KernelChoices;
  savedAt: string;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  tensors: Map<string, SafetensorsTensor>;
  /** Tensor name to the SHA-256 of its bytes (lowercase hex); undefined for a /1 checkpoint. */
  digests: Map<string, string> | undefined;
  /** The metadata as stored, every entry a string; `metadataSha256` is checked against the rest (format /3). */
  metadata: Record<string, string>;
  /** One-line notices for people, such as "carries no checksums" (empty for a current checkpoint). */
  notices: string[];
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** A checkpoint was not written because a tensor held NaN or Infinity: the one on disk is kept. */
export class NonFiniteWeightsError extends CheckpointError {
  override name = 'NonFiniteWeightsError';
}

/**
 * What encodeCheckpoint is told; the adapter and the kernel choices default to the trainer's
 * device's own, which is what a resume compares against (resumeNotice).
 */
export type CheckpointInput = Omit<CheckpointMeta, 'format' | 'counters' | 'savedAt' | 'adapter' | 'kernels'> & Partial<Pick<CheckpointMeta, 'adapter' | 'kernels'>>;

/** Reads every trained tensor and its optimizer state back from the GPU and packs them. */
export async function encodeCheckpoint(trainer: Trainer, input: CheckpointInput): Promise<Uint8Array> {
  const meta = { ...input, adapter: input.adapter ?? describeAdapter(trainer.device.report), kernels: input.kernels ?? kernelChoices(trainer.device) };
  const tensors: Record<string, SafetensorsTensorInput> = {};
  for (const entry of trainer.parameterEntries()) {
    tensors[entry.name] = { dtype: 'F32', shape: [...entry.value.shape], data: (await entry.value.read()) as Float32Array };
    const optimizer = trainer.optimizerOf(entry.unit);
    const slots = optimizer.stateOf(entry.value);
    for (let s = 0; s < slots.length; s++) {
      tensors[`${entry.name}#${optimizer.slotNames[s]}`] = { dtype: 'F32', shape: [...entry.value.shape], data: (await slots[s]!.read()) as Float32Array };
    }
  }
  // Never replace a good checkpoint with one that no load would accept.
  for (const [name, t] of Object.entries(tensors)) {
    const values = t.data as Float32Array;
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new NonFiniteWeightsError(`tensor '${name}' holds ${values[bad]} at index ${bad}: the checkpoint was not written`);
  }
  const full: CheckpointMeta = { format: CHECKPOINT_FORMAT, ...meta, counters: trainer.counters(), savedAt: new Date().toISOString() };
  const names = Object.keys(tensors).sort();
  const digests = await Promise.all(names.map((name) => sha256Hex(tensors[name]!.data)));
  const metadata: Record<string, string> = {
    format: full.format,
    sha256: JSON.stringify(Object.fromEntries(names.map((name, i) => [name, digests[i]]))),
    config: JSON.stringify(full.spec),
    data: JSON.stringify(full.data),
    position: JSON.stringify(full.position),
    counters: JSON.stringify(full.counters),
    adapter: full.adapter,
    ...(full.kernels ? { kernels: JSON.stringify(full.kernels) } : {}),
    savedAt: full.savedAt,
  };
  return encodeSafetensors(tensors, { ...metadata, [METADATA_DIGEST_KEY]: await metadataDigest(metadata) });
}

/**
 * The SHA-256 of every metadata entry but the digest itself, over the UTF-8 bytes of
 * JSON.stringify (no whitespace) of their [key, value] pairs, sorted by key in UTF-16 code-unit
 * order (the keys are ASCII, so byte order too).
 */
function metadataDigest(metadata: Record<string, string>): Promise<string> {
  const entries = Object.keys(metadata)
    .filter((key) => key !== METADATA_DIGEST_KEY)
    .sort()
    .map((key) => [key, metadata[key]]);
  return sha256Hex(new TextEncoder().encode(JSON.stringify(entries)));
}

/**
 * Decodes and verifies a checkpoint (decodeCheckpoint, then verifyCheckpoint): what every path
 * that loads weights calls. `source` names the file in errors and notices.
 */
export async function readCheckpoint(bytes: Uint8Array, source = 'checkpoint'): Promise<Checkpoint> {
  const checkpoint = decodeCheckpoint(bytes, source);
  await verifyCheckpoint(checkpoint, source);
  return checkpoint;
}

/**
 * Parses and checks a checkpoint's container and metadata, and that its digests (if any) name
 * exactly its tensors; not the tensors' bytes nor the metadata against their digest
 * (verifyCheckpoint), nor the tensors against a model (`restoreTrainer` and `loadModel`). Enough
 * to look at the metadata, unverified; to load weights or trust the metadata, use
 * readCheckpoint. `source` names the file in errors.
 */
export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): Checkpoint {
  let decoded;
  try {
    decoded = decodeSafetensors(bytes, { source });
  } catch (error) {
    if (error instanceof SafetensorsError) throw new CheckpointError(error.message);
    throw error;
  }
  const md = decoded.metadata;
  const format = md.format === undefined ? undefined : CHECKPOINT_FORMATS_READ.get(md.format);
  if (!format) {
    throw new CheckpointError(`${source}: not an sll-webgpu checkpoint (metadata format ${JSON.stringify(md.format)}, expected ${[...CHECKPOINT_FORMATS_READ.keys()].join(', ')})`);
  }
  // A format requires its digests; a digest present is checked whatever the label says, so that
  // relabelling a file as an older format (one byte) does not skip its verification.
  const hasMetadataDigest = format.metadataDigest || md[METADATA_DIGEST_KEY] !== undefined;
  const hasTensorDigests = format.tensorDigests || md.sha256 !== undefined;
  if (hasMetadataDigest && !/^[0-9a-f]{64}$/.test(md[METADATA_DIGEST_KEY] ?? '')) {
    const stored = md[METADATA_DIGEST_KEY];
    throw new CheckpointError(`${source}: metadata '${METADATA_DIGEST_KEY}' is ${stored === undefined ? 'missing' : `${JSON.stringify(stored)}, not 64 lowercase hex digits`}`);
  }
  const json = (key: string): unknown => {
    const text = md[key];
    if (text === undefined) throw new CheckpointError(`${source}: metadata '${key}' is missing`);
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new CheckpointError(`${source}: metadata '${key}' is not valid JSON (${(error as Error).message})`);
    }
  };
  const data = json('data') as CheckpointData;
  checkData(data, source);
  let spec: TrainingSpec;
  try {
    spec = resolveTrainingSpec(json('config'), { classes: data.classes });
  } catch (error) {
    throw new CheckpointError(`${source}: ${(error as Error).message}`);
  }
  const position = json('position') as Position;
  if (!isCount(position?.epoch) || !isCount(position?.batch)) throw new CheckpointError(`${source}: metadata 'position' must hold epoch and batch counts`);
  const counters = json('counters') as TrainerCounters;
  if (!isCount(counters?.step) || !isCountList(counters.optimizerSteps) || !isCountList(counters.dropoutOffsets)) {
    throw new CheckpointError(`${source}: metadata 'counters' must hold step, optimizerSteps and dropoutOffsets counts`);
  }
  const digests = hasTensorDigests ? checkDigests(json('sha256'), decoded.tensors, source) : undefined;
  const notices = !hasTensorDigests
    ? [`${source}: a checkpoint of format ${md.format} carries no checksums; its weights are loaded unverified`]
    : !hasMetadataDigest
      ? [`${source}: a checkpoint of format ${md.format} carries no checksum of its metadata; its metadata (spec, data, position, counters, digests) are loaded unverified`]
      : [];
  return {
    meta: { format: md.format!, spec, data, position, counters, adapter: md.adapter ?? 'unknown', ...(md.kernels !== undefined ? { kernels: checkKernels(json('kernels'), source) } : {}), savedAt: md.savedAt ?? 'unknown' },
    tensors: decoded.tensors,
    digests,
    metadata: md,
    notices,
  };
}

/**
 * Checks a decoded checkpoint: its metadata against their digest (required from format /3), each
 * tensor's bytes against its SHA-256 digest (required from /2), then every float value for NaN
 * and infinity; a digest present is checked whatever the format.
 * Throws CheckpointError naming `source` and what is wrong.
 */
export async function verifyCheckpoint(checkpoint: Checkpoint, source = 'checkpoint'): Promise<void> {
  const storedMetadataDigest = checkpoint.metadata[METADATA_DIGEST_KEY];
  // decodeCheckpoint required it where the format does, and checked its form wherever it is.
  if (storedMetadataDigest !== undefined) {
    const computed = await metadataDigest(checkpoint.metadata);
    if (computed !== storedMetadataDigest) {
      throw new CheckpointError(
        `${source}: its metadata (spec, data, position, counters, digests) do not match their sha256 digest (stored ${storedMetadataDigest}, text gives ${computed}): the file was damaged after it was written`,
      );
    }
  }
  const names = [...checkpoint.tensors.keys()];
  if (checkpoint.digests) {
    const digests = checkpoint.digests;
    const computed = await Promise.all(names.map((name) => sha256Hex(checkpoint.tensors.get(name)!.data)));
    names.forEach((name, i) => {
      const stored = digests.get(name);
      if (computed[i] !== stored) {
        throw new CheckpointError(`${source}: tensor '${name}' does not match its sha256 digest (stored ${stored}, bytes give ${computed[i]}): the file was damaged after it was written`);
      }
    });
  }
  for (const name of names) {
    const values = checkpoint.tensors.get(name)!.data;
    if (!(values instanceof Float32Array || values instanceof Float64Array)) continue;
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new CheckpointError(`${source}: tensor '${name}' holds ${values[bad]} at index ${bad} (of ${values.length}); a checkpoint's weights and optimizer state must be finite`);
    }
  }
}

/**
 * Puts a checkpoint's weights, optimizer state and counters into a trainer built from the same
 * spec (same model, method and optimizer). Every tensor is checked before anything is written.
 */
export function restoreTrainer(trainer: Trainer, checkpoint: Checkpoint, source = 'checkpoint'): void {
  // Two methods can have the same tensors (SLL in class mode without dropout and DRTP): the spec tells them apart.
  if (checkpoint.meta.spec.method !== trainer.method) {
    throw new CheckpointError(`${source}: saved by a ${checkpoint.meta.spec.method} run, but the trainer given trains by ${trainer.method}`);
  }
  const entries = trainer.parameterEntries();
  const expected = new Set<string>();
  const plan: Array<() => void> = [];
  for (const entry of entries) {
    const optimizer = trainer.optimizerOf(entry.unit);
    const values = takeF32(checkpoint, entry.name, entry.value.shape, source);
    expected.add(entry.name);
    // State exists once a parameter has had a step; a checkpoint from step 0 has none.
    const slotValues = optimizer.slotNames.map((slot) => {
      const name = `${entry.name}#${slot}`;
      if (!checkpoint.tensors.has(name)) return undefined;
      expected.add(name);
      return takeF32(checkpoint, name, entry.value.shape, source);
    });
    const present = slotValues.filter((v) => v !== undefined);
    if (present.length !== 0 && present.length !== slotValues.length) {
      throw new CheckpointError(`${source}: optimizer state of '${entry.name}' is incomplete (needs ${optimizer.slotNames.join(', ')})`);
    }
    plan.push(() => {
      entry.value.device.upload(entry.value, values);
      if (present.length > 0) optimizer.loadState(entry.value, present as Float32Array[]);
    });
  }
  const extra = [...checkpoint.tensors.keys()].filter((name) => !expected.has(name));
  if (extra.length > 0) throw new CheckpointError(`${source}: tensors the model does not have: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? `, ... (${extra.length})` : ''}`);
  try {
    trainer.restoreCounters(checkpoint.meta.counters);
  } catch (error) {
    throw new CheckpointError(`${source}: ${(error as Error).message}`);
  }
  for (const step of plan) step();
}

/**
 * Rebuilds the model a checkpoint was saved from and loads its weights (for prediction). It does
 * not verify the digests: pass it what readCheckpoint returned, as every path here does.
 */
/**
 * What differs, for a checkpoint resumed on `device`, from where it was saved: another adapter,
 * or other kernel choices. Either way the run continues within a tolerance of an uninterrupted
 * one, not bitwise; undefined when nothing differs.
 */
export function resumeNotice(checkpoint: Checkpoint, device: Device): string | undefined {
  const adapter = describeAdapter(device.report);
  const before = checkpoint.meta.kernels;
  const changed = before ? kernelChoiceDifferences(before, kernelChoices(device)) : [];
  if (checkpoint.meta.adapter === adapter && changed.length === 0) return undefined;
  const where = checkpoint.meta.adapter !== adapter ? `another adapter (saved on ${checkpoint.meta.adapter})` : 'the same adapter';
  return `resuming on ${where}${changed.length > 0 ? ` with other kernel choices (${changed.join(', ')})` : ''}: the run continues within a tolerance of an uninterrupted one, not bitwise`;
}

/**
 * A run resumed on the adapter it was trained on runs with the kernel tuning it was trained with
 * (none, if it had none or predates tunings), whatever table is in force now (a newer
 * `sll tune`, or one the lab measured), so that it continues bitwise: puts that table in force
 * and returns a notice saying so when it changes what was in force, else undefined. On another
 * adapter bitwise is lost anyway (resumeNotice says so) and the table in force stays. The
 * caller puts its own table back when the run is done with (runTraining, the lab's worker).
 */
export function restoreKernelTuning(device: Device, saved: { adapter: string; kernels?: KernelChoices }): string | undefined {
  if (saved.adapter !== describeAdapter(device.report)) return undefined;
  const tuning = saved.kernels?.tuning;
  if (sameKernelTuning(kernelTuningOf(device), tuning)) return undefined;
  useKernelTuning(device, tuning);
  return `resuming with the kernel tuning the run was trained with (${tuning ? describeKernelTuning(tuning) : 'none: the built-in choices'}), not the one in force now`;
}

/** The adapter and kernel choices of `device`, as a checkpoint and a run's config.json record them. */
export function provenanceOf(device: Device): { adapter: string; kernels: KernelChoices } {
  return { adapter: describeAdapter(device.report), kernels: kernelChoices(device) };
}

export function loadModel(device: Device, checkpoint: Checkpoint, source = 'checkpoint'): Model {
  const { spec, data } = checkpoint.meta;
  const model = buildModel(device, spec.model, data, spec.seed);
  try {
    const layers = model.namedTensors();
    const values = layers.map((p) => takeF32(checkpoint, p.name, p.value.shape, source));
    layers.forEach((p, i) => device.upload(p.value, values[i]!));
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

function takeF32(checkpoint: Checkpoint, name: string, shape: readonly number[], source: string): Float32Array {
  const t = checkpoint.tensors.get(name);
  if (!t) throw new CheckpointError(`${source}: tensor '${name}' is missing (the model built from the checkpoint's config needs it)`);
  if (t.dtype !== 'F32') throw new CheckpointError(`${source}: tensor '${name}' is ${t.dtype}, expected F32`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new CheckpointError(`${source}: tensor '${name}' has shape [${t.shape.join(', ')}], the model needs [${shape.join(', ')}]`);
  }
  return t.data as Float32Array;
}

/** The `sha256` metadata as a map, checked to name exactly the tensors in the file. */
function checkDigests(value: unknown, tensors: ReadonlyMap<string, unknown>, source: string): Map<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CheckpointError(`${source}: metadata 'sha256' must be an object of tensor name to SHA-256 digest`);
  }
  const digests = new Map(Object.entries(value as Record<string, unknown>));
  for (const [name, digest] of digests) {
    if (!tensors.has(name)) throw new CheckpointError(`${source}: metadata 'sha256' has a digest for '${name}', which is not a tensor in the file`);
    if (typeof digest !== 'string' || !/^[0-9a-f]{64}$/.test(digest)) {
      throw new CheckpointError(`${source}: metadata 'sha256' of '${name}' is ${JSON.stringify(digest)}, not 64 lowercase hex digits`);
    }
  }
  for (const name of tensors.keys()) {
    if (!digests.has(name)) throw new CheckpointError(`${source}: tensor '${name}' has no digest in metadata 'sha256'`);
  }
  return digests as Map<string, string>;
}

/**
 * SHA-256 of a typed array's bytes (just its view), in lowercase hex. The arrays here (decoded
 * tensors, GPU read-backs) own plain ArrayBuffers, which is what Web Crypto takes.
 */
async function sha256Hex(data: ArrayBufferView): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new CheckpointError('checkpoint checksums need Web Crypto (crypto.subtle), which a browser gives only to secure contexts: serve the page over https or from localhost');
  const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function checkData(data: CheckpointData, source: string): void {
  const ok =
    typeof data === 'object' && data !== null && typeof data.name === 'string' &&
    Array.isArray(data.inputShape) && data.inputShape.length === 3 && data.inputShape.every((d) => Number.isSafeInteger(d) && d >= 1 && d <= 65536) &&
    Number.isSafeInteger(data.classes) && data.classes >= 2 && data.classes <= 100_000 &&
    Number.isFinite(data.mean) && Number.isFinite(data.std) && data.std > 0 &&
    (data.classNames === undefined || (Array.isArray(data.classNames) && data.classNames.length === data.classes && data.classNames.every((n) => typeof n === 'string')));
  if (!ok) throw new CheckpointError(`${source}: metadata 'data' must hold name, inputShape [C, H, W], classes >= 2, mean and std > 0 (and classNames, one per class)`);
}

function checkKernels(value: unknown, source: string): KernelChoices {
  const k = value as KernelChoices;
  const ok =
    typeof k === 'object' && k !== null && typeof k.software === 'boolean' && typeof k.subgroups === 'boolean' && typeof k.f16 === 'boolean' &&
    typeof k.attention === 'string' && typeof k.matmul === 'object' && k.matmul !== null && typeof k.matmul.large === 'string' && typeof k.matmul.thin === 'string' &&
    Number.isSafeInteger(k.workgroup);
  if (!ok) throw new CheckpointError(`${source}: metadata 'kernels' must hold software, matmul { large, thin }, attention, subgroups, f16 and workgroup (and tuning, when a kernel tuning was in force)`);
  if (k.tuning === undefined) return k;
  try {
    return { ...k, tuning: checkKernelTuning(k.tuning, `${source}: metadata 'kernels.tuning'`) };
  } catch (error) {
    throw new CheckpointError((error as Error).message);
  }
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function isCountList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every(isCount);
}
