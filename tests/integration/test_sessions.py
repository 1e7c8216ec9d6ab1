"""Exactly-once writes through `raftkv cli` across leader failures (issue 4, item 4).

The shell runs its writes in a client session (docs/command_format.md, Client
sessions) and retries the same (session, sequence) after a lost connection or
a leader change, so an INCR is applied once however often it is resent. Each
test pipes INCRs into one `raftkv cli` process while the leader is killed or
paused, then checks that the counter equals the number of acknowledged INCRs.
"""
import signal
import subprocess
import threading

import pytest

from conftest import RAFTKV, wait_for


class Shell:
    """A piped `raftkv cli` process fed one INCR at a time."""

    def __init__(self, port):
        self.proc = subprocess.Popen([RAFTKV, "cli", "-p", str(port)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     bufsize=1)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def incr(self, key):
        """Sends one INCR and waits for its outcome line (a reply, or an error on stderr)."""
        before = len(self.lines)
        self.send(f"incr {key}")
        self.send("ping")  # a marker: each INCR's output is followed by PONG
        wait_for(lambda: len(self.lines) >= before + 1 and "PONG" in self.lines[before:],
                 60, "the shell to answer")

    def finish(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.reader.join(timeout=10)
        return self.proc.stderr.read()


def run_incrs_through(cluster, fault, count=60, at=20):
    leader = cluster.leader()
    shell = Shell(leader.port)
    for i in range(count):
        if i == at:
            fault(leader)
        shell.incr("counter")
    errors = shell.finish()
    acked = [int(x) for x in shell.lines if x.lstrip("-").isdigit()]
    return leader, acked, errors


@pytest.mark.parametrize("fault", ["kill", "stop"])
def test_incr_through_a_leader_failure_is_applied_once(make_cluster, fault):
    c = make_cluster(3).start()

    def hit(leader):
        if fault == "kill":
            leader.proc.send_signal(signal.SIGKILL)
            leader.proc.wait()
        else:
            leader.proc.send_signal(signal.SIGSTOP)

    old, acked, errors = run_incrs_through(c, hit)
    if fault == "stop":
        old.proc.send_signal(signal.SIGCONT)
    new = c.leader(exclude=() if fault == "stop" else (old.node_id,), timeout=15)
    counter = int(new.client().get("counter"))
    # Every INCR was acknowledged once, in order: no lost reply, no double apply.
    assert acked == list(range(1, len(acked) + 1)), (acked, errors)
    assert counter == len(acked), (counter, acked, errors)
    assert len(acked) == 60, errors
    assert "may or may not" not in errors, errors


def test_shell_without_sessions_sends_writes_as_typed(make_cluster):
    c = make_cluster(3).start()
    leader = c.leader()
    out = subprocess.run([RAFTKV, "cli", "--no-sessions", "-p", str(leader.port), "incr", "n"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "1", out
    # Any client may register a session; its id is a log index.
    assert leader.client().execute_command("SESSION", "REGISTER") > 1
    out = subprocess.run([RAFTKV, "cli", "-p", str(leader.port), "incr", "n"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "2", out
