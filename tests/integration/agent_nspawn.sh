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
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v systemd-nspawn >/dev/null || { echo "SKIP: systemd-nspawn missing (scripts/install-deps.sh test)"; exit 77; }
[ -f "$rootfs/.complete" ] || { echo "SKIP: no lab rootfs at $rootfs (scripts/lab-rootfs.sh)"; exit 77; }

id=$$-$RANDOM
sub=$(( (RANDOM % 200) + 20 ))
node_ns="rs-node-$id" ctl_ns="rs-ctl-$id"
node_ip="10.77.$sub.11" ctl_ip="10.77.$sub.12"
tmp=$(mktemp -d /var/tmp/rs-nspawn.XXXXXX)
nspawn_pid=""
cleanup() {
  set +e
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid"
    for _ in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$nspawn_pid" 2>/dev/null
    wait "$nspawn_pid" 2>/dev/null
  fi
  umount -R "$tmp/merged" 2>/dev/null || umount -l "$tmp/merged" 2>/dev/null
  ip netns del "$node_ns" 2>/dev/null
  ip netns del "$ctl_ns" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/nspawn.log" ] && tail -20 "$tmp/nspawn.log"; exit 1; }
t0=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
elapsed() { since "$t0"; }

# Two hosts on a veth pair; neither has a default route.
ip netns add "$node_ns"
ip netns add "$ctl_ns"
vn="rsn$$" vc="rsc$$"
ip link add "$vn" type veth peer name "$vc"
ip link set "$vn" netns "$node_ns"
ip link set "$vc" netns "$ctl_ns"
ip -n "$node_ns" addr add "$node_ip/24" dev "$vn"
ip -n "$ctl_ns" addr add "$ctl_ip/24" dev "$vc"
for ns in "$node_ns" "$ctl_ns"; do ip -n "$ns" link set lo up; done
ip -n "$node_ns" link set "$vn" up
ip -n "$ctl_ns" link set "$vc" up

# The node: an overlay on the cached rootfs, never modified itself.
mkdir -p "$tmp"/{upper,work,merged,docker,ssh}
mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$tmp/upper,workdir=$tmp/work" "$tmp/merged"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/ssh/id" >/dev/null
install -d -m 700 "$tmp/merged/root/.ssh"
install -m 600 "$tmp/ssh/id.pub" "$tmp/merged/root/.ssh/authorized_keys"
# Host keys for this node only (ssh.service runs `sshd -t` before the rootfs's keygen drop-in).
mkdir -p "$tmp/merged/etc/ssh"
ssh-keygen -A -f "$tmp/merged" >/dev/null
# dockerd must not turn ip_forward on by itself, so the test sees who set it.
echo 'DOCKER_OPTS="--ip-forward=false"' >"$tmp/merged/etc/default/docker"

SYSTEMD_NSPAWN_API_VFS_WRITABLE=network systemd-nspawn -q -D "$tmp/merged" -M "rsnode$sub" \
  --keep-unit --register=no --network-namespace-path="/run/netns/$node_ns" --capability=all \
  --system-call-filter=@keyring --boot --console=read-only --resolv-conf=off \
  --bind="$tmp/docker:/var/lib/docker" >"$tmp/nspawn.log" 2>&1 &
nspawn_pid=$!

# PID 1 of the node: a descendant of nspawn named systemd.
leader=""
for _ in $(seq 100); do
  for child in $(ps -o pid= --ppid "$nspawn_pid" 2>/dev/null); do
    [ "$(cat /proc/"$child"/comm 2>/dev/null)" = systemd ] && leader=$child
  done
  [ -n "$leader" ] && break
  sleep 0.1
done
[ -n "$leader" ] || fail "container did not start"
on_node() { nsenter -t "$leader" -a "$@"; }
for _ in $(seq 100); do [ -S "/proc/$leader/root/run/dbus/system_bus_socket" ] && break; sleep 0.1; done
for unit in docker.service ssh.service; do
  for _ in $(seq 150); do on_node systemctl is-active -q "$unit" && break; sleep 0.2; done
  on_node systemctl is-active -q "$unit" || fail "$unit not active in the node"
done
echo "node up (leader $leader) after $(elapsed) s"
docker_pid() { on_node systemctl show -p MainPID --value docker.service; }

cat >"$tmp/inventory.yml" <<YAML
all:
  vars:
    ansible_user: root
    ansible_ssh_private_key_file: $tmp/ssh/id
    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
  children:
    registry:
      hosts:
        node:
          ansible_host: $node_ip
YAML
playbook="$(dirname "$0")/../../playbooks/site.yml"
serve_built=1
"$bin" serve --help >/dev/null 2>&1 || serve_built=0
if [ $serve_built -eq 0 ]; then
  # Without a serve command the registry service cannot start: run the first play only.
  python3 - "$playbook" "$tmp/site.yml" <<'PY'
import sys
text = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(text.split("\n- name: the registry")[0] + "\n")
PY
  playbook="$tmp/site.yml"
  echo "NOTE: 'registry-setup serve' is not built here: registry_service is not exercised"
fi
apply_ctl() { ip netns exec "$ctl_ns" "$bin" apply "$tmp/inventory.yml" --playbook "$playbook" "$@"; }

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
if [ $serve_built -eq 1 ]; then
  on_node systemctl is-active -q registry-setup-registry.service || fail "registry service not active"
  on_node curl -sf -o /dev/null "http://$node_ip:5000/v2/" || fail "GET /v2/ on the node"
fi

# 2. The local transport inside the node (system bus, the bare rootfs runs the binary): 0 changed.
cp "$bin" "$tmp/merged/usr/local/bin/rs-test-bin"
cp "$playbook" "$tmp/merged/var/tmp/site.yml"
printf 'all:\n  children:\n    registry:\n      hosts:\n        node: {ansible_connection: local, ansible_host: %s}\n' "$node_ip" \
  >"$tmp/merged/var/tmp/inventory.yml"
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
echo "DOCKER_OPTS=\"--ip-forward=false --insecure-registry $node_ip:5000\"" >"$tmp/merged/etc/default/docker"
on_node systemctl daemon-reload
on_node systemctl restart docker.service
set +e; apply_ctl >"$tmp/run4a.out" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || { cat "$tmp/run4a.out"; fail "DOCKER_OPTS pre-flight: expected exit 2, got $rc"; }
grep -q "DOCKER_OPTS in '/etc/default/docker'" "$tmp/run4a.out" || { cat "$tmp/run4a.out"; fail "DOCKER_OPTS pre-flight message"; }
on_node test ! -e /etc/docker/daemon.json || fail "pre-flight wrote daemon.json"

# 6. Rollback: the flag comes from an Environment= line in another drop-in, which no
#    pre-flight reads; daemon.json then makes dockerd refuse to start. The agent restores,
#    reloads, restarts, and reports dockerd's own error.
: >"$tmp/merged/etc/default/docker"
printf '[Service]\nEnvironment="DOCKER_OPTS=--ip-forward=false --insecure-registry %s:5000"\n' "$node_ip" \
  >"$tmp/merged/etc/systemd/system/docker.service.d/50-env.conf"
on_node systemctl daemon-reload
on_node systemctl restart docker.service
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
