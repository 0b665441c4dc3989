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
exit $fail
