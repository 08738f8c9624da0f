/**
 * Error surfacing: whether the device can still be used, and the errors WebGPU reports late.
 * WebGPU reports shader compilation, validation and out-of-memory errors asynchronously (error
 * scopes, `uncapturederror`), and a lost device through a promise; nothing the engine encodes
 * waits for them. This class collects them as they come (each with the names the engine gave
 * it: the kernel, the tensor being allocated) and hands the cause to whoever next waits on the
 * GPU (`flush`, `read`, `prepareKernel`), so an error appears at the first await after its
 * cause, not as a silent wrong result. It also holds the two states that end a device (lost,
 * destroyed), which every public entry point checks before it encodes anything.
 */
import { DeviceLostError, GpuValidationError, KernelError, LimitError, OutOfMemoryError } from './errors.js';

export class DeviceErrors {
  private readonly errors: Error[] = [];
  private readonly pendingChecks: Promise<void>[] = [];
  private lostError: DeviceLostError | null = null;
  /** Rejects with the DeviceLostError when the device is lost; raced against every wait. */
  private readonly lostRejection: Promise<never>;
  private destroyedFlag = false;

  constructor(private readonly gpu: GPUDevice) {
    this.lostRejection = gpu.lost.then((info) => {
      this.lostError = new DeviceLostError(
        info.reason === 'destroyed' ? 'the device was destroyed' : `the device was lost (${info.reason}): ${info.message}`,
      );
      throw this.lostError;
    });
    this.lostRejection.catch(() => undefined); // observed through lostError and races below
    gpu.addEventListener('uncapturederror', (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.errors.push(new GpuValidationError(error.message));
    });
  }

  get destroyed(): boolean {
    return this.destroyedFlag;
  }

  /** Marks the device destroyed: every later entry point throws, a loss is no longer reported. */
  markDestroyed(): void {
    this.destroyedFlag = true;
  }

  /** Throws a DeviceLostError naming `what` if the device was destroyed or lost. */
  assertUsable(what: string): void {
    if (this.destroyedFlag) throw new DeviceLostError(`${what}: the device was destroyed`);
    if (this.lostError) throw new DeviceLostError(`${what}: ${this.lostError.message}`);
  }

  /** `work`, or the DeviceLostError if the device is lost first. */
  orLost<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.lostRejection]);
  }

  /** Keeps an asynchronous check (an error scope's verdict); what it throws is reported later. */
  track(check: Promise<void>): void {
    this.pendingChecks.push(check.catch((e: Error) => void this.errors.push(e)));
  }

  /** Waits for every pending check, then throws the loss or the first error's cause, if any. */
  async surface(): Promise<void> {
    while (this.pendingChecks.length > 0) await Promise.all(this.pendingChecks.splice(0));
    if (this.lostError && !this.destroyedFlag) throw this.lostError;
    if (this.errors.length > 0) {
      // A shader that failed to build also invalidates every bind group and dispatch that used
      // it, and those errors can arrive first: report the cause (the compile error) instead.
      const error = this.errors.find((e) => e instanceof KernelError || e instanceof OutOfMemoryError) ?? this.errors[0]!;
      this.errors.length = 0;
      throw error;
    }
  }

  /** A new buffer, within maxBufferSize, whose allocation failure surfaces as an OutOfMemoryError naming it. */
  createCheckedBuffer(descriptor: GPUBufferDescriptor): GPUBuffer {
    if (descriptor.size > this.gpu.limits.maxBufferSize) {
      throw new LimitError(`${descriptor.label}: ${descriptor.size} bytes exceed this device's maxBufferSize of ${this.gpu.limits.maxBufferSize}`);
    }
    this.gpu.pushErrorScope('out-of-memory');
    const buffer = this.gpu.createBuffer(descriptor);
    this.track(
      this.gpu.popErrorScope().then((error) => {
        if (error) throw new OutOfMemoryError(`the device could not allocate ${descriptor.label} (${descriptor.size} bytes): ${error.message}`);
      }),
    );
    return buffer;
  }
}
