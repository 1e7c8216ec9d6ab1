"""Fixtures for integration tests: real raftkv server processes on loopback.

Every wait has a deadline (wait_for); nothing sleeps and hopes. A failed
test keeps its server's data directory and log under the pytest tmp path.
"""
import contextlib
import os
import random
import signal
import socket
import subprocess
import time

import pytest
import redis

RAFTKV = os.environ.get("RAFTKV_BIN", os.path.join(os.path.dirname(__file__), "../../build/raftkv"))


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "assertion failed")


def _is_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_port_rng = random.Random()


def free_port():
    """A free client port whose peer port (+10000) is free too.

    Drawn below the kernel's ephemeral range (32768 and up), so that the
    outgoing connections of a test run cannot be holding either."""
    for _ in range(1000):
        port = _port_rng.randrange(20000, 22768)
        if _is_free(port) and _is_free(port + 10000):
            return port
    raise AssertionError("no free port in 20000-22767 with its peer port free")


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # the condition may raise while not yet true
            last_error = e
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


class Server:
    """One `raftkv server` process."""

    def __init__(self, data_dir, port=None, extra_args=()):
        self.data_dir = str(data_dir)
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.proc = None
        self.log_path = os.path.join(os.path.dirname(self.data_dir), f"server-{self.port}.log")

    def args(self):
        return [RAFTKV, "server", "--id", "1", "--cluster", f"1=127.0.0.1:{self.port}",
                "--data-dir", self.data_dir] + self.extra_args

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.read_log()}")
            return self.client().ping()
        wait_for(ready, timeout, f"server on port {self.port}")

    def client(self, **kw):
        kw.setdefault("socket_timeout", 10)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout=15, sig=signal.SIGTERM):
        """Sends `sig` (SIGTERM by default); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def run_to_exit(self, timeout=15):
        """Starts the server expecting it to exit; returns (code, log)."""
        self.log = open(self.log_path, "ab")
        proc = subprocess.run(self.args(), stdout=self.log, stderr=subprocess.STDOUT, timeout=timeout)
        return proc.returncode, self.read_log()


@pytest.fixture
def make_server(tmp_path):
    servers = []

    def make(data_dir=None, **kw):
        s = Server(data_dir or (tmp_path / f"data{len(servers)}"), **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        if s.proc and s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
    # A crash, an assertion or a sanitizer report in any server log fails the test.
    for s in servers:
        if os.path.exists(s.log_path):
            log = s.read_log()
            for marker in SANITIZER_MARKERS:
                assert marker not in log, f"{marker!r} in {s.log_path}:\n{log[-4000:]}"


@pytest.fixture
def server(make_server):
    return make_server().start()


# ---- clusters: 3 or 5 servers on loopback (test_cluster.py, test_expiry.py) ----

class Node(Server):
    def __init__(self, node_id, spec, data_dir, port, extra_args=()):
        super().__init__(data_dir, port=port, extra_args=extra_args)
        self.node_id = node_id
        self.spec = spec

    def args(self):
        return [RAFTKV, "server", "--id", str(self.node_id), "--cluster", self.spec,
                "--data-dir", self.data_dir] + self.extra_args

    def raft_info(self):
        return self.client().info("raft")

    def is_up(self):
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    def __init__(self, tmp_path, n, extra_args=()):
        ports = []
        while len(ports) < n:
            p = free_port()
            if p not in ports:
                ports.append(p)
        self.spec = ",".join(f"{i + 1}=127.0.0.1:{p}" for i, p in enumerate(ports))
        self.nodes = [Node(i + 1, self.spec, tmp_path / f"node{i + 1}" / "data", ports[i], extra_args)
                      for i in range(n)]
        for node in self.nodes:
            os.makedirs(os.path.dirname(node.data_dir), exist_ok=True)

    def start(self):
        for node in self.nodes:
            node.start(wait=False)
        for node in self.nodes:
            node.wait_ready()
        return self

    def leader(self, timeout=10.0, exclude=()):
        """The node that leads once every up node (but those excluded) names it."""
        def find():
            leaders, named = set(), set()
            for node in self.nodes:
                if not node.is_up() or node.node_id in exclude:
                    continue
                info = node.raft_info()
                if info["raft_role"] == "leader":
                    leaders.add(node.node_id)
                named.add(int(info["raft_leader"]))
            if len(leaders) == 1 and named == leaders:
                return leaders.pop()
            return None
        leader_id = wait_for(find, timeout, "a leader")
        return self.nodes[leader_id - 1]

    def claimed_leader(self, timeout=10.0, exclude=()):
        """The up node that says it leads in the highest term (others may not
        know it yet, and a removed server never learns it)."""
        def find():
            best = None
            for node in self.nodes:
                if not node.is_up() or node.node_id in exclude:
                    continue
                info = node.raft_info()
                if info["raft_role"] == "leader" and (best is None or int(info["raft_term"]) > best[0]):
                    best = (int(info["raft_term"]), node)
            return best[1] if best else None
        return wait_for(find, timeout, "a node that leads")

    def followers(self, leader):
        return [n for n in self.nodes if n is not leader and n.is_up()]


@contextlib.contextmanager
def followers_paused(cluster, leader):
    """SIGSTOPs every follower of `leader` for the body, then SIGCONTs them."""
    followers = cluster.followers(leader)
    for f in followers:
        f.proc.send_signal(signal.SIGSTOP)
    try:
        yield followers
    finally:
        for f in followers:
            f.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def make_cluster(tmp_path):
    clusters = []

    def make(n=3, extra_args=()):
        c = Cluster(tmp_path, n, extra_args)
        clusters.append(c)
        return c

    yield make
    for c in clusters:
        for node in c.nodes:
            if node.proc and node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait()
    for c in clusters:
        for node in c.nodes:
            if os.path.exists(node.log_path):
                log = node.read_log()
                for marker in SANITIZER_MARKERS:
                    assert marker not in log, f"{marker!r} in {node.log_path}:\n{log[-4000:]}"
