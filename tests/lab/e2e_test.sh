#!/usr/bin/env bash
# The seed scenario end to end on examples/two-host/inventory.yml, with an assertion at
# every step: lab up, the push failing before apply, apply over SSH, push/pull/run after,
# listings, a second apply changing nothing, the registry unit restarting when killed.
# Skipped (77) only without root or the cached root filesystem (scripts/lab-rootfs.sh).
#   ctest -L e2e --output-on-failure        (from build/)
set -u
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
inventory=$root/examples/two-host/inventory.yml
cache=${RS_LAB_CACHE:-/var/cache/registry-setup/rootfs-bookworm}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -f "$cache/.complete" ] || { echo "SKIP: no cached root filesystem at $cache (scripts/lab-rootfs.sh)"; exit 77; }

name=e2e$$
registry=192.168.1.11:5000
image=$registry/e2e/busybox
work=$(mktemp -d)
state_dir=${RS_LAB_RUN_DIR:-/run/registry-setup/lab}/$name
. "$root/tests/lab/e2e_lib.sh"

# dockerd must not turn ip_forward on by itself: then the 0 -> 1 is apply's doing.
lab up "$inventory" --docker-opts=--ip-forward=false; rc=$?
check "lab up on the two-host inventory" "[ $rc -eq 0 ]"
[ $rc -eq 0 ] || exit 1
for h in host-a host-b; do
  check "$h: ip_forward is 0 before apply" "[ \"\$(on $h cat /proc/sys/net/ipv4/ip_forward)\" = 0 ]"
done

# An image without the internet: a static busybox from the cached root filesystem.
mkdir -p "$work/image/bin"
cp "$cache/bin/busybox" "$work/image/bin/busybox"
for h in host-a host-b; do
  tar -C "$work/image" -c . | on "$h" docker import - "$image:1" >/dev/null
done

# The registry host first: the registry runs, host-b's docker does not know it yet.
apply --limit registry; rc=$?
check "apply --limit registry (host-a only) exits 0" "[ $rc -eq 0 ]"
out=$(on host-b docker push "$image:1" 2>&1); rc=$?
check "push from host-b before apply fails: server gave HTTP response to HTTPS client" \
  "[ $rc -ne 0 ] && grep -q 'server gave HTTP response to HTTPS client' <<<\"\$out\""

apply; rc=$?
check "apply on both hosts exits 0" "[ $rc -eq 0 ]"
check "push from host-b" "on host-b docker push '$image:1'"
on host-b docker rmi "$image:1" >/dev/null
check "pull on host-b" "on host-b docker pull '$image:1'"
check "docker run of the pulled image on host-b" \
  "[ \"\$(on host-b docker run --rm --pull=never '$image:1' /bin/busybox echo hello)\" = hello ]"
on host-a docker tag "$image:1" "$registry/e2e/self:1"
check "the registry host's own docker pushes to its address" "on host-a docker push '$registry/e2e/self:1'"

catalog=$(lab run -- curl -sf "http://$registry/v2/_catalog")
echo "catalog: $catalog"
check "the catalog lists e2e/busybox and e2e/self" "grep -q 'e2e/busybox' <<<'$catalog' && grep -q 'e2e/self' <<<'$catalog'"
tags=$(lab run -- curl -sf "http://$registry/v2/e2e/busybox/tags/list")
echo "tags: $tags"
check "the tags list has 1" "grep -q '\"1\"' <<<'$tags'"
digest=$(lab run -- curl -sfI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  "http://$registry/v2/e2e/busybox/manifests/1" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
echo "manifest digest: $digest"
check "the manifest digest is a sha256 digest" "[[ '$digest' =~ ^sha256:[0-9a-f]{64}$ ]]"

for h in host-a host-b; do
  check "$h: ip_forward is 1 after apply" "[ \"\$(on $h cat /proc/sys/net/ipv4/ip_forward)\" = 1 ]"
  check "$h: ip_forward persisted under /etc/sysctl.d" \
    "on $h grep -rqsE '^[[:space:]]*net\.ipv4\.ip_forward[[:space:]]*=[[:space:]]*1' /etc/sysctl.d"
  info=$(on "$h" curl -s --unix-socket /run/docker.sock http://localhost/info)
  check "$h: docker's effective insecure registries (Engine API /info) list $registry" \
    "python3 -c 'import json,sys; c=json.load(sys.stdin)[\"RegistryConfig\"][\"IndexConfigs\"]; sys.exit(0 if \"$registry\" in c and not c[\"$registry\"][\"Secure\"] else 1)' <<<'$info'"
done

unit=${RS_E2E_REGISTRY_UNIT:-$(on host-a systemctl list-units --type=service --no-legend --plain '*registry*' | awk '{print $1}' | head -1)}
check "host-a: the registry unit ($unit) is active" "[ -n '$unit' ] && on host-a systemctl is-active --quiet '$unit'"
pid=$(on host-a systemctl show -P MainPID "$unit")
on host-a systemctl kill --signal=SIGKILL "$unit"
restarted=0
for _ in $(seq 1 30); do
  new=$(on host-a systemctl show -P MainPID "$unit")
  if [ "$new" != "$pid" ] && [ "$new" != 0 ] && on host-a systemctl is-active --quiet "$unit"; then restarted=1; break; fi
  sleep 0.5
done
check "host-a: the registry unit restarts after being killed" "[ $restarted -eq 1 ]"
check "the registry answers again after the restart" "lab run -- curl -sf 'http://$registry/v2/' >/dev/null"

out=$(apply 2>&1); rc=$?
echo "$out" | tail -5
check "a second apply exits 0 and changes nothing" \
  "[ $rc -eq 0 ] && grep -q 'changed=0' <<<\"\$out\" && ! grep -qE 'changed=[1-9]' <<<\"\$out\""

lab down; rc=$?
check "lab down exits 0" "[ $rc -eq 0 ]"
check "no lab namespace is left" "! ip netns list | grep -q 'rslab-${name}[._]'"
check "no mount is left" "! grep -q ' $state_dir' /proc/self/mountinfo"
check "no lab address in the machine's namespace" "! ip -o addr show | grep -q ' 192\.168\.1\.1[12]/'"
exit $fail
