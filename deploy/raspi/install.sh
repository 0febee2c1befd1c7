#!/usr/bin/env bash
# fieldgate installer for Raspberry Pi OS / Debian (systemd). Run from the unpacked release tarball:
#
#   sudo ./install.sh [--no-start] [--ble]       install or upgrade (idempotent)
#   sudo ./install.sh --uninstall [--purge]      remove; keeps config and data unless --purge
#
# What it does: a `fieldgate` system user in the dialout group; the release under
# /opt/fieldgate/releases/<version> with /opt/fieldgate/current pointing at it (on a version
# change /opt/fieldgate/previous points at the release it replaced, kept for rollback);
# /usr/local/bin/fieldgate; /etc/fieldgate/fieldgate.yaml written once and never overwritten;
# /var/lib/fieldgate; the systemd unit, enabled and (re)started.
#
# DESTDIR=/some/root installs into a staging tree instead (tests, image builders): no user is
# created, nothing is chowned, systemd is not called; the unit is enabled by creating the same
# symlink `systemctl enable` would. Without a running systemd (a chroot or container: no
# /run/systemd/system) the unit is enabled the same way and not started.
set -euo pipefail

MIN_NODE_MAJOR=20
D=${DESTDIR:-}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PREFIX=/opt/fieldgate
UNIT=/etc/systemd/system/fieldgate.service

say() { printf 'fieldgate install: %s\n' "$*"; }
die() { printf 'fieldgate install: error: %s\n' "$*" >&2; exit 1; }

usage() {
  # The comment block at the top of this file, without the shebang and the code after it.
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
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

# systemctl only on a live system with systemd running as PID 1: under DESTDIR the staging tree
# is not a running systemd, and in a chroot or container systemctl may exist while systemd does
# not run (sd_booted(3) tests /run/systemd/system the same way).
live() { [ -z "$D" ]; }
systemd_running() { live && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }
systemctl_live() { if systemd_running; then systemctl "$@"; fi; }

uninstall() {
  systemctl_live disable --now fieldgate.service 2>/dev/null || true
  rm -f "$D$UNIT" "$D/etc/systemd/system/multi-user.target.wants/fieldgate.service"
  rm -rf "$D/etc/systemd/system/fieldgate.service.d"
  systemctl_live daemon-reload
  rm -f "$D/usr/local/bin/fieldgate"
  rm -rf "$D$PREFIX"
  # The unit's CacheDirectory= (V8's compile cache): only a cache, rebuilt at the next start.
  rm -rf "$D/var/cache/fieldgate"
  if [ "$purge" = 1 ]; then
    rm -rf "$D/etc/fieldgate" "$D/var/lib/fieldgate"
    if live; then
      if id -u fieldgate >/dev/null 2>&1; then userdel fieldgate; fi
      say "removed fieldgate, its config (/etc/fieldgate), its data (/var/lib/fieldgate) and the fieldgate user"
    else
      # Under DESTDIR no user was created, so none is removed: say only what was done.
      say "removed fieldgate, its config and its data under $D (DESTDIR: no system user to remove)"
    fi
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
# The version names directories that are removed and replaced below: nothing but a plain name.
[[ $VERSION =~ ^[0-9A-Za-z][0-9A-Za-z.+~-]*$ ]] ||
  die "$SRC/VERSION holds \"$VERSION\", not a version (letters, digits and . + ~ - only): a damaged tarball?"

# Node.js: the unit runs the first `node` on systemd's PATH for services, so check exactly that
# PATH (not the caller's: a Node.js under ~/.nvm or /opt/node works in this shell but not for
# the service).
SERVICE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
node_help="install Node.js 22 LTS: from NodeSource's Debian repository (apt-get install nodejs after adding it), or unpack the official linux-$(uname -m | sed 's/aarch64/arm64/;s/x86_64/x64/') tarball into /usr/local (tar -xJf node-v22.*.tar.xz -C /usr/local --strip-components=1). Debian 12's own nodejs package is 18, too old. See share/doc/raspberry-pi.md"
if ! node_version=$(PATH=$SERVICE_PATH node --version 2>/dev/null); then
  if live; then die "Node.js not found on the service's PATH ($SERVICE_PATH). $node_help"; fi
  say "warning: Node.js not found on the service's PATH here (DESTDIR install: the target needs Node.js >= $MIN_NODE_MAJOR in /usr/local/bin or /usr/bin)"
else
  major=${node_version#v}; major=${major%%.*}
  if [ "$major" -lt "$MIN_NODE_MAJOR" ]; then
    if live; then die "Node.js $node_version is too old (fieldgate needs >= $MIN_NODE_MAJOR). $node_help"; fi
    say "warning: Node.js $node_version here is too old for fieldgate (DESTDIR install: the target needs >= $MIN_NODE_MAJOR)"
  elif [ "$major" = 20 ]; then
    # Still runs, but the 20 line reached end of life on 2026-04-30: no more security fixes.
    say "warning: Node.js $node_version works, but Node.js 20 reached end of life on 2026-04-30 (no security fixes); $node_help"
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
# `previous` names the release a version change replaced (rollback: point current at it,
# restart). Re-installing the same version leaves it alone, so the rollback target survives.
replaced=$(readlink "$D$PREFIX/current" 2>/dev/null || true)
if [ -n "$replaced" ] && [ "$replaced" != "releases/$VERSION" ] && [ -d "$D$PREFIX/$replaced" ]; then
  ln -sfn "$replaced" "$D$PREFIX/previous.new"
  mv -T "$D$PREFIX/previous.new" "$D$PREFIX/previous"
fi
previous=$(readlink "$D$PREFIX/previous" 2>/dev/null || true)
if [ "$previous" = "releases/$VERSION" ]; then
  # Rolling forward onto the release `previous` named: nothing older to go back to any more.
  rm -f "$D$PREFIX/previous"
  previous=
fi
rm -rf "${releases:?}/$VERSION"
mv "$releases/.$VERSION.new" "$releases/$VERSION"
ln -sfn "releases/$VERSION" "$D$PREFIX/current.new"
mv -T "$D$PREFIX/current.new" "$D$PREFIX/current"
# Keep this release and the rollback target; drop older ones.
for r in "$releases"/*; do
  name=$(basename "$r")
  [ "$name" = "$VERSION" ] && continue
  [ -n "$previous" ] && [ "releases/$name" = "$previous" ] && continue
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
# Logs: under systemd, readable lines with syslog priorities (journalctl -u fieldgate -p warning);
# log.format: json writes one JSON object per line instead (journalctl -u fieldgate -o cat).
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
if systemd_running; then
  systemctl daemon-reload
  # Its own messages (and errors) stay visible.
  systemctl enable fieldgate.service || die "systemctl enable fieldgate.service failed (its message is above)"
  if [ "$start" = 1 ]; then
    # restart, not start: an upgrade must replace the running old version. A failed restart
    # must still reach the hint below, hence inside the condition (set -e would exit first).
    if ! systemctl restart fieldgate.service || ! systemctl is-active --quiet fieldgate.service; then
      say "fieldgate did not become active; see: journalctl -u fieldgate -n 50, and run: sudo -u fieldgate fieldgate doctor --config /etc/fieldgate/fieldgate.yaml"
      exit 1
    fi
    say "fieldgate $VERSION is running (systemctl status fieldgate; journalctl -u fieldgate -f)"
  fi
else
  # What `systemctl enable` would do: the unit's WantedBy=multi-user.target symlink.
  mkdir -p "$D/etc/systemd/system/multi-user.target.wants"
  ln -sfn "$UNIT" "$D/etc/systemd/system/multi-user.target.wants/fieldgate.service"
  if live; then
    say "systemd is not running here (no /run/systemd/system: a chroot, a container or an image build): enabled the unit by its multi-user.target.wants symlink instead of systemctl; it starts when this system boots with systemd$([ "$start" = 1 ] && echo ' (not started now)')"
  fi
fi
say "installed fieldgate $VERSION under $D$PREFIX/current${D:+ (DESTDIR=$D)}"
say "check the machine: sudo -u fieldgate fieldgate doctor --config /etc/fieldgate/fieldgate.yaml"
