"""Many concurrent connections on one event loop."""
import resource
import socket

from conftest import wait_for


def test_a_thousand_concurrent_connections(server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    conns = [socket.create_connection(("127.0.0.1", server.port), timeout=20) for _ in range(1000)]
    try:
        for i, c in enumerate(conns):
            c.sendall(f"SET k{i} {i}\r\nGET k{i}\r\n".encode())
        for i, c in enumerate(conns):
            want = f"+OK\r\n${len(str(i))}\r\n{i}\r\n".encode()
            got = b""
            while len(got) < len(want):
                chunk = c.recv(4096)
                assert chunk, f"connection {i} closed"
                got += chunk
            assert got == want
        clients = int(server.client().info("clients")["connected_clients"])
        assert clients >= 1000
        assert server.client().dbsize() == 1000
    finally:
        for c in conns:
            c.close()
    wait_for(lambda: int(server.client().info("clients")["connected_clients"]) == 1, 10,
             "connections to close")


def test_connections_past_max_clients_are_refused_with_an_error(make_server):
    """As Redis: past maxclients, one error reply, then the connection closes."""
    server = make_server(extra_args=["--max-clients", "3"]).start()
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(3)]
    for c in held:  # each is really being served
        c.sendall(b"PING\r\n")
        assert c.recv(64) == b"+PONG\r\n"
    extra = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    data = b""
    while True:
        chunk = extra.recv(64)
        if not chunk:
            break
        data += chunk
    assert data == b"-ERR max number of clients reached\r\n"
    held.pop().close()
    wait_for(lambda: server.client().ping(), 10, "a free connection slot")
    for c in held:
        c.close()
