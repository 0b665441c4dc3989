# The real hosts of the agent's integration tests: systemd-nspawn nodes (systemd as PID 1,
# dockerd, sshd) on one bridge; sourced by agent_*.sh after `set -euo pipefail`, with $bin
# (the registry-setup binary) and $rootfs (the cached lab rootfs) set.
#
#   nspawn_hosts_start NAME TAG: exit 77 (skip) unless root with systemd-nspawn and $rootfs;
#     then $tmp (/var/tmp/rs-NAME.XXXXXX), $sub (random 10.77.$sub.0/24), the control
#     namespace $ctl with bridge br0 at 10.77.$sub.1, an ssh key $tmp/id, $t0, and the
#     cleanup trap. TAG, one letter, keeps this script's namespaces and links apart.
#   boot NAME LAST_OCTET: node NAME at 10.77.$sub.LAST_OCTET in a namespace of its own, on an
#     overlay at $tmp/NAME/merged (the rootfs itself is never written), root logs in with
#     $tmp/id; $node_docker_opts, when set, becomes DOCKER_OPTS in /etc/default/docker.
#   wait_nodes NAME...: each node's systemd ($leader[NAME]), docker.service, ssh.service up.
#   on NAME CMD...: CMD inside the node.   fail MSG: print, exit 1.   since T: seconds since T.
#
# No namespace has a default route: traffic stays on the bridge. The cleanup ends only the
# nspawn processes started here, by PID, and removes only the namespaces and mounts made here.

declare -A nspawn_pid leader
nspawn_nodes=()

nspawn_hosts_cleanup() {
  set +e
  for n in "${!nspawn_pid[@]}"; do
    p=${nspawn_pid[$n]}
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  for n in "${nspawn_nodes[@]}"; do
    umount -R "$tmp/$n/merged" 2>/dev/null || umount -l "$tmp/$n/merged" 2>/dev/null
    ip netns del "rs-$nspawn_tag$n-$$" 2>/dev/null
  done
  ip netns del "$ctl" 2>/dev/null
  rm -rf "$tmp"
}

fail() { echo "FAIL: $*"; exit 1; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

nspawn_hosts_start() {
  nspawn_tag=$2
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
  command -v systemd-nspawn >/dev/null || { echo "SKIP: systemd-nspawn missing (scripts/install-deps.sh test)"; exit 77; }
  [ -f "$rootfs/.complete" ] || { echo "SKIP: no lab rootfs at $rootfs (scripts/lab-rootfs.sh)"; exit 77; }

  sub=$(( (RANDOM % 200) + 20 ))
  ctl="rs-${nspawn_tag}ctl-$$"
  tmp=$(mktemp -d "/var/tmp/rs-$1.XXXXXX")
  trap nspawn_hosts_cleanup EXIT
  t0=$(date +%s.%N)

  # A bridge in the control namespace; no namespace has a default route.
  ip netns add "$ctl"
  ip -n "$ctl" link add br0 type bridge
  ip -n "$ctl" addr add "10.77.$sub.1/24" dev br0
  ip -n "$ctl" link set br0 up
  ip -n "$ctl" link set lo up
  ssh-keygen -q -t ed25519 -N '' -f "$tmp/id" >/dev/null
}

boot() {  # boot NAME LAST_OCTET
  local n=$1 ip="10.77.$sub.$2" ns="rs-$nspawn_tag$1-$$" d="$tmp/$1"
  local link="r$nspawn_tag$n$$" peer="r$nspawn_tag${n}b$$"
  nspawn_nodes+=("$n")
  ip netns add "$ns"
  ip -n "$ctl" link add "$peer" type veth peer name "$link" netns "$ns"
  ip -n "$ctl" link set "$peer" master br0 up
  ip -n "$ns" addr add "$ip/24" dev "$link"
  ip -n "$ns" link set "$link" up
  ip -n "$ns" link set lo up
  mkdir -p "$d"/{upper,work,merged,docker}
  mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$d/upper,workdir=$d/work" "$d/merged"
  install -d -m 700 "$d/merged/root/.ssh"
  install -m 600 "$tmp/id.pub" "$d/merged/root/.ssh/authorized_keys"
  # Host keys for this node only (ssh.service runs `sshd -t` before the rootfs's keygen drop-in).
  mkdir -p "$d/merged/etc/ssh"
  ssh-keygen -A -f "$d/merged" >/dev/null
  if [ -n "${node_docker_opts:-}" ]; then
    echo "DOCKER_OPTS=\"$node_docker_opts\"" >"$d/merged/etc/default/docker"
  fi
  SYSTEMD_NSPAWN_API_VFS_WRITABLE=network systemd-nspawn -q -D "$d/merged" -M "r$nspawn_tag$n$sub" \
    --keep-unit --register=no --network-namespace-path="/run/netns/$ns" --capability=all \
    --system-call-filter=@keyring --boot --console=read-only --resolv-conf=off \
    --bind="$d/docker:/var/lib/docker" >"$d/nspawn.log" 2>&1 &
  nspawn_pid[$n]=$!
}

# PID 1 of a node: a child of its nspawn named systemd.
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

wait_nodes() {
  for n in "$@"; do
    find_leader "$n"
    for unit in docker.service ssh.service; do
      for _ in $(seq 150); do on "$n" systemctl is-active -q "$unit" 2>/dev/null && break; sleep 0.2; done
      on "$n" systemctl is-active -q "$unit" || fail "$unit not active on node $n"
    done
  done
}
