"""Key expiry on a 3-server cluster (Step 6, docs/expiry.md): TTLs survive a
restart, a failover and a leadership transfer, expired keys are reclaimed
on every replica, and what lock libraries do with SET NX PX works.

Waits have deadlines; a key "expiring soon" has a TTL of seconds, so no
assertion depends on the test being fast.
"""
import redis

from conftest import wait_for


def ttl_ms(node, key):
    return node.client().pttl(key)


def test_a_ttl_survives_failover_and_still_expires(make_cluster):
    c = make_cluster(3).start()
    leader = c.leader()
    r = leader.client()
    assert r.set("long", "v", px=120_000)
    assert r.set("short", "v", px=2_000)
    assert r.set("plain", "v")
    leader.kill()
    new = c.leader(timeout=15, exclude=(leader.node_id,))
    assert new is not leader
    n = new.client()
    # The deadline came with the log: the new leader counts down the same one.
    assert 0 < n.pttl("long") <= 120_000
    assert n.pttl("plain") == -1
    # The short key expires by the new leader's time, and stays expired.
    wait_for(lambda: n.get("short") is None, 15, "the short key to expire on the new leader")
    assert n.exists("short") == 0
    assert n.pttl("short") == -2
    # The old leader comes back as a follower with the same deadlines.
    leader.start()
    f = leader.client()
    f.execute_command("READONLY")
    wait_for(lambda: f.get("plain") == b"v", 15, "the old leader to catch up")
    assert 0 < f.pttl("long") <= 120_000


def test_a_ttl_survives_a_leadership_transfer_and_a_restart(make_cluster):
    c = make_cluster(3).start()
    leader = c.leader()
    r = leader.client()
    assert r.set("k", "v", ex=600)
    deadline = r.execute_command("PEXPIRETIME", "k")
    assert deadline > 0
    target = c.followers(leader)[0]
    assert r.execute_command("RAFT", "TRANSFER-LEADER", str(target.node_id)) == b"OK"
    # +OK says the transfer started; the target leads a moment later.
    wait_for(lambda: target.raft_info()["raft_role"] == "leader", 15, "the target to lead")
    new = c.leader(timeout=15)
    assert new is target
    assert new.client().execute_command("PEXPIRETIME", "k") == deadline
    for node in c.nodes:
        node.stop()
    for node in c.nodes:
        node.start(wait=False)
    for node in c.nodes:
        node.wait_ready()
    assert c.leader(timeout=15).client().execute_command("PEXPIRETIME", "k") == deadline


def test_expired_keys_are_reclaimed_on_every_replica(make_cluster):
    c = make_cluster(3).start()
    leader = c.leader()
    r = leader.client()
    p = r.pipeline(transaction=False)
    for i in range(300):
        p.set(f"gone{i}", "x", px=500)
    p.set("stays", "x")
    assert all(p.execute())

    def reclaimed(node):
        info = node.client().info("keyspace")
        return info.get("db0", {}).get("keys") == 1

    for node in c.nodes:
        wait_for(lambda node=node: reclaimed(node), 20, f"node {node.node_id} to delete the keys")
    assert r.dbsize() == 1
    assert int(leader.client().info("stats")["expiry_batches_proposed"]) >= 1


def test_a_lock_with_a_ttl_is_taken_once_and_free_after_it(make_cluster):
    # What redis-py's Lock.acquire (and Redlock-style libraries) send:
    # SET name token NX PX ttl. Releasing needs scripts (Step 6, later).
    c = make_cluster(3).start()
    r = c.leader().client()
    lock = r.lock("L", timeout=2, blocking=False)
    assert lock.acquire()
    assert not r.lock("L", timeout=2, blocking=False).acquire()
    assert 0 < r.pttl("L") <= 2_000
    wait_for(lambda: r.lock("L", timeout=2, blocking=False).acquire(), 15,
             "the lock to be free once its TTL ran out")


def test_expiry_errors_are_redis_errors(server):
    r = server.client()
    try:
        r.set("k", "v", ex=0)
    except redis.ResponseError as e:
        assert "invalid expire time in 'set' command" in str(e)
    else:
        raise AssertionError("SET EX 0 was accepted")
    assert r.expire("missing", 10) is False
    assert r.ttl("missing") == -2
