#!/usr/bin/env bash
# The sysctl module for real: `apply` with the local transport inside a network namespace
# this test creates (net.ipv4.ip_forward is per namespace), /etc/sysctl.d and
# /var/lib/registry-setup on tmpfs in a private mount namespace. The machine's own
# ip_forward and /etc stay untouched. Exit 77 = skipped (not root / no ip).
set -euo pipefail
bin=$(realpath "$1")
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for ip netns"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: iproute2 missing"; exit 77; }

ns="rs-sysctl-$$-$RANDOM"
tmp=$(mktemp -d)
cleanup() {
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
host_before=$(cat /proc/sys/net/ipv4/ip_forward)
ip netns add "$ns"

cat >"$tmp/inventory.yml" <<'YAML'
all:
  hosts:
    node:
      ansible_connection: local
YAML
cat >"$tmp/sysctl.yml" <<'YAML'
- name: kernel
  hosts: all
  tasks:
    - name: enable IP forwarding
      sysctl: {name: net.ipv4.ip_forward, value: "1"}
YAML

# Runs inside the namespace (ip netns exec gives a mount namespace of its own).
cat >"$tmp/inside.sh" <<'SH'
set -euo pipefail
bin=$1 tmp=$2
mount -t tmpfs tmpfs /etc/sysctl.d
mount -t tmpfs tmpfs /var/lib
printf 'net.ipv4.ip_forward = 0\n' >/etc/sysctl.d/99-later.conf
fail() { echo "FAIL: $*"; exit 1; }
[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 0 ] || fail "a new namespace starts with ip_forward 0"

set +e
"$bin" apply "$tmp/inventory.yml" --playbook "$tmp/sysctl.yml" --diff >"$tmp/run1.out" 2>&1
rc=$?
set -e
cat "$tmp/run1.out"
[ $rc -eq 0 ] || fail "first run exit $rc"
grep -q '^changed: \[node\] enable IP forwarding' "$tmp/run1.out" || fail "first run did not report changed"
grep -q "WARNING.*99-later.conf" "$tmp/run1.out" || fail "no warning about the later file"
[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || fail "live value not set"
grep -qx 'net.ipv4.ip_forward = 1' /etc/sysctl.d/90-registry-setup.conf || fail "not persisted"
# The persisted file is what sysctl itself applies.
echo 0 >/proc/sys/net/ipv4/ip_forward
sysctl -q -p /etc/sysctl.d/90-registry-setup.conf
[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || fail "sysctl -p of the file does not set it"

"$bin" apply "$tmp/inventory.yml" --playbook "$tmp/sysctl.yml" --json >"$tmp/run2.json"
python3 - "$tmp/run2.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
stats = j["hosts"][0]["stats"]
assert j["exit_code"] == 0 and stats["changed"] == 0 and stats["ok"] == 1, stats
PY
echo "second run: 0 changed"
SH
ip netns exec "$ns" bash "$tmp/inside.sh" "$bin" "$tmp"
[ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$host_before" ] || { echo "FAIL: the machine's ip_forward changed"; exit 1; }
echo "PASS"
