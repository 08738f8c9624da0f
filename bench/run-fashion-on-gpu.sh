#!/usr/bin/env bash
# Fashion-MNIST runs on the GPU machine: ViT, then the CNN and the MLP, SLL and backprop, seeds 0-2,
# with the recipe chosen on the validation split (cosine schedule, one warm-up epoch), in order
# of priority until the time given (seconds, default 330) runs out. Needs the kit
# (bench/make-gpu-kit.sh) plus the four Fashion-MNIST IDX files in .devicekit/fashion.
# Writes $OUT/fashion.log and $OUT/fashion-results.tgz (the JSON records).
set -uo pipefail
out=${OUT:-/tmp/out}
budget=${1:-330}
mkdir -p "$out" /tmp/fashion
. bench/gpu-env.sh
end=$((SECONDS + budget))
run() {
  local left=$((end - SECONDS))
  if [ "$left" -lt 20 ]; then echo "skipped (time): $*" | tee -a "$out/fashion.log"; return; fi
  timeout "$left" node bench/sll-fashion.mjs --data-dir .devicekit/fashion --out /tmp/fashion "$@" 2>&1 | grep -v 'artificially reduced' | tee -a "$out/fashion.log"
}
for seed in 0 1 2; do
  for method in sll backprop; do run --model vit --method "$method" --seed "$seed" --epochs 5 --schedule cosine; done
done
for seed in 0 1 2; do
  for method in sll backprop; do run --model cnn --method "$method" --seed "$seed" --epochs 5 --schedule cosine; done
done
for seed in 0 1 2; do
  for method in sll backprop; do run --model mlp --method "$method" --seed "$seed" --epochs 10 --schedule cosine; done
done
tar czf "$out/fashion-results.tgz" -C /tmp fashion
