#!/usr/bin/env bash
# `verify` on two real nodes (nspawn, systemd as PID 1, dockerd, sshd; host-a registry
# 10.77.S.11, host-b client 10.77.S.12), over ssh from a namespace with no default route.
# Green after apply (with the end-to-end push/pull/delete probe); then one drift at a time:
# ip_forward 0 live, the docker drop-in removed + daemon-reload, the registry unit stopped,
# a conflicting insecure-registries key in daemon.json. verify names each with exit 2; apply
# repairs each; verify is green again. An unreachable host makes it exit 4.
# Exit 77 = skipped: not root, or no rootfs/systemd-nspawn.
set -euo pipefail
bin=$(realpath "$1")
src=$(cd "$(dirname "$0")/../.." && pwd)
rootfs=${RS_LAB_CACHE:-/var/cache/registry-setup/rootfs-bookworm}
source "$(dirname "$0")/nspawn_hosts.sh"
nspawn_hosts_start verify v
# dockerd must not turn ip_forward on by itself when apply restarts it.
node_docker_opts=--ip-forward=false
boot a 11
boot b 12
wait_nodes a b
echo "two nodes up after $(since "$t0") s"

reg="10.77.$sub.11:5000"
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
YAML
in_ctl() { ip netns exec "$ctl" "$bin" "$@"; }
apply() { in_ctl apply "$tmp/inventory.yml" --playbook "$src/playbooks/site.yml" "$@"; }
verify() { in_ctl verify "$tmp/inventory.yml" --playbook "$src/playbooks/site.yml" "$@"; }
# run_verify NAME ARGS...: output in $tmp/NAME.out, exit code in $rc
run_verify() {
  local name=$1; shift
  local s; s=$(date +%s.%N)
  set +e; verify "$@" >"$tmp/$name.out" 2>&1; rc=$?; set -e
  echo "verify ($name): exit $rc in $(since "$s") s"
}
expect_green() {
  run_verify "$1" "${@:2}"
  [ $rc -eq 0 ] || { cat "$tmp/$1.out"; fail "$1: expected exit 0, got $rc"; }
  grep -Eq '^host-a +: ok=[0-9]+ +drift=0 +failed=0 ' "$tmp/$1.out" || { cat "$tmp/$1.out"; fail "$1: host-a not green"; }
  grep -Eq '^host-b +: ok=[0-9]+ +drift=0 +failed=0 ' "$tmp/$1.out" || { cat "$tmp/$1.out"; fail "$1: host-b not green"; }
}
# host_section NAME HOST: the table of one host
host_section() { awk -v h="$2" '$0 ~ "^" h " \\(" {on=1; next} /^$/ {on=0} on' "$tmp/$1.out"; }
repair() {
  local s; s=$(date +%s.%N)
  set +e; apply >"$tmp/repair-$1.out" 2>&1; local r=$?; set -e
  [ $r -eq 0 ] || { cat "$tmp/repair-$1.out"; fail "apply after $1: exit $r"; }
  echo "apply (repair $1): $(since "$s") s"
}

# 0. Before apply: drift everywhere (a fresh node is not set up), exit 2.
run_verify before --no-probe
[ $rc -eq 2 ] || { cat "$tmp/before.out"; fail "before apply: expected exit 2, got $rc"; }
host_section before host-b | grep -Eq '^  drift +docker trusts the private registry' || { cat "$tmp/before.out"; fail "before: docker drift not named"; }

s=$(date +%s.%N)
apply >"$tmp/apply.out" 2>&1 || { cat "$tmp/apply.out"; fail "first apply"; }
echo "apply: $(since "$s") s"

# 1. Green, with the end-to-end probe from both docker hosts.
expect_green green1
cat "$tmp/green1.out"
for h in host-a host-b; do
  host_section green1 "$h" | grep -Eq "^  ok +push/pull/delete via $reg +same digest back, deleted +sha256:" ||
    fail "probe from $h not ok"
  host_section green1 "$h" | grep -Eq "^  ok +  dockerd insecure registries \(GET /info\) +$reg +.*$reg" ||
    fail "$h: effective insecure registries not shown"
done
host_section green1 host-b | grep -Eq "^  ok +reach http://$reg/v2/ .*HTTP/1.1 200" || fail "host-b reach"
host_section green1 host-a | grep -Eq '^  ok +  registry-setup-registry.service +active, enabled +active \(running\), enabled' ||
  fail "registry unit row"
# The probe left nothing behind: no probe tag in the registry, no probe image on the hosts.
tags=$(on a curl -s -w '\n%{http_code}' "http://$reg/v2/registry-setup-verify/probe/tags/list") ||
  fail "tags list of the probe repository: curl failed"
case "$(tail -n1 <<<"$tags")" in 200 | 404) ;; *) fail "tags list of the probe repository: $tags" ;; esac
! grep -q 'host-' <<<"$tags" || fail "probe tags left in the registry: $tags"
for n in a b; do
  images=$(on "$n" docker images --format '{{.Repository}}') || fail "docker images on node $n"
  ! grep -q registry-setup-verify <<<"$images" || fail "probe image left on node $n"
done
# --json: one document, the same verdicts.
set +e; verify --no-probe --json >"$tmp/green.json" 2>"$tmp/green.err"; rc=$?; set -e
[ $rc -eq 0 ] || { cat "$tmp/green.err"; fail "--json: exit $rc"; }
python3 - "$tmp/green.json" <<'PY' || fail "--json document"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["exit_code"] == 0 and d["probe"] is False, d
hosts = {h["host"]: h for h in d["hosts"]}
assert set(hosts) == {"host-a", "host-b"}, hosts.keys()
for h in hosts.values():
    assert h["stats"]["drift"] == 0 and h["stats"]["failed"] == 0, h["stats"]
    assert all(c["status"] == "ok" for c in h["checks"])
names = [c["name"] for c in hosts["host-a"]["checks"]]
assert "net.ipv4.ip_forward live" in names and "storage /var/lib/registry" in names, names
PY

# 2. Drift: ip_forward 0 live on host-b.
on b sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'
run_verify ipfwd --no-probe
[ $rc -eq 2 ] || { cat "$tmp/ipfwd.out"; fail "ip_forward 0: expected exit 2, got $rc"; }
host_section ipfwd host-b | grep -Eq '^  drift +enable IP forwarding .*live net.ipv4.ip_forward: 0 -> 1' || { cat "$tmp/ipfwd.out"; fail "ip_forward drift not named"; }
host_section ipfwd host-b | grep -Eq '^  drift +  net.ipv4.ip_forward live +1 +0$' || { cat "$tmp/ipfwd.out"; fail "ip_forward live row"; }
host_section ipfwd host-b | grep -Eq '^  ok +  net.ipv4.ip_forward at boot +1 from /etc/sysctl.d/90-registry-setup.conf +1 from /etc/sysctl.d/90-registry-setup.conf' || fail "boot row"
[ "$(grep -c '^  drift' "$tmp/ipfwd.out")" -eq 2 ] || { cat "$tmp/ipfwd.out"; fail "ip_forward: more drift than caused"; }
repair ipfwd
grep -q 'changed: \[host-b\] enable IP forwarding' "$tmp/repair-ipfwd.out" || fail "apply did not repair ip_forward"
expect_green green2 --no-probe

# 3. Drift: the docker drop-in removed + daemon-reload on host-b (dockerd still runs with it).
on b rm /etc/systemd/system/docker.service.d/90-registry-setup.conf
on b systemctl daemon-reload
run_verify dropin --no-probe
[ $rc -eq 2 ] || { cat "$tmp/dropin.out"; fail "drop-in removed: expected exit 2, got $rc"; }
cat "$tmp/dropin.out"
host_section dropin host-b | grep -Eq '^  drift +docker trusts the private registry ' || fail "drop-in drift not named"
host_section dropin host-b | grep -Eq "^ +~ '/etc/systemd/system/docker.service.d/90-registry-setup.conf' absent" || fail "drop-in absence not shown"
host_section dropin host-b | grep -Eq '^  drift +handler: restart docker' || fail "the restart apply would do is not shown"
repair dropin
grep -q 'changed: \[host-b\] HANDLER restart docker' "$tmp/repair-dropin.out" || fail "apply did not restart docker"
expect_green green3 --no-probe

# 4. Drift: the registry unit stopped on host-a; host-b cannot reach it.
on a systemctl stop registry-setup-registry.service
run_verify stopped --no-probe
[ $rc -eq 2 ] || { cat "$tmp/stopped.out"; fail "registry stopped: expected exit 2, got $rc"; }
cat "$tmp/stopped.out"
host_section stopped host-a | grep -Eq "^  drift +registry service .*start 'registry-setup-registry.service' \(now inactive\)" || fail "registry drift not named"
host_section stopped host-a | grep -Eq '^  drift +  registry-setup-registry.service +active, enabled +inactive \(dead\), enabled' || fail "unit row"
host_section stopped host-b | grep -Eq "^  drift +reach http://$reg/v2/ .*no answer" || fail "host-b reach not drift"
repair stopped
on a systemctl is-active -q registry-setup-registry.service || fail "apply did not start the registry"
expect_green green4 --no-probe

# 5. A conflicting insecure-registries key in host-b's daemon.json (beside another key):
#    the next docker restart would fail. verify names it as drift; apply moves the registry
#    into the drop-in, removes only that key and restarts docker; green again.
on b sh -c "printf '{\"debug\": true, \"insecure-registries\": [\"$reg\"]}\n' > /etc/docker/daemon.json"
run_verify conflict --no-probe
[ $rc -eq 2 ] || { cat "$tmp/conflict.out"; fail "conflict: expected exit 2, got $rc"; }
cat "$tmp/conflict.out"
host_section conflict host-b | grep -Eq '^  drift +docker trusts the private registry' || fail "conflict not drift"
repair conflict
if on b grep -q insecure-registries /etc/docker/daemon.json; then fail "apply left insecure-registries in daemon.json"; fi
on b grep -q '"debug": true' /etc/docker/daemon.json || fail "apply lost daemon.json's other keys"
on b systemctl is-active -q docker.service || fail "docker not active after the repair"
expect_green green5

# 6. An inventory host nobody answers for: exit 4, the others still verified.
sed "s/        host-b: {ansible_host: 10.77.$sub.12}/&\n        host-c: {ansible_host: 10.77.$sub.13}/" "$tmp/inventory.yml" >"$tmp/inventory3.yml"
set +e; in_ctl verify "$tmp/inventory3.yml" --playbook "$src/playbooks/site.yml" --no-probe >"$tmp/unreach.out" 2>&1; rc=$?; set -e
[ $rc -eq 4 ] || { cat "$tmp/unreach.out"; fail "unreachable host: expected exit 4, got $rc"; }
grep -Eq '^host-c +: .*unreachable=1' "$tmp/unreach.out" || fail "host-c not unreachable"
grep -Eq '^host-b +: ok=[0-9]+ +drift=0 +failed=0 ' "$tmp/unreach.out" || fail "host-b not verified beside host-c"
echo "PASS ($(since "$t0") s)"
