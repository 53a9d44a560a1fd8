#!/usr/bin/env bash
# MQTT over mutual TLS, fleetgate's broker next to Debian's mosquitto with the same certificates,
# client and load: new connections per second (TLS 1.2 and 1.3) and broker CPU per connection,
# QoS 0/1 publish throughput 1:1 and 1:100, broker memory per idle connection. Each scenario runs
# against a freshly started mosquitto, then a freshly started fleetgate, and the table at the
# end gives fleetgate/mosquitto ratios next to the goals.
# Usage: bench/run_broker_bench.sh [build-dir]
# Knobs: CONNECTS (3000), CONCURRENCY (32), REPEAT (3 alternating connect runs, medians compared), MESSAGES (100000 for 1:1; fan-out sends MESSAGES/50
# to 100 subscribers), IDLE_CONNECTIONS (10000), THREADS (2, client threads),
# FLEETGATE_SERVER_NAME (localhost: SNI and the name checked in fleetgate's certificate).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bin=$build/src/cli/fleetgate
bench=$build/bench/fleetgate-broker-bench
mosquitto_bin=${MOSQUITTO:-/usr/sbin/mosquitto}
python=/usr/bin/python3
connects=${CONNECTS:-3000}
concurrency=${CONCURRENCY:-32}
messages=${MESSAGES:-100000}
fanout_messages=$((messages / 50 > 0 ? messages / 50 : 1))
idle=${IDLE_CONNECTIONS:-10000}
repeat=${REPEAT:-3}
threads=${THREADS:-2}

for f in "$bench" "$mosquitto_bin"; do
  [ -x "$f" ] || { echo "missing $f (build with scripts/build.sh; scripts/install-deps.sh)" >&2; exit 2; }
done
# 10,000 held connections need as many descriptors in the broker and in the client.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
broker=
status=0
cleanup() {
  [ -n "$broker" ] && kill "$broker" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---- PKI: one EC P-256 CA issuing mosquitto's server certificate and the client's ----
pki=$work/pki
mkdir -p "$pki"
(
  cd "$pki"
  key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
  key ca.key
  openssl req -x509 -new -key ca.key -subj "/CN=fleetgate bench CA" -days 2 -out ca.pem \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
  issue() {  # $1 = name, $2 = CN, $3 = extensions
    key "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
    printf '%b\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  }
  issue server localhost "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost"
  issue client bench-client "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth"
)
client=(--cert "$pki/client.pem" --key "$pki/client.key" --threads "$threads")

# ---- brokers ----
start_mosquitto() {
  local port conf=$work/mosquitto.conf
  port=$(free_port)
  # Running as root, mosquitto would drop to user `mosquitto` (which cannot read the keys in
  # this 0700 temp dir); `user root` keeps it as it was started.
  cat > "$conf" <<EOF
per_listener_settings false
listener $port 127.0.0.1
cafile $pki/ca.pem
certfile $pki/server.pem
keyfile $pki/server.key
require_certificate true
use_identity_as_username true
allow_anonymous true
set_tcp_nodelay true
max_inflight_messages 100
max_queued_messages 1000000
persistence false
connection_messages false
log_dest file $work/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
$( [ "$(id -u)" = 0 ] && echo "user root" )
EOF
  : > "$work/mosquitto.log"
  "$mosquitto_bin" -c "$conf" > "$work/mosquitto.out" 2>&1 &
  broker=$!
  for _ in $(seq 100); do grep -q " running" "$work/mosquitto.log" && break; sleep 0.1; done
  grep -q " running" "$work/mosquitto.log" || {
    echo "mosquitto did not start:" >&2; cat "$work/mosquitto.out" "$work/mosquitto.log" >&2; exit 1; }
  target=(--port "$port" --ca "$pki/ca.pem" --server-name 127.0.0.1 --broker-pid "$broker")
}

fleetgate_available=0
data=$work/fleetgate
if [ -x "$bin" ] && "$bin" serve --help 2>/dev/null | grep -q -- --mqtt-port; then
  fleetgate_available=1
else
  echo "fleetgate broker not available ($bin serve has no --mqtt-port): running mosquitto only"
fi

aws_iot() {  # $1 = api port, then the iot command
  local port=$1
  shift
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
    AWS_SHARED_CREDENTIALS_FILE="$data/aws-credentials" AWS_CONFIG_FILE=/dev/null \
    AWS_EC2_METADATA_DISABLED=true AWS_PAGER= HOME="$work" \
    /usr/bin/aws iot "$@" --endpoint-url "https://127.0.0.1:$port" \
    --ca-bundle "$data/pki/server-root-ca.pem" --region us-east-1 --output json
}

fleetgate_registered=0
start_fleetgate() {
  if [ ! -d "$data" ]; then
    "$bin" init --data-dir "$data" --account-id 123456789012 \
      --access-key-id AKIAFLEETGATEBENCH01 \
      --secret-access-key fleetgate/broker/bench/secret/key/000000 --region us-east-1 > /dev/null
  fi
  rm -f "$work/ports"
  # --key-pool 0: the control plane's pool of RSA keys for CreateKeysAndCertificate would
  # otherwise be generated in the background right after start (~0.4 s of CPU per key) and be
  # charged to the broker's CPU per connect. Nothing here issues keys.
  "$bin" serve --data-dir "$data" --api-port 0 --mqtt-port 0 --mqtt-alpn-port 0 --key-pool 0 \
    --port-file "$work/ports" > "$work/fleetgate-serve.log" 2>&1 &
  broker=$!
  for _ in $(seq 300); do [ -s "$work/ports" ] && break; sleep 0.1; done
  [ -s "$work/ports" ] || { echo "fleetgate serve did not start:" >&2; cat "$work/fleetgate-serve.log" >&2; exit 1; }
  local api mqtt
  api=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["api"])' "$work/ports")
  mqtt=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt"])' "$work/ports")
  if [ "$fleetgate_registered" = 0 ]; then
    local arn
    arn=$(aws_iot "$api" register-certificate-without-ca \
      --certificate-pem "file://$pki/client.pem" --status ACTIVE |
      "$python" -c 'import json,sys; print(json.load(sys.stdin)["certificateArn"])')
    aws_iot "$api" create-policy --policy-name bench-all --policy-document \
      '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}' > /dev/null
    aws_iot "$api" attach-policy --policy-name bench-all --target "$arn"
    fleetgate_registered=1
  fi
  target=(--port "$mqtt" --ca "$data/pki/server-root-ca.pem"
          --server-name "${FLEETGATE_SERVER_NAME:-localhost}"
          --broker-pid "$broker")
}

stop_broker() {  # SIGTERM, then SIGKILL (loudly) if the broker is still there after 30 s
  kill "$broker" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$broker" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$broker" 2>/dev/null; then
    echo "!!! broker $broker did not exit within 30 s of SIGTERM: killed" >&2
    kill -KILL "$broker" 2>/dev/null || true
    status=1
  fi
  wait "$broker" 2>/dev/null || true
  broker=
}

# ---- runs ----
read -r -a cpu_start < <(grep '^cpu ' /proc/stat)
table=$work/table
: > "$table"
result=

field() {  # $1 = result line, $2 = key
  sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<< "$1"
}

run_one() {  # $1 = broker name; the rest: bench arguments
  local name=$1 out rc=0
  shift
  echo "+ $bench ${target[*]} ${client[*]} $*"
  out=$("$bench" "${target[@]}" "${client[@]}" "$@" 2> "$work/stderr") || rc=$?
  printf '%s\n' "$out"
  cat "$work/stderr" >&2
  result=$(grep '^result ' <<< "$out" || true)
  if [ "$rc" != 0 ]; then
    result="${result:-result} run=FAILED"
    echo "!!! $name: FAILED (exit $rc): $*" >&2
    status=1
  fi
}

# $1 = label; $2 = unit; $3 = result key; $4 = goal as an awk condition on r (fleetgate /
# mosquitto) and f (fleetgate's value); $5 = goal text; $6/$7 = mosquitto / fleetgate result
# lines (fleetgate's may be empty).
row() {
  local m f ratio="-" verdict=""
  m=$(field "$6" "$3")
  f=$(field "$7" "$3")
  if [ -n "$m" ] && [ -n "$f" ]; then
    ratio=$(awk -v m="$m" -v f="$f" 'BEGIN { if (m > 0) printf "%.2f", f / m; else print "-" }')
  fi
  if grep -q 'run=FAILED' <<< "$6$7"; then
    verdict="run FAILED"
  elif [ -n "$f" ]; then
    verdict=$(awk -v m="$m" -v f="$f" "BEGIN { r = (m > 0) ? f / m : 0; print ($4) ? \"met\" : \"MISSED\" }")
  fi
  printf '%-30s %-14s %11s %11s %7s  %-9s %s\n' "$1" "$2" "${m:--}" "${f:--}" "$ratio" "$5" \
    "$verdict" >> "$table"
}

scenario() {  # $1 = title, then bench arguments; sets m_result and f_result
  echo
  echo "=== $1"
  start_mosquitto
  run_one mosquitto "${@:2}"
  m_result=$result
  stop_broker
  f_result=
  if [ "$fleetgate_available" = 1 ]; then
    start_fleetgate
    run_one fleetgate "${@:2}"
    f_result=$result
    stop_broker
  fi
}

# The median of each key over result lines (one per line on stdin), as one result line.
median_result() {  # $@ = keys
  local lines key values out="result"
  lines=$(cat)
  [ -n "$lines" ] || return 0
  for key in "$@"; do
    values=$(while read -r line; do field "$line" "$key"; done <<< "$lines" | sort -g)
    out+=" $key=$(awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' <<< "$values")"
  done
  grep -q 'run=FAILED' <<< "$lines" && out+=" run=FAILED"
  echo "$out"
}

# Connect runs are short and this VM's CPU is shared (steal time): alternate the brokers REPEAT
# times and compare medians.
for tls in 1.2 1.3; do
  m_all=""
  f_all=""
  for i in $(seq "$repeat"); do
    scenario "connect, TLS $tls: $connects connections, $concurrency loops (run $i of $repeat)" \
      --mode connect --tls "$tls" --connections "$connects" --concurrency "$concurrency"
    m_all+="$m_result"$'\n'
    [ -n "$f_result" ] && f_all+="$f_result"$'\n'
  done
  m_result=$(grep . <<< "$m_all" | median_result rate broker_cpu_ms_per_connect)
  f_result=$(grep . <<< "$f_all" | median_result rate broker_cpu_ms_per_connect || true)
  row "connect TLS $tls" "connects/s" rate "r >= 1.4" ">= 1.4x" "$m_result" "$f_result"
  row "connect TLS $tls broker CPU" "ms/connect" broker_cpu_ms_per_connect "r <= 0.8" "<= 0.8x" \
    "$m_result" "$f_result"
done

for qos in 0 1; do
  scenario "throughput QoS $qos 1:1: $messages messages" \
    --mode throughput --qos "$qos" --subscribers 1 --messages "$messages"
  row "publish QoS $qos 1:1" "deliveries/s" rate "r >= 1.2" ">= 1.2x" "$m_result" "$f_result"
  [ "$qos" = 0 ] && row "publish QoS 0 1:1 lost" "messages" lost "f == 0" "0" "$m_result" "$f_result"
  scenario "throughput QoS $qos 1:100: $fanout_messages messages" \
    --mode throughput --qos "$qos" --subscribers 100 --messages "$fanout_messages"
  row "publish QoS $qos 1:100" "deliveries/s" rate "r >= 1.2" ">= 1.2x" "$m_result" "$f_result"
  [ "$qos" = 0 ] && row "publish QoS 0 1:100 lost" "deliveries" lost "f == 0" "0" "$m_result" "$f_result"
done

scenario "idle: $idle mutual-TLS connections held" \
  --mode idle --tls 1.3 --connections "$idle" --timeout 120
row "idle connections held" "connections" held "f == $idle" "= $idle" "$m_result" "$f_result"
row "idle memory" "KiB/connection" kb_per_connection "r <= 1.0" "<= 1.0x" "$m_result" "$f_result"

echo
echo "=== fleetgate / mosquitto (same client, same certificates, same two cores)"
echo "command: CONNECTS=$connects CONCURRENCY=$concurrency REPEAT=$repeat MESSAGES=$messages IDLE_CONNECTIONS=$idle THREADS=$threads bash bench/run_broker_bench.sh $build"
read -r -a cpu_end < <(grep '^cpu ' /proc/stat)
awk -v s="${cpu_start[*]}" -v e="${cpu_end[*]}" 'BEGIN {
  n = split(s, a, " "); split(e, b, " "); total = 0
  for (i = 2; i <= n; i++) total += b[i] - a[i]
  if (total > 0) printf "CPU steal by the hypervisor during the run: %.0f%% (figures are noisier the higher it is)\n", 100 * (b[9] - a[9]) / total
}'
printf '%-30s %-14s %11s %11s %7s  %-9s %s\n' scenario unit mosquitto fleetgate ratio goal verdict
cat "$table"
[ "$fleetgate_available" = 1 ] || echo "(fleetgate broker not available: mosquitto only)"
[ "$status" = 0 ] || echo "!!! SOME RUNS FAILED: see the '!!!' lines above" >&2
exit "$status"
