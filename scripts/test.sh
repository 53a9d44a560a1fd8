#!/usr/bin/env bash
# Installs what is missing, builds with -Werror, and runs the whole test suite (unit, fuzz
# corpora, integration with the real aws CLI and boto3). Then builds once more with
# AddressSanitizer + UBSan and runs the unit and fuzz-corpus tests there.
# The last line is ctest's summary of the main run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}

bash scripts/build.sh build-asan -DFLEETGATE_SANITIZE=ON -DFLEETGATE_BENCH=OFF
(cd build-asan && ctest --output-on-failure -j "$(nproc)" -L 'unit|fuzz' --timeout 300)

bash scripts/build.sh build
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 600
