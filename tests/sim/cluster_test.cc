// cluster_test.cc — the simulation driver itself (sim/cluster.h): elections
// and writes go through, a crash loses only what was not synced, a scripted
// partition behaves, the history is recorded, runs replay from their seed.
#include "sim/cluster.h"

#include <gtest/gtest.h>

#include <map>

#include "sim/kv_machine.h"
#include "sim/random_run.h"

namespace raftkv::sim {
namespace {

using raft::Index;
using raft::NodeId;

ClusterOptions reliable(int nodes, std::uint64_t seed = 7) {
    return ClusterOptions{.nodes = nodes, .seed = seed};
}

// Runs until the operation returns; its outcome.
Outcome await(Cluster& c, ClientOpId id, int max_ticks = 200) {
    EXPECT_TRUE(c.run_until([&] { return c.is_done(id); }, max_ticks)) << c.status();
    return c.op(id).outcome;
}

TEST(KvMachine, CommandsRoundTrip) {
    const KvCommand cases[] = {
        {.kind = OpKind::kSet, .client = 1, .op = 2, .key = "k", .value = "v"},
        {.kind = OpKind::kCas, .client = 3, .op = 4, .key = "k", .value = "n", .expected = "o"},
        {.kind = OpKind::kCas, .client = 3, .op = 5, .key = "k", .value = "n"},
        {.kind = OpKind::kIncr, .client = 9, .op = 10, .key = "n", .delta = -3},
        {.kind = OpKind::kGet, .client = 1, .op = 11, .key = "k"},
        {.kind = OpKind::kDel, .client = 1, .op = 12, .key = "k"},
    };
    for (const KvCommand& c : cases) EXPECT_EQ(decode_command(encode_command(c)), c);
    EXPECT_FALSE(decode_command("s|1|2"));
}

// The real state machine answers every operation as the linearizability
// checker's model does (sim/linearizability.cc, apply_op).
TEST(KvMachine, AppliesLikeTheCheckersModel) {
    KvMachine kv;
    EXPECT_EQ(kv.apply({.kind = OpKind::kGet, .key = "k"}).kind, ReplyKind::kNil);
    EXPECT_EQ(kv.apply({.kind = OpKind::kCas, .key = "k", .value = "a", .expected = "b"}).kind,
              ReplyKind::kNotApplied);
    EXPECT_EQ(kv.apply({.kind = OpKind::kCas, .key = "k", .value = "a"}).kind, ReplyKind::kOk);
    EXPECT_EQ(kv.apply({.kind = OpKind::kCas, .key = "k", .value = "b"}).kind,
              ReplyKind::kNotApplied);
    EXPECT_EQ(kv.apply({.kind = OpKind::kGet, .key = "k"}).bytes, "a");
    EXPECT_EQ(kv.apply({.kind = OpKind::kIncr, .key = "k", .delta = 1}).kind,
              ReplyKind::kNotApplied);
    EXPECT_EQ(kv.apply({.kind = OpKind::kDel, .key = "k"}).integer, 1);
    EXPECT_EQ(kv.apply({.kind = OpKind::kDel, .key = "k"}).integer, 0);
    EXPECT_EQ(kv.apply({.kind = OpKind::kSet, .key = "m", .value = "9223372036854775807"}).kind,
              ReplyKind::kOk);
    EXPECT_EQ(kv.apply({.kind = OpKind::kIncr, .key = "m", .delta = 1}).kind,
              ReplyKind::kNotApplied);
    EXPECT_EQ(kv.data(), (std::map<std::string, std::string>{{"m", "9223372036854775807"}}));
    EXPECT_EQ(kv.apply({.kind = OpKind::kIncr, .key = "n", .delta = 2}).integer, 2);
    EXPECT_EQ(kv.apply({.kind = OpKind::kCas, .key = "n", .value = "x", .expected = "3"}).kind,
              ReplyKind::kNotApplied);
    EXPECT_EQ(kv.apply({.kind = OpKind::kCas, .key = "n", .value = "x", .expected = "2"}).kind,
              ReplyKind::kOk);
    EXPECT_EQ(kv.apply({.kind = OpKind::kIncr, .key = "n", .delta = 1}).kind,
              ReplyKind::kNotApplied);
    KvMachine copy;
    ASSERT_TRUE(copy.load_snapshot(kv.encode_snapshot()));
    EXPECT_EQ(copy, kv);
    EXPECT_EQ(copy.get("n").bytes, "x");
}

TEST(Cluster, ThreeNodesElectALeaderAndCommitWrites) {
    Cluster c(reliable(3));
    ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 100)) << c.status();
    const ClientOpId set = c.client_set(1, "a", "1");
    EXPECT_EQ(await(c, set), Outcome::kOk);
    const ClientOpId incr = c.client_incr(1, "n", 5);
    EXPECT_EQ(await(c, incr), Outcome::kOk);
    EXPECT_EQ(c.op(incr).reply.integer, 5);
    const ClientOpId get = c.client_get(2, "a");
    EXPECT_EQ(await(c, get), Outcome::kOk);
    EXPECT_EQ(c.op(get).reply.bytes, "1");
    EXPECT_TRUE(c.await_convergence(100));
    for (NodeId id : c.up_ids()) EXPECT_EQ(c.kv(id).get("a").bytes, "1");
    EXPECT_TRUE(c.check_acked_writes());
    EXPECT_TRUE(c.check_linearizable());
    EXPECT_GT(c.counters().sent_by_type.at(raft::MessageType::kAppend), 0u);
    EXPECT_TRUE(c.ok()) << c.failure();
}

TEST(Cluster, SingleNodeCommitsAlone) {
    Cluster c(reliable(1));
    ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 100));
    EXPECT_EQ(await(c, c.client_set(1, "a", "x")), Outcome::kOk);
    EXPECT_EQ(await(c, c.client_get(1, "a", GetMode::kLog)), Outcome::kOk);
    EXPECT_TRUE(c.ok()) << c.failure();
}

TEST(Cluster, CrashLosesOnlyUnsyncedWrites) {
    // Every sync takes 3 ticks: the leader's last append is still unsynced
    // when it crashes.
    ClusterOptions o = reliable(3);
    o.disk_latency_min = 3 * kTickTime;
    o.disk_latency_max = 3 * kTickTime;
    Cluster c(o);
    ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 200));
    ASSERT_EQ(await(c, c.client_set(1, "a", "1")), Outcome::kOk);
    const NodeId l = *c.leader();
    const Index durable = c.disk(l).durable().log.last_index();
    // Isolate the leader so that nobody else gets the next entry, propose,
    // and crash before the sync returns.
    c.isolate(l);
    const raft::Proposal p = c.propose(
        l,
        encode_command({.kind = OpKind::kSet, .client = 9, .op = 999, .key = "b", .value = "2"}));
    ASSERT_TRUE(p.ok());
    c.tick(1);
    EXPECT_GT(c.disk(l).pending_writes(), 0u);
    c.crash(l);
    EXPECT_EQ(c.disk(l).current().log.last_index(), durable);
    c.rejoin(l);
    c.restart(l);
    ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 200));
    EXPECT_TRUE(c.await_convergence(200));
    for (NodeId id : c.up_ids()) {
        EXPECT_EQ(c.kv(id).get("a").bytes, "1");
        EXPECT_EQ(c.kv(id).get("b").kind, ReplyKind::kNil);
    }
    EXPECT_TRUE(c.ok()) << c.failure();
}

TEST(Cluster, MinorityCannotCommitMajorityCan) {
    Cluster c(reliable(5));
    ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 100));
    const NodeId old = *c.leader();
    std::vector<NodeId> minority{old}, majority;
    for (NodeId id : c.up_ids()) {
        if (id != old) (minority.size() < 2 ? minority : majority).push_back(id);
    }
    c.split({minority, majority});
    // The old leader takes the write but cannot commit it.
    const raft::Proposal p = c.propose(
        old, encode_command(
                 {.kind = OpKind::kSet, .client = 9, .op = 999, .key = "lost", .value = "x"}));
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(c.run_until(
        [&] {
            const std::optional<NodeId> l = c.leader();
            return l && *l != old;
        },
        200))
        << c.status();
    EXPECT_EQ(await(c, c.client_set(1, "a", "1")), Outcome::kOk);
    EXPECT_LT(c.node(old).log().committed(), p.index);
    c.heal();
    EXPECT_TRUE(c.await_convergence(200));
    for (NodeId id : c.up_ids()) EXPECT_EQ(c.kv(id).get("lost").kind, ReplyKind::kNil);
    EXPECT_TRUE(c.check_linearizable());
    EXPECT_TRUE(c.ok()) << c.failure();
}

TEST(Cluster, HistoryRecordsCallsReturnsAndOutcomes) {
    Cluster c(reliable(3));
    ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 100));
    const ClientOpId a = c.client_set(1, "k", "v");
    const ClientOpId b = c.client_cas(2, "k", std::nullopt, "w");
    await(c, a);
    await(c, b);
    const History h = c.history();
    ASSERT_EQ(h.ops.size(), 2u);
    EXPECT_EQ(h.ops[0].kind, OpKind::kSet);
    EXPECT_EQ(h.ops[0].outcome, Outcome::kOk);
    EXPECT_LE(h.ops[0].call_time, h.ops[0].return_time);
    EXPECT_EQ(h.ops[1].client, 2u);
    EXPECT_EQ(h.ops[1].outcome, Outcome::kOk);
    EXPECT_TRUE(validate_history(h).is_ok());
    EXPECT_GT(c.op_index(a), Index(0));
}

TEST(Cluster, ClientWithoutLeaderFailsAfterItsTimeout) {
    ClusterOptions o = reliable(3);
    o.client_timeout_ticks = 20;
    Cluster c(o);
    for (NodeId id : c.up_ids()) c.isolate(id);
    const ClientOpId op = c.client_set(1, "k", "v");
    EXPECT_EQ(await(c, op, 50), Outcome::kFailed);
}

TEST(Cluster, AddAndRemoveNodes) {
    Cluster c(reliable(3));
    ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 100));
    ASSERT_EQ(await(c, c.client_set(1, "a", "1")), Outcome::kOk);
    c.add_node(NodeId(4));
    c.remove_node(NodeId(1));
    ASSERT_TRUE(c.run_until([&] { return !c.membership_busy(); }, 500)) << c.status();
    EXPECT_TRUE(c.membership().voters.contains(NodeId(4)));
    EXPECT_FALSE(c.membership().contains(NodeId(1)));
    EXPECT_TRUE(c.is_removed(NodeId(1)));
    EXPECT_EQ(await(c, c.client_set(1, "b", "2")), Outcome::kOk);
    EXPECT_TRUE(c.await_convergence(200));
    EXPECT_EQ(c.kv(NodeId(4)).get("a").bytes, "1");
    EXPECT_TRUE(c.ok()) << c.failure();
}

TEST(Cluster, CompactionAndSnapshotToALaggingFollower) {
    ClusterOptions o = reliable(3);
    o.snapshot_chunk_bytes = 8;  // many chunks
    Cluster c(o);
    ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 100));
    const NodeId l = *c.leader();
    const NodeId lagging = l == NodeId(1) ? NodeId(2) : NodeId(1);
    c.crash(lagging);
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(await(c, c.client_set(1, fmt::format("k{}", i), "v")), Outcome::kOk);
    }
    ASSERT_TRUE(c.compact(l));
    c.restart(lagging);
    EXPECT_TRUE(c.await_convergence(300));
    EXPECT_GE(c.counters().snapshots_installed, 1u);
    EXPECT_EQ(c.kv(lagging).get("k9").bytes, "v");
    EXPECT_TRUE(c.ok()) << c.failure();
}

TEST(Cluster, SameSeedSameRun) {
    const RandomRunResult a = run_random({.seed = 12345});
    const RandomRunResult b = run_random({.seed = 12345});
    EXPECT_TRUE(a.ok) << a.failure;
    EXPECT_EQ(a.config, b.config);
    EXPECT_EQ(a.counters.to_string(), b.counters.to_string());
    EXPECT_EQ(a.network.to_string(), b.network.to_string());
    EXPECT_EQ(a.status, b.status);
}

}  // namespace
}  // namespace raftkv::sim
