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
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v systemd-nspawn >/dev/null || { echo "SKIP: systemd-nspawn missing (scripts/install-deps.sh test)"; exit 77; }
[ -f "$rootfs/.complete" ] || { echo "SKIP: no lab rootfs at $rootfs (scripts/lab-rootfs.sh)"; exit 77; }
"$bin" serve --help >/dev/null 2>&1 || { echo "SKIP: 'registry-setup serve' is not built"; exit 77; }

sub=$(( (RANDOM % 200) + 20 ))
ctl="rs-ctl2-$$"
tmp=$(mktemp -d /var/tmp/rs-two.XXXXXX)
declare -A nspawn_pid leader
cleanup() {
  set +e
  for n in "${!nspawn_pid[@]}"; do
    p=${nspawn_pid[$n]}
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  for n in a b; do
    umount -R "$tmp/$n/merged" 2>/dev/null || umount -l "$tmp/$n/merged" 2>/dev/null
    ip netns del "rs-$n-$$" 2>/dev/null
  done
  ip netns del "$ctl" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
t0=$(date +%s.%N)

# A bridge in the control namespace; no namespace has a default route.
ip netns add "$ctl"
ip -n "$ctl" link add br0 type bridge
ip -n "$ctl" addr add "10.77.$sub.1/24" dev br0
ip -n "$ctl" link set br0 up
ip -n "$ctl" link set lo up
ssh-keygen -q -t ed25519 -N '' -f "$tmp/id" >/dev/null

boot() {  # boot NAME LAST_OCTET
  local n=$1 ip="10.77.$sub.$2" ns="rs-$1-$$" d="$tmp/$1"
  ip netns add "$ns"
  ip link add "rs$n$$" type veth peer name "rs${n}b$$"
  ip link set "rs$n$$" netns "$ns"
  ip link set "rs${n}b$$" netns "$ctl"
  ip -n "$ctl" link set "rs${n}b$$" master br0 up
  ip -n "$ns" addr add "$ip/24" dev "rs$n$$"
  ip -n "$ns" link set "rs$n$$" up
  ip -n "$ns" link set lo up
  mkdir -p "$d"/{upper,work,merged,docker}
  mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$d/upper,workdir=$d/work" "$d/merged"
  install -d -m 700 "$d/merged/root/.ssh"
  install -m 600 "$tmp/id.pub" "$d/merged/root/.ssh/authorized_keys"
  ssh-keygen -A -f "$d/merged" >/dev/null
  SYSTEMD_NSPAWN_API_VFS_WRITABLE=network systemd-nspawn -q -D "$d/merged" -M "rs$n$sub" \
    --keep-unit --register=no --network-namespace-path="/run/netns/$ns" --capability=all \
    --system-call-filter=@keyring --boot --console=read-only --resolv-conf=off \
    --bind="$d/docker:/var/lib/docker" >"$d/nspawn.log" 2>&1 &
  nspawn_pid[$n]=$!
}
find_leader() {
  local n=$1
  for _ in $(seq 100); do
    for child in $(ps -o pid= --ppid "${nspawn_pid[$n]}" 2>/dev/null); do
      [ "$(cat /proc/"$child"/comm 2>/dev/null)" = systemd ] && leader[$n]=$child
    done
    [ -n "${leader[$n]:-}" ] && return 0
    sleep 0.1
  done
  fail "node $n did not start"
}
on() { local n=$1; shift; nsenter -t "${leader[$n]}" -a "$@"; }
boot a 11
boot b 12
for n in a b; do
  find_leader "$n"
  for unit in docker.service ssh.service; do
    for _ in $(seq 150); do on "$n" systemctl is-active -q "$unit" 2>/dev/null && break; sleep 0.2; done
    on "$n" systemctl is-active -q "$unit" || fail "$unit not active on node $n"
  done
done
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
grep -Eq '^host-a +: ok=4 +changed=4 +unreachable=0 +failed=0' "$tmp/run1.out" || fail "host-a did not converge"
grep -Eq '^host-b +: ok=3 +changed=3 +unreachable=0 +failed=0' "$tmp/run1.out" || fail "host-b did not converge"

# The seed's goal: host-b pushes to host-a's plain-HTTP registry, host-a pulls it back.
reg="10.77.$sub.11:5000"
on b sh -c "mkdir -p /var/tmp/img && cp /bin/busybox /var/tmp/img/ && tar -C /var/tmp/img -cf /var/tmp/img.tar ."
on b docker import /var/tmp/img.tar "$reg/seed/busybox:1" >/dev/null
on b docker push "$reg/seed/busybox:1" >"$tmp/push.out" 2>&1 || { cat "$tmp/push.out"; fail "push from host-b"; }
on a docker pull "$reg/seed/busybox:1" >"$tmp/pull.out" 2>&1 || { cat "$tmp/pull.out"; fail "pull on host-a"; }
echo "host-b pushed to $reg, host-a pulled it"

# Second run, the reachable hosts only: nothing changes.
apply --limit 'all:!host-c' >"$tmp/run2.out" 2>&1 || { cat "$tmp/run2.out"; fail "second run"; }
grep -Eq '^host-a +: ok=3 +changed=0 ' "$tmp/run2.out" || { cat "$tmp/run2.out"; fail "host-a changed on the second run"; }
grep -Eq '^host-b +: ok=2 +changed=0 ' "$tmp/run2.out" || { cat "$tmp/run2.out"; fail "host-b changed on the second run"; }
! grep -q 'host-c' "$tmp/run2.out" || fail "--limit did not exclude host-c"
echo "PASS ($(since "$t0") s)"
