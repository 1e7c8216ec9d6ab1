"""Bad input from clients: each gets an -ERR reply and/or a closed
connection, and the server keeps serving everyone else (Redis behaviour:
networking.c, processMultibulkBuffer / processInlineBuffer)."""
import select
import socket
import time

import pytest

from conftest import wait_for


def raw(server, payload, read_until_close=True, timeout=10):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    s.sendall(payload)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        if not read_until_close:
            break
    s.close()
    return data


@pytest.mark.parametrize("payload,error", [
    (b"*2\r\n$3\r\nGET\r\n$x\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n+GET\r\n", b"-ERR Protocol error: expected '$', got '+'\r\n"),
    (b'set "a b\r\n', b"-ERR Protocol error: unbalanced quotes in request\r\n"),
])
def test_malformed_requests_get_an_error_and_a_closed_connection(server, payload, error):
    reply = raw(server, payload)  # reads until the server closes
    assert reply == error
    assert server.client().ping()


def test_binary_garbage_is_an_unknown_command(server):
    reply = raw(server, b"\x00\xff\xfe garbage \x01\r\n", read_until_close=False)
    assert reply.startswith(
        b"-ERR unknown command '\x00\xff\xfe', with args beginning with: 'garbage' "), reply


def test_bulk_over_the_limit_is_refused_before_its_body(make_server):
    server = make_server(extra_args=["--max-bulk-bytes", "1024"]).start()
    # Only the header of a 1 MB argument: the error comes without the body.
    reply = raw(server, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\n")
    assert reply == b"-ERR Protocol error: invalid bulk length\r\n"
    r = server.client()
    r.set("k", "x" * 1000)
    assert r.strlen("k") == 1000


def test_too_many_arguments_is_refused(server):
    reply = raw(server, b"*99999999\r\n")
    assert reply == b"-ERR Protocol error: invalid multibulk length\r\n"


def test_too_big_inline_request(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        s.sendall(b"x" * (70 * 1024))
    except OSError:
        pass  # the server may close while we still send
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"-ERR Protocol error: too big inline request"), data


def test_stalled_and_vanishing_clients_do_not_block_others(server):
    stalled = socket.create_connection(("127.0.0.1", server.port))
    stalled.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nhalf")  # and stalls
    gone = socket.create_connection(("127.0.0.1", server.port))
    gone.sendall(b"*3\r\n$3\r\nSET\r\n$1")
    gone.close()  # disconnects mid-request
    r = server.client()
    for i in range(100):
        r.set(f"k{i}", i)
    assert r.dbsize() == 100
    stalled.close()
    assert r.get("k") is None  # the half request was never applied


def test_client_that_never_reads_does_not_grow_the_server_without_bound(server):
    s = socket.create_connection(("127.0.0.1", server.port))
    s.setblocking(False)
    sent = 0
    request = b"*2\r\n$4\r\nECHO\r\n$65536\r\n" + b"x" * 65536 + b"\r\n"
    # Pipeline ~200 MB of replies without reading any: the server must stop
    # reading from us (our send buffer fills) rather than buffer it all.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sent < 3000 * len(request):
        # Stop once the server has not taken a byte for a whole second.
        if not select.select([], [s], [], 1.0)[1]:
            break
        try:
            # Continue where the last partial send stopped.
            sent += s.send(request[sent % len(request):])
        except BlockingIOError:
            pass
    assert sent < 3000 * len(request), "the server kept reading without replying"
    rss_kb = int(open(f"/proc/{server.proc.pid}/status").read().split("VmRSS:")[1].split()[0])
    assert rss_kb < 200 * 1024, f"server RSS {rss_kb} kB"
    assert server.client().ping()
    s.close()


def test_reads_queued_behind_a_write_cannot_amplify_buffered_output(server):
    """1000 GETs of a 1 MB value pipelined behind a SET, never read: the
    server must hold a bounded amount of replies, not 1 GB."""
    r = server.client()
    r.set("big", b"x" * (1 << 20))
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(b"SET a 1\r\n" + b"GET big\r\n" * 1000)
    wait_for(lambda: server.client().get("a") == b"1", 10, "the SET to apply")
    rss_kb = int(open(f"/proc/{server.proc.pid}/status").read().split("VmRSS:")[1].split()[0])
    assert rss_kb < 200 * 1024, f"server RSS {rss_kb} kB"
    # Reading drains it: every reply arrives, in order.
    want = len(b"+OK\r\n") + 1000 * len(b"$1048576\r\n" + b"x" * (1 << 20) + b"\r\n")
    got = 0
    s.settimeout(20)
    while got < want:
        chunk = s.recv(1 << 20)
        assert chunk, f"closed after {got} of {want} bytes"
        got += len(chunk)
    assert got == want
    s.close()
