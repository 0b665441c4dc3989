#!/usr/bin/env bash
# README command 2: installs what is missing, builds with -Werror, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build test
start=$(date +%s)
scripts/build.sh -DRS_WERROR=ON -DRS_BUILD_TESTS=ON
echo "build: $(( $(date +%s) - start )) s"
cd build
ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@"
