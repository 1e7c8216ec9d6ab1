"""A failed fsync: the server cannot know what reached the disk, so it never
answers "not applied" for those writes; it answers -UNCERTAIN (or closes)
and stops (STYLE.md section 4: never retry an fsync). The fault comes from
an LD_PRELOAD library (fsync_fault.c) while a trigger file exists."""
import os

import pytest
import redis

from conftest import wait_for

FAULT_LIB = os.environ.get("RAFTKV_FSYNC_FAULT_LIB")


@pytest.fixture
def faulty_server(make_server, tmp_path, monkeypatch):
    assert FAULT_LIB and os.path.exists(FAULT_LIB), "run through ctest, which builds fsync_fault"
    trigger = tmp_path / "FAIL_FSYNC"
    monkeypatch.setenv("LD_PRELOAD", FAULT_LIB)
    monkeypatch.setenv("RAFTKV_FAIL_FSYNC", str(trigger))
    # The sanitizer runtimes want to be first in the preload list; ours is harmless.
    monkeypatch.setenv("ASAN_OPTIONS", "verify_asan_link_order=0")
    # Small segments: the failing fsync is the one at a segment rotation.
    server = make_server(extra_args=["--wal-segment-bytes", "4096"]).start()
    monkeypatch.delenv("LD_PRELOAD")
    return server, trigger


def test_failed_fsync_is_never_reported_as_not_applied(faulty_server):
    server, trigger = faulty_server
    r = server.client()
    r.set("a", "x" * 4500)
    r.set("b", "x" * 4500)
    trigger.touch()
    # Two writes in one batch: the second starts a new segment, and the Wal
    # fsyncs the first one's segment inside append().
    p = r.pipeline(transaction=False)
    p.set("c", "x" * 4500)
    p.set("d", "x" * 4500)
    try:
        replies = p.execute(raise_on_error=False)
    except redis.ConnectionError:
        replies = []  # closed without a reply: also honest
    for reply in replies:
        assert isinstance(reply, redis.ResponseError), reply
        assert "not applied" not in str(reply), f"a write whose fsync failed was called not applied: {reply}"
        assert str(reply).startswith("UNCERTAIN"), reply
    # The log cannot take more writes: the server stops with an error.
    assert server.proc.wait(timeout=20) == 1
    assert "fdatasync" in server.read_log()
    trigger.unlink()
    server.start()
    r = server.client()
    assert r.get("a") == b"x" * 4500 and r.get("b") == b"x" * 4500


def test_a_read_right_after_a_restart_on_a_slow_disk_sees_every_write(make_server, monkeypatch):
    """The only voter answers reads from its state without a heartbeat round,
    but only once it has re-applied the log after a restart: with a slow
    disk, the first Ready (the new term, persisted before the log is
    re-applied) is still on the disk when the first GET arrives."""
    assert FAULT_LIB and os.path.exists(FAULT_LIB), "run through ctest, which builds fsync_fault"
    server = make_server().start()
    r = server.client()
    for i in range(20):
        r.set(f"k{i}", str(i))
    assert server.stop() == 0
    monkeypatch.setenv("LD_PRELOAD", FAULT_LIB)
    monkeypatch.setenv("RAFTKV_SLOW_FSYNC_MS", "300")
    monkeypatch.setenv("ASAN_OPTIONS", "verify_asan_link_order=0")
    server.start()
    monkeypatch.delenv("LD_PRELOAD")
    assert server.client().get("k19") == b"19"
    assert server.client().get("k0") == b"0"


def test_a_failed_fsync_during_a_signalled_stop_exits_with_an_error(make_server, tmp_path,
                                                                   monkeypatch):
    """SIGTERM starts a clean stop that waits for the write in flight; its
    fsync then fails: the exit status must say so (it used to be 0)."""
    import signal
    import socket
    import time
    assert FAULT_LIB and os.path.exists(FAULT_LIB), "run through ctest, which builds fsync_fault"
    trigger = tmp_path / "FAIL_FSYNC"
    monkeypatch.setenv("LD_PRELOAD", FAULT_LIB)
    monkeypatch.setenv("RAFTKV_FAIL_FSYNC", str(trigger))
    monkeypatch.setenv("RAFTKV_SLOW_FSYNC_MS", "500")
    monkeypatch.setenv("ASAN_OPTIONS", "verify_asan_link_order=0")
    server = make_server().start()
    monkeypatch.delenv("LD_PRELOAD")
    assert server.client().set("a", "1")
    trigger.touch()
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n")
        time.sleep(0.1)  # the write's fsync is sleeping now
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=20) == 1, server.read_log()
    assert "fdatasync" in server.read_log()
