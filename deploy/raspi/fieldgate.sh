#!/bin/sh
# fieldgate launcher in a release tree: runs the bundle with the first Node.js on PATH, or with
# $FIELDGATE_NODE. `exec` keeps the PID, so under systemd Node.js itself is the main process that
# sends sd_notify and receives SIGTERM.
here=$(dirname "$(readlink -f "$0")")
node=${FIELDGATE_NODE:-node}
if ! command -v "$node" >/dev/null 2>&1; then
  echo "fieldgate: Node.js not found (looked for \"$node\" on PATH=$PATH); install Node.js 22 LTS, see share/doc/raspberry-pi.md" >&2
  exit 127
fi
exec "$node" "$here/../lib/fieldgate.mjs" "$@"
