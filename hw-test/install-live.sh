#!/usr/bin/env bash
# Runs deploy/raspi/install.sh the way it runs on a Pi (no DESTDIR: as root, creating the user,
# chowning, calling systemctl), but inside a private mount namespace where /etc, /opt,
# /usr/local/bin, /var/lib, /var/log and /run are throwaway copies, and systemctl is a recorder.
# Nothing outside the namespace changes. Used by hw-test/deploy.test.ts; prints KEY=VALUE facts.
#   unshare --mount --propagation private bash hw-test/install-live.sh RELEASE_TREE WORKDIR
set -euo pipefail
tree=$1 w=$2

mkdir -p "$w/etc" "$w/opt" "$w/bin" "$w/var-lib" "$w/var-log" "$w/stubs"
cp -a /etc/. "$w/etc/"
# The Node.js the installer and the service need, as /usr/local/bin/node inside the namespace
# (where the official tarball puts it on a Pi). A copy of the real binary, not a symlink: when
# node itself lives in /usr/local/bin, the bind mount below hides it and a link would dangle.
node_real=$(readlink -f "$(command -v node)")
cp "$node_real" "$w/bin/node"
# The recorder: logs every call; `restart` fails while $w/fail-restart exists.
cat >"$w/stubs/systemctl" <<STUB
#!/bin/sh
echo "\$*" >> "$w/systemctl.log"
if [ "\$1" = restart ] && [ -e "$w/fail-restart" ]; then echo "Job for fieldgate.service failed." >&2; exit 1; fi
exit 0
STUB
chmod +x "$w/stubs/systemctl"
: >"$w/systemctl.log"
mount --bind "$w/etc" /etc
mount --bind "$w/opt" /opt
mount --bind "$w/bin" /usr/local/bin
mount --bind "$w/var-lib" /var/lib
mount --bind "$w/var-log" /var/log
# The installer calls systemctl only where systemd runs (/run/systemd/system exists): an empty
# /run where the test decides that.
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/system
export PATH="$w/stubs:$PATH"

fact() { printf '%s=%s\n' "$1" "$2"; }
calls() { wc -l <"$w/systemctl.log" | tr -d ' '; }

out1=$(bash "$tree/install.sh" 2>&1)
fact first_created_user "$(grep -c 'created system user fieldgate' <<<"$out1" || true)"
fact groups "$(id -nG fieldgate | tr ' ' ',')"
fact shell "$(getent passwd fieldgate | cut -d: -f7)"
fact data_owner "$(stat -c '%U:%G %a' /var/lib/fieldgate)"
fact config_owner "$(stat -c '%U:%G %a' /etc/fieldgate/fieldgate.yaml)"
fact doctor "$(su -s /bin/sh fieldgate -c "FIELDGATE_NODE=/usr/local/bin/node /usr/local/bin/fieldgate doctor --config /etc/fieldgate/fieldgate.yaml --json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const f=JSON.parse(s).findings;console.log(f.filter(x=>x.check==="data-dir").map(x=>x.status).join(","))})')"
out2=$(bash "$tree/install.sh" 2>&1)
fact second_created_user "$(grep -c 'created system user fieldgate' <<<"$out2" || true)"
fact second_kept_config "$(grep -c 'kept existing /etc/fieldgate/fieldgate.yaml' <<<"$out2" || true)"

# A restart that fails: the installer exits non-zero with its hint (not cut short by set -e).
touch "$w/fail-restart"
set +e
out3=$(bash "$tree/install.sh" 2>&1)
status3=$?
set -e
rm -f "$w/fail-restart"
fact failed_restart_status "$status3"
fact failed_restart_hint "$(grep -c 'fieldgate did not become active; see: journalctl -u fieldgate' <<<"$out3" || true)"

bash "$tree/install.sh" --uninstall >/dev/null
fact after_uninstall_user "$(id -u fieldgate >/dev/null 2>&1 && echo yes || echo no)"
fact after_uninstall_config "$(test -f /etc/fieldgate/fieldgate.yaml && echo yes || echo no)"
fact after_uninstall_opt "$(test -e /opt/fieldgate && echo yes || echo no)"
bash "$tree/install.sh" --uninstall --purge >/dev/null
fact after_purge_user "$(id -u fieldgate >/dev/null 2>&1 && echo yes || echo no)"
fact after_purge_data "$(test -e /var/lib/fieldgate && echo yes || echo no)"
fact systemctl "$(tr '\n' ';' < "$w/systemctl.log")"

# systemctl exists but systemd is not running (a chroot or container): no systemctl call, the
# unit enabled by its symlink, and a message saying so.
rmdir /run/systemd/system
before=$(calls)
out4=$(bash "$tree/install.sh" 2>&1)
fact no_systemd_calls "$(($(calls) - before))"
fact no_systemd_message "$(grep -c 'systemd is not running here' <<<"$out4" || true)"
fact no_systemd_link "$(readlink /etc/systemd/system/multi-user.target.wants/fieldgate.service || true)"
bash "$tree/install.sh" --uninstall --purge >/dev/null
