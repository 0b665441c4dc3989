#!/usr/bin/env bash
# The seed scenario, for real, on one machine (issue 5): two lab hosts from
# examples/two-host/inventory.yml (registry host-a 192.168.1.11, client host-b 192.168.1.12),
# each with systemd, docker and sshd, reached by `registry-setup apply` over SSH from the
# lab's controller. Shows the push failing before apply, then push, pull and run after it,
# the registry's catalog, tags and manifest digest, and a second apply changing nothing.
# As root. RS_DEMO_KEEP=1 leaves the lab up afterwards (registry-setup lab down --name demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${RS_BIN:-$PWD/build/registry-setup}
inventory=examples/two-host/inventory.yml
registry=192.168.1.11:5000
image=$registry/demo/busybox:1
name=demo
cache=${RS_LAB_CACHE:-/var/cache/registry-setup/rootfs-bookworm}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
lab() { "$bin" lab "$1" --name "$name" "${@:2}"; }
on() { echo "[$1]# ${*:2}"; lab exec "$1" -- "${@:2}"; }
controller() { echo "[controller]# $*"; lab run -- "$@"; }

[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (namespaces, mounts, systemd-nspawn)" >&2; exit 1; }
scripts/install-deps.sh build lab
[ -x "$bin" ] || scripts/build.sh
scripts/lab-rootfs.sh
step "1. lab up: two real hosts (systemd, docker, sshd) on an isolated lab network"
lab up "$inventory" --docker-opts=--ip-forward=false
# Only a lab this run made is taken down at the end.
if [ "${RS_DEMO_KEEP:-0}" != 1 ]; then trap '"$bin" lab down --name "$name" >/dev/null 2>&1 || true' EXIT; fi
lab status

step "2. an image, made offline, on both hosts"
tmp=$(mktemp -d)
mkdir -p "$tmp/bin" && cp "$cache/bin/busybox" "$tmp/bin/busybox"
for h in host-a host-b; do tar -C "$tmp" -c . | lab exec "$h" -- docker import - "$image" >/dev/null; done
rm -rf "$tmp"

step "3. the registry host is set up; the client is not yet"
controller "$bin" apply "$inventory" --limit registry
echo "[host-b]# docker push $image"
if lab exec host-b -- docker push "$image"; then
  echo "demo: the push should have failed before apply" >&2; exit 2
fi

step "4. registry-setup apply: every host"
controller "$bin" apply "$inventory"

step "5. push, pull and run from the client"
on host-b docker push "$image"
on host-b docker rmi "$image"
on host-b docker pull "$image"
on host-b docker run --rm --pull=never "$image" /bin/busybox echo "hello from the pulled image"

step "6. the registry, as the seed checks it with curl"
controller curl -s "http://$registry/v2/_catalog"; echo
controller curl -s "http://$registry/v2/demo/busybox/tags/list"; echo
controller curl -sI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  "http://$registry/v2/demo/busybox/manifests/1" | grep -i '^docker-content-digest'

step "7. a second apply changes nothing"
controller "$bin" apply "$inventory"

step "done"
if [ "${RS_DEMO_KEEP:-0}" = 1 ]; then
  echo "the lab stays up: registry-setup lab status --name $name; lab down --name $name"
else
  lab down
fi
