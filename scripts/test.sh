#!/usr/bin/env bash
# Installs what is missing, builds raftkv, and runs every test:
#   1. build/       unit, fuzz-corpus, integration and fault-injection tests
#                   (RelWithDebInfo);
#   2. build-tsan/  the threaded parts — the server, the connection layer and
#                   the integration tests against a ThreadSanitizer server;
#   3. build-asan/  everything again (the fault runs too) under AddressSanitizer +
#                   UndefinedBehaviorSanitizer.
# This is the README's test command and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

configure() {  # build-dir, cmake flags...
  local dir=$1
  shift
  echo "=== $dir: $*"
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
}

configure build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j2
(cd build && ctest --output-on-failure --timeout 1200)

configure build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRAFTKV_SANITIZE=thread
cmake --build build-tsan -j2 --target raftkv server_test net_test fsync_fault
build-tsan/tests/unit/server/server_test --gtest_brief=1
build-tsan/tests/unit/net/net_test --gtest_brief=1
(cd build-tsan && ctest --output-on-failure --timeout 1200 -R '^integration$')

configure build-asan -DCMAKE_BUILD_TYPE=Debug -DRAFTKV_SANITIZE=address,undefined
cmake --build build-asan -j2
(cd build-asan && ctest --output-on-failure --timeout 1200)
