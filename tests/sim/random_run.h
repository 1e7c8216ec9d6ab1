// random_run.h — one randomized simulation run from a seed: a cluster of a
// drawn size and network, faults of every kind under client load, then the
// faults healed and the end checks (liveness, convergence, acknowledged
// writes, linearizability).
//
// Everything is drawn from the seed, so `raftkv-sim --seed S` replays run S
// exactly. Used by raftkv-sim (sim_main.cc) and by tests that keep failing
// seeds as regression cases. What a run does, in order:
//   1. draw: cluster size (mostly 3 and 5), link delays / loss /
//      duplication / reordering, disk sync latency, core options, clients;
//   2. chaos for a few hundred ticks: each tick clients start operations
//      (set, get by ReadIndex or by log, incr, cas, del on a few keys), and
//      now and then one fault starts: a partition (isolated node or leader,
//      majority/minority split, bridge, one-way block, flapping link), a
//      crash with or without torn writes and a later restart, a snapshot,
//      a membership change, a leadership transfer, new link behaviour;
//   3. heal: network whole and reliable, every crashed member restarted;
//      then liveness (a leader within a bound, a write commits within a
//      bound), convergence and the history checks.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "sim/cluster.h"

namespace raftkv::sim {

struct RandomRunOptions {
    std::uint64_t seed = 1;
    int nodes = 0;                                     // 0: drawn from the seed
    std::function<void(std::string_view)> trace_sink;  // every event (--trace)
};

struct RandomRunResult {
    bool ok = true;
    std::string failure;
    std::string config;  // what was drawn, one line
    std::string trace;   // the last events (failed runs only)
    std::string status;  // the nodes at the end
    ClusterCounters counters;
    NetworkCounters network;
    std::size_t ops = 0;
};

// Liveness bounds after healing, in ticks, as multiples of the election
// timeout (pre-vote and check-quorum may need several rounds).
inline constexpr int kLeaderBoundElections = 25;
inline constexpr int kCommitBoundElections = 10;

RandomRunResult run_random(const RandomRunOptions& options);

}  // namespace raftkv::sim
