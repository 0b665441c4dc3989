#!/usr/bin/env bash
# `registry-setup apply` and `verify` as users meet them: help, usage errors and invalid input exit 1
# before any host is contacted (no network used here).
set -uo pipefail
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() {  # expect CODE PATTERN -- ARGS...
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$("$bin" "$@" 2>&1)
  rc=$?
  if [ $rc -ne "$code" ] || ! grep -q -- "$pattern" <<<"$out"; then
    echo "FAIL: registry-setup $* -> exit $rc (want $code, /$pattern/):"
    echo "$out" | head -5
    fail=1
  else
    echo "ok: registry-setup $* -> $code"
  fi
}
printf 'all:\n  children:\n    registry:\n      hosts:\n        a: {ansible_port: 0}\n' >"$tmp/bad.yml"
printf -- '- hosts: all\n  tasks:\n    - sysctl: {name: net.ipv4.ip_forward}\n' >"$tmp/pb.yml"
# A host no run could ever change: ssh to a closed port on loopback, should validation let
# a run through by mistake.
printf 'all:\n  hosts:\n    a: {ansible_host: 127.0.0.1, ansible_port: 1}\n' >"$tmp/good.yml"
expect 0 'exit codes: 0 all hosts ok' -- apply --help
expect 1 'needs one INVENTORY, or -i INVENTORY' -- apply
expect 1 "unknown option '--bogus'" -- apply "$tmp/good.yml" --bogus
expect 1 "needs a positive number" -- apply "$tmp/good.yml" --forks 0
expect 1 "cannot read the inventory file" -- apply "$tmp/missing.yml"
expect 1 "bad.yml:5: all.children.registry.hosts.a.ansible_port: '0' is not a port number" -- apply "$tmp/bad.yml"
expect 1 "pb.yml:3: plays\[0\].tasks\[0\].sysctl.value: required" -- apply "$tmp/good.yml" --playbook "$tmp/pb.yml"
expect 1 "no host or group 'nosuch'" -- apply "$tmp/good.yml" --limit nosuch
expect 1 '"problems"' -- apply "$tmp/bad.yml" --json
# verify: the same input rules, its own help and exit codes.
expect 0 'exit codes: 0 all good, 1 usage or invalid input, 2 drift or a failed check' -- verify --help
expect 1 'needs one INVENTORY, or -i INVENTORY' -- verify
expect 1 "unknown option '--check'" -- verify "$tmp/good.yml" --check
expect 1 "needs a positive number" -- verify "$tmp/good.yml" --forks x
expect 1 "registry-setup verify: nothing was changed; 1 problem" -- verify "$tmp/bad.yml"
expect 1 "pb.yml:3: plays\[0\].tasks\[0\].sysctl.value: required" -- verify "$tmp/good.yml" --playbook "$tmp/pb.yml"
expect 1 '"problems"' -- verify "$tmp/bad.yml" --json
exit $fail
