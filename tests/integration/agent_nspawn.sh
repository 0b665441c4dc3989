#!/usr/bin/env bash
# The agent against a real host: systemd as PID 1 of an nspawn container (overlay on the
# cached lab rootfs) with dockerd and sshd, in a network namespace of its own; `apply`
# runs from a second namespace (no default route) over ssh, with sd-bus to the remote
# systemd through ssh. Checks: convergence (ip_forward, drop-in, docker restarted with the
# flag, registry service answering /v2/ when serve is built), the local transport inside the
# container agrees (0 changed), a second ssh run changes and restarts nothing, pre-flight
# refusal, and a failed docker restart that is rolled back.
# Exit 77 = skipped: not root, or no rootfs/systemd-nspawn (scripts/lab-rootfs.sh builds it).
set -euo pipefail
bin=$(realpath "$1")
rootfs=${RS_LAB_CACHE:-/var/cache/registry-setup/rootfs-bookworm}
source "$(dirname "$0")/nspawn_hosts.sh"
nspawn_hosts_start nspawn n
fail() { echo "FAIL: $*"; [ -f "$tmp/a/nspawn.log" ] && tail -20 "$tmp/a/nspawn.log"; exit 1; }
elapsed() { since "$t0"; }

# The node, alone on the bridge; the control namespace runs apply.
node_ip="10.77.$sub.11"
node_root="$tmp/a/merged"
# dockerd must not turn ip_forward on by itself, so the test sees who set it.
node_docker_opts=--ip-forward=false
boot a 11
wait_nodes a
on_node() { on a "$@"; }
for _ in $(seq 100); do [ -S "/proc/${leader[a]}/root/run/dbus/system_bus_socket" ] && break; sleep 0.1; done
echo "node up (leader ${leader[a]}) after $(elapsed) s"
docker_pid() { on_node systemctl show -p MainPID --value docker.service; }

cat >"$tmp/inventory.yml" <<YAML
all:
  vars:
    ansible_user: root
    ansible_ssh_private_key_file: $tmp/id
    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
  children:
    registry:
      hosts:
        node:
          ansible_host: $node_ip
YAML
playbook="$(dirname "$0")/../../playbooks/site.yml"
apply_ctl() { ip netns exec "$ctl" "$bin" apply "$tmp/inventory.yml" --playbook "$playbook" "$@"; }

# 1. First run over ssh: converges.
pid_before=$(docker_pid)
s=$(date +%s.%N)
set +e; apply_ctl --diff >"$tmp/run1.out" 2>&1; rc=$?; set -e
cat "$tmp/run1.out"
[ $rc -eq 0 ] || fail "first apply exit $rc"
echo "first apply: $(since "$s") s"
grep -q 'changed: \[node\] HANDLER restart docker' "$tmp/run1.out" || fail "docker not restarted"
[ "$(on_node cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || fail "ip_forward not set on the node"
on_node grep -q -- "--insecure-registry $node_ip:5000" /etc/systemd/system/docker.service.d/90-registry-setup.conf ||
  fail "drop-in missing"
on_node grep -q -- '$DOCKER_OPTS' /etc/systemd/system/docker.service.d/90-registry-setup.conf || fail "drop-in lost \$DOCKER_OPTS"
[ "$(docker_pid)" != "$pid_before" ] || fail "dockerd was not restarted"
on_node docker info 2>/dev/null | grep -A3 'Insecure Registries' | grep -q "$node_ip:5000" ||
  fail "running dockerd does not list $node_ip:5000 as insecure"
on_node systemctl is-active -q registry-setup-registry.service || fail "registry service not active"
on_node curl -sf -o /dev/null "http://$node_ip:5000/v2/" || fail "GET /v2/ on the node"

# 2. The local transport inside the node (system bus, the bare rootfs runs the binary): 0 changed.
cp "$bin" "$node_root/usr/local/bin/rs-test-bin"
cp "$playbook" "$node_root/var/tmp/site.yml"
printf 'all:\n  children:\n    registry:\n      hosts:\n        node: {ansible_connection: local, ansible_host: %s}\n' "$node_ip" \
  >"$node_root/var/tmp/inventory.yml"
on_node /usr/local/bin/rs-test-bin apply /var/tmp/inventory.yml --playbook /var/tmp/site.yml >"$tmp/local.out" 2>&1 ||
  { cat "$tmp/local.out"; fail "local apply inside the node"; }
cat "$tmp/local.out"
grep -Eq 'node +: ok=[0-9]+ +changed=0 ' "$tmp/local.out" || fail "local run changed something"

# 3. Second run over ssh: nothing changes, nothing restarts.
pid_before=$(docker_pid)
apply_ctl >"$tmp/run2.out" 2>&1 || { cat "$tmp/run2.out"; fail "second apply"; }
grep -Eq 'node +: ok=[0-9]+ +changed=0 ' "$tmp/run2.out" || { cat "$tmp/run2.out"; fail "second run changed something"; }
[ "$(docker_pid)" = "$pid_before" ] || fail "second run restarted docker"
echo "second run: 0 changed, dockerd pid $pid_before kept"

# 4. Pre-flight: daemon-json while the drop-in passes the flag is refused, nothing written.
printf '          insecure_registry_method: daemon-json\n' >>"$tmp/inventory.yml"
set +e; apply_ctl >"$tmp/run3.out" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || { cat "$tmp/run3.out"; fail "pre-flight: expected exit 2, got $rc"; }
grep -q 'refuse to start' "$tmp/run3.out" || fail "pre-flight message"
on_node test ! -e /etc/docker/daemon.json || fail "pre-flight wrote daemon.json"

# 5. Pre-flight sees flags in DOCKER_OPTS (/etc/default/docker) too.
on_node rm /etc/systemd/system/docker.service.d/90-registry-setup.conf
echo "DOCKER_OPTS=\"--ip-forward=false --insecure-registry $node_ip:5000\"" >"$node_root/etc/default/docker"
on_node systemctl daemon-reload
on_node systemctl restart docker.service
set +e; apply_ctl >"$tmp/run4a.out" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || { cat "$tmp/run4a.out"; fail "DOCKER_OPTS pre-flight: expected exit 2, got $rc"; }
grep -q "DOCKER_OPTS in '/etc/default/docker'" "$tmp/run4a.out" || { cat "$tmp/run4a.out"; fail "DOCKER_OPTS pre-flight message"; }
on_node test ! -e /etc/docker/daemon.json || fail "pre-flight wrote daemon.json"

# 6. The flag comes from an Environment= line in another drop-in, which no file the
#    pre-flight reads shows: the running dockerd's own command line does, nothing written.
: >"$node_root/etc/default/docker"
printf '[Service]\nEnvironment="DOCKER_OPTS=--ip-forward=false --insecure-registry %s:5000"\n' "$node_ip" \
  >"$node_root/etc/systemd/system/docker.service.d/50-env.conf"
on_node systemctl daemon-reload
on_node systemctl restart docker.service
set +e; apply_ctl >"$tmp/run4b.out" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || { cat "$tmp/run4b.out"; fail "running-argv pre-flight: expected exit 2, got $rc"; }
grep -q 'the running dockerd (PID [0-9]*) was started with --insecure-registry' "$tmp/run4b.out" ||
  { cat "$tmp/run4b.out"; fail "running-argv pre-flight message"; }
on_node test ! -e /etc/docker/daemon.json || fail "running-argv pre-flight wrote daemon.json"

# 7. Rollback: the same, with docker stopped, so no running command line tells; daemon.json
#    then makes dockerd refuse to start. The agent restores, reloads, restarts, and reports
#    dockerd's own error.
on_node systemctl stop docker.service docker.socket
s=$(date +%s.%N)
set +e; apply_ctl >"$tmp/run4.out" 2>&1; rc=$?; set -e
cat "$tmp/run4.out"
echo "failed restart + rollback run: $(since "$s") s"
[ $rc -eq 2 ] || fail "rollback: expected exit 2, got $rc"
grep -q 'specified both as a flag and in the configuration file' "$tmp/run4.out" || fail "docker's own error not reported"
grep -q 'restored /etc/docker/daemon.json' "$tmp/run4.out" || fail "no restore reported"
on_node test ! -e /etc/docker/daemon.json || fail "daemon.json not rolled back"
on_node systemctl is-active -q docker.service || fail "docker not active after rollback"
echo "PASS ($(elapsed) s)"
