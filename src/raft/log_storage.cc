// log_storage.cc — MemoryLogStorage and the shared batch byte rule.
//
// See log_storage.h.
#include "raft/log_storage.h"

#include <cstddef>
#include <utility>

#include "base/assert.h"

namespace raftkv::raft {

bool append_within_limit(std::span<const Entry> from, std::uint64_t bytes_max, std::uint64_t* bytes,
                         std::vector<Entry>* out) {
    for (const Entry& e : from) {
        const std::uint64_t size = entry_payload_bytes(e);
        if (!out->empty() && *bytes + size > bytes_max) return false;
        *bytes += size;
        out->push_back(e);
    }
    return true;
}

Index MemoryLogStorage::last_index() const {
    return Index(snapshot_.index.value + entries_.size());
}

std::optional<Term> MemoryLogStorage::term(Index index) const {
    if (index == snapshot_.index) return snapshot_.term;
    if (index < first_index() || index > last_index()) return std::nullopt;
    return entries_[index.value - first_index().value].term;
}

std::vector<Entry> MemoryLogStorage::entries(Index lo, Index end, std::uint64_t bytes_max) const {
    RAFTKV_ASSERT(first_index() <= lo, "entries from {} below first index {}", lo.value,
                  first_index().value);
    RAFTKV_ASSERT(lo <= end, "entries range [{}, {}) reversed", lo.value, end.value);
    RAFTKV_ASSERT(end <= last_index().next(), "entries to {} past last index {}", end.value,
                  last_index().value);
    const std::size_t begin = lo.value - first_index().value;
    const std::size_t count = end.value - lo.value;
    std::vector<Entry> out;
    std::uint64_t bytes = 0;
    append_within_limit(std::span<const Entry>(entries_).subspan(begin, count), bytes_max, &bytes,
                        &out);
    return out;
}

void MemoryLogStorage::append(std::span<const Entry> entries) {
    // Skip what the snapshot already covers.
    while (!entries.empty() && entries.front().index <= snapshot_.index) {
        entries = entries.subspan(1);
    }
    if (entries.empty()) return;
    const Index first_new = entries.front().index;
    RAFTKV_ASSERT(first_new <= last_index().next(), "append at {} leaves a gap after {}",
                  first_new.value, last_index().value);
    entries_.resize(first_new.value - first_index().value);
    for (const Entry& e : entries) {
        RAFTKV_ASSERT(e.index == last_index().next(), "entry {} not at {}", e.index.value,
                      last_index().next().value);
        RAFTKV_ASSERT(e.term >= *term(last_index()), "term {} after {} at index {}", e.term.value,
                      term(last_index())->value, e.index.value);
        entries_.push_back(e);
    }
}

std::string MemoryLogStorage::snapshot_chunk(std::uint64_t offset, std::uint64_t bytes_max) const {
    RAFTKV_ASSERT(offset <= snapshot_data_.size(), "snapshot chunk at {} past its {} bytes", offset,
                  snapshot_data_.size());
    return snapshot_data_.substr(offset, bytes_max);
}

void MemoryLogStorage::compact(const SnapshotMeta& meta, std::string data) {
    const Index to = meta.index;
    RAFTKV_ASSERT(to >= snapshot_.index, "compact to {} below snapshot {}", to.value,
                  snapshot_.index.value);
    RAFTKV_ASSERT(to <= last_index(), "compact to {} past last index {}", to.value,
                  last_index().value);
    RAFTKV_ASSERT(*term(to) == meta.term, "compact to {} with term {}, log has {}", to.value,
                  meta.term.value, term(to)->value);
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(
                                                            to.value - snapshot_.index.value));
    snapshot_ = meta;
    snapshot_data_ = std::move(data);
}

void MemoryLogStorage::apply_snapshot(SnapshotMeta meta, std::string data) {
    RAFTKV_ASSERT(meta.index > snapshot_.index, "snapshot {} not newer than {}", meta.index.value,
                  snapshot_.index.value);
    entries_.clear();
    snapshot_ = std::move(meta);
    snapshot_data_ = std::move(data);
}

}  // namespace raftkv::raft
