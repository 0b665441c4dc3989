#!/usr/bin/env bash
# Every runtime on a real node trusts the registry, each with its own client: docker pushes,
# containerd pulls with `ctr --hosts-dir` (its certs.d hosts.toml, plain HTTP), podman pulls
# with no --tls-verify=false (registries.conf.d). Asserts: config_path added to Debian's
# config.toml and containerd restarted once, a running container survives that restart;
# without the files both clients refuse the plain-HTTP registry; a removed drop-in is
# written again; a re-apply changes nothing; verify is green.
# Skipped (77) only without root or the cached root filesystem (scripts/lab-rootfs.sh).
set -u
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${RS_LAB_CACHE:-/var/cache/registry-setup/rootfs-bookworm}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -f "$cache/.complete" ] || { echo "SKIP: no cached root filesystem at $cache (scripts/lab-rootfs.sh)"; exit 77; }

name=rt$$
work=$(mktemp -d)
inventory=$work/inventory.yml
. "$root/tests/lab/e2e_lib.sh"
cat >"$inventory" <<'YAML'
all:
  vars: {ansible_user: root, registry_port: 5000}
  children:
    registry:
      hosts:
        r1: {ansible_host: 192.168.1.41}
    clients:
      hosts:
        c1: {ansible_host: 192.168.1.42}
YAML
lab up "$inventory"; rc=$?
check "lab up exits 0" "[ $rc -eq 0 ]"
[ $rc -eq 0 ] || exit 1
image=192.168.1.41:5000/lab/busybox:1
hosts_toml=/etc/containerd/certs.d/192.168.1.41:5000/hosts.toml
dropin=/etc/containers/registries.conf.d/50-registry-setup.conf
podman_pull() { on c1 podman pull -q "$image"; }
ctr_pull() { on c1 ctr images pull --hosts-dir /etc/containerd/certs.d "$image"; }

# The image every client pulls: a static busybox (no internet needed).
mkdir -p "$work/image/bin"
cp "$cache/bin/busybox" "$work/image/bin/busybox"
tar -C "$work/image" -c . | on c1 docker import - local/busybox:1 >/dev/null
containerd_pid() { on c1 systemctl show containerd.service -p MainPID --value; }
pid_before=$(containerd_pid)
on c1 cp /etc/containerd/config.toml /root/config.toml.debian

check "before apply, ctr refuses the plain-HTTP registry" "! ctr_pull >/dev/null 2>&1"
out=$(apply --diff 2>&1); rc=$?
echo "$out" | grep -E 'containerd|podman|^c1 |^r1 '
check "apply exits 0" "[ $rc -eq 0 ]" || echo "$out" | tail -30
check "c1: hosts.toml written, server http://192.168.1.41:5000" \
  "on c1 grep -qx 'server = \"http://192.168.1.41:5000\"' $hosts_toml"
check "c1: config_path added to Debian's config.toml, its own lines kept" \
  "on c1 grep -q 'config_path = \"/etc/containerd/certs.d\"' /etc/containerd/config.toml &&
   on c1 grep -q 'bin_dir = \"/usr/lib/cni\"' /etc/containerd/config.toml"
check "c1: containerd restarted (a new main PID)" "[ \"\$(containerd_pid)\" != \"$pid_before\" ]"
check "c1: registries.conf.d lists the registry as insecure" \
  "on c1 grep -q 'location = \"192.168.1.41:5000\"' $dropin && on c1 grep -qx 'insecure = true' $dropin"

on c1 docker tag local/busybox:1 "$image"
check "docker pushes to the registry" "on c1 docker push -q $image >/dev/null"
out=$(ctr_pull 2>&1); rc=$?
check "ctr pulls through hosts.toml (no --plain-http)" "[ $rc -eq 0 ]" || echo "$out" | tail -5
out=$(podman_pull 2>&1); rc=$?
check "podman pulls without --tls-verify=false" "[ $rc -eq 0 ]" || echo "$out" | tail -5

# Debian's config.toml back: the next apply restarts containerd alone, and a container docker
# runs (through containerd's shim) keeps running.
on c1 docker run -d --name sleeper local/busybox:1 /bin/busybox sleep 100000 >/dev/null
started() { on c1 docker inspect -f '{{.State.StartedAt}} {{.State.Running}}' sleeper; }
before=$(started)
pid_before=$(containerd_pid)
on c1 cp /root/config.toml.debian /etc/containerd/config.toml
out=$(apply --diff 2>&1); rc=$?
check "config.toml put right again: exit 0, c1 changed=1, containerd restarted" \
  "[ $rc -eq 0 ] && grep -qE '^c1 +: ok=[0-9]+ +changed=1 ' <<<\"\$out\" && [ \"\$(containerd_pid)\" != \"$pid_before\" ]" ||
  echo "$out" | tail -10
check "c1: the container kept running through containerd's restart" \
  "[ \"\$(started)\" = \"$before\" ] && [[ \"$before\" == *' true' ]]"

# Without its drop-in podman refuses the registry; the next apply puts it back.
on c1 rm "$dropin"
on c1 podman rmi -f "$image" >/dev/null 2>&1
out=$(podman_pull 2>&1); rc=$?
check "without the drop-in, podman refuses plain HTTP" "[ $rc -ne 0 ] && grep -q 'HTTP response to HTTPS client' <<<\"\$out\"" ||
  echo "$out" | tail -3
out=$(lab run -- "$bin" verify "$inventory" --no-probe 2>&1); rc=$?
check "verify sees the missing drop-in as drift" "[ $rc -ne 0 ] && grep -q 'podman, skopeo and CRI-O' <<<\"\$out\"" ||
  echo "$out" | tail -10
pid_now=$(containerd_pid)
out=$(apply 2>&1); rc=$?
check "apply writes it again (c1 changed=1), containerd left alone" \
  "[ $rc -eq 0 ] && grep -qE '^c1 +: ok=[0-9]+ +changed=1 ' <<<\"\$out\" && [ \"\$(containerd_pid)\" = \"$pid_now\" ]" ||
  echo "$out" | tail -10
check "podman pulls again" "podman_pull >/dev/null 2>&1"

out=$(apply 2>&1); rc=$?
check "second apply: exit 0, changed=0 on both hosts" \
  "[ $rc -eq 0 ] && [ \$(grep -cE '^(r1|c1) +: ok=[0-9]+ +changed=0 ' <<<\"\$out\") -eq 2 ]" || echo "$out" | tail -5
out=$(lab run -- "$bin" verify "$inventory" 2>&1); rc=$?
check "verify is green" "[ $rc -eq 0 ]" || echo "$out" | tail -20

lab down; rc=$?
check "lab down exits 0" "[ $rc -eq 0 ]"
exit $fail
