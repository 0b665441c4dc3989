#!/usr/bin/env bash
# `registry-setup lab` as a user meets it, without root: help, usage errors, invalid input.
set -u
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }

"$bin" lab --help >"$work/out"; rc=$?
check "lab --help exits 0 and lists the commands" \
  "[ $rc -eq 0 ] && grep -q '^  up INVENTORY' '$work/out' && grep -q '^  down' '$work/out' && grep -q '^  run -- CMD' '$work/out'"
for sub in up status exec run down; do
  "$bin" lab "$sub" --help >"$work/out"; rc=$?
  check "lab $sub --help exits 0 with a usage line" "[ $rc -eq 0 ] && grep -q '^usage: registry-setup lab $sub' '$work/out'"
done
"$bin" lab >/dev/null 2>&1; rc=$?
check "lab without a command exits 1" "[ $rc -eq 1 ]"
"$bin" lab frobnicate >/dev/null 2>&1; rc=$?
check "an unknown lab command exits 1" "[ $rc -eq 1 ]"
"$bin" lab up >/dev/null 2>&1; rc=$?
check "lab up without an inventory exits 1" "[ $rc -eq 1 ]"
"$bin" lab up --bogus x.yml >/dev/null 2>&1; rc=$?
check "lab up with an unknown option exits 1" "[ $rc -eq 1 ]"
"$bin" lab up "$work/missing.yml" 2>"$work/err"; rc=$?
check "lab up with a missing inventory exits 1 naming it" "[ $rc -eq 1 ] && grep -q missing.yml '$work/err'"
printf 'all:\n  hosts:\n    a: {ansible_host: 10.0.0.1}\n    b: {ansible_host: 10.0.0.1}\n    c: {ansible_host: nope}\n' >"$work/bad.yml"
"$bin" lab up "$work/bad.yml" 2>"$work/err"; rc=$?
check "lab up with a bad inventory exits 1 listing every problem" \
  "[ $rc -eq 1 ] && grep -q \"host 'b': address 10.0.0.1 is used twice\" '$work/err' && grep -q \"host 'c': 'nope'\" '$work/err'"
printf 'all:\n  hosts:\n    a: {ansible_host: 10.99.0.1}\n' >"$work/good.yml"
RS_LAB_RUN_DIR="$work/run" "$bin" lab up --name Bad_Name "$work/good.yml" >/dev/null 2>"$work/err"; rc=$?
check "an invalid lab name exits 1 naming it" "[ $rc -eq 1 ] && grep -q \"lab name 'Bad_Name'\" '$work/err'"
RS_LAB_RUN_DIR="$work/run" "$bin" lab up --prefix 40 "$work/good.yml" >/dev/null 2>"$work/err"; rc=$?
check "an invalid prefix exits 1 naming it" "[ $rc -eq 1 ] && grep -q 'prefix length 40' '$work/err'"
check "nothing was created for the refused labs" "[ ! -e '$work/run' ]"
"$bin" lab exec >/dev/null 2>&1; rc=$?
check "lab exec without a host exits 1" "[ $rc -eq 1 ]"
"$bin" lab run >/dev/null 2>&1; rc=$?
check "lab run without a command exits 1" "[ $rc -eq 1 ]"
RS_LAB_RUN_DIR="$work/run" "$bin" lab status --name nolab >/dev/null 2>"$work/err"; rc=$?
check "lab status of a lab that is not up exits 2 and says so" "[ $rc -eq 2 ] && grep -q 'is not up' '$work/err'"
RS_LAB_RUN_DIR="$work/run" "$bin" lab exec --name nolab host-a -- true >/dev/null 2>&1; rc=$?
check "lab exec in a lab that is not up exits 2" "[ $rc -eq 2 ]"
if [ "$(id -u)" -ne 0 ]; then
  printf 'all:\n  hosts:\n    a: {ansible_host: 10.0.0.1}\n' >"$work/good.yml"
  "$bin" lab up "$work/good.yml" 2>"$work/err"; rc=$?
  check "lab up without root exits 2 saying root is needed" "[ $rc -eq 2 ] && grep -q 'needs root' '$work/err'"
fi
exit $fail
