#!/usr/bin/python3
"""raftkv fault-injection harness: real servers, real faults, checked histories.

Starts a cluster of `raftkv server` processes, each on its own loopback
address (127.0.0.11, 127.0.0.12, ...), runs concurrent clients doing get /
set / incrby / compare-and-set on a small key space while a nemesis kills,
pauses, partitions, reconfigures and tears the log of the servers, and then
checks what the clients saw:

  1. the history is linearizable (`raftkv-sim --check-history`, the checker
     of the simulation, on the history written in docs/history_format.md);
  2. after the faults heal, a leader is elected and a write succeeds within
     RECOVERY_BOUND_S;
  3. every server converges to the leader's state, and that state is what a
     linearizable read through the leader sees (recorded in the history, so
     every acknowledged write is accounted for on every server);
  4. no server crashed, asserted or printed a sanitizer report.

Partitions are iptables rules on the loopback interface, in a chain of this
run's own (installed and removed by the harness; needs root). They drop only
packets to the run's peer port: a partition cuts servers from each other,
never a client from a server, nor another run's servers.
docs/fault_injection.md says more.

  tests/faults/raftkv_faults.py --nemesis partition --duration 60 --seed 7

Exit status: 0 when every check held, 1 when one failed (the run directory
is kept: history, fault schedule, server logs and data, the replay command),
2 on a usage or setup error.
"""
import argparse
import bisect
import collections
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_RAFTKV = os.environ.get("RAFTKV_BIN", os.path.join(HERE, "../../build/raftkv"))
DEFAULT_SIM = os.environ.get("RAFTKV_SIM_BIN", os.path.join(HERE, "../../build/raftkv-sim"))

RECOVERY_BOUND_S = 15.0    # after the last heal: a leader and an acknowledged write within this
CONVERGENCE_BOUND_S = 30.0  # after that: every server applied the leader's commit index
# A client gives up on a reply after this (outcome unknown). Half the clients
# are impatient: they move on quickly and find a new leader, while the
# patient half still waits on a paused or cut-off server, which must not
# answer them from what it knew before.
OP_TIMEOUTS_S = (0.5, 5.0)
KEY_EPOCH_S = 4.0          # clients move to fresh keys this often (bounds the checker's work)
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "assertion failed", "Assertion `",
                     "terminate called", "Segmentation fault", "AddressSanitizer:DEADLYSIGNAL")

NEMESES = ("kill", "kill-leader", "pause", "partition", "partition-leader", "bridge",
           "asymmetric", "flapping", "membership", "membership-during", "torn")
NEMESIS_HELP = {
    "kill": "SIGKILL a random minority of servers, restart them",
    "kill-leader": "SIGKILL the leader, restart it",
    "pause": "SIGSTOP a server (the leader half the time) for 0.6-4 s, then SIGCONT",
    "partition": "cut the servers into a majority and a minority",
    "partition-leader": "cut the leader off from everyone else",
    "bridge": "two sides that cannot talk, and one server that talks to both",
    "asymmetric": "drop one direction only: what one side sends the other never gets",
    "flapping": "a new random partition every 0.2-0.6 s",
    "membership": "remove a server (maybe the leader), wipe it, add it back under a new id",
    "membership-during": "the same while a kill, pause or partition is on (the one removed may be down)",
    "torn": "SIGKILL a follower, leave a torn record at the end of its log, restart it",
}


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- RESP client

class RespError(Exception):
    pass


class Conn:
    """A blocking RESP2 connection with a deadline on every reply."""

    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._reply()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ConnectionError(f"bad reply line {line!r}")


def query(host, port, *args, timeout=1.0):
    c = Conn(host, port, timeout)
    try:
        return c.call(*args)
    finally:
        c.close()


def parse_info(text):
    if isinstance(text, bytes):
        text = text.decode()
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def parse_members(voters_text):
    """'voters=[1 2 3] learners=[4]' -> ({1, 2, 3}, {4})."""
    m = re.match(r"voters=\[([\d ]*)\] learners=\[([\d ]*)\]", voters_text)
    if not m:
        raise ValueError(f"cannot read the configuration {voters_text!r}")
    return ({int(x) for x in m.group(1).split()}, {int(x) for x in m.group(2).split()})


# ---------------------------------------------------------------- the network

class Firewall:
    """Drops packets between pairs of loopback addresses, in a chain of ours.

    Only this run's peer traffic: packets to or from its peer port. Another
    run on the same machine (other ports) and the clients are untouched."""

    def __init__(self, peer_port):
        self.peer_port = peer_port
        self.chain = f"RAFTKV-FAULTS-{os.getpid()}"[:28]
        self.installed = False
        self.blocked = set()  # (src, dst)

    @staticmethod
    def available():
        if os.geteuid() != 0:
            return "partitions need root (iptables)"
        if shutil.which("iptables") is None:
            return "partitions need iptables (apt-get install iptables)"
        return None

    def _ipt(self, *args, check=True):
        r = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"iptables {' '.join(args)}: {r.stderr.strip()}")
        return r.returncode == 0

    def install(self):
        self._ipt("-N", self.chain)
        self._ipt("-I", "INPUT", "-i", "lo", "-j", self.chain)
        self.installed = True

    def remove(self):
        if not self.installed:
            return
        self._ipt("-D", "INPUT", "-i", "lo", "-j", self.chain, check=False)
        self._ipt("-F", self.chain, check=False)
        self._ipt("-X", self.chain, check=False)
        self.installed = False

    def block(self, src, dst):
        if (src, dst) not in self.blocked:
            # A peer connection carries frames one way only, from the server
            # that opened it: dropping src's packets to dst's peer port cuts
            # what src sends to dst, and leaves dst's own connection to src
            # (whose acknowledgements come back from src's peer port) alone.
            self._ipt("-A", self.chain, "-s", src, "-d", dst, "-p", "tcp", "--dport",
                      str(self.peer_port), "-j", "DROP")
            self.blocked.add((src, dst))

    def heal(self):
        if self.blocked:
            self._ipt("-F", self.chain)
            self.blocked.clear()


# ---------------------------------------------------------------- servers

class Node:
    def __init__(self, run, slot, node_id, join=None):
        self.run = run
        self.slot = slot  # 0-based position: the address is fixed per slot
        self.node_id = node_id
        self.host = f"127.0.0.{11 + slot}"
        self.port = run.port
        self.peer_port = run.port + 10000
        self.dir = os.path.join(run.out, f"node{node_id}")
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "server.log")
        self.join = join
        self.proc = None
        self.paused = False
        self.expected_exit = False
        os.makedirs(self.dir, exist_ok=True)

    def spec(self):
        return f"{self.node_id}={self.host}:{self.port}@{self.peer_port}"

    def args(self):
        if self.join:
            cluster = self.spec()
        else:
            cluster = ",".join(n.spec() for n in self.run.founders)
        args = [self.run.raftkv, "server", "--id", str(self.node_id), "--cluster", cluster,
                "--data-dir", self.data_dir, "--snapshot-log-bytes", str(self.run.snapshot_bytes)]
        if self.join:
            args += ["--join", self.join]
        return args + self.run.args.server_arg

    def start(self):
        with open(self.log_path, "ab") as f:
            f.write(f"=== harness: start {' '.join(self.args())}\n".encode())
            self.proc = subprocess.Popen(self.args(), stdout=f, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.paused = False
        self.expected_exit = False

    def up(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.up():
            self.expected_exit = True
            if self.paused:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.paused = False

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        if self.up() and self.paused:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self):
        """SIGTERM, as an operator would; returns the exit code."""
        if not self.up():
            return None
        self.resume()
        self.expected_exit = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "hung on SIGTERM"

    def info(self, timeout=0.5):
        return parse_info(query(self.host, self.port, "INFO", "raft", timeout=timeout))

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


def free_base_port(hosts, rng):
    def free(host, port):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                return False
        return True
    for _ in range(1000):
        port = rng.randrange(20000, 22768)  # below the ephemeral range; peers at +10000
        if all(free(h, port) and free(h, port + 10000) for h in hosts):
            return port
    raise RuntimeError("no free port pair in 20000-22767 on the node addresses")


# ---------------------------------------------------------------- history

def quote(b):
    out = ['"']
    for ch in b:
        c = chr(ch)
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif 0x20 <= ch <= 0x7E:
            out.append(c)
        else:
            out.append(f"\\x{ch:02x}")
    out.append('"')
    return "".join(out)


Op = collections.namedtuple("Op", "client call ret outcome command reply phase")


class History:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []

    def add(self, op):
        with self.lock:
            self.ops.append(op)

    def write(self, path, clients=()):
        """Writes the history; a write a client still waits for is unknown."""
        with self.lock:
            pending = [c.inflight for c in clients if c.inflight is not None]
            ops = sorted(self.ops + pending, key=lambda o: o.call)
        with open(path, "w") as f:
            f.write("raftkv-history 1 ns\n")
            for o in ops:
                ret = "-" if o.ret is None else str(o.ret)
                line = f"{o.client} {o.call} {ret} {o.outcome} {o.command}"
                if o.outcome == "ok":
                    line += f" -> {o.reply}"
                f.write(line + "\n")


# ---------------------------------------------------------------- clients

class Client(threading.Thread):
    """One client: picks an operation, sends it to the server it believes
    leads, records what happened. A write whose fate is unknown retires the
    client id (its operation may still be in flight) and takes a new one."""

    def __init__(self, run, index, seed):
        super().__init__(name=f"client{index}", daemon=True)
        self.harness = run
        self.index = index
        self.generation = 0
        self.rng = random.Random(seed)
        self.conn = None
        self.target = None
        self.known = {}  # key -> last value this client saw (bytes or None)
        self.unexpected = []
        self.timeout = OP_TIMEOUTS_S[index % 2]
        self.inflight = None  # the write being sent, as an unknown Op

    def client_id(self):
        return self.index * 100000 + self.generation

    def pick_target(self, hint=None):
        if self.conn:
            self.conn.close()
            self.conn = None
        if hint:
            self.target = hint
        else:
            nodes = [n for n in self.harness.members() if n.up()] or self.harness.members()
            n = self.rng.choice(nodes)
            self.target = (n.host, n.port)

    def run_op(self, command, args, kind):
        """Sends one command, following up to 3 redirects (-MOVED: certainly
        not applied, so sending it again is safe); returns (outcome, reply)."""
        for _ in range(3):
            outcome, reply = self.send(command, args, kind)
            if outcome != "moved":
                return outcome, reply
        return "failed", None

    def send(self, command, args, kind):
        try:
            if self.conn is None:
                self.conn = Conn(self.target[0], self.target[1], self.timeout)
        except OSError:
            self.pick_target()
            return "failed", None  # never sent
        try:
            return "ok", self.conn.call(*args)
        except RespError as e:
            msg = str(e)
            if msg.startswith("MOVED"):
                host, port = msg.split()[-1].rsplit(":", 1)
                self.pick_target((host, int(port)))
                return "moved", None
            if msg.startswith("CLUSTERDOWN") or msg.startswith("TRYAGAIN"):
                self.pick_target()
                return "failed", None
            if msg.startswith("UNCERTAIN"):
                self.pick_target()
                return "unknown", None
            if msg.startswith("ERR write not applied"):
                return "failed", None
            if kind == "incr" and ("not an integer" in msg or "would overflow" in msg):
                return "ok", "not-applied"
            self.unexpected.append(f"{command}: -{msg}")
            self.pick_target()
            return "unknown", None
        except (OSError, ConnectionError, ValueError):
            self.pick_target()
            return "unknown", None

    def run(self):
        rng = self.rng
        run = self.harness
        while not run.stop_clients.is_set():
            keys = run.current_keys()
            key = rng.choice(keys)
            kb = key.encode()
            r = rng.random()
            if r < 0.3:
                kind, args = "get", ("GET", kb)
                command = f"get {quote(kb)}"
            elif r < 0.55:
                v = str(rng.randrange(1000)).encode()
                kind, args = "set", ("SET", kb, v)
                command = f"set {quote(kb)} {quote(v)}"
            elif r < 0.75:
                d = rng.randrange(1, 6)
                kind, args = "incr", ("INCRBY", kb, str(d))
                command = f"incr {quote(kb)} {d}"
            else:
                new = str(rng.randrange(1000)).encode()
                expected = self.known.get(key, None)
                if expected is None and rng.random() < 0.5:
                    expected = str(rng.randrange(1000)).encode()
                if expected is None:
                    kind, args = "cas", ("SET", kb, new, "NX")
                    command = f"cas {quote(kb)} nil {quote(new)}"
                else:
                    kind, args = "cas", ("SET", kb, new, "IFEQ", expected)
                    command = f"cas {quote(kb)} {quote(expected)} {quote(new)}"
            phase = run.phase
            call = time.monotonic_ns()
            self.inflight = Op(self.client_id(), call, None, "unknown", command, None, phase) \
                if kind != "get" else None
            outcome, reply = self.run_op(kind, args, kind)
            ret = time.monotonic_ns()
            text = None
            if outcome == "ok":
                if kind == "get":
                    text = "nil" if reply is None else quote(reply)
                    self.known[key] = reply
                elif kind == "set":
                    text = "ok"
                    self.known[key] = args[2]
                elif kind == "incr":
                    text = str(reply)
                    if isinstance(reply, int):
                        self.known[key] = str(reply).encode()
                else:
                    text = "ok" if reply == "OK" else "not-applied"
                    if reply == "OK":
                        self.known[key] = args[2]
                    else:
                        self.known.pop(key, None)
            if outcome == "unknown" and kind == "get":
                outcome = "failed"  # a read has no effect: not knowing its reply is not applying it
            with run.history.lock:
                run.history.ops.append(Op(self.client_id(), call, ret, outcome, command, text, phase))
                self.inflight = None
            if outcome == "unknown":
                self.generation += 1
                self.known.pop(key, None)
            if outcome == "failed":
                run.stop_clients.wait(0.02 + rng.random() * 0.03)
        if self.conn:
            self.conn.close()


# ---------------------------------------------------------------- the run

class Run:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.rng = random.Random(args.seed)
        self.raftkv = os.path.abspath(args.raftkv)
        self.sim = os.path.abspath(args.sim)
        self.out = os.path.abspath(args.out or tempfile.mkdtemp(prefix=f"raftkv-faults-{args.seed}-"))
        os.makedirs(self.out, exist_ok=True)
        self.snapshot_bytes = args.snapshot_bytes
        hosts = [f"127.0.0.{11 + i}" for i in range(args.nodes)]
        self.port = free_base_port(hosts, random.Random())
        self.founders = []
        self.nodes = []  # every node ever started, current members are those not removed
        self.removed = set()
        self.maybe_removed = set()  # a removal whose outcome the harness never learned
        self.next_id = args.nodes + 1
        self.history = History()
        self.stop_clients = threading.Event()
        self.phase = "start"
        self.schedule = []
        self.failures = []
        self.clients = []
        self.active = []  # the faults on now
        self.heal_times = []  # monotonic_ns at the end of each fault
        self.firewall = Firewall(self.port + 10000)
        self.start_time = time.monotonic()
        self.keys_used = set()
        self.keys_lock = threading.Lock()

    # -- bookkeeping
    def note(self, what):
        t = time.monotonic() - self.start_time
        line = f"{t:8.3f}s  {what}"
        self.schedule.append(line)
        if self.args.verbose:
            log(line)

    def fail(self, what):
        self.failures.append(what)
        self.note(f"FAILURE: {what}")

    def current_keys(self):
        epoch = int((time.monotonic() - self.start_time) / KEY_EPOCH_S)
        keys = [f"e{epoch}k{i}" for i in range(self.args.keys)]
        if keys[0] not in self.keys_used:
            with self.keys_lock:
                self.keys_used.update(keys)
        return keys

    def members(self):
        return [n for n in self.nodes if n.node_id not in self.removed]

    def check_processes(self):
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is not None and not n.expected_exit:
                self.fail(f"node {n.node_id} exited by itself with {n.proc.returncode} "
                          f"(log: {n.log_path})")
                n.expected_exit = True  # report once

    def leader(self, timeout=0.0):
        """The member that claims leadership in the highest term, or None."""
        deadline = time.monotonic() + timeout
        while True:
            best = None
            for n in self.members():
                if not n.up() or n.paused:
                    continue
                try:
                    info = n.info()
                except (OSError, ConnectionError, RespError, ValueError):
                    continue
                if info.get("raft_role") == "leader":
                    term = int(info["raft_term"])
                    if best is None or term > best[0]:
                        best = (term, n, info)
            if best or time.monotonic() >= deadline:
                return best[1] if best else None
            time.sleep(0.05)

    # -- faults
    def victims(self, count):
        up = [n for n in self.members() if n.up() and not n.paused]
        self.rng.shuffle(up)
        return up[:count]

    def minority(self):
        """How many servers a fault may take: a minority, but at least one
        (while a replaced server joins, a 3-server cluster has 2 members)."""
        return max(1, (len(self.members()) - 1) // 2)

    def partition(self, sides, one_way=False):
        """Blocks every pair across the sides (lists of nodes)."""
        a, b = sides
        for x in a:
            for y in b:
                self.firewall.block(x.host, y.host)
                if not one_way:
                    self.firewall.block(y.host, x.host)
        self.note("partition " + " | ".join("{" + " ".join(str(n.node_id) for n in s) + "}"
                                           for s in sides) + (" (one way: left to right)" if one_way else ""))

    def random_halves(self, rng=None):
        rng = rng or self.rng
        ms = list(self.members())
        rng.shuffle(ms)
        k = rng.randint(1, min(self.minority(), len(ms) - 1)) if len(ms) > 1 else 0
        return ms[:k], ms[k:]

    def apply(self, nemesis):
        """Starts one fault; returns its heal function or None if skipped."""
        rng = self.rng
        if nemesis == "kill":
            vs = self.victims(rng.randint(1, self.minority()))
            for n in vs:
                n.kill()
            self.note(f"kill -9 nodes {[n.node_id for n in vs]}")
            return lambda: self.restart(vs)
        if nemesis == "kill-leader":
            ld = self.leader(timeout=2.0)
            if ld is None:
                self.note("kill-leader skipped: no leader")
                return None
            ld.kill()
            self.note(f"kill -9 leader {ld.node_id}")
            return lambda: self.restart([ld])
        if nemesis == "pause":
            ld = self.leader(timeout=1.0) if rng.random() < 0.5 else None
            vs = [ld] if ld else self.victims(1)
            if not vs:
                self.note("pause skipped: no server is up")
                return None
            for n in vs:
                n.pause()
            self.note(f"SIGSTOP {'leader ' if ld else 'node '}{vs[0].node_id}")

            def heal():
                for n in vs:
                    n.resume()
                self.note(f"SIGCONT node {vs[0].node_id}")
            return heal
        if nemesis in ("partition", "partition-leader", "bridge", "asymmetric", "flapping"):
            if nemesis == "partition":
                self.partition(self.random_halves())
            elif nemesis == "partition-leader":
                ld = self.leader(timeout=2.0)
                if ld is None:
                    self.note("partition-leader skipped: no leader")
                    return None
                self.partition(([ld], [n for n in self.members() if n is not ld]))
            elif nemesis == "bridge":
                ms = list(self.members())
                rng.shuffle(ms)
                bridge, rest = ms[0], ms[1:]
                half = len(rest) // 2
                self.partition((rest[:half], rest[half:]))
                self.note(f"node {bridge.node_id} bridges both sides")
            elif nemesis == "asymmetric":
                ld = self.leader(timeout=1.0) if rng.random() < 0.5 else None
                if ld:
                    others = [n for n in self.members() if n is not ld]
                    sides = ([ld], others) if rng.random() < 0.5 else (others, [ld])
                else:
                    sides = self.random_halves()
                self.partition(sides, one_way=True)
            else:
                self.flap_stop = threading.Event()
                rng = random.Random(self.rng.random())  # the flapper's own: the schedule replays

                def flap():
                    while not self.flap_stop.wait(0.2 + rng.random() * 0.4):
                        self.firewall.heal()
                        if rng.random() < 0.2:
                            self.note("flap: healed")
                            continue
                        self.partition(self.random_halves(rng), one_way=rng.random() < 0.3)
                self.flapper = threading.Thread(target=flap, daemon=True)
                self.flapper.start()
                self.note("flapping partitions start")

                def heal_flap():
                    self.flap_stop.set()
                    self.flapper.join()
                    self.firewall.heal()
                    self.note("flapping stops, network healed")
                return heal_flap

            def heal_net():
                self.firewall.heal()
                self.note("network healed")
            return heal_net
        if nemesis == "membership":
            return self.replace_member(during_fault=len(self.active) > 0)
        if nemesis == "membership-during":
            other = rng.choice(["kill", "pause", "partition"] if self.firewall.installed
                               else ["kill", "pause"])
            heals = [h for h in (self.apply(other), self.replace_member(during_fault=True)) if h]

            def heal_both():
                for h in reversed(heals):
                    h()
            return heal_both
        if nemesis == "torn":
            return self.tear()
        raise ValueError(nemesis)

    def restart(self, nodes):
        nodes = [n for n in nodes if n.node_id not in self.removed]  # replaced meanwhile
        for n in nodes:
            if not n.up():
                n.start()
        self.note(f"restart nodes {[n.node_id for n in nodes]}")

    def replace_member(self, during_fault=False):
        """Removes a member (the leader too, sometimes) from the configuration,
        wipes it, and on heal starts it again at the same address under a new
        id that joins through another member."""
        ms = [n for n in self.members() if n.up()]
        if during_fault:
            ms = list(self.members())  # a server that is down may be the one replaced
        elif len(ms) < len(self.members()):
            self.note("membership skipped: a member is down")
            return None
        ld = self.leader(timeout=3.0)
        if ld is None:
            self.note("membership skipped: no leader")
            return None
        voters, learners = parse_members(ld.info()["raft_voters"])
        if learners or {n.node_id for n in self.members()} != voters:
            self.note(f"membership skipped: configuration still changing ({voters}, {learners})")
            return None
        ms = [n for n in ms if n.node_id not in self.maybe_removed]  # one change per server
        if not ms:
            self.note("membership skipped: every candidate's removal is in doubt")
            return None
        victim = self.rng.choice(ms)
        # RAFT REMOVENODE answers +OK once the removal is committed. If an
        # earlier try's removal committed meanwhile, it answers "invalid
        # member" (only when no change is pending: the core refuses with
        # "config change pending" before it looks at the members).
        deadline = time.monotonic() + 15
        done = False
        while time.monotonic() < deadline and not done:
            ld = self.leader(timeout=2.0)
            if ld is None:
                continue
            try:
                query(ld.host, ld.port, "RAFT", "REMOVENODE", str(victim.node_id), timeout=12.0)
                done = True
            except RespError as e:
                done = "invalid member" in str(e)
                if not done:
                    time.sleep(0.1)
            except (OSError, ConnectionError):
                pass
        if not done:
            # Its fate is unknown: the removal may still commit. The final
            # check accepts either.
            self.maybe_removed.add(victim.node_id)
            self.note(f"membership: node {victim.node_id} not removed within 15 s; left as it is")
            return None
        self.removed.add(victim.node_id)
        self.maybe_removed.discard(victim.node_id)
        victim.kill()
        self.note(f"membership: node {victim.node_id} removed (leader was {ld.node_id}), stopped")

        return lambda: self.add_replacement(victim)

    def add_replacement(self, victim):
        """A new server in the removed one's place (its address), under a new
        id, joining through a member."""
        via = self.rng.choice([n for n in self.members()])
        node = Node(self, victim.slot, self.next_id, join=f"{via.host}:{via.port}")
        self.next_id += 1
        shutil.rmtree(victim.data_dir, ignore_errors=True)
        self.nodes.append(node)
        node.start()
        self.note(f"membership: node {node.node_id} joins at {node.host} through node {via.node_id}")

    def resolve_removals(self):
        """A removal left unanswered may commit later. Asking again settles
        it: +OK, or "invalid member" (the leader refuses that only when no
        configuration change is pending and the server is not in the
        committed configuration). The server is then stopped and replaced."""
        if not self.maybe_removed:
            return
        ld = self.leader(timeout=1.0)
        if ld is None:
            return
        for i in sorted(self.maybe_removed - self.removed):
            try:
                query(ld.host, ld.port, "RAFT", "REMOVENODE", str(i), timeout=5.0)
            except RespError as e:
                if "invalid member" not in str(e):
                    continue
            except (OSError, ConnectionError):
                continue
            victim = next(n for n in self.nodes if n.node_id == i)
            self.maybe_removed.discard(i)
            self.removed.add(i)
            victim.kill()
            self.note(f"node {i} is out of the configuration (asked again); stopped")
            self.add_replacement(victim)

    def tear(self):
        """Kills a follower and leaves a torn record at the end of its log: the
        start of a record that was being written when the server died (a
        partial copy of its last record, a partial header, or zeros), never a
        cut into a record it may have acknowledged."""
        ld = self.leader(timeout=2.0)
        followers = [n for n in self.members() if n.up() and not n.paused and n is not ld
                     and n.node_id not in self.maybe_removed]
        if ld is None or not followers:
            self.note("torn skipped: no leader")
            return None
        victim = self.rng.choice(followers)
        victim.kill()
        segs = []
        for root, _, files in os.walk(victim.data_dir):
            segs += [os.path.join(root, f) for f in files if f.endswith(".wal")]
        if not segs:
            self.note(f"torn: node {victim.node_id} has no log segment; plain kill")
            return lambda: self.restart([victim])
        seg = max(segs, key=os.path.basename)
        with open(seg, "rb") as f:
            data = f.read()
        # Walk the records (docs/wal_format.md) to find the last one.
        off, last = 32, None
        while off + 40 <= len(data):
            (size,) = struct.unpack_from("<I", data, off + 12)
            if off + 40 + size > len(data):
                break
            last = (off, 40 + size)
            off += 40 + size
        how = self.rng.choice(["partial-record", "partial-header", "zeros"])
        if how == "partial-record" and last and last[1] > 41:
            start, size = last
            tail = data[start:start + self.rng.randint(40, size - 1)]
        elif how == "zeros":
            tail = b"\0" * self.rng.randint(1, 4096)
        else:
            how = "partial-header"
            tail = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 39)))
        with open(seg, "ab") as f:
            f.write(tail)
        self.note(f"torn: node {victim.node_id} killed, {len(tail)} bytes ({how}) appended to "
                  f"{os.path.basename(seg)}")

        def heal():
            self.restart([victim])
            # The next fault waits until it has caught up: the torn node is
            # one of the majority again before anything else fails.
            self.wait_caught_up([victim], 20.0)
            text = victim.read_log()
            if "torn" not in text.lower() and "truncat" not in text.lower():
                self.fail(f"node {victim.node_id} restarted after a torn record without "
                          f"reporting it in its log")
        return heal

    def wait_caught_up(self, nodes, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ld = self.leader(timeout=1.0)
            try:
                if ld:
                    commit = int(ld.info()["raft_commit_index"])
                    if all(int(n.info()["raft_applied_index"]) >= commit for n in nodes):
                        return True
            except (OSError, ConnectionError, RespError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        self.fail(f"nodes {[n.node_id for n in nodes]} did not catch up within {timeout}s")
        return False

    # -- the whole run
    def execute(self):
        args = self.args
        nemeses = NEMESES if args.nemesis == "all" else tuple(args.nemesis.split(","))
        for n in nemeses:
            if n not in NEMESES:
                raise SystemExit(f"unknown nemesis {n!r}; known: {', '.join(NEMESES)}")
        net = {"partition", "partition-leader", "bridge", "asymmetric", "flapping"}
        if net & set(nemeses) or ("membership-during" in nemeses and Firewall.available() is None):
            why = Firewall.available()
            if why:
                raise SystemExit(f"raftkv_faults: {why}")
            self.firewall.install()
        for slot in range(args.nodes):
            node = Node(self, slot, slot + 1)
            self.founders.append(node)
            self.nodes.append(node)
        for n in self.nodes:
            n.start()
        if self.leader(timeout=15.0) is None:
            self.fail("no leader within 15 s of the start")
            return
        self.note(f"cluster of {args.nodes} up; leader {self.leader().node_id}; port {self.port}")
        self.start_time = time.monotonic()
        self.phase = "healthy"
        clients = self.clients = [Client(self, i + 1, self.seed * 1000 + i) for i in range(args.clients)]
        for c in clients:
            c.pick_target()
            c.start()
        end = self.start_time + args.duration
        solo = {"torn", "membership", "membership-during"}
        while time.monotonic() < end:
            self.check_processes()
            self.resolve_removals()
            quiet = 1.0 + self.rng.random() * 2.0
            time.sleep(min(quiet, max(0.0, end - time.monotonic())))
            if time.monotonic() >= end:
                break
            first = self.rng.choice(nemeses)
            chosen = [first]
            if args.combine and first not in solo and self.rng.random() < 0.5:
                second = self.rng.choice([x for x in nemeses if x not in solo and x != first] or [first])
                if second != first:
                    chosen.append(second)
            if "membership" in nemeses and first != "membership" and first not in solo \
                    and args.combine and self.rng.random() < 0.25:
                chosen.append("membership")  # a membership change during another fault
            heals = []
            self.phase = "+".join(chosen)
            self.active = []
            for nem in chosen:
                self.check_processes()
                h = self.apply(nem)
                if h:
                    heals.append(h)
                    self.active.append(nem)
            # A pause shorter than a patient client's timeout matters most: the
            # paused server wakes up to requests that still wait for it, and
            # must not answer them from what it knew before the pause.
            hold = 0.6 + self.rng.random() * 3.4 if chosen == ["pause"] else 2.0 + self.rng.random() * 3.0
            time.sleep(min(hold, max(0.5, end - time.monotonic())))
            for h in reversed(heals):
                h()
            self.heal_times.append(time.monotonic_ns())
            self.phase = "healthy"
        # The end: heal everything, then measure recovery.
        self.heal_all()
        self.phase = "recovery"
        t0 = time.monotonic()
        recovered = self.wait_write(RECOVERY_BOUND_S)
        self.recovery_s = time.monotonic() - t0
        if not recovered:
            self.fail(f"no acknowledged write within {RECOVERY_BOUND_S} s after the last heal")
        self.phase = "healed"
        time.sleep(1.0)  # clients keep going on a healthy cluster for a moment
        self.stop_clients.set()
        for c in clients:
            c.join(timeout=3 * max(OP_TIMEOUTS_S) + 5)  # up to 3 redirects
        for c in clients:
            for u in c.unexpected[:5]:
                self.fail(f"client {c.index}: unexpected reply {u}")
        self.check_processes()
        self.final_checks()

    def heal_all(self):
        if hasattr(self, "flap_stop"):
            self.flap_stop.set()
        self.firewall.heal()
        for n in self.members():
            n.resume()
            if not n.up():
                n.start()
        self.note("everything healed")

    def wait_write(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ld = self.leader(timeout=0.5)
            if ld:
                try:
                    query(ld.host, ld.port, "SET", "raftkv-faults-probe", "1", timeout=2.0)
                    return True
                except (OSError, ConnectionError, RespError):
                    pass
            time.sleep(0.05)
        return False

    def final_checks(self):
        members = self.members()
        # Every member is a voter, and applied what the leader committed.
        deadline = time.monotonic() + CONVERGENCE_BOUND_S
        converged = False
        while time.monotonic() < deadline and not converged:
            ld = self.leader(timeout=1.0)
            try:
                if ld:
                    info = ld.info()
                    voters, learners = parse_members(info["raft_voters"])
                    for gone in (self.maybe_removed & {n.node_id for n in members}) - voters - learners:
                        self.note(f"node {gone}'s removal did commit after all")
                        self.removed.add(gone)
                        self.maybe_removed.discard(gone)
                        members = self.members()
                    commit = int(info["raft_commit_index"])
                    applied = [int(n.info()["raft_applied_index"]) for n in members]
                    converged = voters == {n.node_id for n in members} and not learners \
                        and all(a >= commit for a in applied)
            except (OSError, ConnectionError, RespError, ValueError, KeyError):
                pass
            if not converged:
                time.sleep(0.1)
        if not converged:
            self.fail(f"the members did not converge within {CONVERGENCE_BOUND_S} s")
            return
        # A linearizable read of every key through the leader, in the history,
        # then each member's own copy (READONLY) must be the same.
        keys = sorted(self.keys_used)
        final = {}
        c = None
        deadline = time.monotonic() + 30
        for k in keys:
            while k not in final:
                try:
                    if c is None:
                        ld = self.leader(timeout=5.0)
                        c = Conn(ld.host, ld.port, 10.0)
                    call = time.monotonic_ns()
                    v = c.call("GET", k)
                except (OSError, ConnectionError, RespError, AttributeError) as e:
                    if time.monotonic() > deadline:
                        self.fail(f"the final reads failed: {e}")
                        return
                    if c:
                        c.close()
                    c = None  # the leader changed: find it again
                    continue
                self.history.add(Op(999999999, call, time.monotonic_ns(), "ok",
                                    f"get {quote(k.encode())}", "nil" if v is None else quote(v),
                                    "final"))
                final[k] = v
        c.close()
        for n in members:
            c = Conn(n.host, n.port, 10.0)
            c.call("READONLY")
            diffs = [k for k in keys if c.call("GET", k) != final[k]]
            c.close()
            if diffs:
                self.fail(f"node {n.node_id} differs from the leader on {len(diffs)} keys, "
                          f"e.g. {diffs[0]!r}")
        self.final_keys = len(keys)

    def check_history(self):
        path = os.path.join(self.out, "history.txt")
        self.history.write(path, self.clients)
        r = subprocess.run([self.sim, "--check-history", path], capture_output=True, text=True)
        with open(os.path.join(self.out, "check.txt"), "w") as f:
            f.write(r.stdout + r.stderr)
        self.check_output = r.stdout + r.stderr
        if r.returncode == 0:
            return "linearizable"
        verdict = "NOT LINEARIZABLE" if r.returncode == 1 else "check inconclusive"
        self.fail(f"history: {verdict} (see {os.path.join(self.out, 'check.txt')})")
        return verdict

    def shutdown(self):
        for n in self.nodes:
            if n.up():
                code = n.stop()
                if code not in (0, None):
                    self.fail(f"node {n.node_id} exited with {code} on SIGTERM")
        self.firewall.remove()
        for n in self.nodes:
            text = n.read_log()
            for marker in SANITIZER_MARKERS:
                if marker in text:
                    self.fail(f"{marker!r} in {n.log_path}")
                    break


# ---------------------------------------------------------------- report

def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100.0 * len(values)))]


def summary(run, verdict):
    lines = []
    a = run.args
    lines.append(f"raftkv faults: {a.nodes} nodes, {a.clients} clients, nemesis {a.nemesis}"
                 f"{' (combined)' if a.combine else ''}, {a.duration:.0f} s, seed {a.seed}")
    ops = run.history.ops
    by_phase = collections.defaultdict(list)
    for o in ops:
        kind = "fault" if o.phase not in ("healthy", "recovery", "healed", "final", "start") else o.phase
        by_phase[kind].append(o)
    lines.append(f"{'phase':<10} {'ops':>8} {'ok':>8} {'failed':>8} {'unknown':>8} {'avail':>7} "
                 f"{'p50 ms':>8} {'p99 ms':>8}")
    for phase in ("healthy", "fault", "recovery", "healed", "final", "all"):
        os_ = ops if phase == "all" else by_phase.get(phase, [])
        if not os_:
            continue
        cnt = collections.Counter(o.outcome for o in os_)
        lat = [(o.ret - o.call) / 1e6 for o in os_ if o.outcome == "ok"]
        avail = 100.0 * cnt["ok"] / len(os_)
        lines.append(f"{phase:<10} {len(os_):>8} {cnt['ok']:>8} {cnt['failed']:>8} {cnt['unknown']:>8} "
                     f"{avail:>6.1f}% {percentile(lat, 50):>8.1f} {percentile(lat, 99):>8.1f}")
    faults = collections.Counter(o.phase for o in ops if o.phase not in
                                 ("healthy", "recovery", "healed", "final", "start"))
    if faults:
        lines.append("fault phases (ops): " + ", ".join(f"{k} {v}" for k, v in sorted(faults.items())))
    # After each heal: how long until a client's write was acknowledged
    # (measured from the history; none if the next fault came first).
    writes = sorted((o.call, o.ret) for o in ops if o.outcome == "ok" and o.phase != "final"
                    and not o.command.startswith("get "))
    gaps, missed = [], 0
    for i, t in enumerate(run.heal_times):
        nxt = run.heal_times[i + 1] if i + 1 < len(run.heal_times) else float("inf")
        first = next((r for c, r in writes[bisect.bisect_left(writes, (t, 0)):] if r <= nxt), None)
        if first is None:
            missed += 1
        else:
            gaps.append((first - t) / 1e9)
    if gaps:
        lines.append(f"first acknowledged write after a heal: median {percentile(gaps, 50):.2f} s, "
                     f"max {max(gaps):.2f} s over {len(gaps)} heals"
                     + (f" ({missed} more had none before the next fault)" if missed else ""))
    rets = sorted((o.ret, o.phase) for o in ops if o.outcome == "ok" and o.phase != "final"
                  and not o.command.startswith("get "))
    if len(rets) > 1:
        gap, at = max(((b[0] - a[0], b) for a, b in zip(rets, rets[1:])), key=lambda x: x[0])
        lines.append(f"longest time without an acknowledged write: {gap / 1e9:.2f} s "
                     f"(ending in phase {at[1]})")
    rec = getattr(run, "recovery_s", None)
    if rec is not None:
        lines.append(f"recovery after the last heal: {rec:.2f} s (bound {RECOVERY_BOUND_S:.0f} s)")
    lines.append(f"linearizability: {verdict}; keys {getattr(run, 'final_keys', '?')}")
    if run.failures:
        lines.append(f"VERDICT: FAILED ({len(run.failures)})")
        for f in run.failures[:10]:
            lines.append(f"  - {f}")
        lines.append(f"kept: {run.out} (history.txt, schedule.txt, check.txt, node*/server.log)")
        lines.append(f"replay: {replay_command(run)}")
    else:
        lines.append("VERDICT: ok")
    return "\n".join(lines)


def replay_command(run):
    a = run.args
    return (f"tests/faults/raftkv_faults.py --nodes {a.nodes} --clients {a.clients} --keys {a.keys} "
            f"--nemesis {a.nemesis}{' --combine' if a.combine else ''} --duration {a.duration:g} "
            f"--seed {a.seed}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="nemeses:\n" + "\n".join(f"  {k:<17} {v}" for k, v in NEMESIS_HELP.items()))
    p.add_argument("--nodes", type=int, default=3, choices=(3, 5))
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--keys", type=int, default=5, help="keys in use at a time")
    p.add_argument("--nemesis", default="all", help="one or more, comma-separated, or 'all'")
    p.add_argument("--combine", action="store_true",
                   help="sometimes two faults at once, and membership changes during other faults")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of faults")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", help="run directory (default: a new one under $TMPDIR)")
    p.add_argument("--keep", action="store_true", help="keep the run directory even when all is well")
    p.add_argument("--raftkv", default=DEFAULT_RAFTKV)
    p.add_argument("--sim", default=DEFAULT_SIM, help="raftkv-sim, whose --check-history checks the history")
    p.add_argument("--snapshot-bytes", type=int, default=256 * 1024,
                   help="servers snapshot after this much log (small, so that snapshots happen)")
    p.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                   help="one more flag for every server, e.g. --server-arg=--log-level=debug")
    p.add_argument("--verbose", "-v", action="store_true", help="print the fault schedule as it happens")
    args = p.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1 << 31)
    return args


def main(argv=None):
    args = parse_args(argv)
    for path in (args.raftkv, args.sim):
        if not os.access(path, os.X_OK):
            print(f"raftkv_faults: {path} is not an executable (build first, or --raftkv/--sim)",
                  file=sys.stderr)
            return 2
    run = Run(args)

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    verdict = "not checked"
    try:
        run.execute()
        run.shutdown()
        verdict = run.check_history()
    except KeyboardInterrupt:
        run.fail("interrupted")
        run.stop_clients.set()
        verdict = run.check_history() + " (up to the interruption)"
    except Exception as e:  # noqa: BLE001 - reported, and the run directory kept
        run.fail(f"harness error: {type(e).__name__}: {e}")
        raise
    finally:
        run.stop_clients.set()
        for n in run.nodes:
            if n.up():
                n.kill()
        run.firewall.remove()
        with open(os.path.join(run.out, "schedule.txt"), "w") as f:
            f.write(f"# {replay_command(run)}\n")
            f.write("\n".join(run.schedule) + "\n")
        if not run.failures and not args.keep and args.out is None:
            shutil.rmtree(run.out, ignore_errors=True)
        elif not run.failures and not args.keep:
            for n in run.nodes:
                shutil.rmtree(n.data_dir, ignore_errors=True)
    text = summary(run, verdict)
    print(text, flush=True)
    with open(os.path.join(run.out, "summary.txt"), "w") if os.path.isdir(run.out) else open(os.devnull, "w") as f:
        f.write(text + "\n")
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
