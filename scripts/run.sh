#!/usr/bin/env bash
# Installs what is missing, builds, and runs fleetgate on its embedded defaults: an SQLite
# registry and generated CAs in ./data, the control plane on https://127.0.0.1:9443.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build -DFLEETGATE_TESTS=OFF -DFLEETGATE_BENCH=OFF
data_dir=${FLEETGATE_DATA_DIR:-data}
./build/src/cli/fleetgate init --data-dir "$data_dir"
exec ./build/src/cli/fleetgate serve --data-dir "$data_dir"
