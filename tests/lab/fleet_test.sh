#!/usr/bin/env bash
# A fleet as most are run, on two real nodes: no root over ssh, a `deploy` user with sudo
# (NOPASSWD on host-a, a password on host-b), the inventory as Ansible's INI file with
# group_vars/ and host_vars/ (examples/fleet). Asserts: sudo's refusals are named, apply
# converges through sudo and a second one changes nothing, the password never shows, the
# INI, YAML and ranged inventories give the same plan, and a drop-in deleted without a
# daemon-reload is put back by apply (verify green after).
# Skipped (77) only without root or the cached root filesystem (scripts/lab-rootfs.sh).
set -u
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${RS_LAB_CACHE:-/var/cache/registry-setup/rootfs-bookworm}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -f "$cache/.complete" ] || { echo "SKIP: no cached root filesystem at $cache (scripts/lab-rootfs.sh)"; exit 77; }
[ -x "$cache/usr/bin/sudo" ] || { echo "FAIL: the cached root filesystem has no sudo (scripts/lab-rootfs.sh rebuilds it)"; exit 1; }

name=fleet$$
registry=192.168.1.11:5000
password=lab-only-password
work=$(mktemp -d)
cp -r "$root/examples/fleet" "$work/fleet"
inventory=$work/fleet/hosts
. "$root/tests/lab/e2e_lib.sh"

lab up "$work/fleet/inventory.yml"; rc=$?
check "lab up on the fleet inventory" "[ $rc -eq 0 ]"
[ $rc -eq 0 ] || exit 1

# The hosts as real fleets have them: deploy logs in with the lab's key, root may not.
for h in host-a host-b; do
  on "$h" sh -c 'useradd -m -s /bin/sh deploy && mkdir -p ~deploy/.ssh &&
    cp /root/.ssh/authorized_keys ~deploy/.ssh/ && chown -R deploy: ~deploy/.ssh &&
    echo "PermitRootLogin no" > /etc/ssh/sshd_config.d/10-no-root.conf && systemctl reload ssh'
done
on host-a sh -c 'echo "deploy ALL=(ALL:ALL) NOPASSWD: ALL" > /etc/sudoers.d/deploy && chmod 0440 /etc/sudoers.d/deploy'
on host-b sh -c "echo 'deploy:$password' | chpasswd && echo 'deploy ALL=(ALL:ALL) ALL' > /etc/sudoers.d/deploy &&
  chmod 0440 /etc/sudoers.d/deploy"
check "root may not log in over ssh any more" "! lab run -- ssh -o BatchMode=yes root@192.168.1.11 true 2>/dev/null"
check "deploy may" "[ \"\$(lab run -- ssh -o BatchMode=yes deploy@192.168.1.11 id -un)\" = deploy ]"

# sudo's refusals, each named; nothing was changed.
out=$(apply --limit host-b -e ansible_become_password=wrong-guess 2>&1); rc=$?
check "a wrong become password: exit 4, 'wrong password', the guess not shown" \
  "[ $rc -eq 4 ] && grep -q 'wrong password' <<<\"\$out\" && ! grep -q wrong-guess <<<\"\$out\""
mv "$work/fleet/host_vars/host-b.yml" "$work/host-b.yml"
out=$(apply --limit host-b 2>&1); rc=$?
check "no become password where sudo asks for one: exit 4, 'set ansible_become_password'" \
  "[ $rc -eq 4 ] && grep -q 'asks for a password: set ansible_become_password' <<<\"\$out\""
mv "$work/host-b.yml" "$work/fleet/host_vars/host-b.yml"
on host-b rm /etc/sudoers.d/deploy
out=$(apply --limit host-b 2>&1); rc=$?
check "a user without sudo rights: exit 4, 'may not use sudo'" \
  "[ $rc -eq 4 ] && grep -q 'may not use sudo' <<<\"\$out\""
on host-b sh -c 'echo "deploy ALL=(ALL:ALL) ALL" > /etc/sudoers.d/deploy && chmod 0440 /etc/sudoers.d/deploy'
check "host-b: no drop-in written by the refused runs" \
  "! on host-b test -e /etc/systemd/system/docker.service.d/90-registry-setup.conf"

# The same plan from INI, YAML and a ranged INI with -e.
mkdir -p "$work/ranged/host_vars"
printf '[lab]\nhost-[a:b]\n\n[registry]\nhost-a\n\n[clients]\nhost-b\n\n[lab:vars]\nansible_user=deploy\nansible_become=yes\n' \
  >"$work/ranged/hosts"
printf 'ansible_host: 192.168.1.11\n' >"$work/ranged/host_vars/host-a.yml"
printf 'ansible_host: 192.168.1.12\nansible_become_password: %s\n' "$password" >"$work/ranged/host_vars/host-b.yml"
ranged=(-i "$work/ranged/hosts" -e "registry_port=5000 registry_root=/var/lib/registry")
plans() { lab run -- "$bin" apply "$@" --list-hosts --json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["plays"]))'; }
ini_hosts=$(plans -i "$inventory")
echo "plays (INI): $ini_hosts"
check "--list-hosts: YAML and INI inventories give the same plays and hosts" \
  "[ \"\$(plans -i '$work/fleet/inventory.yml')\" = '$ini_hosts' ] && grep -q host-b <<<'$ini_hosts'"
check "--list-hosts: the ranged INI with -e gives them too" "[ \"\$(plans ${ranged[*]@Q})\" = '$ini_hosts' ]"
tasks() { lab run -- "$bin" apply "$@" --check --json |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps([[h["host"], [(t["task"], t["status"], t.get("summary")) for t in h["tasks"]]] for h in d["hosts"]], sort_keys=True))'; }
ini_tasks=$(tasks -i "$inventory")
check "--check --json: YAML, INI and ranged inventories plan the same tasks with the same arguments" \
  "[ \"\$(tasks -i '$work/fleet/inventory.yml')\" = '$ini_tasks' ] && [ \"\$(tasks ${ranged[*]@Q})\" = '$ini_tasks' ] && grep -q changed <<<'$ini_tasks'"

out=$(apply -vv 2>&1); rc=$?
echo "$out" | grep -vE "^\[|^ssh |debug" | grep -iE "failed|=>" | head -20; echo "$out" | tail -4
check "apply as deploy through sudo (NOPASSWD and password) exits 0" "[ $rc -eq 0 ]"
check "the become password is in no output, not even -vv's commands" "! grep -q '$password' <<<\"\$out\""
check "host-b: the drop-in is root's" \
  "[ \"\$(on host-b stat -c %U /etc/systemd/system/docker.service.d/90-registry-setup.conf)\" = root ]"
check "host-a: the registry unit is active" "on host-a systemctl is-active --quiet registry-setup-registry.service"
out=$(apply 2>&1); rc=$?
check "a second apply through sudo exits 0 and changes nothing" \
  "[ $rc -eq 0 ] && grep -q 'changed=0' <<<\"\$out\" && ! grep -qE 'changed=[1-9]' <<<\"\$out\""

# The drop-in deleted by hand, no daemon-reload: the loaded unit still has the flag, the
# file on disk does not; apply writes it again.
on host-b rm /etc/systemd/system/docker.service.d/90-registry-setup.conf
out=$(apply 2>&1); rc=$?
check "after the drop-in was deleted apply exits 0 and changes host-b" \
  "[ $rc -eq 0 ] && grep -qE '^host-b +: ok=[0-9]+ +changed=[1-9]' <<<\"\$out\""
check "host-b: the drop-in is back with the flag" \
  "on host-b grep -q -- '--insecure-registry $registry' /etc/systemd/system/docker.service.d/90-registry-setup.conf"
out=$(lab run -- "$bin" verify "$inventory" 2>&1); rc=$?
echo "$out" | tail -3
check "verify is green after the repair" "[ $rc -eq 0 ]"

lab down; rc=$?
check "lab down exits 0" "[ $rc -eq 0 ]"
exit $fail
