// replica_cluster_test.cc — the ReplicaCluster (sim/replica_cluster.h) runs
// server::Replicas end to end: clients' real commands are answered, -MOVED
// is followed, a crash and restart recover from the simulated disk, and the
// end checks pass.
#include "sim/replica_cluster.h"

#include <gtest/gtest.h>

namespace raftkv::sim {
namespace {

using raft::NodeId;

ReplicaClusterOptions options(int nodes) {
    return ReplicaClusterOptions{.nodes = nodes, .seed = 7, .snapshot_log_bytes = 1024};
}

// Runs one operation to its end.
const Operation& run(ReplicaCluster& c, ClientOpId id) {
    EXPECT_TRUE(c.run_until([&] { return c.is_done(id); }, 500)) << c.failure();
    return c.op(id);
}

// Starts operations from `start` until one is ok (a follower that knows no
// leader yet fails them with -CLUSTERDOWN).
template <typename Start>
Outcome run_until_ok(ReplicaCluster& c, Start start) {
    Outcome last = Outcome::kFailed;
    for (int i = 0; i < 20 && last != Outcome::kOk; ++i) {
        last = run(c, start()).outcome;
        c.tick();
    }
    return last;
}

TEST(ReplicaCluster, ClientsWriteAndReadThroughTheLeader) {
    ReplicaCluster c(options(3));
    ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 200)) << c.status();
    ASSERT_EQ(run_until_ok(c, [&] { return c.client_set(1, "k"); }), Outcome::kOk);
    const Operation& set = c.op(c.history().ops.size());
    const Operation& get = run(c, c.client_get(2, "k"));
    ASSERT_EQ(get.outcome, Outcome::kOk) << format_operation(get);
    EXPECT_EQ(get.reply.bytes, set.value);
    const Operation& nx = run(c, c.client_set_nx(1, "k"));
    EXPECT_EQ(nx.reply.kind, ReplyKind::kNotApplied) << format_operation(nx);
    const Operation& ifeq = run(c, c.client_set_ifeq(1, "k", set.value));
    EXPECT_EQ(ifeq.reply.kind, ReplyKind::kOk) << format_operation(ifeq);
    const Operation& incr = run(c, c.client_incr(1, "n"));
    EXPECT_EQ(incr.reply.kind, ReplyKind::kInteger) << format_operation(incr);
    EXPECT_EQ(incr.reply.integer, incr.delta);
    const Operation& del = run(c, c.client_del(1, "k"));
    EXPECT_EQ(del.reply.integer, 1) << format_operation(del);
    EXPECT_GT(c.counters().redirects, 0u) << "some client started at a follower";
    ASSERT_TRUE(c.await_convergence(100)) << c.failure();
    EXPECT_TRUE(c.check_replies()) << c.failure();
    EXPECT_TRUE(c.check_linearizable()) << c.failure();
}

TEST(ReplicaCluster, CrashedLeaderRecoversFromItsDisk) {
    ReplicaCluster c(options(3));
    ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 200));
    for (int i = 0; i < 20; ++i) {
        ASSERT_EQ(run_until_ok(c, [&] { return c.client_incr(1, "n"); }), Outcome::kOk);
    }
    const NodeId old = *c.leader();
    c.crash(old, /*torn=*/true);
    ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 300)) << c.status();
    ASSERT_EQ(run_until_ok(c, [&] { return c.client_incr(1, "n"); }), Outcome::kOk);
    c.restart(old);
    ASSERT_TRUE(c.await_convergence(300)) << c.failure();
    EXPECT_GT(c.counters().snapshots_taken, 0u);
    EXPECT_TRUE(c.check_replies()) << c.failure();
    EXPECT_TRUE(c.check_linearizable()) << c.failure();
}

}  // namespace
}  // namespace raftkv::sim
