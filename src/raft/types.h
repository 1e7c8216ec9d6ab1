// types.h — the value types Raft and its storage share: Term, Index, NodeId,
// Entry.
//
// Dependency-free on purpose: storage/ includes this header and nothing else
// from raft/ (STYLE.md section 1). Term, Index and NodeId are distinct types,
// so a term cannot be passed where an index is expected.
#pragma once

#include <compare>
#include <cstdint>
#include <set>
#include <string>

namespace raftkv::raft {

template <typename Tag>
struct StrongU64 {
    std::uint64_t value = 0;

    constexpr StrongU64() = default;
    constexpr explicit StrongU64(std::uint64_t v) : value(v) {}
    constexpr auto operator<=>(const StrongU64&) const = default;
    constexpr StrongU64 next() const { return StrongU64(value + 1); }
    constexpr StrongU64 prev() const { return StrongU64(value - 1); }
};

using Term = StrongU64<struct TermTag>;
using Index = StrongU64<struct IndexTag>;
using NodeId = StrongU64<struct NodeIdTag>;

enum class EntryType : std::uint8_t {
    kCommand = 1,  // a state machine command (kv/command_codec.h)
    kNoop = 2,     // appended by a new leader; applies nothing
    kConfig = 3,   // a whole new Membership (raft/membership.h); applies nothing
};

// One record of the replicated log. Index 0 and term 0 mean "none": the
// first real entry has index 1.
struct Entry {
    Term term;
    Index index;
    EntryType type = EntryType::kCommand;
    std::string data;

    bool operator==(const Entry&) const = default;
};

// The servers of the cluster: voters count in elections and commits,
// learners only receive the log (dissertation §4.2.1). Disjoint.
struct Membership {
    std::set<NodeId> voters;
    std::set<NodeId> learners;

    bool contains(NodeId id) const { return voters.contains(id) || learners.contains(id); }
    bool operator==(const Membership&) const = default;
};

// What a node must persist, and sync, before it sends anything that depends
// on it (Figure 2, "Persistent state on all servers"), plus the commit index,
// which need not be synced first but saves re-applying after a restart.
struct HardState {
    Term term;
    NodeId vote;  // NodeId(0): no vote in `term`
    Index commit;

    bool operator==(const HardState&) const = default;
};

// The last entry a snapshot covers: the log restarts after it. Index(0),
// Term(0) when there is no snapshot. `membership` is the configuration in
// effect at `index` (the last kConfig entry at or before it); empty in a
// snapshot file of version 1 (written by the single-node server, which had
// none).
struct SnapshotMeta {
    Index index;
    Term term;
    Membership membership;

    bool operator==(const SnapshotMeta&) const = default;
};

}  // namespace raftkv::raft
