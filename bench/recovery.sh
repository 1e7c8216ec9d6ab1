#!/usr/bin/env bash
# Start-up time after a long run: writes KEYS random keys (redis-benchmark,
# SET, -P 16) to a raftkv server with a small snapshot threshold, stops it
# cleanly, and times a restart until it answers PING (snapshot load + log
# replay). Prints what the server says it recovered.
#   bench/recovery.sh [KEYS]
set -euo pipefail
cd "$(dirname "$0")/.."
keys=${1:-1000000}
port=${RAFTKV_BENCH_PORT:-7381}
work=$(mktemp -d "$PWD/build/bench.XXXXXX")
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
[ -x build/raftkv ] || { echo "build raftkv first" >&2; exit 1; }

start_server() {
  build/raftkv server --cluster "1=127.0.0.1:$port" --data-dir "$work/data" \
    --snapshot-log-bytes 50000000 2>>"$work/server.log" &
  pid=$!
}
wait_ping() { until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.01; done; }

start_server
wait_ping
redis-benchmark -p "$port" -t set -c 50 -n "$keys" -P 16 -r 100000000 -d 16 -q >/dev/null
echo "keys: $(redis-cli -p "$port" dbsize); on disk: $(du -sh "$work/data" | cut -f1)"
kill -TERM $pid
wait $pid
t0=$(date +%s%N)
start_server
wait_ping
t1=$(date +%s%N)
grep "recovered" "$work/server.log" | tail -1
echo "restart to first PING: $(( (t1 - t0) / 1000000 )) ms"
