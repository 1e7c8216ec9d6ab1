"""raftkv driven by real Redis clients: redis-py, redis-cli, and nc as in the
tutorial raftkv grew out of (../shared/origin.txt)."""
import subprocess

import pytest
import redis


def test_redis_py_string_commands(server):
    r = server.client()
    assert r.ping()
    assert r.set("chelsea", "rules")
    assert r.get("chelsea") == b"rules"
    assert r.set("chelsea", "x", nx=True) is None
    assert r.set("nobody", "x", xx=True) is None
    assert r.set("chelsea", "blues", get=True) == b"rules"
    assert r.incr("n") == 1
    assert r.incrby("n", 41) == 42
    assert r.decr("n") == 41
    assert r.decrby("n", 40) == 1
    assert r.append("chelsea", "!") == 6
    assert r.strlen("chelsea") == 6
    assert r.mset({"a": "1", "b": "2"})
    assert r.mget("a", "b", "missing") == [b"1", b"2", None]
    assert r.exists("a", "b", "a", "missing") == 3
    assert sorted(r.keys("*")) == [b"a", b"b", b"chelsea", b"n"]
    assert r.dbsize() == 4
    assert r.getdel("a") == b"1"
    assert r.delete("b", "missing") == 1
    assert sorted(r.scan_iter(match="*e*", count=1)) == [b"chelsea"]
    assert r.echo("hi") == b"hi"
    assert r.client_setname("tester")
    assert r.client_getname() == "tester"
    assert isinstance(r.client_id(), int)
    assert r.flushall()
    assert r.dbsize() == 0


def test_redis_py_errors_map_to_exceptions(server):
    r = server.client()
    r.set("s", "not a number")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.incr("s")
    with pytest.raises(redis.ResponseError, match="unknown command"):
        r.execute_command("NOSUCHCOMMAND", "x")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        r.execute_command("GET")
    r.set("big", str(2**63 - 1))
    with pytest.raises(redis.ResponseError, match="overflow"):
        r.incr("big")


def test_binary_safe_keys_and_values(server):
    r = server.client()
    key = bytes(range(256))
    value = b"\x00\r\n\xff" * 1000
    r.set(key, value)
    assert r.get(key) == value
    assert r.strlen(key) == len(value)


def test_pipeline_is_answered_in_order(server):
    r = server.client()
    p = r.pipeline(transaction=False)
    for i in range(500):
        p.set(f"k{i}", i)
        p.get(f"k{i}")
        p.incr("counter")
    replies = p.execute()
    for i in range(500):
        assert replies[3 * i] is True
        assert replies[3 * i + 1] == str(i).encode()
        assert replies[3 * i + 2] == i + 1


def test_info_sections(server):
    r = server.client()
    r.set("a", "1")
    info = r.info("all")
    for field in ("redis_version", "connected_clients", "aof_enabled", "total_commands_processed",
                  "log_applied_index"):
        assert field in info, field
    assert info["db0"]["keys"] == 1
    assert r.info("keyspace")["db0"]["keys"] == 1


def test_hello_select_command_config(server):
    r = server.client()
    assert r.execute_command("HELLO", "2")[0] == b"server"
    with pytest.raises(redis.ResponseError, match="NOPROTO"):
        r.execute_command("HELLO", "3")
    assert r.execute_command("SELECT", "0") is True  # redis-py maps +OK to True
    with pytest.raises(redis.ResponseError, match="out of range"):
        r.execute_command("SELECT", "1")
    count = r.command_count()
    assert count == len(r.command()) and count > 20
    assert r.config_get("appendonly") == {"appendonly": "yes"}
    assert r.config_get("save") == {"save": ""}


def redis_cli(server, *args, stdin=None):
    return subprocess.run(["redis-cli", "-p", str(server.port), *args], input=stdin,
                          capture_output=True, timeout=20)


def test_redis_cli(server):
    assert redis_cli(server, "set", "chelsea", "rules").stdout == b"OK\n"
    assert redis_cli(server, "get", "chelsea").stdout == b"rules\n"
    assert redis_cli(server, "incr", "n").stdout == b"1\n"
    assert redis_cli(server, "--no-raw", "mget", "chelsea", "x").stdout == b'1) "rules"\n2) (nil)\n'
    # Several commands through stdin, as a script would.
    out = redis_cli(server, stdin=b"set a 1\nget a\ndel a\n").stdout
    assert out == b"OK\n1\n1\n"


def test_tutorial_session_through_nc(server):
    """The session of the tutorial, typed into a plain TCP connection."""
    session = b"set chelsea rules\r\nget chelsea\r\ndata\r\ndelete chelsea\r\ndata\r\nquit\r\n"
    out = subprocess.run(["nc", "-q", "5", "127.0.0.1", str(server.port)], input=session,
                         capture_output=True, timeout=20).stdout
    assert out == (b"+OK\r\n"
                   b"$5\r\nrules\r\n"
                   b'$20\r\n{"chelsea": "rules"}\r\n'
                   b":1\r\n"
                   b"$2\r\n{}\r\n"
                   b"+OK\r\n")


def test_data_escapes_json(server):
    import json
    r = server.client()
    r.set('quote"back\\slash', "line\nbreak\ttab\x01")
    r.set("caf\xe9".encode("utf-8"), "ok")
    doc = json.loads(r.execute_command("DATA"))
    assert doc == {'quote"back\\slash': "line\nbreak\ttab\x01", "caf\xe9": "ok"}


def test_command_docs_give_redis_cli_its_help(server):
    import socket
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"COMMAND DOCS set\r\n")
        reply = b""
        while not reply.endswith(b"string\r\n"):
            chunk = s.recv(65536)
            assert chunk, reply
            reply += chunk
    assert reply.startswith(b"*2\r\n$3\r\nset\r\n*10\r\n$7\r\nsummary\r\n")
    syntax = (b"key value [NX | XX | IFEQ match-value] [GET] [EX seconds | PX milliseconds | "
              b"EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]")
    assert reply.endswith(b"$9\r\narguments\r\n*1\r\n*4\r\n$4\r\nname\r\n"
                          b"$%d\r\n%s\r\n" % (len(syntax), syntax) +
                          b"$4\r\ntype\r\n$6\r\nstring\r\n")
    out = subprocess.run(["redis-cli", "-p", str(server.port)], input=b"help set\n",
                         capture_output=True, timeout=20).stdout
    assert syntax in out, out


def test_pipelined_server_commands_see_the_connections_own_writes(server):
    """INFO after SET in one pipeline counts the key, as in Redis."""
    import socket
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"SET a 1\r\nINFO keyspace\r\n")
        reply = b""
        while b"db0:" not in reply and not reply.endswith(b"# Keyspace\r\n\r\n"):
            chunk = s.recv(65536)
            assert chunk, reply
            reply += chunk
    assert b"db0:keys=1" in reply, reply
