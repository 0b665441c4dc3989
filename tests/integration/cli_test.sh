#!/usr/bin/env bash
# The command line as a user meets it: help, version, unknown commands, exit codes.
set -u
bin=$1
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }

help=$("$bin" --help); rc=$?
check "--help exits 0" "[ $rc -eq 0 ]"
for cmd in serve apply verify lab htpasswd; do
  check "--help lists $cmd" "grep -qE '^  $cmd ' <<<\"\$help\""
done
check "--version prints the version" "\"$bin\" --version | grep -qE '^registry-setup [0-9]+\.[0-9]+\.[0-9]+$'"
"$bin" frobnicate >/dev/null 2>&1; rc=$?
check "an unknown command exits 1" "[ $rc -eq 1 ]"
"$bin" >/dev/null 2>&1; rc=$?
check "no command exits 1" "[ $rc -eq 1 ]"

# A copied binary needs no files beside it: the built-in playbook, any inventory format.
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
cp "$bin" "$work/bin/registry-setup"
copied=$work/bin/registry-setup
out=$("$copied" apply -i "$root/examples/fleet/hosts" --list-hosts); rc=$?
check "a copied binary lists hosts of the INI example with its built-in playbook" \
  "[ $rc -eq 0 ] && grep -q '^playbook: (built in) playbooks/site.yml' <<<\"\$out\" && grep -q 'hosts (2):' <<<\"\$out\""
check "--syntax-check on the YAML example exits 0" "\"$copied\" apply -i '$root/examples/fleet/inventory.yml' --syntax-check >/dev/null"
out=$("$copied" apply -i "$root/examples/fleet/hosts" --list-hosts --limit 'clients[0]'); rc=$?
check "--limit 'clients[0]' selects host-b alone" "[ $rc -eq 0 ] && grep -q 'hosts (1):' <<<\"\$out\" && grep -q '      host-b' <<<\"\$out\""
mkdir -p "$work/share/registry-setup/playbooks"
printf -- '- name: installed\n  hosts: registry\n  tasks: []\n' >"$work/share/registry-setup/playbooks/site.yml"
out=$("$copied" apply -i "$root/examples/fleet/hosts" --list-hosts); rc=$?
check "an installed playbook beside the binary (<prefix>/share/registry-setup) wins over the built-in one" \
  "[ $rc -eq 0 ] && grep -q 'play #1 (registry): installed' <<<\"\$out\""
"$copied" apply >/dev/null 2>&1; rc=$?
check "apply without an inventory exits 1" "[ $rc -eq 1 ]"
out=$("$copied" apply -i "$work/nonexistent" --syntax-check 2>&1); rc=$?
check "a missing inventory: exit 1, named" "[ $rc -eq 1 ] && grep -q 'nonexistent' <<<\"\$out\""
exit $fail
