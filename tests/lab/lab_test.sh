#!/usr/bin/env bash
# A real two-node lab: both nodes boot systemd with docker and sshd, node A reaches node B's
# sshd over the lab network with the lab's key, the controller reaches both, `docker run`
# works in a node, lab addresses exist only in lab namespaces (none with a default route),
# and `lab down` leaves no namespace, mount or process behind.
# Skips (77) without root, systemd-nspawn or the cached root filesystem.
set -u
bin=$(realpath "$1")
cache=${RS_LAB_CACHE:-/var/cache/registry-setup/rootfs-bookworm}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v systemd-nspawn >/dev/null || { echo "SKIP: systemd-nspawn missing (scripts/install-deps.sh lab)"; exit 77; }
[ -f "$cache/.complete" ] || { echo "SKIP: no cached root filesystem at $cache (scripts/lab-rootfs.sh)"; exit 77; }

name="t$$"
net=198.51.100  # TEST-NET-2: never a real host
a=$net.11 b=$net.12
work=$(mktemp -d)
state_dir=${RS_LAB_RUN_DIR:-/run/registry-setup/lab}/$name
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
lab() { "$bin" lab "$1" --name "$name" "${@:2}"; }
cleanup() { "$bin" lab down --name "$name" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT

cat >"$work/inventory.yml" <<YAML
all:
  vars: {ansible_user: root}
  children:
    registry: {hosts: {node-a: {ansible_host: $a}}}
    clients: {hosts: {node-b: {ansible_host: $b}}}
YAML

# A node whose docker cannot start: up fails with exit 2, names the unit, leaves nothing.
lab up "$work/inventory.yml" --docker-opts=--no-such-docker-flag >/dev/null 2>"$work/err"; rc=$?
check "lab up with a broken node exits 2 naming docker.service" "[ $rc -eq 2 ] && grep -q 'docker.service' '$work/err'"
check "a failed lab up leaves no namespace, mount or state" \
  "! ip netns list | grep -q 'rslab-${name}[._]' && ! grep -q ' $state_dir' /proc/self/mountinfo && [ ! -e '$state_dir' ]"

start=$(date +%s%N)
lab up "$work/inventory.yml" --docker-opts=--ip-forward=false; rc=$?
echo "lab up took $(( ($(date +%s%N) - start) / 1000000 )) ms"
check "lab up exits 0" "[ $rc -eq 0 ]"
[ $rc -eq 0 ] || exit 1

lab up "$work/inventory.yml" >/dev/null 2>"$work/err"; rc=$?
check "a second lab up with the same name exits 2 and says so" "[ $rc -eq 2 ] && grep -q 'already up' '$work/err'"
check "lab status exits 0 and lists both nodes running" \
  "lab status >'$work/status' && grep -qE '^node-a +$a +(running|degraded)' '$work/status' && grep -qE '^node-b +$b +(running|degraded)' '$work/status'"

for node in node-a node-b; do
  s=$(lab exec "$node" -- systemctl is-system-running)
  check "$node runs systemd as PID 1 (is-system-running: $s)" "[[ '$s' == running || '$s' == degraded ]]"
  check "$node: PID 1 is systemd" "[ \"\$(lab exec $node -- cat /proc/1/comm)\" = systemd ]"
  check "$node: dockerd answers on its socket" \
    "[ \"\$(lab exec $node -- curl -s --unix-socket /run/docker.sock http://localhost/_ping)\" = OK ]"
  check "$node: sshd is active" "lab exec $node -- systemctl is-active --quiet ssh.service"
  check "$node: ip_forward is 0 (fresh host, DOCKER_OPTS=--ip-forward=false)" \
    "[ \"\$(lab exec $node -- cat /proc/sys/net/ipv4/ip_forward)\" = 0 ]"
  check "$node: hostname is its inventory name" "[ \"\$(lab exec $node -- hostname)\" = $node ]"
  check "$node: no default route, nothing beyond the lab is routable" \
    "[ -z \"\$(ip -n rslab-$name.$node route show default)\" ] && ! ip -n rslab-$name.$node route get 192.0.2.1 >/dev/null 2>&1"
done

# Node A reaches node B's sshd over the lab network with the lab's key.
lab exec node-a -- install -m 700 -d /root/.ssh
lab exec node-a -- tee /root/.ssh/lab_key <"$state_dir/ssh/id_ed25519" >/dev/null
lab exec node-a -- chmod 600 /root/.ssh/lab_key
lab exec node-a -- tee /root/.ssh/lab_known_hosts <"$state_dir/ssh/known_hosts" >/dev/null
out=$(lab exec node-a -- ssh -i /root/.ssh/lab_key -o UserKnownHostsFile=/root/.ssh/lab_known_hosts \
  -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 "root@$b" cat /etc/hostname 2>&1)
check "node-a reaches node-b's sshd at $b with the lab key (got: $out)" "[ '$out' = node-b ]"

# The controller: ssh by name and by address, host keys checked strictly.
check "lab run: ssh node-a by name" "[ \"\$(lab run -- ssh node-a hostname)\" = node-a ]"
check "lab run: ssh root@$b by address" "[ \"\$(lab run -- ssh root@$b hostname)\" = node-b ]"
check "lab run without --: the command's own options stay its own" \
  "[ \"\$(lab run ssh -o LogLevel=QUIET node-b hostname)\" = node-b ]"
check "lab exec without --" "[ \"\$(lab exec node-a ls -d /etc)\" = /etc ]"
check "lab run: the controller has no default route" "[ -z \"\$(lab run -- ip route show default)\" ]"
check "lab run: RS_LAB_SSH_CONFIG is set" "lab run -- sh -c 'test -f \"\$RS_LAB_SSH_CONFIG\"'"

# docker run in a node (cgroup controllers remounted rw), with an image made offline.
mkdir -p "$work/image/bin"
cp "$cache/bin/busybox" "$work/image/bin/busybox"
tar -C "$work/image" -c . | lab exec node-b -- docker import - lab-test/busybox:1 >/dev/null
out=$(lab exec node-b -- docker run --rm --pull=never lab-test/busybox:1 /bin/busybox echo hello 2>"$work/err")
check "docker run in node-b (got: $out $(grep -v 'IPv4 forwarding' "$work/err"))" "[ '$out' = hello ]"

# Isolation: lab addresses only inside lab namespaces; nothing in the machine's namespace.
check "no lab address is assigned in the machine's namespace" "! ip -o addr show | grep -q ' $net\.'"
check "the machine's namespace has no route naming a lab subnet" "! ip route show table all | grep -q '$net\.'"
route=$(ip route get "$a" 2>&1)
check "ip route get $a in the machine's namespace does not use a lab interface ($route)" \
  "! grep -qE 'dev (br0|ctl|n[0-9]+) ' <<<'$route' && ! ip -o link show | grep -qE ': (br0|ctl|n[0-9]+)[@:]'"
others=0
for ns in $(ip netns list | awk '{print $1}'); do
  case "$ns" in rslab-${name}[._]*) ;; *) ip -n "$ns" -o addr show 2>/dev/null | grep -q " $net\." && others=1 ;; esac
done
check "no other namespace holds a lab address" "[ $others -eq 0 ]"
for ns in rslab-${name}_switch rslab-${name}_controller rslab-$name.node-a rslab-$name.node-b; do
  check "$ns has no default route" "[ -z \"\$(ip -n $ns route show default)\$(ip -n $ns -6 route show default)\" ]"
done
check "the switch holds no address" "! ip -n rslab-${name}_switch -o -4 addr show | grep -v ' lo ' | grep -q inet"

# Down: no namespace, mount or process left.
pids=$(grep -oE '"(nspawn_pid|leader_pid)": [0-9]+' "$state_dir/state.json" | awk '{print $2}' | tr '\n' ' ')
start=$(date +%s%N)
lab down; rc=$?
echo "lab down took $(( ($(date +%s%N) - start) / 1000000 )) ms"
check "lab down exits 0" "[ $rc -eq 0 ]"
check "no lab namespace is left" "! ip netns list | grep -q 'rslab-${name}[._]'"
check "no mount is left under $state_dir" "! grep -q ' $state_dir' /proc/self/mountinfo"
check "the state directory is gone" "[ ! -e '$state_dir' ]"
alive() {  # a recorded PID still running (a zombie waiting for PID 1 to reap it counts as gone)
  for p in $pids; do
    [ -r /proc/$p/stat ] && [ "$(awk '{print $3}' /proc/$p/stat 2>/dev/null)" != Z ] && echo "$p"
  done
}
check "the node processes were recorded (4 PIDs: nspawn and systemd per node)" "[ \$(wc -w <<<'$pids') -eq 4 ]"
check "no node process is left (systemd-nspawn, systemd: $pids)" "[ -z \"\$(alive)\" ]"
lab down >/dev/null; rc=$?
check "a second lab down exits 0 (nothing to do)" "[ $rc -eq 0 ]"
lab status >/dev/null 2>&1; rc=$?
check "lab status of a lab that is down exits 2" "[ $rc -eq 2 ]"
exit $fail
