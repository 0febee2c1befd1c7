#!/usr/bin/env bash
# Runs deploy/raspi/install.sh the way it runs on a Pi (no DESTDIR: as root, creating the user,
# chowning, calling systemctl), but inside a private mount namespace where /etc, /opt,
# /usr/local/bin, /var/lib and /var/log are throwaway copies, and systemctl is a recorder.
# Nothing outside the namespace changes. Used by hw-test/deploy.test.ts; prints KEY=VALUE facts.
#   unshare --mount --propagation private bash hw-test/install-live.sh RELEASE_TREE WORKDIR
set -euo pipefail
tree=$1 w=$2

mkdir -p "$w/etc" "$w/opt" "$w/bin" "$w/var-lib" "$w/var-log" "$w/stubs"
cp -a /etc/. "$w/etc/"
# Keep the Node.js the installer needs reachable once /usr/local/bin is hidden.
ln -sf "$(command -v node)" "$w/stubs/node"
cat >"$w/stubs/systemctl" <<STUB
#!/bin/sh
echo "\$*" >> "$w/systemctl.log"
exit 0
STUB
chmod +x "$w/stubs/systemctl"
mount --bind "$w/etc" /etc
mount --bind "$w/opt" /opt
mount --bind "$w/bin" /usr/local/bin
mount --bind "$w/var-lib" /var/lib
mount --bind "$w/var-log" /var/log
export PATH="$w/stubs:$PATH"

fact() { printf '%s=%s\n' "$1" "$2"; }

out1=$(bash "$tree/install.sh" 2>&1)
fact first_created_user "$(grep -c 'created system user fieldgate' <<<"$out1" || true)"
fact groups "$(id -nG fieldgate | tr ' ' ',')"
fact shell "$(getent passwd fieldgate | cut -d: -f7)"
fact data_owner "$(stat -c '%U:%G %a' /var/lib/fieldgate)"
fact config_owner "$(stat -c '%U:%G %a' /etc/fieldgate/fieldgate.yaml)"
fact doctor "$(su -s /bin/sh fieldgate -c "FIELDGATE_NODE=$(readlink -f "$(command -v node)") /usr/local/bin/fieldgate doctor --config /etc/fieldgate/fieldgate.yaml --json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const f=JSON.parse(s).findings;console.log(f.filter(x=>x.check==="data-dir").map(x=>x.status).join(","))})')"
out2=$(bash "$tree/install.sh" 2>&1)
fact second_created_user "$(grep -c 'created system user fieldgate' <<<"$out2" || true)"
fact second_kept_config "$(grep -c 'kept existing /etc/fieldgate/fieldgate.yaml' <<<"$out2" || true)"
bash "$tree/install.sh" --uninstall >/dev/null
fact after_uninstall_user "$(id -u fieldgate >/dev/null 2>&1 && echo yes || echo no)"
fact after_uninstall_config "$(test -f /etc/fieldgate/fieldgate.yaml && echo yes || echo no)"
fact after_uninstall_opt "$(test -e /opt/fieldgate && echo yes || echo no)"
bash "$tree/install.sh" --uninstall --purge >/dev/null
fact after_purge_user "$(id -u fieldgate >/dev/null 2>&1 && echo yes || echo no)"
fact after_purge_data "$(test -e /var/lib/fieldgate && echo yes || echo no)"
fact systemctl "$(tr '\n' ';' < "$w/systemctl.log")"
