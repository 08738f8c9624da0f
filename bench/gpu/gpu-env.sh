#!/usr/bin/env bash
# Sourced on the GPU machine (no Node, no network) by bench/gpu/run-*-on-gpu.sh: unpacks the kit
# that bench/gpu/make-gpu-kit.sh packed (.devicekit, .gl) and sets up Node and the NVIDIA Vulkan
# driver.
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
mkdir -p /tmp/node
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
mkdir -p node_modules && cp -r .devicekit/node_modules/. node_modules/
export PATH=/tmp/node:$PATH XDG_RUNTIME_DIR=/tmp
# NVIDIA's Vulkan ICD lives in libGLX_nvidia, which needs libglvnd (hence the .gl packages).
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
