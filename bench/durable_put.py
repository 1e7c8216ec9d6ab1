#!/usr/bin/python3
"""One client, one connection, sequential durable puts; prints rate and latency.

    durable_put.py resp HOST:PORT [-n N] [-d BYTES] [--keys K] [--warmup W]
    durable_put.py etcd HOST:PORT [...]

`resp` sends `SET key value` over one socket (raftkv, redis-server) and
expects `+OK`; `etcd` POSTs to etcd's v3 HTTP/JSON gateway, /v3/kv/put with
base64 key and value, on one keep-alive connection, and expects HTTP 200
with a response header carrying a revision that grew. Each put waits for its
answer before the next is sent, so the rate is 1 / (round-trip + durable
commit). Keys are key:000000000000 .. (K-1), values BYTES of 'x'. W puts are
sent first and not counted. Any other answer, or a broken connection
(reconnected), counts as an error and not in the latencies.

Prints one line:  puts=N errors=E seconds=S rate=R p50_ms=X p99_ms=Y
Standard library only: bench/durable_write.sh runs it with Debian's
/usr/bin/python3. Exits 1 if no put succeeded.
"""
import argparse
import base64
import http.client
import json
import math
import socket
import sys
import time


class Resp:
    def __init__(self, host, port):
        self.addr = (host, port)
        self.connect()

    def connect(self):
        self.sock = socket.create_connection(self.addr, timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def put(self, key, value):
        self.sock.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                          % (len(key), key, len(value), value))
        line = self.reader.readline()
        if line == b"+OK\r\n":
            return None
        if not line:
            raise ConnectionError("connection closed")
        return line.rstrip(b"\r\n").decode(errors="replace")


class Etcd:
    def __init__(self, host, port):
        self.addr = (host, port)
        self.revision = 0
        self.connect()

    def connect(self):
        self.conn = http.client.HTTPConnection(*self.addr, timeout=10)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def put(self, key, value):
        body = json.dumps({"key": base64.b64encode(key).decode(),
                           "value": base64.b64encode(value).decode()}).encode()
        # bytes body: http.client sends headers and body in one write
        self.conn.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            return f"HTTP {r.status}: {data[:200]!r}"
        try:
            revision = int(json.loads(data)["header"]["revision"])
        except (ValueError, KeyError, TypeError):
            return f"no header.revision in {data[:200]!r}"
        if revision <= self.revision:
            return f"revision {revision} did not grow past {self.revision}"
        self.revision = revision
        return None


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    rank = math.ceil(p / 100 * len(sorted_values))  # nearest rank
    return sorted_values[max(rank, 1) - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("protocol", choices=["resp", "etcd"])
    ap.add_argument("address", help="HOST:PORT")
    ap.add_argument("-n", type=int, default=2000, help="puts to time")
    ap.add_argument("-d", type=int, default=64, help="value bytes")
    ap.add_argument("--keys", type=int, default=100000, help="distinct keys, used in turn")
    ap.add_argument("--warmup", type=int, default=20, help="untimed puts first")
    args = ap.parse_args()
    host, _, port = args.address.rpartition(":")
    client = (Resp if args.protocol == "resp" else Etcd)(host, int(port))
    value = b"x" * args.d
    errors = 0
    first_error = None
    latencies = []
    start = None
    for i in range(args.warmup + args.n):
        if i == args.warmup:
            start = time.perf_counter()
        key = b"key:%012d" % (i % args.keys)
        t0 = time.perf_counter()
        try:
            err = client.put(key, value)
        except (OSError, http.client.HTTPException) as e:
            err = f"{type(e).__name__}: {e}"
            try:
                client.connect()
            except OSError:
                pass
        t1 = time.perf_counter()
        if i < args.warmup:
            continue
        if err is None:
            latencies.append(t1 - t0)
        else:
            errors += 1
            first_error = first_error or err
    seconds = time.perf_counter() - start
    latencies.sort()
    print(f"puts={len(latencies)} errors={errors} seconds={seconds:.3f} "
          f"rate={len(latencies) / seconds:.1f} p50_ms={percentile(latencies, 50) * 1e3:.3f} "
          f"p99_ms={percentile(latencies, 99) * 1e3:.3f}")
    if first_error:
        print(f"durable_put.py: {errors} errors, the first: {first_error}", file=sys.stderr)
    return 0 if latencies else 1


if __name__ == "__main__":
    sys.exit(main())
