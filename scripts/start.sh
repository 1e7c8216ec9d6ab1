#!/usr/bin/env bash
# Installs what is missing, builds raftkv and runs `build/raftkv demo`: a local
# cluster of 3 servers (clients on 127.0.0.1:7001-7003, data and logs in a new
# ./raftkv-demo directory) and a shell on it. The servers stop cleanly when the
# shell exits. This is the README's first command. Arguments go to the demo:
# `scripts/start.sh --nodes 5`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target raftkv
exec build/raftkv demo "$@"
