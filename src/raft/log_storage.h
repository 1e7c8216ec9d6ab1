// log_storage.h — the raft core's read-only view of the entries the caller
// has persisted, and MemoryLogStorage, an in-memory one.
//
// The core never touches a disk (DESIGN.md, "The raft core"): it hands the
// caller entries to persist through a Ready, the caller writes and syncs them,
// appends them to its LogStorage, and reports back with RaftLog::stable_to.
// The core then reads them back through this interface. Does not hold entries
// not yet persisted: RaftLog keeps those. Modeled on etcd-io/raft storage.go.
//
// Reads cannot fail: an implementation backed by files keeps what the core
// may ask for readable, and treats a read error as unsafe to go on (STYLE.md
// section 4), as etcd's raft does with anything but "compacted".
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "raft/types.h"

namespace raftkv::raft {

// What byte limits on batches of entries count: the payload, as the wire
// and WAL overheads per entry are fixed.
inline std::uint64_t entry_payload_bytes(const Entry& e) { return e.data.size(); }

// Appends entries from `from` to `out` while they fit in `bytes_max` together
// with what `*bytes` already counts; the first entry of the batch (when `out`
// is empty) goes in regardless, so that a batch always makes progress.
// Returns false when it stopped at the limit. Shared by the storages and
// RaftLog so that every batch obeys the same rule.
bool append_within_limit(std::span<const Entry> from, std::uint64_t bytes_max, std::uint64_t* bytes,
                         std::vector<Entry>* out);

// Not thread-safe; owned by the server loop (or the simulation) and borrowed
// by the core's RaftLog, which only reads it.
class LogStorage {
public:
    virtual ~LogStorage() = default;

    // The index of the first entry still held: snapshot_meta().index + 1.
    virtual Index first_index() const = 0;
    // The index of the last entry held (inclusive); snapshot_meta().index
    // when none is.
    virtual Index last_index() const = 0;
    // The term of the entry at `index` for index in
    // [first_index() - 1, last_index()] (the lower bound answers from the
    // snapshot); nullopt outside that range (compacted or not yet held).
    virtual std::optional<Term> term(Index index) const = 0;
    // The entries in [lo, end), stopping early once their payloads would
    // pass `bytes_max` but always returning at least one when lo < end.
    // Requires first_index() <= lo <= end <= last_index() + 1.
    virtual std::vector<Entry> entries(Index lo, Index end, std::uint64_t bytes_max) const = 0;
    // The snapshot the log starts after.
    virtual SnapshotMeta snapshot_meta() const = 0;
    // The state machine image of that snapshot: its size, and up to
    // `bytes_max` of it from `offset` (<= snapshot_bytes()), for sending it
    // to a follower in chunks (§7). A file-backed storage reads the file.
    virtual std::uint64_t snapshot_bytes() const = 0;
    virtual std::string snapshot_chunk(std::uint64_t offset, std::uint64_t bytes_max) const = 0;
};

// A LogStorage in memory, for unit tests and the simulation (which keeps
// what a simulated disk has synced in one of these).
class MemoryLogStorage final : public LogStorage {
public:
    MemoryLogStorage() = default;

    Index first_index() const override { return snapshot_.index.next(); }
    Index last_index() const override;
    std::optional<Term> term(Index index) const override;
    std::vector<Entry> entries(Index lo, Index end, std::uint64_t bytes_max) const override;
    SnapshotMeta snapshot_meta() const override { return snapshot_; }
    std::uint64_t snapshot_bytes() const override { return snapshot_data_.size(); }
    std::string snapshot_chunk(std::uint64_t offset, std::uint64_t bytes_max) const override;

    // Stores persisted entries. They must have consecutive indexes starting
    // at or below last_index() + 1; any held entries from the first new index
    // on are replaced (the log was truncated at a conflict). Entries at or
    // below snapshot_meta().index are dropped: they are in the snapshot.
    void append(std::span<const Entry> entries);

    // Drops the entries through `meta.index` (inclusive), which a snapshot
    // the caller has taken covers, and keeps `data` as its image. Requires
    // first_index() - 1 <= meta.index <= last_index() and meta.term the term
    // there; meta.index == first_index() - 1 only replaces the image.
    void compact(const SnapshotMeta& meta, std::string data = {});

    // Replaces the whole log with an installed snapshot: no entries, and the
    // log restarts after meta.index. Requires meta.index > snapshot_meta().index.
    void apply_snapshot(SnapshotMeta meta, std::string data = {});

private:
    SnapshotMeta snapshot_;
    std::string snapshot_data_;
    // Invariant: entries_[i].index == snapshot_.index + 1 + i.
    // Invariant: terms never decrease along entries_, nor below snapshot_.term.
    std::vector<Entry> entries_;
};

}  // namespace raftkv::raft
