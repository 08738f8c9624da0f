#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, with .devicekit, .gl and dist carried
# (see bench/make-gpu-kit.sh). Arguments go to bench/kernels.mjs. Results land in $OUT.
set -euo pipefail
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
mkdir -p /tmp/node && xz -dc .devicekit/node.xz > /tmp/node/node && chmod +x /tmp/node/node
tar xJf .devicekit/node_modules.tar.xz -C .
export PATH=/tmp/node:$PATH XDG_RUNTIME_DIR=/tmp
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
node bench/kernels.mjs "$@"
