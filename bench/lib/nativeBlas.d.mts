// Types of bench/lib/nativeBlas.mjs, for the tests (the project type-checks test/, and plain
// .mjs files carry none).

export type NativeBlasFigure = { size: number; ms: number; gflops: number; numpy: string; library: string } | { size: number; skipped: string };
/** numpy's n-cube float32 matmul timed in its own Python process, or why it was skipped. */
export declare function nativeBlasMatmul(size?: number, options?: { python?: string; timeoutMs?: number }): NativeBlasFigure;
