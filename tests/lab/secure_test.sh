#!/usr/bin/env bash
# The secure variant end to end on examples/secure (a copy, with its passwords made here):
# first plain HTTP as the seed, then TLS from registry-setup's own authority with users,
# rules and tokens; docker on the nodes logs in, pushes, pulls and runs; pushes without
# credentials or by a pull-only user are refused; anonymous pulls only what a rule gives; a
# second apply changes nothing and keeps the registry's PID; verify green; then Basic auth.
# Skipped (77) only without root or the cached root filesystem (scripts/lab-rootfs.sh).
#   ctest -L e2e --output-on-failure        (from build/)
set -u
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${RS_LAB_CACHE:-/var/cache/registry-setup/rootfs-bookworm}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -f "$cache/.complete" ] || { echo "SKIP: no cached root filesystem at $cache (scripts/lab-rootfs.sh)"; exit 77; }

name=sec$$
registry=192.168.1.11:5000
work=$(mktemp -d)
inventory=$work/inventory.yml
. "$root/tests/lab/e2e_lib.sh"

# The example as a user would have it: passwords beside it, the authority in a state dir.
mkdir -p "$work/secrets"
openssl rand -hex 16 > "$work/secrets/ci.password"
openssl rand -hex 16 > "$work/secrets/reader.password"
sed "s|^    registry_tls: self-signed|    registry_tls: self-signed\n    registry_tls_dir: $work/state/tls|" \
  "$root/examples/secure/inventory.yml" > "$inventory"
# First as the seed has it: plain HTTP, no users.
sed -e 's|^    registry_tls: self-signed|    registry_tls: none|' -e '/^      vars:/,/^      hosts:/{/^      hosts:/!d}' \
  "$inventory" | grep -v 'registry_login_' > "$work/plain.yml"

lab up "$inventory"; rc=$?
check "lab up on the secure inventory" "[ $rc -eq 0 ]"
[ $rc -eq 0 ] || exit 1
mkdir -p "$work/image/bin"
cp "$cache/bin/busybox" "$work/image/bin/busybox"
for h in host-a host-b; do
  tar -C "$work/image" -c . | on "$h" docker import - "local/busybox:1" >/dev/null
done

lab run -- "$bin" apply "$work/plain.yml"; rc=$?
check "apply, plain HTTP first, exits 0" "[ $rc -eq 0 ]"
check "host-b: the drop-in marks $registry insecure" \
  "on host-b grep -q -- '--insecure-registry $registry' /etc/systemd/system/docker.service.d/90-registry-setup.conf"

docker_pid=$(on host-b systemctl show -P MainPID docker.service)
out=$(apply 2>&1); rc=$?
echo "$out" | tail -4
check "apply, now TLS + users, exits 0" "[ $rc -eq 0 ]"
check "host-b: docker was not restarted by the switch to TLS (MainPID $docker_pid)" \
  "[ \"\$(on host-b systemctl show -P MainPID docker.service)\" = '$docker_pid' ]"
check "host-b: docker.service needs no daemon-reload" \
  "[ \"\$(on host-b systemctl show -P NeedDaemonReload docker.service)\" = no ]"
check "the authority's key stays on the control machine, 0600" "[ \"\$(stat -c %a '$work/state/tls/ca.key')\" = 600 ]"
for h in host-a host-b; do
  check "$h: the CA is in /etc/docker/certs.d/$registry/ca.crt" \
    "on $h cmp -s /etc/docker/certs.d/$registry/ca.crt - < '$work/state/tls/ca.crt'"
  check "$h: the drop-in no longer marks $registry insecure" \
    "! on $h grep -q -- '--insecure-registry $registry' /etc/systemd/system/docker.service.d/90-registry-setup.conf"
  check "$h: docker's login for $registry is in root's config.json, mode 600" \
    "[ \"\$(on $h stat -c %a /root/.docker/config.json)\" = 600 ] && on $h grep -q '$registry' /root/.docker/config.json"
done
check "host-a: the key and htpasswd are 600" \
  "[ \"\$(on host-a stat -c %a /etc/registry-setup/tls/registry.key /etc/registry-setup/htpasswd | sort -u)\" = 600 ]"
check "https from the machine with the authority's CA: 401 without credentials" \
  "[ \"\$(lab run -- curl -s -o /dev/null -w '%{http_code}' --cacert '$work/state/tls/ca.crt' https://$registry/v2/)\" = 401 ]"
check "https without the CA is refused by curl (certificate not trusted)" \
  "! lab run -- curl -s -o /dev/null https://$registry/v2/"
check "plain HTTP to the TLS port gets 400" \
  "[ \"\$(lab run -- curl -s -o /dev/null -w '%{http_code}' http://$registry/v2/)\" = 400 ]"

challenge=$(lab run -- curl -s -D - -o /dev/null --cacert "$work/state/tls/ca.crt" "https://$registry/v2/" | tr -d '\r' | grep -i '^www-authenticate:')
check "the registry is its own token server: a Bearer challenge" "grep -q 'Bearer realm=\"https://$registry/auth/token\"' <<<\"\$challenge\""

image=$registry/team/busybox:1
on host-b docker tag local/busybox:1 "$image"
check "host-b: docker push as ci (logged in by apply) over TLS" "on host-b docker push '$image'"
on host-b docker rmi "$image" >/dev/null
check "host-b: docker pull as ci" "on host-b docker pull '$image'"
check "host-b: docker run of the pulled image" \
  "[ \"\$(on host-b docker run --rm --pull=never '$image' /bin/busybox echo hello)\" = hello ]"

# Another docker client config: no credentials at all.
on host-b mkdir -p /tmp/anon /tmp/reader
out=$(on host-b docker --config /tmp/anon push "$image" 2>&1); rc=$?
echo "$out" | tail -1
check "host-b: a push without credentials fails (unauthorized or denied)" \
  "[ $rc -ne 0 ] && grep -Eqi 'no basic auth credentials|unauthorized|authentication required|denied' <<<\"\$out\""
on host-b docker rmi "$image" >/dev/null 2>&1
out=$(on host-b docker --config /tmp/anon pull "$image" 2>&1); rc=$?
check "host-b: an anonymous pull outside public/** fails" "[ $rc -ne 0 ]"
on host-a docker tag local/busybox:1 "$registry/public/busybox:1"
check "host-a: ci pushes public/busybox" "on host-a docker push '$registry/public/busybox:1'"
check "host-b: anonymous pull of public/busybox works" "on host-b docker --config /tmp/anon pull '$registry/public/busybox:1'"
check "host-b: podman pulls it over TLS, trusting the CA apply put in /etc/containers/certs.d" \
  "on host-b podman pull -q '$registry/public/busybox:1' >/dev/null"
check "host-b: ctr pulls it through hosts.toml (https, the CA beside it)" \
  "on host-b ctr images pull --hosts-dir /etc/containerd/certs.d '$registry/public/busybox:1' >/dev/null"
check "host-b: reader logs in" \
  "on host-b docker --config /tmp/reader login -u reader --password-stdin $registry < '$work/secrets/reader.password'"
check "host-b: reader pulls team/busybox" "on host-b docker --config /tmp/reader pull '$image'"
on host-b docker tag local/busybox:1 "$registry/team/other:1"
out=$(on host-b docker --config /tmp/reader push "$registry/team/other:1" 2>&1); rc=$?
check "host-b: reader may not push (denied)" "[ $rc -ne 0 ] && grep -Eqi 'denied|unauthorized' <<<\"\$out\""

unit=registry-setup-registry.service
pid=$(on host-a systemctl show -P MainPID "$unit")
apply > "$work/second.out" 2>&1; rc=$?
tail -4 "$work/second.out"
check "a second apply exits 0 and changes nothing" \
  "[ $rc -eq 0 ] && grep -q 'changed=0' '$work/second.out' && ! grep -qE 'changed=[1-9]' '$work/second.out'"
check "the registry kept its PID ($pid)" "[ \"\$(on host-a systemctl show -P MainPID $unit)\" = '$pid' ]"

lab run -- "$bin" verify "$inventory" > "$work/verify.out" 2>&1; rc=$?
grep -E 'TLS certificate|anonymous push|push/pull|: ok=' "$work/verify.out"
check "verify is green (certificate, anonymous push refused, push/pull as ci)" \
  "[ $rc -eq 0 ] && grep -Eq '^ +ok +anonymous push to $registry' '$work/verify.out' && grep -Eq '^ +ok +push/pull/delete via $registry' '$work/verify.out' && grep -Eq '^ +ok +TLS certificate' '$work/verify.out'"

# Basic auth alone (no anonymous rule: docker cannot have both with Basic).
sed -i -e 's|registry_auth: token$|registry_auth: basic|' -e '/registry_anonymous:/d' "$inventory"
apply >/dev/null 2>&1; rc=$?
check "apply with registry_auth: basic exits 0" "[ $rc -eq 0 ]"
challenge=$(lab run -- curl -s -D - -o /dev/null --cacert "$work/state/tls/ca.crt" "https://$registry/v2/" | tr -d '\r' | grep -i '^www-authenticate:')
check "the registry now answers with a Basic challenge" "grep -q 'Basic realm=' <<<\"\$challenge\""
on host-b docker rmi "$image" >/dev/null 2>&1
check "host-b: docker pull as ci with Basic auth" "on host-b docker pull '$image'"
on host-b docker tag local/busybox:1 "$registry/team/basic:1"
check "host-b: docker push as ci with Basic auth" "on host-b docker push '$registry/team/basic:1'"
on host-b docker rmi "$registry/public/busybox:1" >/dev/null 2>&1
check "host-b: no anonymous pull of public/busybox any more" "! on host-b docker --config /tmp/anon pull '$registry/public/busybox:1'"
out=$(on host-b docker --config /tmp/reader push "$registry/team/other:1" 2>&1); rc=$?
check "host-b: reader still may not push" "[ $rc -ne 0 ]"

lab down; rc=$?
check "lab down exits 0" "[ $rc -eq 0 ]"
exit $fail
