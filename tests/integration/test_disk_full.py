"""A full disk: writes fail with an error reply that promises they were not
applied, reads go on, and writes work again once space returns. The data
directory sits on a small tmpfs that the test mounts (CI runs as root)."""
import os
import subprocess

import pytest
import redis

from conftest import wait_for


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    rc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                        capture_output=True, text=True)
    assert rc.returncode == 0, f"this test mounts a tmpfs and needs root: {rc.stderr}"
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path):
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_full_disk_fails_writes_keeps_reads_and_recovers(make_server, small_fs):
    server = make_server(data_dir=small_fs / "data",
                         extra_args=["--wal-segment-bytes", "1048576"]).start()
    r = server.client()
    r.set("before", "1")
    filler = small_fs / "filler"
    fill(filler)

    failures = 0
    for i in range(50):
        try:
            r.set(f"k{i}", "x" * 4096)
        except redis.ResponseError as e:
            assert "write not applied" in str(e) and "disk full" in str(e), e
            failures += 1
    assert failures > 0
    assert r.get("before") == b"1"  # reads go on
    assert int(r.info("stats")["writes_failed_disk_full"]) == failures

    os.unlink(filler)
    r.set("after", "2")
    assert r.get("after") == b"2"
    stored = {k for k in (f"k{i}" for i in range(50)) if r.exists(k)}
    assert len(stored) == 50 - failures

    assert server.stop() == 0
    server.start()
    r = server.client()
    assert r.get("before") == b"1" and r.get("after") == b"2"
    assert {k for k in (f"k{i}" for i in range(50)) if r.exists(k)} == stored
