#!/usr/bin/env bash
# README command 2: install what is missing (with the real clients the tests
# use), build, and run every test suite: unit, protocol, storage,
# integration, crash, fuzz (corpus replay). Extra arguments go to meson test.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/tools/deps.sh" --test
"$root/tools/build.sh"
build=${SPINDLE_BUILD_DIR:-$root/build}
exec meson test -C "$build" --print-errorlogs --num-processes 2 "$@"
