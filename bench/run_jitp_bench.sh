#!/usr/bin/env bash
# JITP storm: a root CA and an intermediate made with openssl, the intermediate registered with the
# real `aws iot register-ca-certificate` (proof of possession, --set-as-active,
# --allow-auto-registration, a JITP template that creates a thing named from the CN, an inline
# policy allowing iot:Connect and the ACTIVE certificate), then fleetgate-jitp-bench: DEVICES
# unknown devices connect at once (provisioned, refused with CONNACK 5), reconnect until accepted,
# and connect once more as registered devices. Afterwards `aws iot list-things` must count DEVICES
# things. Rates are printed next to AWS IoT's default quota of 500 connects/s per account.
# Usage: bench/run_jitp_bench.sh [build-dir]
# Knobs: DEVICES (2000), CONCURRENCY (64 connections in flight), THREADS (2, client threads),
# TLS (1.3), FLEETGATE_SERVER_NAME (localhost: SNI and the name checked in fleetgate's
# certificate).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bin=$build/src/cli/fleetgate
bench=$build/bench/fleetgate-jitp-bench
python=/usr/bin/python3
devices=${DEVICES:-2000}
concurrency=${CONCURRENCY:-64}
threads=${THREADS:-2}
tls=${TLS:-1.3}

for f in "$bin" "$bench"; do
  [ -x "$f" ] || { echo "missing $f (build with scripts/build.sh)" >&2; exit 2; }
done
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
chmod 700 "$work"
server=
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server" 2>/dev/null; then
      echo "!!! fleetgate $server did not exit within 30 s of SIGTERM: killed" >&2
      kill -KILL "$server" 2>/dev/null || true
    fi
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# ---- PKI: EC P-256 root CA and the intermediate that signs the devices ----
pki=$work/pki
mkdir -m 700 "$pki"
cat > "$pki/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_ca_signed]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
key() {  # $1 = path; private keys 0600
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null)
}
serial() { "$python" -c 'import secrets; print(secrets.randbits(63))'; }
key "$pki/root.key"
openssl req -x509 -new -config "$pki/openssl.cnf" -key "$pki/root.key" \
  -subj "/CN=fleetgate jitp bench root" -days 2 -sha256 -extensions v3_ca \
  -set_serial "$(serial)" -out "$pki/root.pem"
key "$pki/ca.key"
openssl req -new -config "$pki/openssl.cnf" -key "$pki/ca.key" \
  -subj "/CN=fleetgate jitp bench CA" -out "$pki/ca.csr"
openssl x509 -req -in "$pki/ca.csr" -CA "$pki/root.pem" -CAkey "$pki/root.key" -days 2 \
  -sha256 -set_serial "$(serial)" -extfile "$pki/openssl.cnf" -extensions v3_ca_signed \
  -out "$pki/ca.pem" 2>/dev/null

# ---- fleetgate ----
data=$work/fleetgate
"$bin" init --data-dir "$data" --account-id 123456789012 \
  --access-key-id AKIAFLEETGATEBENCH01 \
  --secret-access-key fleetgate/jitp/bench/secret/key/0000000000 --region us-east-1 > /dev/null
# --key-pool 0: no background RSA key generation competing with the storm.
"$bin" serve --data-dir "$data" --api-port 0 --mqtt-port 0 --mqtt-alpn-port 0 --key-pool 0 \
  --port-file "$work/ports" > "$work/fleetgate-serve.log" 2>&1 &
server=$!
for _ in $(seq 300); do [ -s "$work/ports" ] && break; sleep 0.1; done
[ -s "$work/ports" ] || { echo "fleetgate serve did not start:" >&2; cat "$work/fleetgate-serve.log" >&2; exit 1; }
api=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["api"])' "$work/ports")
mqtt=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt"])' "$work/ports")

aws_iot() {
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
    AWS_SHARED_CREDENTIALS_FILE="$data/aws-credentials" AWS_CONFIG_FILE=/dev/null \
    AWS_EC2_METADATA_DISABLED=true AWS_PAGER= AWS_MAX_ATTEMPTS=1 HOME="$work" \
    timeout 300 /usr/bin/aws iot "$@" --endpoint-url "https://127.0.0.1:$api" \
    --ca-bundle "$data/pki/server-root-ca.pem" --region us-east-1 --output json
}
json_field() {  # $1 = key; JSON on stdin
  "$python" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# ---- register the intermediate with proof of possession and a JITP template ----
code=$(aws_iot get-registration-code | json_field registrationCode)
key "$pki/verification.key"
openssl req -new -config "$pki/openssl.cnf" -key "$pki/verification.key" -subj "/CN=$code" \
  -out "$pki/verification.csr"
openssl x509 -req -in "$pki/verification.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -days 2 \
  -sha256 -set_serial "$(serial)" -out "$pki/verification.pem" 2>/dev/null
registration_config=$("$python" - <<'EOF'
import json
policy = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect",
     "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"}]}
template = {
    "Parameters": {
        "AWS::IoT::Certificate::CommonName": {"Type": "String"},
        "AWS::IoT::Certificate::Id": {"Type": "String"},
    },
    "Resources": {
        "thing": {"Type": "AWS::IoT::Thing",
                  "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"}}},
        "certificate": {"Type": "AWS::IoT::Certificate",
                        "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                                       "Status": "ACTIVE"}},
        "policy": {"Type": "AWS::IoT::Policy",
                   "Properties": {"PolicyDocument": json.dumps(policy)}},
    },
}
print(json.dumps({"templateBody": json.dumps(template),
                  "roleArn": "arn:aws:iam::123456789012:role/JITP"}))
EOF
)
ca_id=$(aws_iot register-ca-certificate --ca-certificate "file://$pki/ca.pem" \
  --verification-cert "file://$pki/verification.pem" --set-as-active --allow-auto-registration \
  --registration-config "$registration_config" | json_field certificateId)
echo "registered JITP CA $ca_id"

# ---- the storm ----
read -r -a cpu_start < <(grep '^cpu ' /proc/stat)
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
args=(--port "$mqtt" --ca "$data/pki/server-root-ca.pem"
      --server-name "${FLEETGATE_SERVER_NAME:-localhost}" --broker-pid "$server"
      --device-ca "$pki/ca.pem" --device-ca-key "$pki/ca.key"
      --devices "$devices" --concurrency "$concurrency" --threads "$threads" --tls "$tls")
echo "+ $bench ${args[*]}"
rc=0
"$bench" "${args[@]}" || rc=$?
read -r -a cpu_end < <(grep '^cpu ' /proc/stat)

# ---- afterwards: one thing per device ----
things=$(aws_iot list-things | "$python" -c 'import json,sys; print(len(json.load(sys.stdin)["things"]))')
echo "things in the registry: $things (expected $devices)"
[ "$things" = "$devices" ] || { echo "!!! expected $devices things, found $things" >&2; rc=1; }

echo
echo "command: DEVICES=$devices CONCURRENCY=$concurrency THREADS=$threads TLS=$tls bash bench/run_jitp_bench.sh $build"
awk -v s="${cpu_start[*]}" -v e="${cpu_end[*]}" 'BEGIN {
  n = split(s, a, " "); split(e, b, " "); total = 0
  for (i = 2; i <= n; i++) total += b[i] - a[i]
  if (total > 0) printf "CPU steal by the hypervisor during the run: %.0f%% (figures are noisier the higher it is)\n", 100 * (b[9] - a[9]) / total
}'
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
# What the server logged beyond the expected one line per provisioned certificate.
unusual=$(grep -v -e 'provisioned certificate .* (JITP)' "$work/fleetgate-serve.log" |
  grep -i -E 'warn|error|fail|crit' || true)
if [ -n "$unusual" ]; then
  echo "server log: $(wc -l <<< "$unusual") warning/error lines, the first ones:"
  head -20 <<< "$unusual"
else
  echo "server log: no warnings or errors"
fi
[ "$rc" = 0 ] || echo "!!! the run FAILED (exit $rc)" >&2
exit "$rc"
