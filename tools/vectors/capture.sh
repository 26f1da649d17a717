#!/usr/bin/env bash
# Captures the protocol vectors in tests/protocol/vectors/: real clients
# (kcat/librdkafka, kafka-python) talk to librdkafka's mock cluster through
# capture_proxy.py, which records every request and response frame.
# Run by hand once (needs kcat, librdkafka-dev, python3-kafka); the output
# is committed and the 'vectors' test decodes it.
#
#   tools/vectors/capture.sh [OUT_DIR]    (default tests/protocol/vectors)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${1:-tests/protocol/vectors}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

cc -o "$tmp/mock_broker" tools/vectors/mock_broker.c -lrdkafka
mkfifo "$tmp/hold"
"$tmp/mock_broker" <"$tmp/hold" >"$tmp/boot" 2>/dev/null &
pids+=($!)
exec 3>"$tmp/hold"
for _ in $(seq 50); do [ -s "$tmp/boot" ] && break; sleep 0.1; done
boot=$(head -n1 "$tmp/boot")

port=39100
run() { # name command...
    local name=$1; shift
    port=$((port + 1))
    rm -rf "${out:?}/$name"
    python3 tools/vectors/capture_proxy.py "$port" "$boot" "$out/$name" >"$tmp/proxy.$name" &
    pids+=($!)
    for _ in $(seq 50); do grep -q ready "$tmp/proxy.$name" 2>/dev/null && break; sleep 0.1; done
    BROKER=127.0.0.1:$port "$@"
    sleep 0.5
}

for z in none gzip snappy lz4 zstd; do
    run "kcat-produce-$z" sh -c 'printf "k1:%s-one\nk2:%s-two\n:%s-three\n" '"$z $z $z"' |
        kcat -P -b "$BROKER" -t vec -p 0 -z '"$z"' -K: -H trace=abc -X linger.ms=100'
done
run kcat-consume sh -c 'kcat -C -b "$BROKER" -t vec -p 0 -o beginning -c 15 -e -q >/dev/null'
if /usr/bin/python3 -c 'import kafka' 2>/dev/null; then
    run kafka-python /usr/bin/python3 -c '
import os
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers=os.environ["BROKER"], compression_type="gzip")
p.send("vec", key=b"kp", value=b"kafka-python-gzip", partition=0)
p.flush()
p.close()
'
fi
echo "captured into $out:"
ls "$out"
