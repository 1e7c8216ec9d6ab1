// scenario_support.h — what the scenario tests of both simulated clusters
// share (scenario_test.cc on sim::Cluster, replica_scenario_test.cc on
// sim::ReplicaCluster): the election timeout they run with and its bounds,
// groups of nodes, finding the leader a group has settled on, and the
// report a failed assertion prints. Test code only.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <vector>

#include "raft/node.h"
#include "sim/cluster.h"
#include "sim/replica_cluster.h"

namespace raftkv::sim::scenario {

using Group = std::vector<raft::NodeId>;

// Every scenario runs the cores with this election timeout (the randomized
// timeout is in [kElection, 2 * kElection)) and a heartbeat every tick.
inline constexpr int kElection = 10;
// Electing a leader once the old one is gone: the followers notice within
// one maximal timeout (2 * kElection); timeouts are whole ticks, so two
// candidates start in one tick about one time in ten and split the vote,
// each split costing up to another maximal timeout. Allow two splits.
inline constexpr int kReElectionBound = 6 * kElection;

inline raft::NodeId nid(int i) { return raft::NodeId(static_cast<std::uint64_t>(i)); }

inline Group without(const Group& g, raft::NodeId out) {
    Group r;
    for (raft::NodeId n : g) {
        if (n != out) r.push_back(n);
    }
    return r;
}

// The raft core of an up node, in either cluster.
inline const raft::Node& core_of(const Cluster& c, raft::NodeId id) { return c.node(id); }
inline const raft::Node& core_of(const ReplicaCluster& c, raft::NodeId id) {
    return c.replica(id).node();
}

// The up node of `g` that leads the highest term, if any.
template <typename C>
std::optional<raft::NodeId> leader_in(const C& c, const Group& g) {
    std::optional<raft::NodeId> best;
    for (raft::NodeId n : g) {
        if (!c.is_up(n) || core_of(c, n).role() != raft::Role::kLeader) continue;
        if (!best || core_of(c, n).term() > core_of(c, *best).term()) best = n;
    }
    return best;
}

// A leader of `g` whose term no up member of `g` exceeds, and whom every
// up member of `g` follows.
template <typename C>
std::optional<raft::NodeId> settled_leader(const C& c, const Group& g) {
    const std::optional<raft::NodeId> l = leader_in(c, g);
    if (!l) return std::nullopt;
    const raft::Term t = core_of(c, *l).term();
    for (raft::NodeId n : g) {
        if (!c.is_up(n)) continue;
        if (core_of(c, n).term() != t || core_of(c, n).leader() != *l) return std::nullopt;
    }
    return l;
}

template <typename C>
std::optional<raft::NodeId> await_leader(C& c, const Group& g, int max_ticks) {
    std::optional<raft::NodeId> l;
    c.run_until(
        [&] {
            l = settled_leader(c, g);
            return l.has_value();
        },
        max_ticks);
    return l;
}

// What a failed assertion prints after its own message.
template <typename C>
std::string report(const C& c) {
    return fmt::format("\nfailure: {}\nstatus:\n{}counters: {}\nlast events:\n{}",
                       c.ok() ? std::string("(none)") : c.failure(), c.status(),
                       c.counters().to_string(), c.trace_dump());
}

}  // namespace raftkv::sim::scenario

#define ASSERT_CLUSTER_OK(c) ASSERT_TRUE((c).ok()) << ::raftkv::sim::scenario::report(c)
