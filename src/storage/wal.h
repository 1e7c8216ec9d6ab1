// wal.h — the durable Raft log: a directory of segment files, appended to,
// synced in groups, cut at the end for conflicts and at the start after a
// snapshot.
//
// Knows entries (raft/types.h) but no Raft rules: the caller decides what to
// append, when to sync, and which prefix a snapshot covers. Recovery rules
// (torn tail vs. corruption) are in wal_reader.h; the on-disk layout is
// docs/wal_format.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "raft/types.h"
#include "storage/files.h"

namespace raftkv::storage {

// A bit above 512 MiB, the largest value a client may store, plus room for
// the command framing around it.
inline constexpr std::uint32_t kWalPayloadBytesMax = (512u << 20) + (1u << 20);

struct WalOptions {
    std::filesystem::path dir;
    // A segment is closed and a new one started once it reaches this size.
    std::uint64_t segment_bytes_max = 64u << 20;
    // Larger payloads are refused by append() and reported as corruption by open().
    std::uint32_t payload_bytes_max = kWalPayloadBytesMax;
    // The directory of the hard state file (storage/hard_state_file.h) the
    // WAL reads at open and spills the hard state into before it removes
    // records. Empty: none (then save_hard_state() may not be used).
    std::filesystem::path hard_state_dir;
};

struct WalRecovery {
    std::vector<raft::Entry> entries;  // in index order, contiguous
    // The newest hard state of the hard state file and every hard state
    // record (is_newer_hard_state); zero when there is none.
    raft::HardState hard_state;
    std::vector<std::string> warnings;  // one per torn tail cut or leftover removed
};

// The log on disk. Owns the files in options.dir; nothing else may write there.
// Not thread-safe; owned by one thread (the server's log syncer thread).
//
// Durability: append() only write(2)s; sync() makes everything appended so
// far durable. A segment is fdatasync'd before the next one is created, so
// only the last segment can ever hold unsynced bytes, and a bad record in any
// other segment is corruption rather than a crash artifact.
//
// Hard state (format 2): save_hard_state() appends a record, made durable by
// the same sync() as the entries around it, so a Ready costs one fsync. The
// newest hard state is whichever of the records and the hard state file is
// newest (is_newer_hard_state), wherever it lies. Before truncate_suffix()
// or compact_prefix() remove records, the newest hard state is written to
// the file (atomically), so removing records never loses it.
//
// Failure: an error other than kDiskFull from append() or save_hard_state(),
// or any error from sync(), truncate_suffix() or compact_prefix(), makes the
// WAL failed: every later call returns that same error (STYLE.md section 4;
// never retry fsync).
class Wal {
public:
    // Opens or creates the WAL in options.dir (creating the directory).
    // Validates every record of every segment and returns the entries in
    // recovery->entries, in index order and contiguous across segments. The
    // first segment may start at any index (earlier ones were compacted).
    // A torn tail of the last segment is cut off (the file truncated and
    // synced) with a warning in recovery->warnings, also logged. Any other bad
    // record fails with kCorruption naming the file, offset and record number.
    static Result<std::unique_ptr<Wal>> open(const WalOptions& options, WalRecovery* recovery);

    ~Wal();
    Wal(const Wal&) = delete;
    Wal& operator=(const Wal&) = delete;

    // Index of the oldest entry kept; last_index() + 1 when empty.
    raft::Index first_index() const;
    // Index of the newest entry (inclusive); first_index() - 1 when empty,
    // 0 when nothing was ever written or compacted.
    raft::Index last_index() const;
    // Sum of the sizes of the segment files.
    std::uint64_t bytes_on_disk() const { return bytes_on_disk_; }
    // The error that made the WAL failed, or ok.
    const Status& failure() const { return failure_; }

    // Appends `entries`, whose indexes must continue last_index() (asserted)
    // and whose terms must not decrease (asserted). Writes with pwrite(2);
    // nothing is durable until sync(). Starts a new segment when the current
    // one has reached segment_bytes_max. kInvalid (not sticky) for a payload
    // over payload_bytes_max. On kDiskFull the batch is undone (files cut
    // back to their old sizes, new segments removed) and the WAL stays usable.
    //
    // With `hard_state`, a hard state record follows the entries in the same
    // batch (see save_hard_state); on kDiskFull both are undone.
    Status append(std::span<const raft::Entry> entries,
                  const std::optional<raft::HardState>& hard_state = std::nullopt);

    // Appends a hard state record (not durable until sync()): append({}, hs).
    // `hs` must not be older than hard_state() nor its term below the last
    // entry's (asserted); the same one again writes nothing. Starts a
    // segment when there is none or the last one is of format 1. On
    // kDiskFull nothing is written and the WAL stays usable.
    Status save_hard_state(const raft::HardState& hs);
    // The newest hard state written or recovered.
    const raft::HardState& hard_state() const { return hard_state_; }
    // True when something written is not yet durable (sync() has work).
    bool needs_sync() const { return segment_needs_sync_ || dir_needs_sync_; }

    // fdatasync of the open segment if it was written since the last sync,
    // and of the directory if segments were created since. Sticky on error.
    Status sync();

    // Removes every entry with index >= first (Raft overwriting a conflicting
    // suffix) and syncs: everything kept is durable on return. kDiskFull
    // (not sticky, nothing changed) when the hard state could not be
    // spilled first; compact_prefix likewise. No-op beyond
    // last_index(). `first` must be >= first_index() (asserted): entries
    // before it were compacted into a snapshot, so they are committed.
    Status truncate_suffix(raft::Index first);

    // After a snapshot at `index` is durable: deletes whole segments whose
    // entries are all <= index. A segment that also holds entries above
    // `index` is kept whole, so first_index() may stay <= index (and a
    // restart returns those entries; the caller skips them). When index >=
    // last_index() every segment goes and the next append starts at index + 1.
    Status compact_prefix(raft::Index index);

    // Sets the index the next append starts at. Only valid when the WAL has
    // no entries (asserted): after open() found none and the caller restored
    // a snapshot at next - 1.
    void reset_next_index(raft::Index next);

private:
    struct Segment {
        raft::Index first_index;
        raft::Index end_index;  // one past the last entry; == first_index when empty
        std::uint64_t bytes = 0;
        std::filesystem::path path;
        std::uint32_t version = 0;  // of its header; only version 2 is appended to
    };
    // Where an append can roll back to on kDiskFull.
    struct UndoPoint {
        std::size_t segment_count = 0;
        std::uint64_t last_segment_bytes = 0;
        raft::Index next_index;
        raft::Term last_term;
        std::uint64_t bytes_on_disk = 0;
        raft::HardState hard_state;
    };

    explicit Wal(const WalOptions& options);
    Status recover(WalRecovery* recovery);
    Status open_last_segment_for_append();
    Status start_segment(raft::Index first_index);
    Status write_to_open_segment(std::string_view bytes);
    UndoPoint undo_point() const;
    // The error handling shared by append() and save_hard_state() for a
    // failed write `s`: kDiskFull undoes the batch, anything else fails the WAL.
    Status undo_or_fail(Status s, const UndoPoint& undo, std::string_view what);
    Status undo_append(const UndoPoint& undo);
    // True when the open segment may not take new records: there is none,
    // or it is of format 1.
    bool needs_new_segment() const;
    // Writes the newest hard state to the hard state file unless it holds
    // it already: called before records are removed.
    Status spill_hard_state();
    Status remove_segment_file(const Segment& segment);
    Status fail(Status status);

    WalOptions options_;
    // Every segment on disk, in index order; the last one is open for append
    // (fd_). Invariant: segments_[i + 1].first_index == segments_[i].end_index.
    // Invariant: only the last segment can hold unsynced bytes.
    std::vector<Segment> segments_;
    UniqueFd fd_;  // the last segment's, or closed when segments_ is empty
    // Invariant: next_index_ == segments_.back().end_index when segments_ is not empty.
    raft::Index next_index_{1};
    raft::Term last_term_;  // term of the newest entry; only grows except by truncate_suffix
    std::uint64_t bytes_on_disk_ = 0;
    // Only grows (is_newer_hard_state), except back to an undo point.
    raft::HardState hard_state_;
    raft::HardState spilled_;  // what the hard state file holds
    bool segment_needs_sync_ = false;
    bool dir_needs_sync_ = false;
    Status failure_;  // sticky: once set, every call returns it
};

}  // namespace raftkv::storage
