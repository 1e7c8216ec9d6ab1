"""`raftkv cli`: one-shot, piped, and the interactive shell driven through a
pseudo-terminal (prompt, line editing, history)."""
import os
import pty
import select
import subprocess
import time

from conftest import RAFTKV


def cli(server, *args, stdin=None):
    return subprocess.run([RAFTKV, "cli", "-p", str(server.port), *args], input=stdin,
                          capture_output=True, timeout=20)


def test_one_shot(server):
    assert cli(server, "set", "chelsea", "rules").stdout == b"OK\n"
    assert cli(server, "get", "chelsea").stdout == b"rules\n"
    assert cli(server, "incrby", "n", "-5").stdout == b"-5\n"  # a negative argument is not a flag
    res = cli(server, "get")
    assert res.returncode == 0 and b"wrong number of arguments" in res.stdout + res.stderr


def test_unreachable_server_exits_one(server):
    res = subprocess.run([RAFTKV, "cli", "-p", "1", "ping"], capture_output=True, timeout=20)
    assert res.returncode == 1
    assert b"cannot connect to 127.0.0.1:1" in res.stderr


def test_piped_lines(server):
    out = cli(server, stdin=b"set a 1\nincr a\nget a\n").stdout
    assert out == b"OK\n2\n2\n"


class Pty:
    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, env)
        self.buf = b""

    def expect(self, needle, timeout=10):
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {needle!r}; screen so far: {self.buf!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"shell exited while waiting for {needle!r}: {self.buf!r}"
                self.buf += chunk
        before, _, self.buf = self.buf.partition(needle)
        return before

    def send(self, data):
        os.write(self.fd, data)

    def wait(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            if select.select([self.fd], [], [], 0.05)[0]:
                try:
                    os.read(self.fd, 4096)
                except OSError:
                    pass
        raise AssertionError("shell did not exit")


def test_interactive_shell_through_a_pty(server, tmp_path):
    env = dict(os.environ, HOME=str(tmp_path), TERM="xterm")
    shell = Pty([RAFTKV, "cli", "-p", str(server.port)], env)
    prompt = f"127.0.0.1:{server.port}> ".encode()
    shell.expect(prompt)
    shell.send(b"set chelsea rules\r")
    assert b"OK" in shell.expect(prompt)
    shell.send(b"get chelsea\r")
    assert b'"rules"' in shell.expect(prompt)
    # Line editing: type, erase a word with backspaces, retype.
    shell.send(b"get chelsex\x7f\x7fea\r")
    assert b'"rules"' in shell.expect(prompt)
    # History: the up arrow brings back the last line.
    shell.send(b"incr visits\r")
    assert b"(integer) 1" in shell.expect(prompt)
    shell.send(b"\x1b[A\r")
    assert b"(integer) 2" in shell.expect(prompt)
    shell.send(b"mget chelsea nobody\r")
    screen = shell.expect(prompt)
    assert b'1) "rules"' in screen and b"2) (nil)" in screen
    shell.send(b"quit\r")
    assert shell.wait() == 0
    # libedit writes spaces as \040.
    history = (tmp_path / ".raftkv_history").read_text().replace("\\040", " ")
    assert "set chelsea rules" in history and "incr visits" in history
