#!/usr/bin/env bash
# fieldgate installer for Raspberry Pi OS / Debian (systemd). Run from the unpacked release tarball:
#
#   sudo ./install.sh [--no-start] [--ble]       install or upgrade (idempotent)
#   sudo ./install.sh --uninstall [--purge]      remove; keeps config and data unless --purge
#
# What it does: a `fieldgate` system user in the dialout group; the release under
# /opt/fieldgate/releases/<version> with /opt/fieldgate/current pointing at it (the previous
# release is kept for rollback); /usr/local/bin/fieldgate; /etc/fieldgate/fieldgate.yaml written
# once and never overwritten; /var/lib/fieldgate; the systemd unit, enabled and (re)started.
#
# DESTDIR=/some/root installs into a staging tree instead (tests, image builders): no user is
# created, nothing is chowned, systemd is not called; the unit is enabled by creating the same
# symlink `systemctl enable` would.
set -euo pipefail

MIN_NODE_MAJOR=20
D=${DESTDIR:-}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PREFIX=/opt/fieldgate
UNIT=/etc/systemd/system/fieldgate.service

say() { printf 'fieldgate install: %s\n' "$*"; }
die() { printf 'fieldgate install: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

mode=install start=1 ble=0 purge=0
while [ $# -gt 0 ]; do
  case "$1" in
    --uninstall) mode=uninstall ;;
    --purge) purge=1 ;;
    --no-start) start=0 ;;
    --ble) ble=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
[ "$purge" = 1 ] && [ "$mode" != uninstall ] && die "--purge goes with --uninstall"

if [ -z "$D" ] && [ "$(id -u)" != 0 ]; then
  die "run as root: sudo $0 $*"
fi

# systemctl only on a live system; under DESTDIR the staging tree is not a running systemd.
live() { [ -z "$D" ]; }
systemctl_live() { if live && command -v systemctl >/dev/null; then systemctl "$@"; fi; }

uninstall() {
  systemctl_live disable --now fieldgate.service 2>/dev/null || true
  rm -f "$D$UNIT" "$D/etc/systemd/system/multi-user.target.wants/fieldgate.service"
  rm -rf "$D/etc/systemd/system/fieldgate.service.d"
  systemctl_live daemon-reload
  rm -f "$D/usr/local/bin/fieldgate"
  rm -rf "$D$PREFIX"
  if [ "$purge" = 1 ]; then
    rm -rf "$D/etc/fieldgate" "$D/var/lib/fieldgate"
    if live && id -u fieldgate >/dev/null 2>&1; then userdel fieldgate; fi
    say "removed fieldgate, its config (/etc/fieldgate), its data (/var/lib/fieldgate) and the fieldgate user"
  else
    say "removed fieldgate; kept /etc/fieldgate (config), /var/lib/fieldgate (data: registry, bridge log) and the fieldgate user"
    say "to remove those too: $0 --uninstall --purge"
  fi
}

if [ "$mode" = uninstall ]; then
  uninstall
  exit 0
fi

# --- install -----------------------------------------------------------------------------------
[ -f "$SRC/lib/fieldgate.mjs" ] && [ -f "$SRC/VERSION" ] ||
  die "no release next to this script ($SRC/lib/fieldgate.mjs missing): run install.sh from an unpacked fieldgate-<version>-linux-<arch>.tar.gz (npm run build makes one)"
VERSION=$(cat "$SRC/VERSION")

# Node.js: the unit runs the first `node` on systemd's PATH (/usr/local/bin, /usr/bin, ...).
node_help="install Node.js 22 LTS: from NodeSource's Debian repository (apt-get install nodejs after adding it), or unpack the official linux-$(uname -m | sed 's/aarch64/arm64/;s/x86_64/x64/') tarball into /usr/local (tar -xJf node-v22.*.tar.xz -C /usr/local --strip-components=1). Debian 12's own nodejs package is 18, too old. See share/doc/raspberry-pi.md"
if ! node_version=$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:$PATH node --version 2>/dev/null); then
  if live; then die "Node.js not found. $node_help"; fi
  say "warning: Node.js not found on this machine (DESTDIR install: the target needs Node.js >= $MIN_NODE_MAJOR)"
else
  major=${node_version#v}; major=${major%%.*}
  if [ "$major" -lt "$MIN_NODE_MAJOR" ]; then
    if live; then die "Node.js $node_version is too old (fieldgate needs >= $MIN_NODE_MAJOR). $node_help"; fi
    say "warning: Node.js $node_version here is too old for fieldgate (DESTDIR install: the target needs >= $MIN_NODE_MAJOR)"
  fi
fi

# The architecture this tarball was built for must match the machine (the serial addon is native).
arch=$(basename "$(ls -d "$SRC"/lib/native/serialport/prebuilds/linux-* 2>/dev/null | head -n1)" | sed 's/^linux-//')
case "$(uname -m)" in aarch64|arm64) here=arm64 ;; armv6l|armv7l) here=arm ;; x86_64) here=x64 ;; *) here=$(uname -m) ;; esac
if live && [ -n "$arch" ] && [ "$arch" != "$here" ]; then
  die "this tarball is for linux-$arch but this machine is linux-$here: download fieldgate-$VERSION-linux-$here.tar.gz"
fi

# User: a system account, no login, in dialout for the serial ports.
if live; then
  if ! id -u fieldgate >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/fieldgate --no-create-home --shell /usr/sbin/nologin --comment "fieldgate IoT gateway" fieldgate
    say "created system user fieldgate"
  fi
  getent group dialout >/dev/null || groupadd --system dialout
  id -nG fieldgate | tr ' ' '\n' | grep -qx dialout || usermod -aG dialout fieldgate
  if [ "$ble" = 1 ] && getent group bluetooth >/dev/null; then
    id -nG fieldgate | tr ' ' '\n' | grep -qx bluetooth || usermod -aG bluetooth fieldgate
  fi
fi

# Release files: copy to a temporary name, then rename, so an interrupted install never leaves a
# half-copied release behind `current`.
releases="$D$PREFIX/releases"
mkdir -p "$releases"
rm -rf "$releases/.$VERSION.new"
mkdir "$releases/.$VERSION.new"
cp -R "$SRC/." "$releases/.$VERSION.new/"
chmod -R u=rwX,go=rX "$releases/.$VERSION.new"
previous=$(readlink "$D$PREFIX/current" 2>/dev/null || true)
rm -rf "$releases/$VERSION"
mv "$releases/.$VERSION.new" "$releases/$VERSION"
ln -sfn "releases/$VERSION" "$D$PREFIX/current.new"
mv -T "$D$PREFIX/current.new" "$D$PREFIX/current"
# Keep this release and the one it replaced (rollback: point current back, restart); drop others.
for r in "$releases"/*; do
  name=$(basename "$r")
  [ "$name" = "$VERSION" ] && continue
  [ "releases/$name" = "$previous" ] && continue
  rm -rf "$r"
done
mkdir -p "$D/usr/local/bin"
ln -sfn "$PREFIX/current/bin/fieldgate" "$D/usr/local/bin/fieldgate"

# Config: written once, never overwritten (upgrades keep local changes); the full example is
# refreshed next to it on every install.
mkdir -p "$D/etc/fieldgate"
install -m 0644 "$SRC/share/fieldgate.example.yaml" "$D/etc/fieldgate/fieldgate.example.yaml"
if [ ! -e "$D/etc/fieldgate/fieldgate.yaml" ]; then
  gid=$(hostname 2>/dev/null | tr -c 'A-Za-z0-9_.\n-' '-' | head -c 60)
  cat >"$D/etc/fieldgate/fieldgate.yaml" <<EOF
# fieldgate configuration, written by install.sh on first install and never overwritten.
# Every option with its default: /etc/fieldgate/fieldgate.example.yaml
# Check after editing:  fieldgate check --config /etc/fieldgate/fieldgate.yaml
# Apply:                sudo systemctl restart fieldgate
gateway:
  id: ${gid:-fieldgate}
  data_dir: /var/lib/fieldgate
log:
  format: json             # journald keeps one JSON object per line: journalctl -u fieldgate -o cat
EOF
  chmod 0640 "$D/etc/fieldgate/fieldgate.yaml"
  say "wrote /etc/fieldgate/fieldgate.yaml"
else
  say "kept existing /etc/fieldgate/fieldgate.yaml"
fi

# Data directory: the registry and the bridge log; only the service user may read it.
mkdir -p "$D/var/lib/fieldgate"
chmod 0750 "$D/var/lib/fieldgate"
if live; then
  chown fieldgate:fieldgate "$D/var/lib/fieldgate"
  # The config may hold secrets: root writes it, the service group reads it.
  chgrp fieldgate "$D/etc/fieldgate/fieldgate.yaml"
fi

# systemd unit (+ the BLE capability drop-in when asked for).
mkdir -p "$D/etc/systemd/system"
install -m 0644 "$SRC/systemd/fieldgate.service" "$D$UNIT"
if [ "$ble" = 1 ]; then
  mkdir -p "$D$UNIT.d"
  install -m 0644 "$SRC/systemd/ble.conf" "$D$UNIT.d/ble.conf"
fi
if live && command -v systemctl >/dev/null; then
  systemctl daemon-reload
  systemctl enable fieldgate.service >/dev/null 2>&1
  if [ "$start" = 1 ]; then
    # restart, not start: an upgrade must replace the running old version.
    systemctl restart fieldgate.service
    if systemctl is-active --quiet fieldgate.service; then
      say "fieldgate $VERSION is running (systemctl status fieldgate; journalctl -u fieldgate -f)"
    else
      say "fieldgate did not become active; see: journalctl -u fieldgate -n 50, and run: sudo -u fieldgate fieldgate doctor --config /etc/fieldgate/fieldgate.yaml"
      exit 1
    fi
  fi
else
  mkdir -p "$D/etc/systemd/system/multi-user.target.wants"
  ln -sfn "$UNIT" "$D/etc/systemd/system/multi-user.target.wants/fieldgate.service"
fi
say "installed fieldgate $VERSION under $D$PREFIX/current${D:+ (DESTDIR=$D)}"
say "check the machine: sudo -u fieldgate fieldgate doctor --config /etc/fieldgate/fieldgate.yaml"
