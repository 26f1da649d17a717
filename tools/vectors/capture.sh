#!/usr/bin/env bash
# Captures the protocol vectors in tests/protocol/vectors/: real clients
# (kcat/librdkafka, kafka-python, confluent-kafka-python, KafkaJS) talk to
# librdkafka's mock cluster through capture_proxy.py, which records every
# request and response frame. Run by hand once (needs kcat, librdkafka-dev,
# python3-kafka, python3-confluent-kafka, node with kafkajs in
# tests/clients/node: tools/deps.sh --test); the output is committed and
# the 'vectors' test decodes it. Clients that are missing are skipped.
#
#   tools/vectors/capture.sh [OUT_DIR [RUN_PREFIX...]]
#
# OUT_DIR defaults to tests/protocol/vectors; with RUN_PREFIX only the runs
# whose names start with one of them are captured (e.g. "confluent kafkajs"
# leaves the committed kcat runs alone). Each consume run reads back every
# record produced earlier in the same invocation.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${1:-tests/protocol/vectors}
[ $# -gt 0 ] && shift
only=("$@")
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
produced=0
wanted() { # name
    [ ${#only[@]} = 0 ] && return 0
    for o in "${only[@]}"; do [[ $1 == "$o"* ]] && return 0; done
    return 1
}
run() { # name command...
    local name=$1; shift
    wanted "$name" || return 0
    port=$((port + 1))
    rm -rf "${out:?}/$name"
    python3 tools/vectors/capture_proxy.py "$port" "$boot" "$out/$name" >"$tmp/proxy.$name" &
    pids+=($!)
    for _ in $(seq 50); do grep -q ready "$tmp/proxy.$name" 2>/dev/null && break; sleep 0.1; done
    BROKER=127.0.0.1:$port COUNT=$produced "$@"
    sleep 0.5
    case $name in *-produce-*) produced=$((produced + 3)) ;; esac
}

for z in none gzip snappy lz4 zstd; do
    run "kcat-produce-$z" sh -c 'printf "k1:%s-one\nk2:%s-two\n:%s-three\n" '"$z $z $z"' |
        kcat -P -b "$BROKER" -t vec -p 0 -z '"$z"' -K: -H trace=abc -X linger.ms=100'
done
run kcat-consume sh -c 'kcat -C -b "$BROKER" -t vec -p 0 -o beginning -c "$COUNT" -e -q >/dev/null'
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
if /usr/bin/python3 -c 'import confluent_kafka' 2>/dev/null; then
    for z in none gzip snappy lz4 zstd; do
        run "confluent-produce-$z" /usr/bin/python3 tools/vectors/confluent_client.py produce "$z"
    done
    run confluent-consume sh -c '/usr/bin/python3 tools/vectors/confluent_client.py consume "$COUNT"'
fi
if command -v node >/dev/null && [ -d tests/clients/node/node_modules/kafkajs ]; then
    # KafkaJS has only gzip built in (snappy, lz4 and zstd need codec
    # packages with native parts) and uses its own topic, vec-js.
    for z in none gzip; do
        run "kafkajs-produce-$z" node tools/vectors/kafkajs_client.js produce "$z"
    done
    run kafkajs-consume node tools/vectors/kafkajs_client.js consume 6
fi
echo "captured into $out:"
ls "$out"
