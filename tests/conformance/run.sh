#!/bin/sh
# Conformance suite: the unmodified Azure IoT Node.js SDKs against dpsd and hubd.
#
#   tests/conformance/run.sh [--update-matrix] [test/FILE.test.js ...]
#
# Installs the pinned packages with `npm ci` when node_modules is missing or
# package.json / package-lock.json / .npmrc changed since the last install
# (a stamp file in node_modules records their hash), then runs lib/suite.js:
# start hubd and dpsd, run test/*.test.js, stop both (exit 0 required), check
# docs/compatibility.md against the results. Exit status non-zero on any
# failure.
#
# Environment: DPS_BIN_DIR (directory holding dpsd and hubd; default ../../build/bin
# relative to this directory), CONF_NPM_TIMEOUT (seconds for npm ci, default
# 600), and the bounds listed in lib/suite.js.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

for tool in node npm openssl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "conformance: '$tool' not found (install Debian's nodejs, npm and openssl packages)" >&2
        exit 1
    fi
done

stamp=node_modules/.opendps-install-stamp
want=$(cat package.json package-lock.json .npmrc | sha256sum | cut -d' ' -f1)

install_if_needed() {
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    echo "conformance: npm ci (node $(node --version), npm $(npm --version))"
    # .npmrc sets ignore-scripts=true: no package here needs its install
    # scripts on Linux (see docs/compatibility.md, "Packages").
    timeout "${CONF_NPM_TIMEOUT:-600}" npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
}

# Two runs (say, the normal and the sanitizer build tree) must not install
# into the same node_modules at once.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$here/.install.lock"
    flock -w 900 9 || { echo "conformance: timed out waiting for the install lock" >&2; exit 1; }
    install_if_needed
    flock -u 9
    exec 9>&-
else
    install_if_needed
fi

exec node lib/suite.js "$@"
