#!/usr/bin/env bash
# Durable single-key writes, side by side in one run on one disk (issue 10,
# "Measure"): a 1-node and a 3-node raftkv, redis-server with appendonly yes
# and appendfsync always, and etcd 3.4 (Debian's etcd-server, 1 and 3 nodes
# on loopback). Every server keeps its data under build/bench.XXXXXX.
#   1. redis-benchmark -t set -d 64, -c 1 and -c 50: raftkv 1 and 3 nodes
#      (sent to the leader) and Redis.
#   2. one client's sequential puts (bench/durable_put.py: RESP SET, or etcd's
#      v3 HTTP/JSON gateway): rate, p50 and p99, against all five.
#   3. fsync + fdatasync calls per SET of a 1-node raftkv, counted by
#      strace -c -f while redis-benchmark -c 1 runs.
# Each round runs every target of a figure one after the other (the order
# rotates from round to round); each figure is the median of the rounds,
# with min-max beside it, and raftkv / Redis and raftkv / etcd ratios.
#   bench/durable_write.sh [--rounds N] [--base-port P] [--requests N]
#                          [--requests-c50 N] [--puts N] [--strace-requests N]
# Installs what it needs (etcd, strace, Redis) with apt-get when missing.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

usage() {
  cat <<EOF
usage: bench/durable_write.sh [options]
  --rounds N           rounds; each figure is their median (default 5)
  --base-port P        ports P .. P+12 for clients and etcd peers, and
                       P+10000 .. P+10003 for raftkv's peers (default 17100)
  --requests N         SETs per redis-benchmark -c 1 run (default 2000)
  --requests-c50 N     SETs per redis-benchmark -c 50 run (default 20000)
  --puts N             puts per durable_put.py run (default 1000)
  --strace-requests N  SETs per run under strace (default 1000)
EOF
}
rounds=5 base=17100 requests=2000 requests50=20000 puts=1000 strace_n=1000
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2 ;;
    --base-port) base=$2 ;;
    --requests) requests=$2 ;;
    --requests-c50) requests50=$2 ;;
    --puts) puts=$2 ;;
    --strace-requests) strace_n=$2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  if ! [[ ${2:-} =~ ^[0-9]+$ ]] || [ "$2" -eq 0 ]; then echo "$1 needs a positive number" >&2; exit 2; fi
  shift 2
done

# What this script runs, from Debian's packages (as scripts/install-deps.sh).
bench_packages=(etcd-server etcd-client strace redis-server redis-tools python3)
missing=()
for p in "${bench_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "durable_write: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
python=/usr/bin/python3  # Debian's: the first python3 on PATH may be another one

[ -x build/raftkv ] || { echo "build raftkv first (scripts/start.sh or cmake --build build --target raftkv)" >&2; exit 1; }

# Ports: raftkv clients at base .. base+3 (peers at +10000), Redis base+4,
# etcd clients and peers base+5 .. base+12.
raftkv1_port=$base
raftkv3_ports=($((base + 1)) $((base + 2)) $((base + 3)))
redis_port=$((base + 4))
etcd1_client=$((base + 5)) etcd1_peer=$((base + 6))
etcd3_clients=($((base + 7)) $((base + 8)) $((base + 9)))
etcd3_peers=($((base + 10)) $((base + 11)) $((base + 12)))
busy=$($python - $(seq "$base" $((base + 12))) $(seq $((base + 10000)) $((base + 10003))) <<'EOF'
import socket, sys
for p in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no conflict
    try:
        s.bind(("127.0.0.1", int(p)))
    except OSError:
        print(p, end=" ")
    finally:
        s.close()
EOF
)
[ -z "$busy" ] || { echo "ports in use: $busy(pick others with --base-port)" >&2; exit 1; }

mkdir -p build
work=$(mktemp -d build/bench.XXXXXX)
pids=()
strace_pid=
cleanup() {
  trap - EXIT INT TERM
  set +e
  [ -n "$strace_pid" ] && kill "$strace_pid" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for _ in $(seq 50); do  # servers stop cleanly on SIGTERM; give them 5 s
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

commands=()
start() {  # name command... : runs it in the background, logging to $work/name.log
  local name=$1 line
  shift
  printf -v line '%q ' "$@"
  commands+=("${line% }")
  # In a session of its own, so that a Ctrl-C reaches only this script and
  # its client of the moment; cleanup stops the servers. (setsid execs in place.)
  setsid "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
}
die() {
  echo "durable_write: $*" >&2
  for f in "$work"/*.log; do echo "--- $f (last lines)" >&2; tail -5 "$f" >&2; done
  exit 1
}

# --- servers
mkdir -p "$work/raftkv1"
start raftkv1 build/raftkv server --id 1 --cluster "1=127.0.0.1:$raftkv1_port" \
  --data-dir "$work/raftkv1" --log-level warn
raftkv1_pid=${pids[-1]}
cluster=1=127.0.0.1:${raftkv3_ports[0]},2=127.0.0.1:${raftkv3_ports[1]},3=127.0.0.1:${raftkv3_ports[2]}
for i in 1 2 3; do
  mkdir -p "$work/raftkv3-$i"
  start "raftkv3-$i" build/raftkv server --id $i --cluster "$cluster" \
    --data-dir "$work/raftkv3-$i" --log-level warn
done
mkdir -p "$work/redis"
start redis redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --save '' \
  --appendonly yes --appendfsync always --daemonize no
start etcd1 etcd --name n1 --data-dir "$work/etcd1" \
  --listen-client-urls "http://127.0.0.1:$etcd1_client" --advertise-client-urls "http://127.0.0.1:$etcd1_client" \
  --listen-peer-urls "http://127.0.0.1:$etcd1_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd1_peer" \
  --initial-cluster "n1=http://127.0.0.1:$etcd1_peer" --initial-cluster-state new --logger zap --log-level warn
initial=n1=http://127.0.0.1:${etcd3_peers[0]},n2=http://127.0.0.1:${etcd3_peers[1]},n3=http://127.0.0.1:${etcd3_peers[2]}
for i in 1 2 3; do
  c=${etcd3_clients[i - 1]} p=${etcd3_peers[i - 1]}
  start "etcd3-$i" etcd --name "n$i" --data-dir "$work/etcd3-$i" \
    --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "$initial" --initial-cluster-state new --logger zap --log-level warn
done

# --- readiness, each with a deadline
deadline() { [ "$(date +%s)" -lt "$1" ]; }
until_ready() {  # seconds what command... : retries the command until it succeeds
  local secs=$1 end=$(($(date +%s) + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    deadline "$end" || die "$what not ready after ${secs}s"
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || die "a server exited (pid $p)"; done
    sleep 0.1
  done
}
raftkv_leader() {  # ports... : prints the port of the one that says it leads
  local p
  for p in "$@"; do
    redis-cli -p "$p" INFO raft 2>/dev/null | tr -d '\r' | grep -qx 'raft_role:leader' && { echo "$p"; return 0; }
  done
  return 1
}
etcd_leader() {  # client ports... : the port of the member whose status says IS LEADER
  local p
  for p in "$@"; do
    [ "$(ETCDCTL_API=3 etcdctl --endpoints="http://127.0.0.1:$p" endpoint status 2>/dev/null |
      awk -F', ' '{print $5}')" = true ] && { echo "$p"; return 0; }
  done
  return 1
}
raftkv_writes() {  # ports... : a leader exists and takes a write
  local p
  p=$(raftkv_leader "$@") && [ "$(redis-cli -p "$p" SET bench:ready 1)" = OK ]
}
etcd_healthy() {  # client ports...
  local eps
  eps=$(printf 'http://127.0.0.1:%s,' "$@")
  ETCDCTL_API=3 etcdctl --endpoints="${eps%,}" endpoint health && etcd_leader "$@"
}
until_ready 30 "raftkv (1 node)" raftkv_writes "$raftkv1_port"
until_ready 30 "raftkv (3 nodes)" raftkv_writes "${raftkv3_ports[@]}"
until_ready 30 "redis-server" redis-cli -p "$redis_port" ping
until_ready 30 "etcd (1 node)" etcd_healthy "$etcd1_client"
until_ready 30 "etcd (3 nodes)" etcd_healthy "${etcd3_clients[@]}"

# --- one measurement each; all print "rate p50_ms p99_ms errors"
leader_port() {  # target -> its (leader's) client port, waiting up to 10 s for one
  local end=$(($(date +%s) + 10)) p
  while :; do
    case $1 in
      raftkv1) echo "$raftkv1_port"; return ;;
      raftkv3) p=$(raftkv_leader "${raftkv3_ports[@]}") && { echo "$p"; return; } ;;
      redis) echo "$redis_port"; return ;;
      etcd1) echo "$etcd1_client"; return ;;
      etcd3) p=$(etcd_leader "${etcd3_clients[@]}") && { echo "$p"; return; } ;;
    esac
    deadline "$end" || die "no leader for $1"
    sleep 0.1
  done
}
commit_index() { redis-cli -p "$1" INFO raft | tr -d '\r' | awk -F: '$1 == "raft_commit_index" {print $2}'; }
rb=(redis-benchmark -t set -d 64 -r 100000 --csv)  # then -p PORT -c CLIENTS -n REQUESTS
redis_benchmark() {  # target clients requests -> rps p50 p99 errors
  local port before=0 out errors=0 attempt
  for attempt in 1 2; do  # once more if it stopped (redis-benchmark stops at -MOVED)
    port=$(leader_port "$1")
    [ "$1" = redis ] || before=$(commit_index "$port")
    out=$("${rb[@]}" -p "$port" -c "$2" -n "$3" 2>"$work/rb.err") && break
    echo "  $1: redis-benchmark failed: $(head -3 "$work/rb.err")" >&2
    errors=$((errors + 1))
    [ $attempt = 1 ] || die "redis-benchmark failed twice on $1"
  done
  errors=$((errors + $(grep -ci error "$work/rb.err" || true)))
  if [ "$1" != redis ]; then  # each SET is one committed entry, or it was not applied
    local committed=$(($(commit_index "$port") - before))
    [ "$committed" -ge "$3" ] || errors=$((errors + $3 - committed))
  fi
  awk -F'"' -v e="$errors" '$2 == "SET" {print $4, $10, $14, e}' <<<"$out"
}
put=("$python" bench/durable_put.py)  # then resp|etcd 127.0.0.1:PORT -n PUTS -d 64
durable_put() {  # target -> puts/s p50 p99 errors
  local port proto=resp out attempt
  [[ $1 == etcd* ]] && proto=etcd
  for attempt in 1 2; do  # once more if no put succeeded (a leader change)
    port=$(leader_port "$1")
    out=$("${put[@]}" $proto "127.0.0.1:$port" -n "$puts" -d 64 2>"$work/put.err") && break
    [ $attempt = 1 ] || die "durable_put.py failed twice on $1: $(cat "$work/put.err")"
  done
  [ -s "$work/put.err" ] && sed "s/^/  $1: /" "$work/put.err" >&2
  sed -E 's/[a-z0-9_]+=//g' <<<"$out" | awk '{print $4, $5, $6, $2}'
}
strace=(strace -c -f -e 'trace=fsync,fdatasync')  # then -o FILE -p PID
syncs_per_write() {  # -> fsync/N fdatasync/N (fsync+fdatasync)/N errors
  local out=$work/strace.out end=$(($(date +%s) + 10)) r
  rm -f "$out"
  "${strace[@]}" -o "$out" -p "$raftkv1_pid" 2>"$work/strace.err" &
  strace_pid=$!
  until grep -q attached "$work/strace.err"; do  # "Process N attached with M threads"
    deadline "$end" || die "strace did not attach: $(cat "$work/strace.err")"
    sleep 0.05
  done
  r=$(redis_benchmark raftkv1 1 "$strace_n")
  kill -INT "$strace_pid"
  wait "$strace_pid" || true
  strace_pid=
  [ -s "$out" ] || die "strace wrote no summary: $(cat "$work/strace.err")"
  awk -v n="$strace_n" -v e="${r##* }" '
    $NF == "fsync" {f = $4} $NF == "fdatasync" {d = $4}
    END {printf "%.3f %.3f %.3f %d\n", f / n, d / n, (f + d) / n, e}' "$out"
}

# --- the commands, then the rounds
echo "bench/durable_write.sh: $rounds rounds, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
  "raftkv $(git describe --always --dirty 2>/dev/null || echo '?'), redis $(redis-server --version | awk '{print $3}' | sed 's/^v=//')," \
  "etcd $(etcd --version | awk 'NR == 1 {print $3}')"
echo "servers (from $PWD):"
printf '  %s\n' "${commands[@]}"
echo "each round, for each target T (PORT = its client port, the leader's for 3 nodes):"
echo "  ${rb[*]} -p PORT -c 1 -n $requests    # T: raftkv 1, raftkv 3, redis"
echo "  ${rb[*]} -p PORT -c 50 -n $requests50  # T: same"
echo "  ${put[*]} resp 127.0.0.1:PORT -n $puts -d 64  # T: raftkv 1, raftkv 3, redis"
echo "  ${put[*]} etcd 127.0.0.1:PORT -n $puts -d 64  # T: etcd 1, etcd 3"
echo "  ${strace[*]} -o $work/strace.out -p $raftkv1_pid  # raftkv 1 node, during:"
echo "  ${rb[*]} -p $raftkv1_port -c 1 -n $strace_n"
echo "ports: raftkv 1 node $raftkv1_port, 3 nodes ${raftkv3_ports[*]}; redis $redis_port;" \
  "etcd 1 node $etcd1_client, 3 nodes ${etcd3_clients[*]}"
echo

declare -A results  # "figure target" -> one line per round
rotate() {  # k items... : the items, rotated left by k
  local k=$1
  shift
  local a=("$@") n=$#
  for ((i = 0; i < n; i++)); do echo "${a[(i + k) % n]}"; done
}
for ((round = 0; round < rounds; round++)); do
  echo "round $((round + 1))/$rounds" >&2
  for t in $(rotate $round raftkv1 raftkv3 redis); do
    results["c1 $t"]+="$(redis_benchmark "$t" 1 "$requests")"$'\n'
  done
  for t in $(rotate $round raftkv1 raftkv3 redis); do
    results["c50 $t"]+="$(redis_benchmark "$t" 50 "$requests50")"$'\n'
  done
  for t in $(rotate $round raftkv1 raftkv3 redis etcd1 etcd3); do
    results["put $t"]+="$(durable_put "$t")"$'\n'
  done
  syncs_per_write >"$work/syncs"  # not in a subshell: cleanup must see strace_pid
  results["syncs"]+="$(cat "$work/syncs")"$'\n'
done

# --- the tables
med() {  # figure target column -> median of that column over the rounds
  printf '%s' "${results["$1 $2"]}" | awk -v c="$3" '{print $c}' | sort -g |
    awk -v f="$([ "$3" = 1 ] && echo %.0f || echo %.3f)" '{a[NR] = $1} END {printf f "\n", a[int((NR + 1) / 2)]}'
}
spread() {  # figure target column -> min-max
  printf '%s' "${results["$1 $2"]}" | awk -v c="$3" '{print $c}' | sort -g |
    awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.0f-%.0f", lo, hi}'
}
errs() { printf '%s' "${results["$1 $2"]}" | awk '{s += $4} END {print s + 0}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
name() {
  case $1 in
    raftkv1) echo "raftkv 1 node" ;; raftkv3) echo "raftkv 3 nodes" ;; redis) echo "redis always" ;;
    etcd1) echo "etcd 1 node" ;; etcd3) echo "etcd 3 nodes" ;;
  esac
}

row() { printf "%-18s | %8s %-13s %7s | %8s %-13s %7s | %6s\n" "$@"; }
echo "1. redis-benchmark -t set -d 64 -r 100000: requests/s, median (min-max) of $rounds rounds; p50 ms, median"
row "" "-c 1" "-n $requests" "" "-c 50" "-n $requests50" "" ""
row target req/s "(min-max)" "p50 ms" req/s "(min-max)" "p50 ms" errors
for t in raftkv1 raftkv3 redis; do
  row "$(name $t)" "$(med c1 $t 1)" "($(spread c1 $t 1))" "$(med c1 $t 2)" \
    "$(med c50 $t 1)" "($(spread c50 $t 1))" "$(med c50 $t 2)" $(($(errs c1 $t) + $(errs c50 $t)))
done
for t in raftkv1 raftkv3; do
  row "raftkv ${t#raftkv} / redis" "$(ratio "$(med c1 $t 1)" "$(med c1 redis 1)")" "" \
    "$(ratio "$(med c1 $t 2)" "$(med c1 redis 2)")" "$(ratio "$(med c50 $t 1)" "$(med c50 redis 1)")" "" \
    "$(ratio "$(med c50 $t 2)" "$(med c50 redis 2)")" ""
done
echo "(ratios: req/s above 1 and p50 below 1 favour raftkv)"
echo

row2() { printf "%-18s | %8s %-13s %7s %7s | %6s\n" "$@"; }
echo "2. one client, sequential durable puts (bench/durable_put.py, -n $puts, 64-byte values):" \
  "puts/s, median (min-max) of $rounds rounds; p50 and p99 ms, medians"
row2 target puts/s "(min-max)" "p50 ms" "p99 ms" errors
for t in raftkv1 raftkv3 redis etcd1 etcd3; do
  row2 "$(name $t)" "$(med put $t 1)" "($(spread put $t 1))" "$(med put $t 2)" "$(med put $t 3)" "$(errs put $t)"
done
for pair in "raftkv1 etcd1" "raftkv3 etcd3" "raftkv1 redis" "raftkv3 redis"; do
  set -- $pair  # two words
  row2 "raftkv ${1#raftkv} / ${2/etcd/etcd }" "$(ratio "$(med put "$1" 1)" "$(med put "$2" 1)")" "" \
    "$(ratio "$(med put "$1" 2)" "$(med put "$2" 2)")" "$(ratio "$(med put "$1" 3)" "$(med put "$2" 3)")" ""
done
echo "(ratios: puts/s above 1 and latency below 1 favour raftkv)"
echo

echo "3. syncs per SET on a 1-node raftkv (strace -c, redis-benchmark -c 1 -n $strace_n), median of $rounds rounds"
s=${results[syncs]}
col() { printf '%s' "$s" | awk -v c="$1" '{print $c}' | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
printf "fsync %s + fdatasync %s = %s per write (rounds: %s); errors %d\n" "$(col 1)" "$(col 2)" "$(col 3)" \
  "$(printf '%s' "$s" | awk '{printf "%s%s", sep, $3; sep = " "}')" "$(printf '%s' "$s" | awk '{e += $4} END {print e + 0}')"
echo
echo "per round, in round order (requests or puts per second; the order of targets rotated):"
for f in c1 c50 put; do
  for t in raftkv1 raftkv3 redis etcd1 etcd3; do
    [ -n "${results["$f $t"]:-}" ] || continue
    printf "  %-4s %-15s %s\n" "$f" "$(name $t)" "$(printf '%s' "${results["$f $t"]}" | awk '{printf "%s%.0f", sep, $1; sep = " "}')"
  done
done
