#!/usr/bin/env bash
# README command 2: installs what is missing, builds with -Werror, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build test
# The real-systemd tests boot nspawn nodes from this cached root filesystem (built once).
if [ "$(id -u)" -eq 0 ]; then
  scripts/lab-rootfs.sh
fi
start=$(date +%s)
scripts/build.sh -DRS_WERROR=ON -DRS_BUILD_TESTS=ON
echo "build: $(( $(date +%s) - start )) s"
cd build
ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@"
