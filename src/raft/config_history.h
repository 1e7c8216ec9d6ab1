// config_history.h — the configurations a node's log holds: the one in effect
// at the snapshot (the base) and every kConfig entry after it, so that the
// latest is known at once and the one at any index can be looked up.
//
// A configuration takes effect on a server as soon as its entry is appended,
// committed or not (§d4.1), so the latest entry is what the node runs with,
// and a truncation of the log may bring an older one back. Does not apply a
// configuration to the progress tracker, decide whether a change may be
// proposed, or read the log: node_membership.cc does, calling this. The
// kConfig payload is raft/membership.h.
#pragma once

#include <span>
#include <utility>
#include <vector>

#include "raft/types.h"

namespace raftkv::raft {

// Owned by one Node; not thread-safe. A value type.
class ConfigHistory {
public:
    // `base` is in effect at `base_index` (the storage's snapshot index, or
    // 0 with the configuration the cluster was founded with).
    ConfigHistory(Index base_index, Membership base);

    // The configuration in effect now: the latest entry's, else the base.
    const Membership& latest() const;
    // The configuration in effect at `index`: the last entry at or before
    // it, else the base. Meant for index >= base_index() (what a snapshot
    // taken at `index` records); an older index gets the base.
    Membership at(Index index) const;

    Index base_index() const { return base_index_; }
    const Membership& base() const { return base_; }
    std::size_t entry_count() const { return entries_.size(); }

    // Records the kConfig entries among `entries`, which were just appended
    // to the log after every entry recorded so far. Aborts on an entry that
    // does not decode: the log holds only what a leader encoded.
    void note_entries(std::span<const Entry> entries);
    // The log was truncated from `first` on (a follower's conflicting
    // suffix, §5.3): forgets the entries at or after it. Requires first >
    // base_index() (the snapshot's entries are committed, never truncated).
    void truncate_from(Index first);
    // The log now starts after `snapshot_index` (the caller compacted it):
    // entries at or before it fold into the base. An index at or below
    // base_index() changes nothing.
    void compact_to(Index snapshot_index);
    // A snapshot replaced the whole log: `base` is in effect at `index` and
    // no entries follow.
    void restore(Index index, Membership base);

    // Asserts the invariant stated next to entries_ (the walk over them in
    // debug builds only).
    void check_invariants() const;

private:
    Membership base_;
    Index base_index_;
    // Invariant: indexes strictly ascending, each > base_index_.
    std::vector<std::pair<Index, Membership>> entries_;
};

}  // namespace raftkv::raft
