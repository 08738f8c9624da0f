#!/usr/bin/env bash
# Runs on the GPU machine (no Node, no network), from the repository root, with .devicekit,
# .gl, dist and src/gpu/shaderSources.generated.ts carried (see bench/make-gpu-kit.sh):
# the kernel benchmark with its TF.js peer, every matmul variant against the reference, and,
# when the kit holds the test modules, the whole test suite. Outputs go to ${OUT:-/tmp/out}.
set -uo pipefail
out=${OUT:-/tmp/out}
mkdir -p "$out" /tmp/node
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
# python3's lzma, because the machine may have no xz.
python3 - <<'PY'
import lzma, shutil, tarfile, os
with lzma.open('.devicekit/node.xz') as src, open('/tmp/node/node', 'wb') as dst:
    shutil.copyfileobj(src, dst)
os.chmod('/tmp/node/node', 0o755)
for name in ('test-modules.tar.xz', 'node_modules.tar.xz'):
    path = os.path.join('.devicekit', name)
    if os.path.exists(path):
        with tarfile.open(path) as tar:
            tar.extractall('.devicekit' if name == 'node_modules.tar.xz' else '.')
PY
# The slim TF.js/Dawn modules unpack into .devicekit/node_modules; merge them in.
cp -r .devicekit/node_modules/. node_modules/ 2>/dev/null || mv .devicekit/node_modules node_modules
export PATH=/tmp/node:$PATH XDG_RUNTIME_DIR=/tmp
# NVIDIA's Vulkan ICD lives in libGLX_nvidia, which needs libglvnd (hence the .gl packages).
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
node --version
timeout 200 node bench/kernels.mjs --out "$out" 2>&1 | grep -v 'artificially reduced' | tee "$out/kernels.log"
timeout 90 node bench/matmul-check.mjs --json "$out/matmul-check.json" 2>&1 | grep -v 'artificially reduced' | tee "$out/matmul-check.log"
if [ -f node_modules/vitest/vitest.mjs ]; then
  timeout 240 node node_modules/vitest/vitest.mjs run --reporter=dot 2>&1 | grep -v 'artificially reduced' > "$out/tests.log"
  tail -25 "$out/tests.log"
fi
