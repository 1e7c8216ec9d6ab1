#!/usr/bin/env bash
# Installs what is missing, builds raftkv, and runs every test: unit, fuzz
# corpus replay and integration tests, first in a normal build, then again
# under AddressSanitizer + UndefinedBehaviorSanitizer, then the threaded
# parts (the server and its integration tests) under ThreadSanitizer.
# This is the README's test command and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

run_suite() {  # build-dir, cmake flags...
  local dir=$1
  shift
  echo "=== $dir: $*"
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j2
  (cd "$dir" && ctest --output-on-failure --timeout 1200)
}

run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DRAFTKV_SANITIZE=address,undefined
