/**
 * Errors the engine raises. Each names what was wrong (op, shapes, sizes, limits, shader lines),
 * so a failure can be acted on without a debugger.
 */

/** No WebGPU adapter could be found; the message says how to get one. */
export class GpuUnavailableError extends Error {
  override name = 'GpuUnavailableError';
}

/** Operands whose shapes or dtypes do not fit the op. Thrown before anything is dispatched. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** A request beyond one of the device's limits (binding size, buffer size, workgroups). */
export class LimitError extends Error {
  override name = 'LimitError';
  constructor(
    message: string,
    /** For a tensor too large to bind: its shape, its bytes, and the limit it passed (named). */
    readonly tensor?: { shape: readonly number[]; bytes: number; limit: number; limitName: string },
  ) {
    super(message);
  }
}

/** The device could not allocate a buffer (an `out-of-memory` error scope fired). */
export class OutOfMemoryError extends Error {
  override name = 'OutOfMemoryError';
}

/** The GPUDevice was lost or destroyed; pending and later work is rejected with the reason. */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
}

/** A tensor was used after `dispose()`. */
export class DisposedError extends Error {
  override name = 'DisposedError';
}

/** A WGSL shader failed to compile or a pipeline failed validation. */
export class KernelError extends Error {
  override name = 'KernelError';
}

/** A validation error reported by the device for work already encoded. */
export class GpuValidationError extends Error {
  override name = 'GpuValidationError';
}
