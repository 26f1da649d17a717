#!/usr/bin/env bash
# Builds the protocol fuzz targets (tests/fuzz/fuzz_*.c) with clang's
# libFuzzer, ASan and UBSan, and runs each for a bounded time starting from
# its committed corpus (tests/fuzz/corpus/<target>/). New inputs go to
# build-fuzz/corpus/<target>/, not into the repository; a crash leaves its
# input in build-fuzz/ and fails the script.
#
#   tools/run-fuzzers.sh [seconds-per-target]    (default 25; whole run < 5 min)
#
# Needs clang and libFuzzer's runtime (Debian: clang, libclang-rt-14-dev).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs=${1:-${FUZZ_SECONDS:-25}}
targets=(request message batch decompress)
cc=${FUZZ_CC:-clang}
out=build-fuzz

if ! command -v "$cc" >/dev/null; then
    echo "run-fuzzers: $cc not found (install clang and libclang-rt-14-dev)" >&2
    exit 77
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
    >"$probe/p.c"
if ! "$cc" -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" 2>/dev/null; then
    echo "run-fuzzers: $cc cannot link -fsanitize=fuzzer (install libclang-rt-14-dev)" >&2
    exit 77
fi

# The libraries, instrumented for coverage but without libFuzzer's main.
if [ ! -f "$out/build.ninja" ]; then
    CC="$cc" meson setup "$out" -Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
        -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link -Dclient_tests=false >/dev/null
fi
ninja -C "$out" protocol/libsp_protocol.a core/libsp_core.a >/dev/null

libs=("$out/protocol/libsp_protocol.a" "$out/core/libsp_core.a")
syslibs=(-lzstd -llz4 -lz -lsnappy -luring -lpthread -lm)
flags=(-std=c11 -D_GNU_SOURCE -O1 -g -I. -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
for t in "${targets[@]}"; do
    src=tests/fuzz/fuzz_$t.c
    [ -f "$src" ] || continue
    "$cc" "${flags[@]}" "$src" "${libs[@]}" "${syslibs[@]}" -o "$out/fuzz_$t"
    mkdir -p "$out/corpus/$t"
    echo "fuzz_$t: ${secs}s"
    log="$out/fuzz_$t.log"
    if ! "$out/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$out/crash-$t-" \
        "$out/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
        echo "fuzz_$t FAILED; see $log" >&2
        tail -n 40 "$log" >&2
        status=1
        continue
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    echo "fuzz_$t: $execs execs, no crash"
done
exit $status
