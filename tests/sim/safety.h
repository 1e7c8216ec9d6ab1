// safety.h — the simulation's cross-node safety checks, run after every step
// (issue 3; Raft paper Figure 3).
//
// Keeps what the whole run has seen, across crashes and restarts:
// - election safety: the leader of every term ever observed;
// - log matching: a hash chain over every entry a node handed out to
//   persist (or recovered from its disk), keyed by (index, term): two logs
//   with the same entry at (index, term) must agree on the chain there,
//   which covers every earlier entry too. An entry only its proposer ever
//   held, never synced nor sent, is forgotten when the proposer crashes
//   without it on disk (on_crash): nobody saw it, so a later entry at the
//   same (index, term) (its lost term led again) is no conflict;
// - leader completeness: every entry observed committed (on any node) is in
//   the log of every node later observed leading a higher term;
// - state machine safety: the entry applied at each index (term and payload
//   hash), and that each node applies indexes one after another with no gap;
//   snapshot images taken or loaded at one index are identical;
// - per node: commit never goes back within one incarnation, and
//   applied <= committed <= last index; plus the core's check_invariants().
// Does not: drive anything, or print. The first violation is kept as a
// message; later ones are ignored (the run stops at the first).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "raft/node.h"
#include "raft/types.h"
#include "sim/disk.h"

namespace raftkv::sim {

class SafetyChecker {
public:
    // A node (re)started over `image`: its log is what the disk holds.
    void on_start(raft::NodeId node, const DiskImage& image);
    // A Ready handed out a snapshot from the leader, then entries: they
    // replace the node's log from their first index (or from the snapshot).
    void on_ready(raft::NodeId node, const raft::Ready& rd);
    // The node sent a message: the entries in it may reach others.
    void on_sent(raft::NodeId node, const raft::Message& m);
    // A sync made these entries of the node durable.
    void on_synced(raft::NodeId node, std::span<const raft::Entry> entries);
    // The node crashed and its disk kept `kept`: entries it proposed that
    // nobody else holds, that were never synced or sent, and that `kept`
    // does not hold are forgotten.
    void on_crash(raft::NodeId node, const DiskImage& kept);
    // The node applied a committed entry / loaded a snapshot image.
    void on_apply(raft::NodeId node, const raft::Entry& entry);
    // The node applied through `through` entries the caller could not see
    // (they left its log before the caller looked): the apply order check
    // goes on after them, and they are not checked.
    void skip_applied(raft::NodeId node, raft::Index through);
    void on_snapshot_loaded(raft::NodeId node, const raft::SnapshotMeta& meta,
                            std::string_view image);
    // A node took a snapshot of its state machine at meta.index.
    void on_snapshot_taken(raft::NodeId node, const raft::SnapshotMeta& meta,
                           std::string_view image);

    // Every per-step check of one live node; `incarnation` distinguishes
    // restarts (commit may restart lower after a crash).
    void check_node(const raft::Node& node, std::uint64_t incarnation);

    bool ok() const { return failure_.empty(); }
    const std::string& failure() const { return failure_; }
    // Records a violation found elsewhere (the driver's end checks).
    void fail(std::string message);

    // What is known about index `index` (from 1).
    struct Known {
        raft::Term term;
        std::uint64_t hash = 0;  // chain (committed) or payload hash (applied)
        bool known = false;
    };
    std::optional<Known> applied_at(raft::Index index) const;
    raft::Index committed_last() const { return raft::Index(committed_.size() - 1); }
    std::size_t leaders_seen() const { return leaders_.size(); }

private:
    // One node's log as hash chains: chain_[i] covers entries through
    // base_ + 1 + i.
    struct Shadow {
        raft::Index base;
        std::optional<std::uint64_t> base_chain;  // unknown only if never seen
        std::vector<std::optional<std::uint64_t>> chain;
        raft::Index last() const { return raft::Index(base.value + chain.size()); }
    };
    struct NodeState {
        Shadow shadow;
        std::uint64_t incarnation = UINT64_MAX;
        raft::Index last_commit;
        raft::Index checked_commit;
        raft::Index next_apply;
        bool leading = false;
        raft::Term leading_term;
    };

    void reset_shadow(Shadow& s, raft::Index base, raft::Term base_term);
    void extend(raft::NodeId node, Shadow& s, std::span<const raft::Entry> entries);
    std::optional<std::uint64_t> chain_at(const Shadow& s, raft::Index index) const;
    void check_commits(const raft::Node& node, NodeState& st);
    void check_leader(const raft::Node& node, NodeState& st);

    std::string failure_;
    std::map<raft::NodeId, NodeState> nodes_;
    std::map<raft::Term, raft::NodeId> leaders_;
    using Key = std::pair<std::uint64_t, std::uint64_t>;  // (index, term)
    struct Chain {
        std::uint64_t hash = 0;
        raft::NodeId by;      // the first node that held it (its proposer)
        bool pinned = false;  // synced, sent, or held by another node
    };
    // Marks an entry as possibly seen beyond its proposer's memory.
    void pin(const Key& key);

    std::map<Key, Chain> chains_;
    std::map<raft::NodeId, std::set<Key>> unpinned_;      // by proposer
    std::vector<Known> committed_{Known{.known = true}};  // [0] is the empty prefix
    std::vector<Known> applied_{Known{.known = true}};
    std::map<raft::Index, std::uint64_t> images_;  // snapshot image hash by index
};

}  // namespace raftkv::sim
