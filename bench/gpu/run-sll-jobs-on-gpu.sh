#!/usr/bin/env bash
# Runs on the GPU machine (no Node, no network), from the repository root, with .devicekit, .gl,
# dist and src/gpu/shaderSources.generated.ts carried (bench/gpu/make-gpu-kit.sh --fashion): first
# the step timings of SLL and backprop alone on the GPU (bench/experiments/sll-speed.mjs,
# bench/experiments/profile-step.mjs), then the `sll train` jobs of JOBFILE (for instance
# bench/experiments/gpu-jobs-fashion.txt), PARALLEL at a time (default 4).
# Side by side the jobs share the GPU: 14 at once on an H200 kept it at 100% and took about as
# long as running them one after another would have, so PARALLEL only trades finished runs for
# partial ones. A job still running at the deadline gets SIGINT (the CLI saves a checkpoint;
# `sll train --resume` continues it), so its metrics up to then come back.
#
#   [PARALLEL=N] bench/gpu/run-sll-jobs-on-gpu.sh JOBFILE [SECONDS (default 500, from the start)]
#
# JOBFILE: one job a line, `name sll-train-arguments...` (# starts a comment). Writes to $OUT:
# jobs.log (the jobs' last lines), runs.tgz (each run's config.json, metrics.jsonl and output;
# no checkpoints), speed-*.json, profile-*.json, timing.log and gpu-load.log.
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
set -uo pipefail
jobfile=$1
budget=${2:-500}
out=${OUT:-/tmp/out}
mkdir -p "$out"
# DRY_RUN=1: a rehearsal on any machine with Node (no kit unpacked into /, no timings).
[ -n "${DRY_RUN:-}" ] || . bench/gpu/gpu-env.sh
data=/tmp/fashion-data
mkdir -p "$data"
python3 - "$data" <<'PY'
import lzma, os, shutil, sys
src = '.devicekit/fashion-xz'
for name in os.listdir(src):
    with lzma.open(os.path.join(src, name)) as f, open(os.path.join(sys.argv[1], name[:-3]), 'wb') as g:
        shutil.copyfileobj(f, g)
PY
quiet() { grep -v 'artificially reduced'; }
if [ -z "${DRY_RUN:-}" ]; then
  {
    timeout 90 node bench/experiments/sll-speed.mjs --steps 10 --windows 5 2>&1
    timeout 60 node bench/experiments/profile-step.mjs --steps 3 --top 10 2>&1
  } | quiet | tee "$out/timing.log"
  cp bench/results/speed-*nvidia*.json bench/results/profile-*nvidia*.json "$out/" 2>/dev/null
fi
left=$((budget - SECONDS))
echo "jobs: $(grep -cv '^\s*\(#\|$\)' "$jobfile"), ${PARALLEL:-4} at a time, $left s left" | tee "$out/jobs.log"
runs=/tmp/sll-gpu-runs
rm -rf "$runs"
mkdir -p "$runs"
# GPU load while the jobs run, every 15 s.
(while sleep 15; do nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader; done) > "$out/gpu-load.log" 2>&1 &
sampler=$!
pids=()
while read -r name args; do
  case "$name" in ''|'#'*) continue ;; esac
  # The sampler is one of the shell's jobs too, hence -gt.
  while [ "$(jobs -rp | wc -l)" -gt "${PARALLEL:-4}" ]; do wait -n; done
  left=$((budget - SECONDS))
  if [ "$left" -lt 30 ]; then echo "skipped (time): $name" | tee -a "$out/jobs.log"; continue; fi
  # shellcheck disable=SC2086
  timeout -s INT -k 20 "$left" node dist/src/cli/main.js train $args --data-dir "$data" --out "$runs/$name" > "$runs/$name.out" 2>&1 &
  pids+=($!)
done < "$jobfile"
wait "${pids[@]}"
kill "$sampler" 2>/dev/null
for f in "$runs"/*.out; do
  name=$(basename "$f" .out)
  quiet < "$f" > "$runs/$name/run.log" 2>/dev/null || true
  echo "== $name: $(quiet < "$f" | grep -E '^epoch [0-9]+:|test accuracy' | tail -2 | tr '\n' ' ')" | tee -a "$out/jobs.log"
done
tar czf "$out/runs.tgz" --exclude='*.safetensors' --exclude='*.out' -C "$runs" .
echo "done after $SECONDS s" | tee -a "$out/jobs.log"
