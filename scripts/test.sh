#!/usr/bin/env bash
# Installs what is missing, builds once with -Werror and AddressSanitizer + UBSan, and runs the
# whole test suite there: unit tests, every fuzz target over its corpus, and integration tests
# that drive the real binary with the aws CLI and boto3. The last lines are ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# -O1 keeps sanitizer builds quick to compile and still fast enough to run.
bash scripts/build.sh build-check -DFLEETGATE_SANITIZE=ON -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g"
cd build-check
ctest --output-on-failure -j "$(nproc)" --timeout 1200
