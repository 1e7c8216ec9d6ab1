"""The server process: configuration, defaults, group commit, shutdown."""
import os
import subprocess

from conftest import RAFTKV, Server, free_port, wait_for


def test_config_file_says_what_flags_say(make_server, tmp_path):
    port = free_port()
    data = tmp_path / "from-config"
    conf = tmp_path / "raftkv.toml"
    conf.write_text(f'id = 3\ncluster = "3=127.0.0.1:{port}"\ndata-dir = "{data}"\n'
                    f'snapshot-log-bytes = 8192\n')
    server = make_server(port=port)
    server.args = lambda: [RAFTKV, "server", "--config", str(conf)]
    server.start()
    r = server.client()
    assert r.info("server")["node_id"] == 3
    assert r.config_get("snapshot-log-bytes") == {"snapshot-log-bytes": "8192"}
    r.set("a", "1")
    assert (data / "wal").is_dir()


def test_no_flags_serves_on_6379_with_data_in_the_working_directory(tmp_path):
    proc = subprocess.Popen([RAFTKV, "server"], cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        s = Server(tmp_path / "raftkv-data", port=6379)
        s.proc = proc
        wait_for(lambda: s.client().set("k", "v"), 10, "the default server")
        assert (tmp_path / "raftkv-data" / "wal").is_dir()
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0, proc.stderr.read().decode()


def test_bad_flags_are_reported(tmp_path):
    res = subprocess.run([RAFTKV, "server", "--id", "3", "--cluster",
                          "1=127.0.0.1:7001,2=127.0.0.1:7002"],
                         cwd=tmp_path, capture_output=True, timeout=20)
    assert res.returncode == 1
    assert b"--id 3 is not in --cluster" in res.stderr
    res = subprocess.run([RAFTKV, "server", "--cluster", "1=localhost"], cwd=tmp_path,
                         capture_output=True, timeout=20)
    assert res.returncode == 2
    assert b"is not ID=HOST:PORT" in res.stderr


def test_concurrent_writes_share_fsyncs(server):
    """Group commit: 50 clients writing at once need far fewer fsyncs than writes."""
    subprocess.run(["redis-benchmark", "-p", str(server.port), "-c", "50", "-n", "5000",
                    "-t", "set", "-q"], check=True, capture_output=True, timeout=120)
    stats = server.client().info("stats")
    writes, batches = stats["writes_applied"], stats["write_batches_synced"]
    assert writes >= 5000
    assert batches < writes / 4, f"{writes} writes took {batches} fsyncs"
