#!/usr/bin/env bash
# Configures and builds fleetgate into a build directory (default: build).
# Usage: scripts/build.sh [build-dir] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
# Paths relative to the checkout, so every clone (CI's among them) shares one compiler cache.
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
shift || true
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLEETGATE_WERROR=ON "$@"
cmake --build "$build_dir" -j "$(nproc)"
