#!/usr/bin/env bash
# insecure_registry_method: daemon-json on real nodes: dockerd takes a changed daemon.json on
# SIGHUP. Asserts: apply reloads docker instead of restarting it (the same dockerd PID and
# systemd start time), a running container keeps running (same start time, never stopped),
# GET /info lists the registry; a re-apply changes nothing; a new port is reloaded the same
# way; a daemon.json edited by hand and never reloaded is reloaded by the next apply.
# Skipped (77) only without root or the cached root filesystem (scripts/lab-rootfs.sh).
set -u
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${RS_LAB_CACHE:-/var/cache/registry-setup/rootfs-bookworm}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -f "$cache/.complete" ] || { echo "SKIP: no cached root filesystem at $cache (scripts/lab-rootfs.sh)"; exit 77; }

name=rld$$
work=$(mktemp -d)
inventory=$work/inventory.yml
. "$root/tests/lab/e2e_lib.sh"
cat >"$inventory" <<'YAML'
all:
  vars: {ansible_user: root, registry_port: 5000, insecure_registry_method: daemon-json}
  children:
    registry:
      hosts:
        r1: {ansible_host: 192.168.1.31}
    clients:
      hosts:
        c1: {ansible_host: 192.168.1.32}
YAML
lab up "$inventory"; rc=$?
check "lab up exits 0" "[ $rc -eq 0 ]"
[ $rc -eq 0 ] || exit 1

# A long-running container on the client, from a static busybox (no internet needed).
mkdir -p "$work/image/bin"
cp "$cache/bin/busybox" "$work/image/bin/busybox"
tar -C "$work/image" -c . | on c1 docker import - local/busybox:1 >/dev/null
on c1 docker run -d --name sleeper local/busybox:1 /bin/busybox sleep 100000 >/dev/null
# "PID ENTER CONTAINER-START": dockerd's main PID, when systemd last saw it start, the container's start.
daemon() {
  echo "$(on c1 systemctl show docker.service -p MainPID --value)" \
       "$(on c1 systemctl show docker.service -p ActiveEnterTimestampMonotonic --value)" \
       "$(on c1 docker inspect -f '{{.State.StartedAt}} {{.State.Running}}' sleeper)"
}
trusted() { on c1 curl -sS --unix-socket /var/run/docker.sock http://localhost/info | grep -c "\"$1\":{[^}]*\"Secure\":false"; }

before=$(daemon)
out=$(apply --diff 2>&1); rc=$?
echo "$out" | grep -E 'reload|HANDLER|^c1 |^r1 '
check "first apply exits 0" "[ $rc -eq 0 ]"
check "c1's docker was reloaded, not restarted" \
  "grep -q \"~ reload 'docker.service'\" <<<\"\$out\" && ! grep -q '\\[c1\\] HANDLER' <<<\"\$out\""
after=$(daemon)
echo "dockerd pid, start, container start: $before -> $after"
check "same dockerd, the container never stopped" "[ \"$before\" = \"$after\" ] && [[ \"$after\" == *' true' ]]"
check "GET /info: dockerd trusts 192.168.1.31:5000" "[ \"\$(trusted 192.168.1.31:5000)\" -ge 1 ]"

out=$(apply 2>&1); rc=$?
check "second apply: exit 0, changed=0 on both hosts" \
  "[ $rc -eq 0 ] && [ \$(grep -cE '^(r1|c1) +: ok=[0-9]+ +changed=0 ' <<<\"\$out\") -eq 2 ]" || echo "$out" | tail -5

out=$(apply -e registry_port=5001 2>&1); rc=$?
check "a new port: exit 0" "[ $rc -eq 0 ]"
after2=$(daemon)
check "the new port reloaded too: same dockerd, the container running" "[ \"$before\" = \"$after2\" ]"
check "GET /info: dockerd trusts 192.168.1.31:5001" "[ \"\$(trusted 192.168.1.31:5001)\" -ge 1 ]"

# daemon.json right on disk but never taken: apply's check sees it through GET /info.
on c1 sh -c 'printf "{\"insecure-registries\": [\"192.168.1.31:5002\"]}\n" > /etc/docker/daemon.json'
out=$(apply --check --diff -e registry_port=5002 2>&1)
check "--check: a daemon.json never reloaded is reported" "grep -q 'does not trust 192.168.1.31:5002 yet' <<<\"\$out\"" ||
  echo "$out" | tail -20
out=$(apply -e registry_port=5002 2>&1); rc=$?
check "apply reloads it: GET /info trusts 192.168.1.31:5002, same dockerd" \
  "[ $rc -eq 0 ] && [ \"\$(trusted 192.168.1.31:5002)\" -ge 1 ] && [ \"$before\" = \"\$(daemon)\" ]"
out=$(lab run -- "$bin" verify "$inventory" -e registry_port=5002 2>&1); rc=$?
check "verify is green" "[ $rc -eq 0 ]" || echo "$out" | tail -20

lab down; rc=$?
check "lab down exits 0" "[ $rc -eq 0 ]"
exit $fail
