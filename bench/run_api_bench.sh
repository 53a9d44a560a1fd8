#!/usr/bin/env bash
# Control-plane throughput: CreateCertificateFromCsr and CreateKeysAndCertificate through the
# real HTTPS API (keep-alive, SigV4, durable commits) with 1, 8 and 32 clients, next to the
# same crypto in-process. Usage: bench/run_api_bench.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bin=$build/src/cli/fleetgate
bench=$build/bench/fleetgate-api-bench
work=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

run_server() {  # $1 = issued key type
  local dir=$work/data-$1
  "$bin" init --data-dir "$dir" --issued-key-type "$1" > /dev/null
  "$bin" serve --data-dir "$dir" --api-port 0 --port-file "$dir/port" > "$dir/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
  port=$(cat "$dir/port")
  args=(--port "$port" --ca "$dir/pki/server-root-ca.pem" --credentials "$dir/aws-credentials")
}
stop_server() { kill "$server"; wait "$server" || true; server=; }

run_server ec
"$bench" "${args[@]}" --operation csr --requests "${REQUESTS:-3000}"
"$bench" "${args[@]}" --operation keys --key-type ec --requests "${REQUESTS:-3000}"
stop_server
run_server rsa
# RSA-2048 generation (~3/s per core) bounds this one: the pool only absorbs bursts.
"$bench" "${args[@]}" --operation keys --key-type rsa --clients 1,8 --requests 24 \
  --inprocess-requests 20
stop_server
