#!/usr/bin/env bash
# Configures (once) and builds Spindle into ./build (or $SPINDLE_BUILD_DIR).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SPINDLE_BUILD_DIR:-$root/build}
opts=(-Dbuildtype=debugoptimized)
[ "${CI:-}" = 1 ] && opts+=(-Dwerror=true -Dhot_asserts=true)
# An existing build dir keeps its options: reconfiguring it from here could
# regenerate it under a running `meson test`.
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" "${opts[@]}" >&2
fi
ninja -C "$build" >&2
