#!/usr/bin/env bash
# Installs every Debian 12 package fleetgate needs to build, run and test. Idempotent.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config clang-14 libclang-rt-14-dev
  libssl-dev openssl libboost1.81-dev nlohmann-json3-dev libsqlite3-dev sqlite3
  libcli11-dev libspdlog-dev libfmt-dev libp11-kit-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  awscli python3-boto3 python3-paho-mqtt mosquitto mosquitto-clients curl procps
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
