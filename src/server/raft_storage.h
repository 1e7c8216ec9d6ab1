// raft_storage.h — the raft core's LogStorage in the replicated server: the
// persisted entries after the snapshot, held in memory, and the snapshot's
// image, read from its file on disk (or, in the simulation, from memory)
// when a follower needs it.
//
// Holds only what is durable: the server calls append(), apply_snapshot()
// and compact() on the loop thread once RaftDisk reports the write synced
// (raft/ready.h, the Ready contract). Does no writing itself: RaftDisk owns
// the files. It knows the image only as a storage::SnapshotImage
// (storage/snapshot_image.h): the server's is its file, never held in
// memory (snapshot_chunk() preads it, and it stays open and readable even
// after a newer snapshot removed it).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "raft/log_storage.h"
#include "raft/types.h"
#include "storage/hard_state_file.h"
#include "storage/snapshot_image.h"

namespace raftkv::server {

// Not thread-safe; owned by the server loop and borrowed (read-only) by the
// raft::Node. Semantics of append/compact/apply_snapshot are those of
// raft::MemoryLogStorage, which it wraps for the entries.
class RaftStorage final : public raft::LogStorage {
public:
    // An empty log with no snapshot.
    RaftStorage() = default;

    raft::Index first_index() const override { return log_.first_index(); }
    raft::Index last_index() const override { return log_.last_index(); }
    std::optional<raft::Term> term(raft::Index index) const override { return log_.term(index); }
    std::vector<raft::Entry> entries(raft::Index lo, raft::Index end,
                                     std::uint64_t bytes_max) const override {
        return log_.entries(lo, end, bytes_max);
    }
    raft::SnapshotMeta snapshot_meta() const override { return log_.snapshot_meta(); }
    // 0 when there is no snapshot.
    std::uint64_t snapshot_bytes() const override;
    // Reads the image; a read error is unsafe to go on (log_storage.h): it
    // aborts with the file, offset and errno text.
    std::string snapshot_chunk(std::uint64_t offset, std::uint64_t bytes_max) const override;

    // Entries RaftDisk synced. Consecutive, starting at or below
    // last_index() + 1; held entries from the first new index on are
    // replaced (a conflict); entries at or below the snapshot are dropped.
    void append(std::span<const raft::Entry> entries);

    // A snapshot received from the leader, now durable as `image`: the whole
    // log is replaced, restarting after meta.index. Requires meta.index >
    // snapshot_meta().index and image->meta() to say the same as `meta`.
    void apply_snapshot(const raft::SnapshotMeta& meta,
                        std::unique_ptr<storage::SnapshotImage> image);

    // A snapshot this server took, now durable as `image`: drops the entries
    // through meta.index. Requires snapshot_meta().index <= meta.index <=
    // last_index(), meta.term the term there, and image->meta() to say the
    // same as `meta`.
    void compact(const raft::SnapshotMeta& meta, std::unique_ptr<storage::SnapshotImage> image);

    // A snapshot file of version 1 (written by the single-node server) has no
    // membership: the server supplies its founding configuration, once, at
    // start-up. Requires a snapshot whose membership is empty.
    void adopt_membership(const raft::Membership& membership);

    // The snapshot's image (the server's: its open file); null when there is
    // no snapshot.
    const storage::SnapshotImage* snapshot_image() const { return image_.get(); }

private:
    void check_image_matches(const raft::SnapshotMeta& meta,
                             const storage::SnapshotImage* image) const;

    raft::MemoryLogStorage log_;  // its snapshot image stays empty: image_ has it
    // Invariant: image_ is set iff log_.snapshot_meta().index > 0, and its
    // index and term are the snapshot's.
    std::unique_ptr<storage::SnapshotImage> image_;
};

}  // namespace raftkv::server
