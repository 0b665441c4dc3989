#!/usr/bin/env bash
# Rolling restarts on eight real nodes: the default playbook with `serial: 2` on its docker
# play. Asserts: never more than 2 docker daemons restarting at once and each batch after
# the one before (each node's own systemd timestamps), the registry host in the first
# batch (`hosts: registry:all`); then a batch whose docker fails to start stops the run:
# exit 2, the recap names the hosts never touched, and they are as they were.
# Skipped (77) only without root or the cached root filesystem (scripts/lab-rootfs.sh).
set -u
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${RS_LAB_CACHE:-/var/cache/registry-setup/rootfs-bookworm}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -f "$cache/.complete" ] || { echo "SKIP: no cached root filesystem at $cache (scripts/lab-rootfs.sh)"; exit 77; }

name=roll$$
work=$(mktemp -d)
inventory=$work/inventory.yml
. "$root/tests/lab/e2e_lib.sh"
nodes=(n1 n2 n3 n4 n5 n6 n7 n8)
{
  echo "all:"
  echo "  vars: {ansible_user: root, registry_port: 5000, registry_root: /var/lib/registry}"
  echo "  children:"
  echo "    clients:"
  echo "      hosts:"
  for i in 2 3 4 5 6 7 8; do echo "        n$i: {ansible_host: 192.168.1.2$i}"; done
  echo "    registry:"
  echo "      hosts:"
  echo "        n1: {ansible_host: 192.168.1.21}"
} >"$inventory"
# How to roll: the default playbook, its docker play in batches of 2, the registry first.
playbook=$work/rolling.yml
sed -e 's/^  hosts: all$/  hosts: registry:all\n  serial: 2/' "$root/playbooks/site.yml" >"$playbook"
grep -q '^  serial: 2$' "$playbook" || { echo "FAIL: could not add serial to the default playbook"; exit 1; }

start=$(date +%s)
lab up "$inventory"; rc=$?
check "lab up on 8 nodes ($(($(date +%s) - start)) s)" "[ $rc -eq 0 ]"
[ $rc -eq 0 ] || exit 1

# "NODE ENTER EXIT": when docker.service last entered and left active (CLOCK_MONOTONIC, one
# clock for every node: they share the kernel); the property names sort Enter before Exit.
restarts() {
  for n in "${nodes[@]}"; do
    echo "$n $(on "$n" systemctl show docker.service -p ActiveExitTimestampMonotonic -p ActiveEnterTimestampMonotonic |
      sort | sed 's/.*=//' | tr '\n' ' ')"
  done
}
# "NODE START END" of the last restart: it began when docker left active, ended when it
# was active again.
intervals() { restarts | awk '{print $1, $3, $2}'; }

before=$(intervals)
out=$(apply --playbook "$playbook" 2>&1); rc=$?
echo "$out" | grep -E '^PLAY|^STOPPED|failed:' ; echo "$out" | tail -10
check "apply with serial: 2 exits 0" "[ $rc -eq 0 ]"
check "four batches, the registry host in the first" \
  "[ \$(grep -c '^PLAY \\[kernel and docker on every host\\] batch' <<<\"\$out\") -eq 4 ] &&
   grep -q '^PLAY \\[kernel and docker on every host\\] batch 1/4: n1, n2$' <<<\"\$out\""
after=$(intervals)
echo "docker restarts (node, stop began, active again; microseconds):"; echo "$after"
check "every node's docker restarted" \
  "join <(echo \"\$before\") <(echo \"\$after\") | awk '\$2 == \$4 {bad=1} END {exit bad}'"
# At most two intervals overlap at any moment; batch k+1 starts after batch k ended.
check "never more than 2 docker daemons restarting at once" \
  "awk '{print \$2, 1; print \$3, -1}' <<<\"\$after\" | sort -n -k1,1 -k2,2n |
   awk '{n += \$2; if (n > max) max = n} END {print \"most at once:\", max; exit !(max <= 2)}'"
check "each batch restarts only after the one before it is back" \
  "awk '{start[NR] = \$2; end[NR] = \$3} END {for (b = 2; b <= 4; b++) for (i = 2*b-1; i <= 2*b; i++)
     for (j = 2*b-3; j <= 2*b-2; j++) if (start[i] < end[j]) exit 1}' <<<\"\$after\""

# n3 (batch 2) gets a daemon.json its dockerd refuses: its restart fails.
on n3 sh -c 'echo "{\"no-such-option\": true}" > /etc/docker/daemon.json'
before=$(intervals)
out=$(apply --playbook "$playbook" -e registry_port=5001 2>&1); rc=$?
echo "$out" | grep -E '^PLAY|^STOPPED|failed:'; echo "$out" | tail -10
check "a batch whose docker fails to start: exit 2" "[ $rc -eq 2 ]"
check "the run stopped after batch 2, the recap names n5..n8 never touched" \
  "grep -q '^STOPPED: play .kernel and docker on every host. batch 2 failed on 1 of 2 host(s) (n3).*never touched: n5, n6, n7, n8$' <<<\"\$out\" &&
   [ \$(grep -c 'never touched$' <<<\"\$out\") -eq 4 ]"
check "no batch after it started" "! grep -q '^PLAY .* batch 3/4' <<<\"\$out\""
after=$(intervals)
check "n5..n8: docker not restarted, the drop-in still names port 5000" \
  "join <(echo \"\$before\") <(echo \"\$after\") | awk '\$1 ~ /n[5-8]/ && \$2 != \$4 {bad=1} END {exit bad}' &&
   for n in n5 n6 n7 n8; do on \$n grep -q 192.168.1.21:5000 /etc/systemd/system/docker.service.d/90-registry-setup.conf || exit 1; done"
check "n1, n2 (batch 1) have the new port" \
  "on n2 grep -q 192.168.1.21:5001 /etc/systemd/system/docker.service.d/90-registry-setup.conf"

lab down; rc=$?
check "lab down exits 0" "[ $rc -eq 0 ]"
exit $fail
