// replica_scenario_test.cc — the server-relevant scenarios of scenario_test.cc
// again, on the ReplicaCluster (sim/replica_cluster.h): server::Replica around
// each core, the real kv::StateMachine, clients speaking real commands and
// administration through RAFT commands.
//
// Where scenario_test.cc proposes raw entries and calls the cores' methods,
// these tests go through what a server offers: client writes and reads (SET,
// INCRBY, GET, ...), RAFT TRANSFER-LEADER and RAFT REMOVENODE, and a fresh
// server joining with --join. So besides Raft's safety (checked after every
// event) they check what the server promises its clients: no reply says ok
// for a write that no majority has, an error that says "not applied" was not
// (check_replies), the history is linearizable, and the replicas converge
// to equal states. Each test cites the scenario it ports.
//
// Every test has a fixed seed, which RAFTKV_SEED overrides for a rerun
// (testing/seed.h); a failure prints the seed, the cluster's status and its
// last events. Time is simulated: every wait is bounded in ticks.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim/replica_cluster.h"
#include "sim/scenario_support.h"
#include "testing/seed.h"

namespace raftkv::sim {
namespace {

using raft::NodeId;
using raft::Role;
using raft::Term;
using namespace scenario;  // NOLINT(google-build-using-namespace)

ReplicaClusterOptions scenario_options(int nodes, std::uint64_t seed) {
    ReplicaClusterOptions o;
    o.nodes = nodes;
    o.seed = seed;
    o.election_ticks = kElection;
    o.trace_capacity = 300;
    return o;
}

// The end checks every test runs once its clients are done.
void end_checks(ReplicaCluster& c, int convergence_ticks = 4 * kElection) {
    ASSERT_TRUE(c.await_convergence(convergence_ticks)) << report(c);
    ASSERT_TRUE(c.check_replies()) << report(c);
    ASSERT_TRUE(c.check_linearizable()) << report(c);
    ASSERT_CLUSTER_OK(c);
}

// Starts operations from `start` until one ends ok, within max_ticks (a
// server that knows no leader answers -CLUSTERDOWN, one refusing a write
// -TRYAGAIN; a client follows -MOVED). The operation that was ok.
template <typename Start>
std::optional<ClientOpId> until_ok(ReplicaCluster& c, Start start, int max_ticks = 10 * kElection) {
    const std::uint64_t until = c.ticks() + static_cast<std::uint64_t>(max_ticks);
    while (c.ok() && c.ticks() < until) {
        const ClientOpId id = start();
        const int left = static_cast<int>(until - std::min(until, c.ticks()));
        if (!c.run_until([&] { return c.is_done(id); }, left)) return std::nullopt;
        if (c.op(id).outcome == Outcome::kOk) return id;
        c.tick();
    }
    return std::nullopt;
}

std::optional<ClientOpId> write_ok(ReplicaCluster& c, std::uint64_t client, std::string key,
                                   int max_ticks = 10 * kElection) {
    return until_ok(
        c, [&] { return c.client_set(client, key); }, max_ticks);
}

// Waits for the reply to admin request `id`: "+OK", "-ERR ...", or
// "(no reply)".
std::string admin_answer(ReplicaCluster& c, std::uint64_t id, int max_ticks) {
    c.run_until([&] { return c.admin_reply(id).has_value() || c.admin_lost(id); }, max_ticks);
    const std::optional<resp::Reply>& r = c.admin_reply(id);
    if (!r) return "(no reply)";
    if (r->type == resp::Reply::Type::kError) return "-" + r->str;
    if (r->type == resp::Reply::Type::kSimple) return "+" + r->str;
    return std::string(resp::reply_type_name(r->type));
}

std::uint64_t transfer_to(ReplicaCluster& c, NodeId at, NodeId target) {
    return c.admin(at, {"RAFT", "TRANSFER-LEADER", std::to_string(target.value)});
}

std::uint64_t remove_node(ReplicaCluster& c, NodeId at, NodeId gone) {
    return c.admin(at, {"RAFT", "REMOVENODE", std::to_string(gone.value)});
}

// Operations that reached a leader about to be cut off: none may end ok, and
// each is answered by the server (an error), not given up by its client.
void expect_not_acknowledged(const ReplicaCluster& c, const std::vector<ClientOpId>& ops,
                             int client_timeout_ticks) {
    for (ClientOpId id : ops) {
        const Operation& op = c.op(id);
        ASSERT_TRUE(c.is_done(id)) << format_operation(op) << report(c);
        EXPECT_NE(op.outcome, Outcome::kOk)
            << "the cut-off leader acknowledged " << format_operation(op) << report(c);
        EXPECT_LT(op.return_time - op.call_time,
                  static_cast<std::int64_t>(client_timeout_ticks) * kTickTime)
            << "no reply from the server: " << format_operation(op) << report(c);
    }
}

// Clients that keep operations going on a few keys, one tick at a time:
// strings k0..k3, counters n0 and n1.
class ClientLoad {
public:
    ClientLoad(ReplicaCluster& c, int clients, std::uint64_t seed)
        : c_(c), clients_(clients), rng_(seed) {}

    bool tick_once() {
        for (int i = 1; i <= clients_; ++i) {
            const auto client = static_cast<std::uint64_t>(kFirstClient + i);
            if (c_.client_busy(client) || !rng_.chance_ppm(600'000)) continue;
            const std::string key = fmt::format("k{}", rng_.uniform(0, 3));
            const std::string counter = fmt::format("n{}", rng_.uniform(0, 1));
            const std::uint64_t kind = rng_.uniform(0, 6);
            const std::vector<std::string>& seen = c_.recent_values(key);
            if (kind == 0) {
                c_.client_set(client, key);
            } else if (kind == 1) {
                c_.client_incr(client, counter);
            } else if (kind == 2 && seen.empty()) {
                c_.client_set_nx(client, key);
            } else if (kind == 2) {
                c_.client_set_ifeq(client, key, seen[rng_.uniform(0, seen.size() - 1)]);
            } else if (kind == 3) {
                c_.client_del(client, rng_.chance_ppm(300'000) ? counter : key);
            } else {
                c_.client_get(client, kind == 4 ? counter : key);
            }
        }
        return c_.tick();
    }

    // Runs the load for `ticks`; false once a check failed.
    bool run(int ticks) {
        for (int t = 0; t < ticks; ++t) {
            if (!tick_once()) return false;
        }
        return true;
    }

private:
    // The load's clients are 101, 102, ...: the tests' own use 1..99.
    static constexpr std::uint64_t kFirstClient = 100;
    ReplicaCluster& c_;
    int clients_;
    NetworkRng rng_;
};

// ---------------------------------------------------------------------------
// Elections

// Scenario.ReElectionAfterLeaderFailure (§5.2; 6.824 TestReElection2A): a
// crashed leader is replaced by one in a higher term, and clients' writes
// go through it; the old leader back does not disturb it; with no two
// servers able to talk no leader is elected and no write is acknowledged;
// once a majority is back, one is and writes work again.
TEST(ReplicaScenario, ReElectionAfterLeaderFailure) {
    const std::uint64_t seed = testing::test_seed(0x5201);
    SCOPED_TRACE(testing::seed_trace(seed));
    ReplicaCluster c(scenario_options(3, seed));
    const Group all = c.node_ids();

    const std::optional<NodeId> l1 = await_leader(c, all, kReElectionBound);
    ASSERT_TRUE(l1.has_value()) << report(c);
    ASSERT_TRUE(write_ok(c, 1, "a").has_value()) << report(c);
    const Term t1 = core_of(c, *l1).term();

    c.crash(*l1);
    const Group rest = without(all, *l1);
    const std::optional<NodeId> l2 = await_leader(c, rest, kReElectionBound);
    ASSERT_TRUE(l2.has_value()) << "no new leader within 60 ticks of the crash" << report(c);
    ASSERT_GT(core_of(c, *l2).term(), t1) << report(c);
    const Term t2 = core_of(c, *l2).term();
    ASSERT_TRUE(write_ok(c, 1, "a").has_value()) << "two of three took no write" << report(c);

    c.restart(*l1);
    ASSERT_TRUE(c.tick(5 * kElection)) << report(c);
    EXPECT_EQ(settled_leader(c, all), l2) << "the old leader disturbed the new one" << report(c);
    EXPECT_EQ(core_of(c, *l2).term(), t2) << report(c);

    // Every server cut off from the others: none can lead, so no write may
    // be acknowledged, whichever server a client reaches.
    const NodeId lone = without(rest, *l2).front();
    const NodeId other = *l1;
    c.isolate(*l2);
    c.isolate(other);
    ASSERT_TRUE(c.tick(3 * kElection)) << report(c);
    for (NodeId n : all) {
        EXPECT_NE(core_of(c, n).role(), Role::kLeader) << "n" << n.value << report(c);
    }
    std::vector<ClientOpId> refused;
    for (std::uint64_t client = 2; client <= 4; ++client) {
        refused.push_back(client % 2 == 0 ? c.client_set(client, "a") : c.client_incr(client, "n"));
    }
    ASSERT_TRUE(c.run_until([&] { return c.pending_ops() == 0; }, 2 * kElection)) << report(c);
    for (ClientOpId id : refused) {
        EXPECT_EQ(c.op(id).outcome, Outcome::kFailed)
            << "without a majority: " << format_operation(c.op(id)) << report(c);
    }
    for (NodeId n : all) {
        EXPECT_NE(core_of(c, n).role(), Role::kLeader) << "n" << n.value << report(c);
    }

    c.rejoin(other);
    const std::optional<NodeId> l3 = await_leader(c, Group{lone, other}, kReElectionBound);
    ASSERT_TRUE(l3.has_value()) << "a majority is back but no leader" << report(c);
    ASSERT_TRUE(write_ok(c, 5, "a").has_value()) << report(c);
    c.rejoin(*l2);
    ASSERT_TRUE(await_leader(c, all, kReElectionBound).has_value()) << report(c);
    ASSERT_TRUE(write_ok(c, 5, "a").has_value()) << report(c);
    end_checks(c);
}

// ---------------------------------------------------------------------------
// Persistence

// Scenario.PersistenceAcrossRestartOfEveryNode (6.824 TestPersist12C): with
// a slow disk and small snapshots, one client's writes are acknowledged;
// then every server crashes (some with torn writes) and restarts from what
// it synced. Terms and applied entries survive, a leader is elected, and
// every acknowledged write reads back (each key's last value, each
// counter's sum). Twice, with a leader crash and restart in between.
TEST(ReplicaScenario, PersistenceAcrossRestartOfEveryNode) {
    const std::uint64_t seed = testing::test_seed(0x5202);
    SCOPED_TRACE(testing::seed_trace(seed));
    ReplicaClusterOptions o = scenario_options(3, seed);
    o.disk_latency_min = 100;
    o.disk_latency_max = 800;
    o.snapshot_log_bytes = 1024;
    ReplicaCluster c(o);
    const Group all = c.node_ids();
    ASSERT_TRUE(await_leader(c, all, kReElectionBound).has_value()) << report(c);

    // What the acknowledged writes left: one client, one operation at a time.
    std::map<std::string, std::string> want;
    std::int64_t counter = 0;
    const auto set = [&](const std::string& key) {
        const std::optional<ClientOpId> id = write_ok(c, 1, key);
        if (id) want[key] = c.op(*id).value;
        return id.has_value();
    };
    const auto reads_back = [&] {
        for (const auto& [key, value] : want) {
            const std::optional<ClientOpId> id = until_ok(c, [&] { return c.client_get(2, key); });
            ASSERT_TRUE(id.has_value()) << "GET " << key << report(c);
            EXPECT_EQ(c.op(*id).reply.bytes, value) << "GET " << key << report(c);
        }
    };
    for (int round = 0; round < 2; ++round) {
        SCOPED_TRACE(fmt::format("round {}", round));
        for (int i = 0; i < 24; ++i) {
            if (i % 3 == 2) {
                const std::optional<ClientOpId> id =
                    until_ok(c, [&] { return c.client_incr(1, "n"); });
                ASSERT_TRUE(id.has_value()) << report(c);
                counter += c.op(*id).delta;
                EXPECT_EQ(c.op(*id).reply.integer, counter) << report(c);
            } else {
                ASSERT_TRUE(set(fmt::format("p{}", i % 4))) << report(c);
            }
        }
        want["n"] = std::to_string(counter);
        // Nothing in doubt: the expected values are exact.
        ASSERT_EQ(c.counters().ops_unknown, 0u) << report(c);
        ASSERT_TRUE(c.await_convergence(2 * kElection)) << report(c);
        std::map<NodeId, Term> terms;
        std::map<NodeId, raft::Index> applied;
        for (NodeId n : all) {
            terms[n] = core_of(c, n).term();
            applied[n] = c.replica(n).applied();
        }
        for (NodeId n : all) c.crash(n, /*torn=*/(n.value + round) % 2 == 0);
        for (NodeId n : all) c.restart(n);
        for (NodeId n : all) {
            EXPECT_GE(core_of(c, n).term(), terms[n])
                << "n" << n.value << " lost its term" << report(c);
            EXPECT_GE(core_of(c, n).log().last_index(), applied[n])
                << "n" << n.value << " lost entries it had applied" << report(c);
        }
        const std::optional<NodeId> l = await_leader(c, all, kReElectionBound);
        ASSERT_TRUE(l.has_value()) << report(c);
        reads_back();
        ASSERT_TRUE(c.await_convergence(2 * kElection)) << report(c);

        // A leader crash and restart, and writes go on.
        c.crash(*l);
        ASSERT_TRUE(set("p0")) << report(c);
        c.restart(*l);
        ASSERT_TRUE(set("p1")) << report(c);
        ASSERT_EQ(c.counters().ops_unknown, 0u) << report(c);
    }
    reads_back();
    EXPECT_GT(c.counters().snapshots_taken, 0u) << report(c);
    end_checks(c);
}

// ---------------------------------------------------------------------------
// Snapshots

// Scenario.SnapshotsWithLaggingFollowers (§7; 6.824 TestSnapshotInstall2D):
// of five servers one is down and one cut off while clients' writes make
// the others snapshot and compact their logs many times. Both come back
// behind the leader's first index, so each catches up by a snapshot
// install (the replica loads the leader's image into its state machine and
// saves it), without disturbing the leader, and then follows by appends.
TEST(ReplicaScenario, SnapshotsWithLaggingFollowers) {
    const std::uint64_t seed = testing::test_seed(0x5203);
    SCOPED_TRACE(testing::seed_trace(seed));
    ReplicaClusterOptions o = scenario_options(5, seed);
    o.snapshot_log_bytes = 1024;
    o.disk_latency_max = 200;
    ReplicaCluster c(o);
    const Group all = c.node_ids();
    const std::optional<NodeId> leader = await_leader(c, all, kReElectionBound);
    ASSERT_TRUE(leader.has_value()) << report(c);
    const NodeId l = *leader;
    ASSERT_TRUE(write_ok(c, 1, "s").has_value()) << report(c);
    const Group followers = without(all, l);
    const NodeId down = followers[0];
    const NodeId cut = followers[1];
    c.crash(down);
    c.isolate(cut);

    for (int i = 0; i < 150; ++i) {
        if (i % 5 == 4) {
            ASSERT_TRUE(until_ok(c, [&] { return c.client_incr(1, "n"); }).has_value())
                << report(c);
        } else {
            ASSERT_TRUE(write_ok(c, 1, fmt::format("key{:02}", i % 40)).has_value()) << report(c);
        }
    }
    EXPECT_GE(c.counters().snapshots_taken, 6u) << report(c);
    ASSERT_EQ(leader_in(c, all), l) << "the leader changed with no fault" << report(c);
    const raft::Index compacted = core_of(c, l).log().first_index().prev();
    ASSERT_GT(compacted, core_of(c, cut).log().last_index()) << report(c);
    ASSERT_GT(compacted, c.disk(down).current().log.last_index()) << report(c);

    const std::uint64_t installed = c.counters().snapshots_installed;
    c.restart(down);
    c.rejoin(cut);
    ASSERT_TRUE(c.await_convergence(6 * kElection)) << report(c);
    EXPECT_GE(c.counters().snapshots_installed - installed, 2u) << report(c);
    EXPECT_EQ(settled_leader(c, all), l) << "catching up disturbed the leader" << report(c);
    for (NodeId n : {down, cut}) {
        const std::optional<SimSnapshot>& snap = c.disk(n).current().snapshot;
        ASSERT_TRUE(snap.has_value()) << "n" << n.value << report(c);
        EXPECT_GE(snap->meta.index, compacted) << "n" << n.value << report(c);
    }
    // And they keep up by appends afterwards.
    ASSERT_TRUE(write_ok(c, 1, "s").has_value()) << report(c);
    end_checks(c, 2 * kElection);
}

// ---------------------------------------------------------------------------
// Stale and cut-off leaders

// Scenario.StaleLeaderRejoins (§5.3-5.4.1; 6.824 TestRejoin2B): a leader cut
// off takes clients' writes and a read that it cannot commit or confirm; a
// new leader commits other writes; then with that one cut off, the old
// leader and the third server elect the third (the old leader's log ends
// in an older term), and the old leader's entries are overwritten. Its
// clients are answered with errors (-TRYAGAIN: the leader changed; or
// -UNCERTAIN), never ok, and the history is linearizable.
TEST(ReplicaScenario, StaleLeaderRejoins) {
    const std::uint64_t seed = testing::test_seed(0x5204);
    SCOPED_TRACE(testing::seed_trace(seed));
    ReplicaClusterOptions o = scenario_options(3, seed);
    // Past the replica's kWriteDecisionTimeout (200 ticks): the server
    // decides what its clients hear, not their timeouts.
    o.client_timeout_ticks = 400;
    ReplicaCluster c(o);
    const Group all = c.node_ids();
    ASSERT_TRUE(await_leader(c, all, kReElectionBound).has_value()) << report(c);
    // Clients 1..3 learn the leader (a client goes where it was answered).
    for (std::uint64_t client = 1; client <= 3; ++client) {
        ASSERT_TRUE(write_ok(c, client, "x").has_value()) << report(c);
    }
    const NodeId l1 = *settled_leader(c, all);
    const Term t1 = core_of(c, l1).term();

    c.isolate(l1);
    const std::vector<ClientOpId> stale = {c.client_set(1, "x"), c.client_incr(2, "n"),
                                           c.client_get(3, "x")};
    const Group majority = without(all, l1);
    const std::optional<NodeId> l2 = await_leader(c, majority, kReElectionBound);
    ASSERT_TRUE(l2.has_value()) << report(c);
    EXPECT_GT(core_of(c, *l2).term(), t1) << report(c);
    // A new client goes to any server: once the cut-off leader stepped down
    // (check-quorum), it refuses at once instead of taking the write.
    ASSERT_TRUE(c.run_until([&] { return core_of(c, l1).role() != Role::kLeader; }, 2 * kElection))
        << report(c);
    ASSERT_TRUE(write_ok(c, 4, "x").has_value()) << report(c);

    const NodeId third = without(majority, *l2).front();
    c.isolate(*l2);
    c.rejoin(l1);
    const std::optional<NodeId> l3 = await_leader(c, Group{l1, third}, kReElectionBound);
    ASSERT_TRUE(l3.has_value()) << report(c);
    EXPECT_EQ(*l3, third) << "a leader whose log ends in an older term won" << report(c);
    ASSERT_TRUE(c.run_until([&] { return core_of(c, *l2).role() != Role::kLeader; }, 2 * kElection))
        << report(c);
    ASSERT_TRUE(write_ok(c, 5, "x").has_value()) << report(c);
    c.rejoin(*l2);
    ASSERT_TRUE(write_ok(c, 5, "x").has_value()) << report(c);
    const std::optional<NodeId> l4 = await_leader(c, all, 2 * kElection);
    ASSERT_TRUE(l4.has_value()) << report(c);
    EXPECT_NE(*l4, l1) << report(c);
    EXPECT_EQ(core_of(c, l1).role(), Role::kFollower) << report(c);
    EXPECT_EQ(core_of(c, l1).leader(), *l4) << report(c);

    ASSERT_TRUE(c.run_until([&] { return c.pending_ops() == 0; }, 300)) << report(c);
    expect_not_acknowledged(c, stale, o.client_timeout_ticks);
    end_checks(c);
}

// Scenario.LeaderCutOffStepsDown (§d6.2, check-quorum): a leader cut off
// with one follower from the other three steps down within two election
// timeouts; the three elect a leader in a higher term and take writes.
// Healed, the old leader follows the new one, and the write and the read
// it had taken are refused: its write's entry was replaced by the new
// leader's (-TRYAGAIN, a promise it was not applied), its read could not be
// confirmed (-TRYAGAIN).
TEST(ReplicaScenario, LeaderCutOffStepsDown) {
    const std::uint64_t seed = testing::test_seed(0x5205);
    SCOPED_TRACE(testing::seed_trace(seed));
    ReplicaClusterOptions o = scenario_options(5, seed);
    o.client_timeout_ticks = 400;
    ReplicaCluster c(o);
    const Group all = c.node_ids();
    ASSERT_TRUE(await_leader(c, all, kReElectionBound).has_value()) << report(c);
    for (std::uint64_t client = 1; client <= 2; ++client) {
        ASSERT_TRUE(write_ok(c, client, "q").has_value()) << report(c);
    }
    const NodeId l = *settled_leader(c, all);
    const Term term = core_of(c, l).term();
    const NodeId buddy = without(all, l).front();
    const Group majority = without(without(all, l), buddy);
    c.split({{l, buddy}, majority});
    const std::vector<ClientOpId> stale = {c.client_set(1, "q"), c.client_get(2, "q")};

    const std::uint64_t start = c.ticks();
    ASSERT_TRUE(
        c.run_until([&] { return core_of(c, l).role() != Role::kLeader; }, 2 * kElection + 1))
        << "the cut-off leader still leads after 2 election timeouts" << report(c);
    EXPECT_LE(c.ticks() - start, 2u * kElection + 1);
    const std::optional<NodeId> l2 = await_leader(c, majority, kReElectionBound);
    ASSERT_TRUE(l2.has_value()) << report(c);
    EXPECT_GT(core_of(c, *l2).term(), term) << report(c);
    EXPECT_NE(core_of(c, buddy).role(), Role::kLeader) << report(c);
    ASSERT_TRUE(write_ok(c, 3, "q").has_value()) << report(c);

    c.heal();
    ASSERT_TRUE(write_ok(c, 4, "q").has_value()) << report(c);
    EXPECT_EQ(await_leader(c, all, kReElectionBound), l2) << report(c);
    EXPECT_EQ(core_of(c, l).role(), Role::kFollower) << report(c);
    ASSERT_TRUE(c.run_until([&] { return c.pending_ops() == 0; }, 300)) << report(c);
    expect_not_acknowledged(c, stale, o.client_timeout_ticks);
    for (ClientOpId id : stale) {
        EXPECT_EQ(c.op(id).outcome, Outcome::kFailed) << format_operation(c.op(id)) << report(c);
    }
    end_checks(c);
}

// ---------------------------------------------------------------------------
// Leadership transfer

// Scenario.LeadershipTransfer (§d3.10) through RAFT TRANSFER-LEADER: to an
// up-to-date follower, the target leads in the next term within an election
// timeout; to a follower 60 writes behind, it is caught up first; a
// follower asked redirects to the leader; an unknown node is refused; to a
// down node the transfer is given up after an election timeout and the
// leader takes writes again in its term. Clients' writes work after each.
TEST(ReplicaScenario, LeadershipTransfer) {
    const std::uint64_t seed = testing::test_seed(0x5206);
    SCOPED_TRACE(testing::seed_trace(seed));
    ReplicaClusterOptions o = scenario_options(3, seed);
    o.snapshot_log_bytes = 64u << 20;  // the lagging target catches up by appends
    ReplicaCluster c(o);
    const Group all = c.node_ids();
    ASSERT_TRUE(await_leader(c, all, kReElectionBound).has_value()) << report(c);
    ASSERT_TRUE(write_ok(c, 1, "t").has_value()) << report(c);
    NodeId l = *settled_leader(c, all);

    // To an up-to-date follower.
    {
        const NodeId target = without(all, l).front();
        const Term term = core_of(c, l).term();
        ASSERT_EQ(admin_answer(c, transfer_to(c, l, target), 1), "+OK") << report(c);
        ASSERT_TRUE(c.run_until([&] { return settled_leader(c, all) == target; }, kElection))
            << "transfer to an up-to-date node took over an election timeout" << report(c);
        EXPECT_EQ(core_of(c, target).term(), term.next()) << report(c);
        ASSERT_TRUE(write_ok(c, 1, "t").has_value()) << report(c);
        l = target;
    }

    // Asked of a follower: -MOVED to the leader. Of an unknown node: refused.
    {
        const NodeId f = without(all, l).front();
        const std::string moved = admin_answer(c, transfer_to(c, f, f), 1);
        EXPECT_TRUE(moved.starts_with("-MOVED ")) << moved;
        EXPECT_TRUE(moved.ends_with(fmt::format(":{}", 7000 + l.value))) << moved;
        const std::string unknown = admin_answer(c, transfer_to(c, l, nid(9)), 1);
        EXPECT_TRUE(unknown.starts_with("-ERR cannot transfer")) << unknown;
        EXPECT_EQ(leader_in(c, all), l) << report(c);
    }

    // To a follower 60 writes behind.
    {
        const NodeId target = without(all, l).front();
        c.isolate(target);
        for (int i = 0; i < 60; ++i) {
            ASSERT_TRUE(write_ok(c, 1, fmt::format("t{}", i % 6)).has_value()) << report(c);
        }
        c.rejoin(target);
        ASSERT_LT(core_of(c, target).log().last_index(), core_of(c, l).log().committed())
            << report(c);
        const raft::Index committed = core_of(c, l).log().committed();
        const Term term = core_of(c, l).term();
        ASSERT_EQ(admin_answer(c, transfer_to(c, l, target), 1), "+OK") << report(c);
        ASSERT_TRUE(c.run_until([&] { return settled_leader(c, all) == target; }, 2 * kElection))
            << "transfer to a lagging node did not complete" << report(c);
        EXPECT_EQ(core_of(c, target).term(), term.next()) << report(c);
        EXPECT_GE(core_of(c, target).log().committed(), committed) << report(c);
        ASSERT_TRUE(write_ok(c, 1, "t").has_value()) << report(c);
        EXPECT_EQ(leader_in(c, all), target) << report(c);
        l = target;
    }

    // To a follower that is down: given up, the leader writes again.
    {
        const NodeId target = without(all, l).front();
        c.crash(target);
        const Term term = core_of(c, l).term();
        ASSERT_EQ(admin_answer(c, transfer_to(c, l, target), 1), "+OK") << report(c);
        ASSERT_TRUE(write_ok(c, 2, "t", 3 * kElection).has_value())
            << "the leader did not abandon the transfer to a down node" << report(c);
        EXPECT_EQ(leader_in(c, all), l) << report(c);
        EXPECT_EQ(core_of(c, l).term(), term) << report(c);
        c.restart(target);
    }
    end_checks(c);
}

// ---------------------------------------------------------------------------
// Membership (RAFT REMOVENODE, --join)

// Scenario.MembershipChangeWhileNodeDown (§d4.1-4.2): while node 3 is down,
// a fresh server joins (RAFT ADDNODE through node 1: a learner, promoted
// once caught up) and one of nodes 1 and 2 is removed (RAFT REMOVENODE,
// answered +OK once applied; the server is then stopped for good). With 3
// down, the remaining founder and the joiner are a majority of the new
// configuration and take writes. Node 3 comes back, learns the
// configuration and catches up; then with the founder down, 3 and the
// joiner alone elect and take writes: 3 really is a voter of it.
TEST(ReplicaScenario, MembershipChangeWhileNodeDown) {
    const std::uint64_t seed = testing::test_seed(0x5207);
    SCOPED_TRACE(testing::seed_trace(seed));
    ReplicaCluster c(scenario_options(3, seed));
    ASSERT_TRUE(await_leader(c, c.node_ids(), kReElectionBound).has_value()) << report(c);
    ASSERT_TRUE(write_ok(c, 1, "m").has_value()) << report(c);
    c.crash(nid(3));
    ASSERT_TRUE(write_ok(c, 1, "m").has_value()) << report(c);

    const NodeId joiner = c.add_joiner(nid(1));
    const auto voters_are = [&](const std::set<NodeId>& want) {
        const std::optional<NodeId> l = c.leader();
        if (!l) return false;
        const raft::Membership m = core_of(c, *l).membership();
        return m.voters == want && m.learners.empty();
    };
    ASSERT_TRUE(c.run_until(
        [&] {
            return voters_are({nid(1), nid(2), nid(3), joiner});
        },
        20 * kElection))
        << "the joiner did not become a voter" << report(c);
    ASSERT_TRUE(write_ok(c, 1, "m").has_value()) << report(c);

    const NodeId l = *c.leader();
    const NodeId gone = l == nid(1) ? nid(2) : nid(1);
    const NodeId keep = gone == nid(1) ? nid(2) : nid(1);
    ASSERT_EQ(admin_answer(c, remove_node(c, l, gone), 4 * kElection), "+OK") << report(c);
    c.crash(gone);  // stopped for good: never restarted
    const std::set<NodeId> after{keep, nid(3), joiner};
    ASSERT_TRUE(c.run_until([&] { return voters_are(after); }, kReElectionBound)) << report(c);
    ASSERT_TRUE(write_ok(c, 1, "m").has_value())
        << "the founder and the joiner are a majority of the new configuration" << report(c);

    c.restart(nid(3));
    ASSERT_TRUE(c.await_convergence(4 * kElection)) << report(c);
    EXPECT_EQ(core_of(c, nid(3)).membership().voters, after) << report(c);

    c.crash(keep);
    ASSERT_TRUE(write_ok(c, 1, "m", 20 * kElection).has_value())
        << "3 and the joiner are a majority of the new configuration" << report(c);
    c.restart(keep);
    end_checks(c);
}

// Scenario.RemovedServerCannotDisrupt (§d4.2.3): a server removed (RAFT
// REMOVENODE, +OK) while cut off never learns it and keeps campaigning;
// back on the network, still up, it cannot disturb the cluster: same
// leader, same term, writes go on, and it never leads. Then it is stopped
// for good.
TEST(ReplicaScenario, RemovedServerCannotDisrupt) {
    const std::uint64_t seed = testing::test_seed(0x5208);
    SCOPED_TRACE(testing::seed_trace(seed));
    ReplicaCluster c(scenario_options(3, seed));
    const Group all = c.node_ids();
    ASSERT_TRUE(await_leader(c, all, kReElectionBound).has_value()) << report(c);
    ASSERT_TRUE(write_ok(c, 1, "r").has_value()) << report(c);
    const NodeId l = *settled_leader(c, all);
    const NodeId gone = without(all, l).front();
    const Group stay = without(all, gone);

    c.isolate(gone);
    ASSERT_EQ(admin_answer(c, remove_node(c, l, gone), 2 * kElection), "+OK") << report(c);
    EXPECT_FALSE(core_of(c, l).membership().contains(gone)) << report(c);
    EXPECT_TRUE(core_of(c, gone).membership().contains(gone)) << "it learned it was removed";
    const Term term = core_of(c, l).term();
    ASSERT_TRUE(c.tick(5 * kElection)) << report(c);

    c.rejoin(gone);
    ASSERT_TRUE(c.tick(10 * kElection)) << report(c);
    EXPECT_EQ(settled_leader(c, stay), l) << "the removed server disrupted the leader" << report(c);
    EXPECT_EQ(core_of(c, l).term(), term) << report(c);
    EXPECT_NE(core_of(c, gone).role(), Role::kLeader) << report(c);
    ASSERT_TRUE(write_ok(c, 1, "r").has_value()) << report(c);
    EXPECT_EQ(core_of(c, l).term(), term) << report(c);

    c.crash(gone);  // stopped for good, as an operator does after +OK
    end_checks(c);
}

// A fresh server joins through a follower while clients run (its RAFT
// ADDNODE is redirected to the leader), becomes a voter once caught up, and
// converges to the others' state. It is a full voter: the leadership can be
// transferred to it, and it leads writes; with a founder down, the other
// three still commit.
TEST(ReplicaScenario, JoinerBecomesAVoter) {
    const std::uint64_t seed = testing::test_seed(0x5209);
    SCOPED_TRACE(testing::seed_trace(seed));
    ReplicaCluster c(scenario_options(3, seed));
    const Group founders = c.node_ids();
    ASSERT_TRUE(await_leader(c, founders, kReElectionBound).has_value()) << report(c);
    ClientLoad load(c, 3, seed ^ 0x101);
    ASSERT_TRUE(load.run(2 * kElection)) << report(c);

    const NodeId l = *c.leader();
    const NodeId joiner = c.add_joiner(without(founders, l).front());
    const std::set<NodeId> want{nid(1), nid(2), nid(3), joiner};
    bool joined = false;
    for (int t = 0; t < 20 * kElection && !joined; ++t) {
        ASSERT_TRUE(load.tick_once()) << report(c);
        const std::optional<NodeId> now = c.leader();
        if (!now) continue;
        const raft::Membership m = core_of(c, *now).membership();
        joined = m.voters == want && m.learners.empty();
    }
    ASSERT_TRUE(joined) << "the joiner is not a voter after 200 ticks" << report(c);
    ASSERT_TRUE(load.run(2 * kElection)) << report(c);
    ASSERT_TRUE(c.run_until([&] { return c.pending_ops() == 0; }, 150)) << report(c);
    ASSERT_TRUE(c.await_convergence(4 * kElection)) << report(c);
    EXPECT_EQ(core_of(c, joiner).membership().voters, want) << report(c);

    const NodeId from = *c.leader();
    ASSERT_EQ(admin_answer(c, transfer_to(c, from, joiner), 1), "+OK") << report(c);
    const Group all = c.node_ids();
    ASSERT_TRUE(c.run_until([&] { return settled_leader(c, all) == joiner; }, 2 * kElection))
        << "the joiner did not take the leadership" << report(c);
    ASSERT_TRUE(write_ok(c, 1, "j").has_value()) << report(c);
    EXPECT_EQ(leader_in(c, all), joiner) << report(c);

    c.crash(without(founders, from).front());
    ASSERT_TRUE(write_ok(c, 1, "j", 20 * kElection).has_value())
        << "three of four voters took no write" << report(c);
    end_checks(c);
}

// ---------------------------------------------------------------------------
// Clients

// Scenario.ClientsReachALeaderWithASlowDisk: every disk job takes up to 0.6
// ticks, so the leader is often in a sync when a request arrives; requests
// still get through (the replica proposes while a persist is out and
// batches what came meanwhile): none fails or is left in doubt, and the
// load is served at a steady rate.
TEST(ReplicaScenario, ClientsReachALeaderWithASlowDisk) {
    const std::uint64_t seed = testing::test_seed(0x520a);
    SCOPED_TRACE(testing::seed_trace(seed));
    ReplicaClusterOptions o = scenario_options(3, seed);
    o.disk_latency_min = 50;
    o.disk_latency_max = 600;
    ReplicaCluster c(o);
    ASSERT_TRUE(await_leader(c, c.node_ids(), kReElectionBound).has_value()) << report(c);
    const NodeId l = *c.leader();
    ClientLoad load(c, 5, seed ^ 0x5105);
    ASSERT_TRUE(load.run(10 * kElection)) << report(c);
    ASSERT_TRUE(c.run_until([&] { return c.pending_ops() == 0; }, 20 * kElection)) << report(c);
    EXPECT_EQ(c.leader(), l) << "the leadership changed with no fault" << report(c);
    EXPECT_EQ(c.counters().ops_failed, 0u) << report(c);
    EXPECT_EQ(c.counters().ops_unknown, 0u) << report(c);
    EXPECT_GE(c.counters().ops_ok, 100u) << report(c);
    end_checks(c, 2 * kElection);
}

// Scenario.LinearizableReads (§d6.4, ReadIndex): five servers on a network
// that reorders, six clients writing and reading throughout; four times the
// leader is cut off mid-run for five election timeouts and a new one
// elected. The cut-off leader cannot confirm reads, so no read sees stale
// data: the history is linearizable, and enough of it succeeded to mean it.
TEST(ReplicaScenario, LinearizableReads) {
    const std::uint64_t seed = testing::test_seed(0x520b);
    SCOPED_TRACE(testing::seed_trace(seed));
    ReplicaClusterOptions o = scenario_options(5, seed);
    o.link = LinkConfig{
        .delay_min = 100, .delay_max = 1500, .tail_ppm = 30'000, .tail_delay_max = 5 * kTickTime};
    ReplicaCluster c(o);
    ClientLoad load(c, 6, seed ^ 0x7ead);
    const Group all = c.node_ids();
    ASSERT_TRUE(await_leader(c, all, kReElectionBound).has_value()) << report(c);
    std::set<NodeId> leaders;
    for (int round = 0; round < 4; ++round) {
        ASSERT_TRUE(load.run(3 * kElection)) << report(c);
        const std::optional<NodeId> l = leader_in(c, all);
        ASSERT_TRUE(l.has_value()) << report(c);
        leaders.insert(*l);
        c.isolate(*l);
        ASSERT_TRUE(load.run(5 * kElection)) << report(c);
        c.rejoin(*l);
    }
    ASSERT_TRUE(c.run_until([&] { return c.pending_ops() == 0; }, 20 * kElection)) << report(c);
    EXPECT_GE(leaders.size(), 2u) << report(c);
    std::size_t gets_ok = 0;
    for (const Operation& op : c.history().ops) {
        if (op.kind == OpKind::kGet && op.outcome == Outcome::kOk) ++gets_ok;
    }
    EXPECT_GE(c.counters().ops_ok, 150u) << report(c);
    EXPECT_GE(gets_ok, 40u) << report(c);
    end_checks(c);
}

}  // namespace
}  // namespace raftkv::sim
