#!/usr/bin/env bash
# Runs on the GPU machine (no Node, no network), from the repository root, with .devicekit,
# .gl, dist and src/gpu/shaderSources.generated.ts carried (see bench/gpu/make-gpu-kit.sh):
# `sll tune` (its table saved under $OUT/tuning), the kernel benchmark with its TF.js peer (which
# times the built-in matmul choice beside the tuned one where they differ), every matmul variant against the reference, the MLP
# step with and without `device.throttle()` (the default MLP, and small ones down to a batch-1
# step that is almost all host work; the host's encoding time is printed beside each), and,
# when the kit holds the test modules, the whole test suite. Outputs go to ${OUT:-/tmp/out}.
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
set -uo pipefail
out=${OUT:-/tmp/out}
mkdir -p "$out"
. bench/gpu/gpu-env.sh
node --version
export SLL_TUNING_DIR="$out/tuning"
timeout 90 node dist/src/cli/main.js tune 2>&1 | grep -v 'artificially reduced' | tee "$out/tune.log"
timeout 200 node bench/kernels/kernels.mjs --out "$out" 2>&1 | grep -v 'artificially reduced' | tee "$out/kernels.log"
timeout 90 node bench/kernels/matmul-check.mjs --json "$out/matmul-check.json" 2>&1 | grep -v 'artificially reduced' | tee "$out/matmul-check.log"
for model in '' '--mlp-hidden 32,32' '--mlp-hidden 8 --batch 1'; do
  # $model is split into flags on purpose.
  timeout 90 node bench/experiments/sll-speed.mjs --models mlp --steps 20 --windows 7 $model --out "$out" 2>&1 | grep -v 'artificially reduced' | tee -a "$out/throttle.log"
done
if [ -f node_modules/vitest/vitest.mjs ]; then
  timeout 240 node node_modules/vitest/vitest.mjs run --reporter=dot 2>&1 | grep -v 'artificially reduced' > "$out/tests.log"
  tail -25 "$out/tests.log"
fi
