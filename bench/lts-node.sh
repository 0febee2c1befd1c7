#!/usr/bin/env bash
# Fetches a Node.js LTS binary for this machine (the npm package node-linux-<arch>, as
# hw-test/arm64-runtime.sh does for arm64) into .cache/node-lts/ (gitignored), for the footprint
# bench to measure start-up under the Node.js a Pi runs (Node.js 20 reached end of life in April
# 2026) and with V8's compile cache, which Node.js 20 does not have:
#
#   npm run bench -- footprint --node=$(bash bench/lts-node.sh)
#
# Prints the path of the node binary. Only the first run downloads (~50 MB).
# FIELDGATE_LTS_NODE_VERSION picks another version (24.x works too).
set -euo pipefail
VERSION=${FIELDGATE_LTS_NODE_VERSION:-22.23.3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  armv7l) arch=armv7l ;;
  *) echo "lts-node: no npm package of Node.js for $(uname -m)" >&2; exit 2 ;;
esac
CACHE=${FIELDGATE_LTS_NODE_CACHE:-$ROOT/.cache/node-lts}
BIN=$CACHE/node-v$VERSION-$arch/bin/node
if [ ! -x "$BIN" ]; then
  mkdir -p "$CACHE/downloads"
  tgz=$CACHE/downloads/node-linux-$arch-$VERSION.tgz
  if [ ! -s "$tgz" ]; then
    echo "lts-node: downloading node-linux-$arch@$VERSION from the npm registry" >&2
    (cd "$CACHE/downloads" && npm pack --silent "node-linux-$arch@$VERSION" >/dev/null 2>"$CACHE/downloads/npm.log") ||
      { echo "lts-node: npm pack node-linux-$arch@$VERSION failed (offline?); details: $CACHE/downloads/npm.log" >&2; exit 2; }
  fi
  rm -rf "$CACHE/node-v$VERSION-$arch"
  mkdir -p "$CACHE/node-v$VERSION-$arch"
  tar -xzf "$tgz" -C "$CACHE/node-v$VERSION-$arch" --strip-components=1 package/bin/node
fi
echo "$BIN"
