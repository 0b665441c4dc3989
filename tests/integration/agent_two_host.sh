#!/usr/bin/env bash
# The seed scenario end to end: two nspawn nodes with real systemd and dockerd on a bridge
# (host-a registry 10.77.S.11, host-b client 10.77.S.12), a third inventory host that does
# not exist (host-c 10.77.S.13), `apply --forks 3` over ssh from the bridge's namespace.
# Expect exit 4 (host-c unreachable) while host-a and host-b converge; then host-b pushes an
# image to host-a's plain-HTTP registry and host-a pulls it back; `--limit` run changes nothing.
# Exit 77 = skipped: not root, or no rootfs/systemd-nspawn.
set -euo pipefail
bin=$(realpath "$1")
src=$(cd "$(dirname "$0")/../.." && pwd)
rootfs=${RS_LAB_CACHE:-/var/cache/registry-setup/rootfs-bookworm}
source "$(dirname "$0")/nspawn_hosts.sh"
nspawn_hosts_start two s
boot a 11
boot b 12
wait_nodes a b
echo "two nodes up after $(since "$t0") s"

cat >"$tmp/inventory.yml" <<YAML
all:
  vars:
    ansible_user: root
    ansible_ssh_private_key_file: $tmp/id
    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5
  children:
    registry:
      hosts:
        host-a: {ansible_host: 10.77.$sub.11}
    clients:
      hosts:
        host-b: {ansible_host: 10.77.$sub.12}
        host-c: {ansible_host: 10.77.$sub.13}
YAML
apply() { ip netns exec "$ctl" "$bin" apply "$tmp/inventory.yml" --playbook "$src/playbooks/site.yml" "$@"; }

s=$(date +%s.%N)
set +e; apply --forks 3 >"$tmp/run1.out" 2>&1; rc=$?; set -e
cat "$tmp/run1.out"
echo "apply on 3 hosts (one unreachable): $(since "$s") s"
[ $rc -eq 4 ] || fail "expected exit 4 (host-c unreachable), got $rc"
grep -q '^unreachable: \[host-c\]' "$tmp/run1.out" || fail "host-c not reported unreachable"
grep -Eq '^host-a +: ok=8 +changed=6 +unreachable=0 +failed=0' "$tmp/run1.out" || fail "host-a did not converge"
grep -Eq '^host-b +: ok=7 +changed=5 +unreachable=0 +failed=0' "$tmp/run1.out" || fail "host-b did not converge"

# The seed's goal: host-b pushes to host-a's plain-HTTP registry, host-a pulls it back.
reg="10.77.$sub.11:5000"
on b sh -c "mkdir -p /var/tmp/img && cp /bin/busybox /var/tmp/img/ && tar -C /var/tmp/img -cf /var/tmp/img.tar ."
on b docker import /var/tmp/img.tar "$reg/seed/busybox:1" >/dev/null
on b docker push "$reg/seed/busybox:1" >"$tmp/push.out" 2>&1 || { cat "$tmp/push.out"; fail "push from host-b"; }
on a docker pull "$reg/seed/busybox:1" >"$tmp/pull.out" 2>&1 || { cat "$tmp/pull.out"; fail "pull on host-a"; }
echo "host-b pushed to $reg, host-a pulled it"

# Second run, the reachable hosts only: nothing changes.
apply --limit 'all:!host-c' >"$tmp/run2.out" 2>&1 || { cat "$tmp/run2.out"; fail "second run"; }
grep -Eq '^host-a +: ok=7 +changed=0 ' "$tmp/run2.out" || { cat "$tmp/run2.out"; fail "host-a changed on the second run"; }
grep -Eq '^host-b +: ok=6 +changed=0 ' "$tmp/run2.out" || { cat "$tmp/run2.out"; fail "host-b changed on the second run"; }
! grep -q 'host-c' "$tmp/run2.out" || fail "--limit did not exclude host-c"
echo "PASS ($(since "$t0") s)"
