#!/usr/bin/env bash
# README command 1: installs what is missing, builds, and runs the main job on a
# working default: the built-in registry on 127.0.0.1:5000 with its data in ./data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
scripts/build.sh
mkdir -p data
echo "quickstart: serving the registry on http://127.0.0.1:5000 (data in ./data); Ctrl-C stops it"
exec build/registry-setup serve --listen 127.0.0.1:5000 --root ./data
