#!/usr/bin/env bash
# Installs what is missing, builds raftkv, starts a server (data under
# ./raftkv-data, clients on 127.0.0.1:6379) and opens its shell. The server
# stops cleanly when the shell exits. This is the README's first command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target raftkv
port=${RAFTKV_PORT:-6379}
build/raftkv server --cluster "1=127.0.0.1:$port" --data-dir raftkv-data 2>raftkv-server.log &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server' EXIT
for _ in $(seq 100); do
  build/raftkv cli -p "$port" ping >/dev/null 2>&1 && break
  if ! kill -0 $server 2>/dev/null; then cat raftkv-server.log >&2; exit 1; fi
  sleep 0.1
done
echo "raftkv is serving on 127.0.0.1:$port (log: raftkv-server.log). Type 'help', or 'quit' to stop."
build/raftkv cli -p "$port"
