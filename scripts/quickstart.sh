#!/usr/bin/env bash
# README command 1: installs what is missing, builds, and runs the main job on a working
# default: the seed scenario for real, on two lab hosts made on this machine
# (examples/two-host/inventory.yml), see scripts/demo.sh. As root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build lab
scripts/build.sh
exec scripts/demo.sh
