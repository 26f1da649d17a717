#!/usr/bin/env bash
# Installs what Spindle needs on Debian 12 / Ubuntu, skipping what is there.
#
#   tools/deps.sh          build dependencies
#   tools/deps.sh --test   build dependencies plus the real clients and tools
#                          the test suites use (tools/deps/test-packages.txt,
#                          tools/deps/npm-packages.txt)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

read_list() { [ -f "$1" ] && grep -v '^\s*#' "$1" | grep -v '^\s*$' || true; }

pkgs=$(read_list "$here/deps/build-packages.txt")
if [ $want_test = 1 ]; then
    pkgs="$pkgs $(read_list "$here/deps/test-packages.txt")"
fi

# A package counts as present when dpkg has it or, for the ones below, when
# its command is already on PATH from elsewhere (NodeSource's nodejs bundles
# npm, and Debian's npm package conflicts with it).
provided_by_command() {
    case "$1" in
        nodejs) command -v node >/dev/null 2>&1 ;;
        npm) command -v npm >/dev/null 2>&1 ;;
        *) return 1 ;;
    esac
}
missing=()
for p in $pkgs; do
    provided_by_command "$p" && continue
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "spindle: this system has no apt-get; install these packages (or their equivalents) by hand:" >&2
        echo "  ${missing[*]}" >&2
        exit 1
    fi
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
            echo "spindle: need root or sudo to install: ${missing[*]}" >&2
            exit 1
        fi
    fi
    echo "spindle: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq || echo "spindle: apt-get update failed; trying the install anyway" >&2
    if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
        # One package that cannot be installed must not keep out the others;
        # the build packages are still required, test ones only skip tests.
        build_pkgs=" $(read_list "$here/deps/build-packages.txt" | tr '\n' ' ') "
        for p in "${missing[@]}"; do
            if ! $sudo apt-get install -y -qq --no-install-recommends "$p" >&2; then
                case "$build_pkgs" in
                    *" $p "*) echo "spindle: cannot install $p, which the build needs" >&2; exit 1 ;;
                    *) echo "spindle: cannot install $p; tests that need it will be skipped" >&2 ;;
                esac
            fi
        done
    fi
fi

if [ $want_test = 1 ]; then
    npm_list=$(read_list "$here/deps/npm-packages.txt" | tr '\n' ' ')
    if [ -n "$npm_list" ]; then
        if ! command -v npm >/dev/null 2>&1; then
            echo "spindle: npm not found; the JavaScript client tests will be skipped" >&2
        else
            nodedir="$root/tests/clients/node"
            mkdir -p "$nodedir"
            need=0
            for p in $npm_list; do
                name=${p%@*}; [ -z "$name" ] && name=$p
                [ -d "$nodedir/node_modules/$name" ] || need=1
            done
            if [ $need = 1 ]; then
                echo "spindle: npm install $npm_list" >&2
                (cd "$nodedir" && [ -f package.json ] || echo '{"private":true}' > "$nodedir/package.json"
                 cd "$nodedir" && npm install --no-audit --no-fund --silent $npm_list >&2) ||
                    echo "spindle: npm install failed; the JavaScript client tests will be skipped" >&2
            fi
        fi
    fi
fi
