#!/usr/bin/env bash
# README command 2: installs what is missing, builds with -Werror, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build test lab fuzz
start=$(date +%s)
scripts/build.sh -DRS_WERROR=ON -DRS_BUILD_TESTS=ON
echo "build: $(( $(date +%s) - start )) s"
# The fuzz targets (clang, ASan + UBSan + libFuzzer) in build-fuzz/; the tests labelled
# "fuzz" run each for a bounded time.
start=$(date +%s)
scripts/fuzz.sh --build
echo "fuzz build: $(( $(date +%s) - start )) s"
# The lab tests boot real nodes from a cached root filesystem: build it once (~2 min).
# Outside CI a machine where that fails still runs every other test (the lab tests then
# skip); in CI it is a failure, so that no real test can be skipped unnoticed.
if [ "$(id -u)" -eq 0 ]; then
  if ! scripts/lab-rootfs.sh; then
    [ -n "${CI:-}" ] && { echo "test: the lab root filesystem could not be built" >&2; exit 1; }
    echo "test: no lab root filesystem; the real lab tests will be skipped" >&2
  fi
fi
cd build
ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@"
