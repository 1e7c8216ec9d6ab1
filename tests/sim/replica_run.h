// replica_run.h — one randomized run of a ReplicaCluster (replica_cluster.h)
// from a seed: a cluster of server::Replicas of a drawn size, network and
// disk, clients sending the real commands, faults, then the faults healed
// and the end checks.
//
// Everything is drawn from the seed, so `raftkv-sim --replica --seed S`
// replays run S exactly. What a run does, in order:
//   1. draw: cluster size, link delays / loss / duplication / reordering,
//      disk latency, election timeout, snapshot threshold, clients;
//   2. chaos for a few hundred ticks: clients start operations (SET, SET NX,
//      SET IFEQ, INCRBY, DEL, GET on a few keys), and now and then a fault
//      starts: a partition (isolated node or leader, split, one-way block),
//      a crash with or without torn writes and a later restart, new link
//      behaviour;
//   3. heal: network whole and reliable, every crashed server restarted;
//      then liveness (a leader, a write acknowledged, within bounds),
//      convergence, the reply checks and linearizability.
// With `membership`, the chaos also sends RAFT TRANSFER-LEADER and RAFT
// REMOVENODE to the leader: a server whose removal was answered +OK is
// stopped for good; one whose removal was in doubt (-UNCERTAIN, no reply)
// is asked again later ("invalid member" then means it is out). The end
// checks add: the configuration is every server not removed, all voters,
// and a removal refused with an error that promises "not applied" did not
// take effect. Off by default, so that a seed replays the run it did.
// A server removed for good is replaced by a fresh one under a new id that
// joins through a member; at the end a joiner left out is started again
// through a member that stays. With `sessions`, odd-numbered clients send
// their writes through exactly-once sessions and retry them after a doubt
// (replica_cluster.h). With `disk_faults`, a fault may also fill a
// server's disk for a while (its writes are refused "not applied", its job
// retried) or fail its next sync (it stops, and is restarted later from
// what its disk kept).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "sim/replica_cluster.h"

namespace raftkv::sim {

struct ReplicaRunOptions {
    std::uint64_t seed = 1;
    int nodes = 0;                                     // 0: drawn from the seed
    bool membership = false;                           // TRANSFER-LEADER, REMOVENODE
    bool sessions = false;  // odd-numbered clients use SESSION RUN (replica_cluster.h)
    bool disk_faults = false;  // full disks and failed syncs
    std::function<void(std::string_view)> trace_sink;  // every event (--trace)
};

struct ReplicaRunResult {
    bool ok = true;
    std::string failure;
    std::string config;  // what was drawn, one line
    std::string trace;   // the last events (failed runs only)
    std::string status;  // the nodes at the end
    ReplicaClusterCounters counters;
    NetworkCounters network;
    std::size_t ops = 0;
};

ReplicaRunResult run_replica_random(const ReplicaRunOptions& options);

}  // namespace raftkv::sim
