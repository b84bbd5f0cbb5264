#!/usr/bin/env bash
# Quick start, command 2: the same set-up as start.sh, then the whole test
# suite twice: a normal build (build/) and an AddressSanitizer +
# UndefinedBehaviorSanitizer build (build-asan/). Exits non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)

echo "== normal build"
"$root/scripts/setup.sh" "$root/build"
echo "== normal build: tests"
ctest --test-dir "$root/build" --output-on-failure -j"$jobs"

echo "== sanitizer build (ASan + UBSan)"
"$root/scripts/setup.sh" "$root/build-asan" -DDPS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
echo "== sanitizer build: tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$root/build-asan" --output-on-failure -j"$jobs"
