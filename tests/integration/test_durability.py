"""Durability on real processes: every acknowledged write survives SIGKILL;
snapshots bound the log; a torn tail is cut, corruption stops the start."""
import glob
import os
import signal
import threading

import pytest
import redis

from conftest import wait_for


def write_load(server, n_threads, stop, acked, errors):
    def worker(t):
        r = server.client()
        i = 0
        while not stop.is_set():
            key = f"t{t}:{i}"
            try:
                r.set(key, f"v{i}")
            except (redis.ConnectionError, redis.TimeoutError):
                return  # the server died: this write's fate is unknown
            except Exception as e:  # anything else is a bug
                errors.append(e)
                return
            acked.append(key)
            i += 1
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    return threads


def test_sigkill_during_writes_loses_no_acknowledged_write(make_server):
    server = make_server(extra_args=["--snapshot-log-bytes", "200000"]).start()
    stop, acked, errors = threading.Event(), [], []
    threads = write_load(server, 8, stop, acked, errors)
    wait_for(lambda: len(acked) >= 3000, 60, "3000 acknowledged writes")
    server.kill()
    stop.set()
    for th in threads:
        th.join()
    assert not errors
    server.start()
    r = server.client()
    values = r.mget(acked)
    missing = [k for k, v in zip(acked, values) if v is None]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    for k, v in zip(acked, values):
        assert v == f"v{k.split(':')[1]}".encode()


def test_restart_after_several_snapshots(make_server):
    server = make_server(extra_args=["--snapshot-log-bytes", "65536",
                                     "--wal-segment-bytes", "16384"]).start()
    r = server.client()
    for i in range(3000):
        r.set(f"key{i}", "x" * 50)
        if i % 7 == 0:
            r.incr("counter")
    wait_for(lambda: int(r.info("persistence")["snapshots_taken"]) >= 3, 20, "three snapshots")
    info = r.info("persistence")
    assert int(info["snapshot_index"]) > 0
    # The log before the snapshot was dropped: far fewer bytes than written.
    wait_for(lambda: int(r.info("persistence")["log_bytes_on_disk"]) < 150000, 20,
             "log compaction")
    snapshots = glob.glob(os.path.join(server.data_dir, "snapshots", "*"))
    assert 1 <= len(snapshots) <= 2, snapshots
    assert server.stop() == 0
    server.start()
    r = server.client()
    assert r.dbsize() == 3001
    assert r.get("key2999") == b"x" * 50
    assert r.get("counter") == b"429"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_finishes_in_flight_writes_and_exits_zero(server, sig):
    """Writes sent just before the signal are still synced and answered."""
    import socket
    s = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    s.sendall(b"".join(f"SET k{i} {i}\r\n".encode() for i in range(2000)))
    server.proc.send_signal(sig)
    replies = b""
    while True:  # the server answers what it read, then closes
        chunk = s.recv(65536)
        if not chunk:
            break
        replies += chunk
    s.close()
    assert server.stop(sig=sig) == 0
    assert "stopped cleanly" in server.read_log()
    answered = replies.count(b"+OK\r\n")
    assert replies == b"+OK\r\n" * answered  # no error for anything it read
    server.start()
    r = server.client()
    assert r.dbsize() == answered
    assert answered == 0 or r.get(f"k{answered - 1}") == str(answered - 1).encode()


def segments(server):
    return sorted(glob.glob(os.path.join(server.data_dir, "wal", "*")))


def test_torn_tail_is_cut_with_a_warning(make_server):
    server = make_server().start()
    r = server.client()
    for i in range(100):
        r.set(f"k{i}", i)
    server.kill()
    with open(segments(server)[-1], "ab") as f:
        f.write(b"\x40\x00\x00\x00\x99\x99")  # half of a record header
    server.start()
    assert server.client().dbsize() == 100
    assert "warn" in server.read_log().lower()


def test_corrupt_record_in_the_middle_stops_the_start(make_server):
    server = make_server().start()
    r = server.client()
    for i in range(200):
        r.set(f"k{i}", "v" * 100)
    server.kill()
    path = segments(server)[-1]
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size // 2)
        byte = f.read(1)
        f.seek(size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    code, log = server.run_to_exit()
    assert code == 1
    assert os.path.basename(path) in log and "offset" in log, log


def test_second_server_on_the_same_data_dir_is_refused(make_server, server):
    other = make_server(data_dir=server.data_dir)
    code, log = other.run_to_exit()
    assert code == 1
    assert "in use by another raftkv server" in log
