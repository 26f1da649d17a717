#!/usr/bin/env bash
# README command 1: install what is missing, build, and start a single-node
# Spindle on localhost:9092 with its data in ./data. Ctrl-C stops it cleanly.
# Extra arguments go to spindle (e.g. --set num.partitions=3).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/tools/deps.sh"
"$root/tools/build.sh"
build=${SPINDLE_BUILD_DIR:-$root/build}
exec "$build/cluster/spindle" \
    --set listeners=PLAINTEXT://localhost:9092 \
    --set log.dirs="${SPINDLE_DATA_DIR:-$root/data}" "$@"
