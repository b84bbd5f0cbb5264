#!/usr/bin/env bash
# Installs what opendps needs on Debian 12 (only what is missing) and builds
# it into build/ (or the tree given as $1, with extra CMake arguments after).
# Safe to run again: it installs nothing twice and rebuilds incrementally.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-"$root/build"}
shift || true

packages=(
  build-essential cmake pkg-config git
  libssl-dev openssl libevent-dev libjansson-dev libsqlite3-dev libcurl4-openssl-dev
  libcmocka-dev
  libtss2-dev swtpm swtpm-tools tpm2-tools
  python3 curl ca-certificates
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Node.js and npm run the conformance suite (the real Azure SDK packages).
# Any node >= 18 with npm will do, Debian's or another one already installed,
# so look for the commands rather than for Debian's package names.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Build quietly into a log; show the log's end only when something fails.
mkdir -p "$build_dir"
log="$build_dir/build.log"
echo "setup: building in $build_dir (log: $log)"
if ! { cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" &&
       cmake --build "$build_dir" -j"$(nproc)"; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "setup: the build failed; the whole log is $log" >&2
  exit 1
fi
