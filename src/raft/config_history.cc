// config_history.cc — the configurations a node's log holds; see
// config_history.h.
//
// Every mutator ends by checking the invariant stated next to entries_: the
// first entry and each new one always, the whole walk in debug builds.
#include "raft/config_history.h"

#include <algorithm>
#include <optional>

#include "base/assert.h"
#include "raft/membership.h"

namespace raftkv::raft {

ConfigHistory::ConfigHistory(Index base_index, Membership base)
    : base_(std::move(base)), base_index_(base_index) {}

const Membership& ConfigHistory::latest() const {
    return entries_.empty() ? base_ : entries_.back().second;
}

Membership ConfigHistory::at(Index index) const {
    Membership m = base_;
    for (const auto& [at, c] : entries_) {
        if (at > index) break;
        m = c;
    }
    return m;
}

void ConfigHistory::note_entries(std::span<const Entry> entries) {
    for (const Entry& e : entries) {
        if (e.type != EntryType::kConfig) continue;
        std::optional<Membership> m = decode_membership(e.data);
        RAFTKV_ASSERT(m.has_value(), "undecodable configuration entry at index {}", e.index.value);
        RAFTKV_ASSERT(entries_.empty() || entries_.back().first < e.index,
                      "configuration entries out of order at {}", e.index.value);
        RAFTKV_ASSERT(e.index > base_index_, "configuration entry {} at or before the base {}",
                      e.index.value, base_index_.value);
        entries_.emplace_back(e.index, std::move(*m));
    }
    check_invariants();
}

void ConfigHistory::truncate_from(Index first) {
    RAFTKV_ASSERT(first > base_index_, "truncating at {}, at or before the base {}", first.value,
                  base_index_.value);
    std::erase_if(entries_, [&](const auto& c) { return c.first >= first; });
    check_invariants();
}

void ConfigHistory::compact_to(Index snapshot_index) {
    std::erase_if(entries_, [&](const auto& c) {
        if (c.first > snapshot_index) return false;
        base_ = c.second;
        base_index_ = c.first;
        return true;
    });
    if (snapshot_index > base_index_) base_index_ = snapshot_index;
    check_invariants();
}

void ConfigHistory::restore(Index index, Membership base) {
    base_index_ = index;
    base_ = std::move(base);
    entries_.clear();
    check_invariants();
}

void ConfigHistory::check_invariants() const {
    RAFTKV_ASSERT(entries_.empty() || entries_.front().first > base_index_,
                  "configuration entry {} at or before the base {}", entries_.front().first.value,
                  base_index_.value);
    Index prev = base_index_;
    for (const auto& [at, c] : entries_) {
        RAFTKV_DEBUG_ASSERT(at > prev, "configuration entry {} not after {} (base {})", at.value,
                            prev.value, base_index_.value);
        prev = at;
    }
}

}  // namespace raftkv::raft
