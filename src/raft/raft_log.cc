// raft_log.cc — the core's log: persisted entries, unstable entries, commit
// and apply indexes.
//
// See raft_log.h for the contracts and invariants.
#include "raft/raft_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>

#include "base/assert.h"

namespace raftkv::raft {

RaftLog::RaftLog(const LogStorage* storage)
    : storage_(storage),
      unstable_offset_(storage->last_index().next()),
      committed_(storage->first_index().prev()),
      applied_(storage->first_index().prev()) {
    check_invariants();
}

Index RaftLog::first_index() const {
    if (unstable_snapshot_) return unstable_snapshot_->index.next();
    return storage_->first_index();
}

Index RaftLog::last_index() const {
    if (!unstable_entries_.empty()) return unstable_entries_.back().index;
    if (unstable_snapshot_) return unstable_snapshot_->index;
    return storage_->last_index();
}

Term RaftLog::last_term() const {
    std::optional<Term> t = term(last_index());
    RAFTKV_ASSERT(t.has_value(), "no term for last index {}", last_index().value);
    return *t;
}

std::optional<Term> RaftLog::unstable_term(Index index) const {
    if (index >= unstable_offset_ && index < unstable_end()) {
        return unstable_entries_[index.value - unstable_offset_.value].term;
    }
    if (unstable_snapshot_ && unstable_snapshot_->index == index) return unstable_snapshot_->term;
    return std::nullopt;
}

std::optional<Term> RaftLog::term(Index index) const {
    if (index < first_index().prev() || index > last_index()) return std::nullopt;
    if (std::optional<Term> t = unstable_term(index)) return t;
    // Below the unstable entries (or no unstable snapshot covers it): storage.
    if (unstable_snapshot_) return std::nullopt;
    return storage_->term(index);
}

bool RaftLog::match_term(Index index, Term term) const {
    std::optional<Term> t = this->term(index);
    return t.has_value() && *t == term;
}

std::optional<Index> RaftLog::maybe_append(Index prev_index, Term prev_term, Index leader_committed,
                                           std::span<const Entry> entries) {
    if (!match_term(prev_index, prev_term)) return std::nullopt;
    RAFTKV_ASSERT(entries.empty() || entries.front().index == prev_index.next(),
                  "append after {} starts at {}", prev_index.value, entries.front().index.value);
    const Index last_new = Index(prev_index.value + entries.size());
    // Figure 2, step 3: delete an existing entry and all that follow only on
    // a conflict. A delayed append whose entries we have must not cut off
    // entries a later append added (they may be committed).
    const Index conflict = find_conflict(entries);
    if (conflict != Index(0)) {
        RAFTKV_ASSERT(conflict > committed_, "conflict at {} within committed {}", conflict.value,
                      committed_.value);
        truncate_and_append(entries.subspan(conflict.value - prev_index.next().value));
    }
    // Step 5: commit = min(leaderCommit, index of last new entry). Only
    // what this message vouches for: entries past last_new may be stale.
    const Index commit = std::min(leader_committed, last_new);
    if (commit > committed_) commit_to(commit);
    return last_new;
}

Index RaftLog::append(std::span<const Entry> entries) {
    if (entries.empty()) return last_index();
    RAFTKV_ASSERT(entries.front().index > committed_, "append at {} within committed {}",
                  entries.front().index.value, committed_.value);
    truncate_and_append(entries);
    return last_index();
}

Index RaftLog::find_conflict(std::span<const Entry> entries) const {
    for (const Entry& e : entries) {
        if (!match_term(e.index, e.term)) return e.index;
    }
    return Index(0);
}

ConflictHint RaftLog::find_conflict_by_term(Index index, Term term) const {
    RAFTKV_ASSERT(index <= last_index(), "conflict hint at {} past last index {}", index.value,
                  last_index().value);
    for (; index > Index(0); index = index.prev()) {
        std::optional<Term> ours = this->term(index);
        // Compacted: whether it matches is unknown, so it may; stop here.
        if (!ours) return ConflictHint{.index = index, .term = Term(0)};
        if (*ours <= term) return ConflictHint{.index = index, .term = *ours};
    }
    return ConflictHint{.index = Index(0), .term = Term(0)};
}

void RaftLog::commit_to(Index index) {
    RAFTKV_ASSERT(index >= committed_, "commit regressed: {} -> {}", committed_.value, index.value);
    RAFTKV_ASSERT(index <= last_index(), "commit {} past last index {}", index.value,
                  last_index().value);
    committed_ = index;
}

bool RaftLog::maybe_commit(Index index, Term term) {
    // §5.4.2: a leader counts replicas only for entries of its own term;
    // earlier entries commit with them (Figure 8).
    if (index <= committed_ || !match_term(index, term)) return false;
    commit_to(index);
    return true;
}

void RaftLog::applied_to(Index index) {
    RAFTKV_ASSERT(index >= applied_, "applied regressed: {} -> {}", applied_.value, index.value);
    RAFTKV_ASSERT(index <= committed_, "applied {} past committed {}", index.value,
                  committed_.value);
    applied_ = index;
}

bool RaftLog::has_next_committed_entries() const {
    if (unstable_snapshot_) return false;  // the snapshot is applied first
    return committed_.value > std::max(applied_, first_index().prev()).value;
}

std::vector<Entry> RaftLog::next_committed_entries(std::uint64_t bytes_max) const {
    if (!has_next_committed_entries()) return {};
    const Index lo = std::max(applied_.next(), first_index());
    return slice(lo, committed_.next(), bytes_max);
}

std::vector<Entry> RaftLog::slice(Index lo, Index end, std::uint64_t bytes_max) const {
    RAFTKV_ASSERT(first_index() <= lo, "slice from {} below first index {}", lo.value,
                  first_index().value);
    RAFTKV_ASSERT(lo <= end, "slice [{}, {}) reversed", lo.value, end.value);
    RAFTKV_ASSERT(end <= last_index().next(), "slice to {} past last index {}", end.value,
                  last_index().value);
    std::vector<Entry> out;
    std::uint64_t bytes = 0;
    if (lo < unstable_offset_) {
        const Index stable_end = std::min(end, unstable_offset_);
        out = storage_->entries(lo, stable_end, bytes_max);
        for (const Entry& e : out) bytes += entry_payload_bytes(e);
        // Stopped at the limit: the unstable part cannot follow.
        if (Index(lo.value + out.size()) < stable_end) return out;
    }
    if (end > unstable_offset_) {
        const Index from = std::max(lo, unstable_offset_);
        const std::size_t begin = from.value - unstable_offset_.value;
        const std::size_t count = end.value - from.value;
        append_within_limit(std::span<const Entry>(unstable_entries_).subspan(begin, count),
                            bytes_max, &bytes, &out);
    }
    return out;
}

void RaftLog::stable_to(Index index, Term term) {
    // Only unstable entries can become stable; the snapshot has its own call.
    if (index < unstable_offset_ || index >= unstable_end()) return;
    // Stale report: the entry at index was replaced after the caller began
    // persisting it (a new leader truncated it). The replacement is still
    // unstable.
    if (*unstable_term(index) != term) return;
    const std::size_t count = index.value - unstable_offset_.value + 1;
    unstable_entries_.erase(unstable_entries_.begin(),
                            unstable_entries_.begin() + static_cast<std::ptrdiff_t>(count));
    unstable_offset_ = index.next();
    check_invariants();
}

void RaftLog::stable_snapshot_to(Index index) {
    if (unstable_snapshot_ && unstable_snapshot_->index == index) unstable_snapshot_.reset();
    check_invariants();
}

void RaftLog::restore(SnapshotMeta meta) {
    RAFTKV_ASSERT(meta.index > committed_, "restore snapshot {} within committed {}",
                  meta.index.value, committed_.value);
    unstable_snapshot_ = meta;
    unstable_entries_.clear();
    unstable_offset_ = meta.index.next();
    committed_ = meta.index;
    check_invariants();
}

bool RaftLog::is_up_to_date(Index last_index, Term last_term) const {
    const Term our_term = this->last_term();
    return last_term > our_term || (last_term == our_term && last_index >= this->last_index());
}

void RaftLog::truncate_and_append(std::span<const Entry> entries) {
    if (entries.empty()) return;
    const Index after = entries.front().index;
    RAFTKV_ASSERT(after <= last_index().next(), "append at {} leaves a gap after {}", after.value,
                  last_index().value);
    RAFTKV_ASSERT(after > committed_, "truncate at {} within committed {}", after.value,
                  committed_.value);
    if (after == unstable_end()) {
        // The common case: straight after the unstable entries.
    } else if (after <= unstable_offset_) {
        // Replaces all unstable entries and hides storage entries from
        // `after` on (until the caller persists the new ones over them).
        unstable_entries_.clear();
        unstable_offset_ = after;
    } else {
        // Keeps the unstable entries before `after`.
        unstable_entries_.resize(after.value - unstable_offset_.value);
    }
    const Term prev_term = term(after.prev()).value_or(Term(0));
    for (const Entry& e : entries) {
        RAFTKV_ASSERT(e.index == unstable_end(), "entry {} not at {}", e.index.value,
                      unstable_end().value);
        RAFTKV_ASSERT(
            e.term >= (unstable_entries_.empty() ? prev_term : unstable_entries_.back().term),
            "term decreases at index {}", e.index.value);
        unstable_entries_.push_back(e);
    }
    check_invariants();
}

void RaftLog::check_invariants() const {
    RAFTKV_ASSERT(applied_ <= committed_, "applied {} past committed {}", applied_.value,
                  committed_.value);
    RAFTKV_ASSERT(committed_ <= last_index(), "committed {} past last index {}", committed_.value,
                  last_index().value);
    if (unstable_snapshot_) {
        RAFTKV_ASSERT(unstable_offset_ == unstable_snapshot_->index.next(),
                      "unstable offset {} not after snapshot {}", unstable_offset_.value,
                      unstable_snapshot_->index.value);
    } else {
        RAFTKV_ASSERT(unstable_offset_ <= storage_->last_index().next(),
                      "unstable offset {} leaves a gap after stored {}", unstable_offset_.value,
                      storage_->last_index().value);
    }
    for (std::size_t i = 0; i < unstable_entries_.size(); ++i) {
        RAFTKV_DEBUG_ASSERT(unstable_entries_[i].index.value == unstable_offset_.value + i,
                            "unstable entry {} at position {}", unstable_entries_[i].index.value,
                            i);
        RAFTKV_DEBUG_ASSERT(i == 0 || unstable_entries_[i - 1].term <= unstable_entries_[i].term,
                            "term decreases at index {}", unstable_entries_[i].index.value);
    }
}

std::string RaftLog::to_string() const {
    std::string out = fmt::format("committed={} applied={} unstable=[{}, {}) last={}",
                                  committed_.value, applied_.value, unstable_offset_.value,
                                  unstable_end().value, last_index().value);
    if (unstable_snapshot_) {
        out += fmt::format(" snapshot={}@{}", unstable_snapshot_->index.value,
                           unstable_snapshot_->term.value);
    }
    return out;
}

}  // namespace raftkv::raft
