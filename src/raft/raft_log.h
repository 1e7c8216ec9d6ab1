// raft_log.h — the core's log: entries the caller has persisted (a
// LogStorage) followed by entries not yet persisted, plus the commit and
// apply indexes.
//
// Implements the log rules of the Raft paper: appending a leader's entries
// on a follower, truncating a conflicting suffix (§5.3, Figure 2 "AppendEntries
// RPC" steps 2-4), the commit index, and the voting rule (§5.4.1). Also the
// fast-backtracking hint a follower sends with a rejection (§5.3 last
// paragraphs; etcd's findConflictByTerm). Does not send, persist or apply
// anything: it hands out what the caller should persist (unstable_entries)
// and apply (next_committed_entries), and is told when that happened.
// Modeled on etcd-io/raft log.go and log_unstable.go.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "raft/log_storage.h"
#include "raft/types.h"

namespace raftkv::raft {

// A fast-backtracking hint: the follower's log may match the leader's at most
// through `index`, whose term there is `term` (Term(0) when unknown).
struct ConflictHint {
    Index index;
    Term term;

    bool operator==(const ConflictHint&) const = default;
};

// Not thread-safe; owned by the core (one per node). Borrows `storage`,
// which must outlive it and change only by the caller persisting what
// unstable_entries() / unstable_snapshot() handed out, or compacting.
class RaftLog {
public:
    // A log over what `storage` holds, with nothing unstable. committed and
    // applied start at storage.first_index() - 1 (the snapshot); the caller
    // raises committed from its persisted hard state with commit_to.
    explicit RaftLog(const LogStorage* storage);

    // The first index the log can still return an entry for.
    Index first_index() const;
    // The index of the last entry, inclusive; the snapshot index when empty.
    Index last_index() const;
    Term last_term() const;
    // The term at `index` for index in [first_index() - 1, last_index()];
    // nullopt outside (compacted, or past the end).
    std::optional<Term> term(Index index) const;
    // Whether the log has an entry at `index` with `term` (§5.3's log
    // matching check). Index(0) with Term(0) always matches (empty prefix).
    bool match_term(Index index, Term term) const;

    // Invariant: applied() <= committed() <= last_index().
    // committed() only grows.
    Index committed() const { return committed_; }
    Index applied() const { return applied_; }

    // Follower side of AppendEntries (§5.3, Figure 2 steps 2-5). If the log
    // has `prev_index` with `prev_term`, appends `entries` (which start at
    // prev_index + 1), truncating only a suffix that conflicts with them, and
    // raises committed to min(leader_committed, prev_index + entries.size());
    // returns that last index the leader's message vouches for. Returns
    // nullopt (no change) when prev doesn't match. A stale or duplicated
    // append whose entries are all present changes nothing. Truncating at or
    // below committed() is a bug and aborts: callers answer an append whose
    // prev_index is below committed() with committed() (it may be compacted).
    std::optional<Index> maybe_append(Index prev_index, Term prev_term, Index leader_committed,
                                      std::span<const Entry> entries);

    // Leader side: appends its own new entries, which must start after
    // committed(). Truncates anything from their first index on. Returns the
    // new last index.
    Index append(std::span<const Entry> entries);

    // The index of the first of `entries` that is not in the log: a term
    // conflict with an existing entry, or the first one past last_index().
    // Index(0) when every entry is already present. Requires consecutive
    // indexes.
    Index find_conflict(std::span<const Entry> entries) const;

    // The fast-backtracking hint for a follower (or a leader, on the
    // follower's hint) that found no match at `index` for `term`: the
    // largest index <= `index` whose term is <= `term`, with that term. No
    // entry of the log between it and `index` can match, since each has a
    // larger term than `term`, so the leader skips a whole term's divergent
    // entries in one round trip. When the term there is unknown (compacted)
    // returns that index with Term(0). Requires index <= last_index().
    ConflictHint find_conflict_by_term(Index index, Term term) const;

    // Raises committed to `index`. Callers pass max(committed, leader's
    // commit): a delayed message never lowers it. Requires
    // committed() <= index <= last_index().
    void commit_to(Index index);

    // Leader side (§5.4.2, Figure 8): commits `index`, the quorum's match
    // index, only if the entry there is from `term`, the leader's current
    // term. Returns whether committed() grew.
    bool maybe_commit(Index index, Term term);

    // The state machine has applied everything through `index`. Requires
    // applied() <= index <= committed().
    void applied_to(Index index);

    // Whether next_committed_entries() would return something: entries in
    // (applied(), committed()] exist, and no unstable snapshot must be applied
    // first.
    bool has_next_committed_entries() const;
    // The committed entries not yet applied, in order, at most `bytes_max` of
    // payload (at least one entry). May include entries not yet persisted
    // locally; the Ready contract has them persisted before they are applied.
    std::vector<Entry> next_committed_entries(std::uint64_t bytes_max) const;

    // The entries in [lo, end), at most `bytes_max` of payload (at least one
    // entry when lo < end), for sending to a follower. Requires
    // first_index() <= lo <= end <= last_index() + 1.
    std::vector<Entry> slice(Index lo, Index end, std::uint64_t bytes_max) const;

    // Entries the caller must persist, in order. Valid until the next call
    // that changes the log.
    std::span<const Entry> unstable_entries() const { return unstable_entries_; }
    // The caller persisted the entries through `index`, the last of which had
    // `term`. Ignores a stale report: if the log no longer has `term` at
    // `index` among the unstable entries (it was truncated and rewritten
    // meanwhile), those entries were replaced and must still be persisted.
    void stable_to(Index index, Term term);

    // A snapshot received from the leader, to be installed by the caller.
    const std::optional<SnapshotMeta>& unstable_snapshot() const { return unstable_snapshot_; }
    // The caller installed the snapshot at `index` into its storage.
    void stable_snapshot_to(Index index);

    // Follower side of InstallSnapshot: discards the whole log for the
    // snapshot, which becomes unstable until the caller installs it, and sets
    // committed to its index. Requires meta.index > committed(); the caller
    // skips stale snapshots, and ones whose last entry the log already has.
    // The caller calls applied_to(meta.index) once the state machine has
    // loaded it.
    void restore(SnapshotMeta meta);

    // §5.4.1: whether a candidate whose log ends at (last_index, last_term)
    // is at least as up to date as this log, so it may get our vote: a later
    // last term, or the same last term and at least as long.
    bool is_up_to_date(Index last_index, Term last_term) const;

    // Checks the invariants stated in this file; the walk over unstable
    // entries runs in debug builds only. Tests and the simulation call it.
    void check_invariants() const;

    // "committed=5 applied=3 unstable=[6, 9) last=8"
    std::string to_string() const;

private:
    // The term of an unstable entry or of the unstable snapshot, if held.
    std::optional<Term> unstable_term(Index index) const;
    Index unstable_end() const { return Index(unstable_offset_.value + unstable_entries_.size()); }
    // Appends at entries[0].index, replacing the suffix from there.
    void truncate_and_append(std::span<const Entry> entries);

    const LogStorage* storage_;

    // Entries not yet persisted. They start at unstable_offset_ and take
    // precedence over storage_ from there on: after a truncation, storage_
    // still holds the old suffix until the caller persists the new one.
    // Invariant: unstable_entries_[i].index == unstable_offset_ + i.
    // Invariant: unstable_offset_ <= storage_->last_index() + 1, unless an
    //   unstable snapshot is held, when unstable_offset_ == its index + 1.
    std::optional<SnapshotMeta> unstable_snapshot_;
    std::vector<Entry> unstable_entries_;
    Index unstable_offset_;

    // Invariant: applied_ <= committed_ <= last_index(). committed_ only
    // grows; persist it in the hard state (it need not be synced first).
    Index committed_;
    Index applied_;
};

}  // namespace raftkv::raft
