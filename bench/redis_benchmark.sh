#!/usr/bin/env bash
# Runs redis-benchmark (SET and GET, 50 clients, with and without -P 16)
# against raftkv and against redis-server with appendonly yes and
# appendfsync always (every write fsynced, as raftkv does), in the same run,
# on the same disk. Each figure is the median of several rounds; the last
# column is raftkv / Redis.
#   bench/redis_benchmark.sh [ROUNDS] [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
requests=${2:-100000}
raftkv_port=${RAFTKV_BENCH_PORT:-7379}
redis_port=${REDIS_BENCH_PORT:-7380}
work=$(mktemp -d "$PWD/build/bench.XXXXXX")
trap 'kill $raftkv_pid $redis_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

[ -x build/raftkv ] || { echo "build raftkv first (scripts/start.sh or cmake --build build)" >&2; exit 1; }
mkdir -p "$work/raftkv" "$work/redis"
build/raftkv server --cluster "1=127.0.0.1:$raftkv_port" --data-dir "$work/raftkv" \
  --log-level warn 2>"$work/raftkv.log" &
raftkv_pid=$!
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --save '' \
  --appendonly yes --appendfsync always --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!
for port in $raftkv_port $redis_port; do
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

rps() {  # port test pipeline -> requests per second
  redis-benchmark -p "$1" -t "$2" -c 50 -n "$requests" -P "$3" -r 100000 -d 16 --csv -q \
    | awk -F'"' 'NR>1 || $2 != "test" {print $4; exit}'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "redis-benchmark, 50 clients, $requests requests, 16-byte values, median of $rounds rounds"
printf "%-14s %14s %14s %8s\n" test raftkv redis ratio
for pipeline in 1 16; do
  for t in set get; do
    r=(); s=()
    for _ in $(seq "$rounds"); do
      r+=("$(rps $raftkv_port $t $pipeline)")
      s+=("$(rps $redis_port $t $pipeline)")
    done
    a=$(printf "%s\n" "${r[@]}" | median)
    b=$(printf "%s\n" "${s[@]}" | median)
    printf "%-14s %14.0f %14.0f %8.2f\n" "$t -P $pipeline" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {print a / b}')"
  done
done
