#!/usr/bin/env bash
# Installs what WebGPU needs on a Linux machine with no GPU: a software Vulkan driver that Dawn
# accepts (Mesa >= 24 lavapipe from bookworm-backports; bookworm's own Mesa 22.3 is refused) and
# Debian's Chromium (its SwiftShader is a second Vulkan driver, and the browser runs our browser
# tests), and libvips-tools + openslide-tools (real pyramid writers and a reference slide reader
# for the whole-slide tests). Idempotent: does nothing when all are present. Needs root (or sudo)
# and apt.
set -euo pipefail

have_lavapipe() { ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && \
  dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -qE '^(2[4-9]|[3-9][0-9])\.'; }
have_chromium() { command -v chromium >/dev/null 2>&1 && [ -f /usr/lib/chromium/vk_swiftshader_icd.json ]; }
have_slide_tools() { command -v vips >/dev/null 2>&1 && command -v openslide-show-properties >/dev/null 2>&1; }

if have_lavapipe && have_chromium && have_slide_tools; then
  echo "setup-webgpu: software Vulkan (lavapipe $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)), chromium, vips and openslide already present"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-webgpu: no apt-get here. Install a Vulkan driver that Dawn accepts (Mesa >= 24 lavapipe," >&2
  echo "  or SwiftShader) and Chromium by hand, or run on a machine with a GPU." >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "setup-webgpu: adding bookworm-backports (Mesa 25 lavapipe)"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
fi
$SUDO apt-get update -qq
if [ "${VERSION_CODENAME:-}" = bookworm ]; then
  $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
else
  $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi
$SUDO apt-get install -y -qq chromium libvips-tools openslide-tools >/dev/null
echo "setup-webgpu: installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers), $(chromium --version 2>/dev/null), $(vips --version 2>/dev/null) and openslide-tools"
