"""`raftkv demo`: a local cluster and its shell, driven through a pseudo-terminal.

Checks what a person at the terminal sees (the nodes, a leader, the prompt,
replies), and what must hold after: the demo exits 0, none of its server
processes is left, their logs hold no sanitizer report, and the data is still
there.
"""
import os
import pty
import random
import re
import select
import signal
import socket
import subprocess
import termios
import time

import pytest

from conftest import RAFTKV, SANITIZER_MARKERS, wait_for

NODE_LINE = re.compile(rb"node (\d+)\s+127\.0\.0\.1:(\d+)\s.*pid (\d+)")
PROMPT = re.compile(rb"127\.0\.0\.1:\d+> ")


def port_is_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base_port(count):
    """A port P with P..P+count-1 and their peer ports (+10000) all free.

    Drawn below the kernel's ephemeral range (which starts at 32768 here),
    so that the many outgoing connections of a test run cannot hold them."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 22760)
        ports = [base + i for i in range(count)]
        if all(port_is_free(p) and port_is_free(p + 10000) for p in ports):
            return base
    raise AssertionError("no free run of ports")


def processes_using(path):
    """Pids of processes whose command line mentions `path`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue  # gone meanwhile
        if path.encode() in cmdline:
            found.append(int(entry))
    return found


class Demo:
    """`raftkv demo` on a pseudo-terminal; keeps everything it printed."""

    def __init__(self, tmp_path, nodes):
        self.dir = str(tmp_path / "demo")
        self.nodes = nodes
        self.port = free_base_port(nodes)
        env = dict(os.environ, HOME=str(tmp_path), TERM="xterm")
        argv = [RAFTKV, "demo", "--nodes", str(nodes), "--dir", self.dir, "--port", str(self.port)]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(argv[0], argv, env)
        self.screen = b""  # everything read so far
        self.pos = 0  # where the next expect starts looking
        self.exit_code = None

    def read_some(self, timeout):
        if not select.select([self.fd], [], [], max(timeout, 0))[0]:
            return True
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: the terminal's other side has closed
            chunk = b""
        self.screen += chunk
        return bool(chunk)

    def expect(self, pattern, timeout=20):
        """Waits for `pattern` (regex bytes) after the previous match; returns
        the text before it."""
        regex = re.compile(pattern) if isinstance(pattern, bytes) else pattern
        deadline = time.monotonic() + timeout
        while True:
            m = regex.search(self.screen, self.pos)
            if m:
                before = self.screen[self.pos:m.start()]
                self.pos = m.end()
                return before
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {regex.pattern!r}; screen: {self.screen!r}"
            assert self.read_some(left), f"demo exited waiting for {regex.pattern!r}: {self.screen!r}"

    def send(self, data):
        """Types `data` once the shell reads the terminal raw. Keys typed
        while it is still in canonical mode are cooked by the terminal: a
        Ctrl-D there becomes an empty line that libedit never sees."""
        wait_for(lambda: not termios.tcgetattr(self.fd)[3] & termios.ICANON, 10,
                 "the shell to put the terminal in raw mode")
        os.write(self.fd, data)

    def wait(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exit_code = os.waitstatus_to_exitcode(status)
                while self.read_some(0.05) and len(self.screen) < 1 << 20:
                    pass
                return self.exit_code
            self.read_some(0.05)
        raise AssertionError(f"demo did not exit; screen: {self.screen!r}")

    def node_pids(self):
        return {int(m.group(1)): int(m.group(3)) for m in NODE_LINE.finditer(self.screen)}

    def wait_for_shell(self):
        """Waits for the shell's prompt; returns the node pids and the leader."""
        self.expect(rb"node (\d+) leads")
        self.leader = int(re.search(rb"node (\d+) leads", self.screen).group(1))
        self.expect(PROMPT)
        pids = self.node_pids()
        assert sorted(pids) == list(range(1, self.nodes + 1)), self.screen
        return pids

    def kill(self):
        """SIGKILL, unless it has exited; idempotent."""
        if self.exit_code is None:
            os.kill(self.pid, signal.SIGKILL)
            self.exit_code = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def logs(self):
        return {i: open(os.path.join(self.dir, f"node-{i}.log"), "rb").read().decode(errors="replace")
                for i in range(1, self.nodes + 1)}


@pytest.fixture
def make_demo(tmp_path):
    demos = []

    def make(nodes):
        demos.append(Demo(tmp_path, nodes))
        return demos[-1]

    yield make
    for d in demos:
        d.kill()
        # The nodes follow the demo (PR_SET_PDEATHSIG) even when it was killed.
        wait_for(lambda: not processes_using(d.dir), 20, f"the nodes of {d.dir} to exit")
        # The demo's own output (and its shell's) is on the screen.
        screen = d.screen.decode(errors="replace")
        for marker in SANITIZER_MARKERS:
            assert marker not in screen, f"{marker!r} on the demo's terminal:\n{screen[-4000:]}"
        for i, log in d.logs().items():
            for marker in SANITIZER_MARKERS:
                assert marker not in log, f"{marker!r} in node-{i}.log:\n{log[-4000:]}"


def assert_all_gone(demo, pids):
    """Right after the demo exits: it waited for its nodes, so none is left."""
    for pid in pids.values():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                assert demo.dir.encode() not in f.read(), f"node pid {pid} outlived the demo"
        except FileNotFoundError:
            pass
    assert processes_using(demo.dir) == []


def assert_stopped_cleanly(demo):
    for i, log in demo.logs().items():
        assert "stopped cleanly" in log, f"node-{i}.log:\n{log[-4000:]}"


@pytest.mark.parametrize("nodes", [1, 3, 5])
def test_set_get_then_ctrl_d(make_demo, nodes):
    demo = make_demo(nodes)
    pids = demo.wait_for_shell()
    demo.send(b"set chelsea rules\r")
    # The shell starts on node 1 and follows a redirect to the leader, whose
    # address the prompt then shows.
    leader_prompt = f"127.0.0.1:{demo.port + demo.leader - 1}> ".encode()
    assert b"OK" in demo.expect(re.escape(leader_prompt))
    demo.send(b"get chelsea\r")
    assert b'"rules"' in demo.expect(re.escape(leader_prompt))
    demo.send(b"\x04")  # Ctrl-D at an empty prompt: end of input
    assert demo.wait() == 0, demo.screen
    assert_all_gone(demo, pids)
    tail = demo.screen[demo.pos:]
    assert b"stopped" in tail and b"cleanly" in tail, tail
    assert f"rm -r {demo.dir}".encode() in tail, tail  # never deleted silently
    assert os.path.isdir(os.path.join(demo.dir, "node-1"))
    assert_stopped_cleanly(demo)


def test_ctrl_c_stops_the_cluster(make_demo):
    demo = make_demo(1)
    pids = demo.wait_for_shell()
    demo.send(b"\x03")
    assert demo.wait() == 0, demo.screen
    assert b"got SIGINT" in demo.screen, demo.screen
    assert_all_gone(demo, pids)
    assert_stopped_cleanly(demo)


def test_sigterm_stops_the_cluster(make_demo):
    demo = make_demo(1)
    pids = demo.wait_for_shell()
    os.kill(demo.pid, signal.SIGTERM)
    assert demo.wait() == 0, demo.screen
    assert b"got SIGTERM" in demo.screen, demo.screen
    assert_all_gone(demo, pids)
    assert_stopped_cleanly(demo)


def test_nodes_do_not_outlive_a_killed_demo(make_demo):
    demo = make_demo(1)
    pids = demo.wait_for_shell()
    demo.kill()
    wait_for(lambda: not processes_using(demo.dir), 20, "the nodes to exit after the demo")
    # They got SIGTERM from the kernel, so they stopped as after a Ctrl-C.
    assert_stopped_cleanly(demo)
    assert pids


def test_port_in_use_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as busy:
        # SO_REUSEADDR as the server uses it: a connection of an earlier test
        # in TIME_WAIT on the drawn port must not fail the bind. Someone else
        # may still take the port between the draw and the bind; draw again.
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(20):
            port = free_base_port(1)
            try:
                busy.bind(("127.0.0.1", port))
                break
            except OSError:
                continue
        else:
            raise AssertionError("no port could be held")
        busy.listen()
        res = subprocess.run([RAFTKV, "demo", "--nodes", "1", "--dir", str(tmp_path / "d"),
                              "--port", str(port)], capture_output=True, timeout=20,
                             stdin=subprocess.DEVNULL)
    assert res.returncode == 2, res
    assert f"127.0.0.1:{port} (node 1's client port) is not free".encode() in res.stderr, res
    assert not (tmp_path / "d").exists()


def test_a_node_that_cannot_start_is_named_with_its_log(tmp_path):
    demo_dir = tmp_path / "demo"
    demo_dir.mkdir()
    (demo_dir / "node-2").write_text("a file where node 2's data directory should be")
    res = subprocess.run([RAFTKV, "demo", "--nodes", "3", "--dir", str(demo_dir),
                          "--port", str(free_base_port(3))], capture_output=True, timeout=30,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 1, res
    assert f"node 2 exited with code 1; the end of {demo_dir}/node-2.log".encode() in res.stderr
    assert b"cannot create data directory" in res.stderr, res
    assert b"stopped 2 of 3 nodes cleanly" in res.stdout, res
    assert processes_using(str(demo_dir)) == []
