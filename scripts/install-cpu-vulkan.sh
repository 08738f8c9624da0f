#!/usr/bin/env bash
# Installs a CPU Vulkan driver (Mesa's lavapipe) that Dawn accepts, so WebGPU works without a GPU.
# Debian 12: Mesa 25 from bookworm-backports (Debian 12's own Mesa 22.3 is refused by Dawn).
# Other Debian/Ubuntu releases: the distribution's mesa-vulkan-drivers. Idempotent; needs root.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "install-cpu-vulkan: run as root (it calls apt-get)" >&2; exit 1; }
. /etc/os-release
export DEBIAN_FRONTEND=noninteractive
if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
  src=/etc/apt/sources.list.d/debian.sources
  bp=/etc/apt/sources.list.d/bookworm-backports.sources
  if [ ! -f "$bp" ]; then
    # Same URIs and Signed-By as the machine's own 'bookworm' stanza (not the security one).
    stanza=$(awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm([ \n]|$)/ && !/security/ {print; exit}' "$src")
    uris=$(printf '%s\n' "$stanza" | sed -n 's/^URIs: *//p' | head -n1)
    key=$(printf '%s\n' "$stanza" | sed -n 's/^Signed-By: *//p' | head -n1)
    [ -n "$uris" ] || { echo "install-cpu-vulkan: no bookworm stanza with URIs in $src" >&2; exit 1; }
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' "$uris" "$key" > "$bp"
  fi
  apt-get update -qq
  apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
else
  apt-get update -qq
  apt-get install -y -qq mesa-vulkan-drivers >/dev/null
fi
dpkg-query -W -f='install-cpu-vulkan: ${Package} ${Version}\n' mesa-vulkan-drivers
