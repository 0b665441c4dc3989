#!/usr/bin/env bash
# Builds (once) the root filesystem that lab nodes and real-systemd tests boot with
# systemd-nspawn: Debian bookworm with systemd, dbus, docker.io (and its containerd), podman,
# sshd, sudo and curl.
# Cached at $RS_LAB_CACHE (default /var/cache/registry-setup/rootfs-bookworm); a complete
# cache is reused while its stamp (in .complete: a hash of this script, so of its package
# list and set-up steps) matches, and rebuilt when it does not. The mirror is read from
# this machine's apt sources.
set -euo pipefail
cache=${RS_LAB_CACHE:-/var/cache/registry-setup/rootfs-bookworm}
packages=systemd,systemd-sysv,dbus,iproute2,procps,docker.io,openssh-server,openssh-client,curl,ca-certificates,busybox-static,sudo
# Installed by apt inside the new root (podman, and python3 for Ansible beside us in
# bench/agent_bench.sh): debootstrap's own resolver fails to configure
# golang-github-containers-common (podman's) among the base packages.
later="podman python3"
stamp=$(sha256sum "$0" | cut -c1-16)
if [ -f "$cache/.complete" ]; then
  if [ "$(cat "$cache/.complete")" = "$stamp" ]; then
    echo "lab-rootfs: cached at $cache"
    exit 0
  fi
  if grep -qF "$cache" /proc/self/mountinfo; then
    echo "lab-rootfs: $cache is out of date but in use (a lab is up: 'registry-setup lab down')" >&2
    exit 1
  fi
  echo "lab-rootfs: $cache was made by another version of this script: building it again"
fi
for tool in debootstrap systemd-nspawn; do
  command -v "$tool" >/dev/null || { echo "lab-rootfs: '$tool' is missing (scripts/install-deps.sh lab)" >&2; exit 1; }
done
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
  mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$mirror" ] || { echo "lab-rootfs: no Debian mirror found in apt's sources" >&2; exit 1; }
tmp="$cache.tmp.$$"
rm -rf "$tmp"
log="$cache.log"
# A failed or interrupted build leaves no half-made root behind (only its log); nothing is
# removed while something is still mounted under it.
trap 'grep -q " $tmp/" /proc/self/mountinfo || rm -rf "$tmp"' EXIT
mkdir -p "$(dirname "$cache")"
echo "lab-rootfs: debootstrap bookworm into $cache (about 2 minutes, once)"
debootstrap --variant=minbase \
  --include="$packages" \
  bookworm "$tmp" "$mirror" >"$log" 2>&1 || { echo "lab-rootfs: debootstrap failed, see $log" >&2; exit 1; }
mount -t proc proc "$tmp/proc"
apt_in_root() { chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get -q -o Dpkg::Use-Pty=0 "$@" >>"$log" 2>&1; }
apt_in_root update && apt_in_root install -y --no-install-recommends $later
rc=$?
umount "$tmp/proc"
[ $rc -eq 0 ] || { echo "lab-rootfs: installing $later failed, see $log" >&2; exit 1; }
rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
# Podman's overlay driver cannot stack on a node's overlay root (nodes boot from an
# overlay of this cache): vfs, before anything at boot makes its storage with another.
printf '[storage]\ndriver = "vfs"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n' \
  >"$tmp/etc/containers/storage.conf"
# Nodes have no way out: no DNS, and docker never tries a registry on the internet.
: >"$tmp/etc/resolv.conf"
# Host keys are made per node at first boot (ssh-keygen -A), never shared through the cache.
# The unit's own `ExecStartPre=sshd -t` fails without keys and a drop-in's lines come after
# it: reset the list, make the keys, then test.
rm -f "$tmp"/etc/ssh/ssh_host_*
mkdir -p "$tmp/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' >"$tmp/etc/systemd/system/ssh.service.d/10-hostkeys.conf"
echo "$stamp" >"$tmp/.complete"
rm -f "$log"
rm -rf "$cache"
mv "$tmp" "$cache"
echo "lab-rootfs: done: $cache ($(du -sh "$cache" | cut -f1))"
