// The native BLAS beside our matmul: numpy's float32 matmul of a cube on the same CPU cores,
// timed in its own Python process (the median of 7 calls after 3 warm-up calls), with the BLAS
// library numpy was built with. Where python3 or numpy is missing, or the run fails, the figure
// is skipped with the reason, and the benchmark goes on without it.
import { spawnSync } from 'node:child_process';

const SCRIPT = `
import json, sys, time
import numpy as np
n = int(sys.argv[1])
rng = np.random.default_rng(0)
a = rng.random((n, n), dtype=np.float32)
b = rng.random((n, n), dtype=np.float32)
for _ in range(3): a @ b
times = []
for _ in range(7):
    t = time.perf_counter(); a @ b; times.append(time.perf_counter() - t)
times.sort()
library = 'unknown'
try:
    blas = np.show_config(mode='dicts')['Build Dependencies']['blas']
    library = (blas.get('openblas configuration') or '').split('  ')[0] or blas.get('name', 'unknown')
except Exception:
    pass
print(json.dumps({'ms': times[3] * 1e3, 'numpy': np.__version__, 'library': library}))
`;

/**
 * numpy's n-cube float32 matmul: { size, ms, gflops, numpy, library }, or { size, skipped } with
 * why. The CPU is shared with whatever else runs: call it where the benchmark is quiet.
 */
export function nativeBlasMatmul(size = 1024, { python = 'python3', timeoutMs = 120_000 } = {}) {
  const done = spawnSync(python, ['-c', SCRIPT, String(size)], { encoding: 'utf8', timeout: timeoutMs });
  if (done.error) return { size, skipped: `${python} could not run (${done.error.code ?? done.error.message})` };
  if (done.status !== 0) {
    const why = /No module named '?numpy'?/.test(done.stderr) ? 'numpy is not installed' : (done.stderr.trim().split('\n').at(-1) ?? `exit ${done.status}`);
    return { size, skipped: why };
  }
  const { ms, numpy, library } = JSON.parse(done.stdout.trim().split('\n').at(-1));
  return { size, ms, gflops: (2 * size ** 3) / (ms * 1e6), numpy, library };
}
