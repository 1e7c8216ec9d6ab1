// cluster_internal.h — the private parts of Cluster (sim/cluster.h) that
// cluster.cc and cluster_clients.cc share: one simulated server, one client
// operation, one membership job. Not for use outside those two files.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/cluster.h"

namespace raftkv::sim {

// One server: a disk that survives crashes, and the volatile rest.
struct Cluster::SimNode {
    SimNode(raft::NodeId node_id, raft::Membership initial)
        : id(node_id),
          initial_membership(std::move(initial)),
          disk(std::make_unique<SimDisk>(DiskOptions{.node = node_id, .trace = {}})) {}

    raft::NodeId id;
    raft::Membership initial_membership;  // founding voters; empty for a joiner
    std::unique_ptr<SimDisk> disk;
    bool removed = false;  // decommissioned: never restarted
    std::uint64_t incarnation = 0;

    // Volatile: null while down.
    std::unique_ptr<raft::MemoryLogStorage> storage;  // what the core has synced
    std::unique_ptr<raft::Node> core;
    KvMachine kv;
    // The Ready whose sync is in progress (written, not yet synced) and when
    // the sync completes. Meanwhile messages wait in the inbox and ticks are
    // counted.
    std::optional<raft::Ready> ready;
    SimTime busy_until = 0;
    std::vector<raft::Message> inbox;
    int pending_ticks = 0;
    std::vector<ClientOpId> queued_ops;  // client requests waiting for the sync
    raft::Role last_role = raft::Role::kFollower;
    raft::Term last_term;
};

struct Cluster::ClientOp {
    enum class State : std::uint8_t { kRouting, kWaitWrite, kWaitRead, kDone };

    ClientOpId id = 0;
    Operation rec;  // the history record
    KvCommand cmd;
    GetMode mode = GetMode::kReadIndex;
    State state = State::kRouting;
    SimTime deadline = 0;
    SimTime next_try = 0;
    bool queued = false;  // waits at a node whose loop is in a sync
    // Where it waits: node, its incarnation, and for a write the index and
    // term it was appended at.
    raft::NodeId at;
    std::uint64_t incarnation = 0;
    raft::Index index;
    raft::Term term;
    std::string context;        // read_index context
    raft::Index applied_index;  // ok writes
};

struct Cluster::Job {
    enum class Kind : std::uint8_t { kAdd, kRemove };
    Kind kind = Kind::kAdd;
    raft::NodeId id;
    std::uint64_t started_tick = 0;
};

}  // namespace raftkv::sim
