// raft_storage.cc — RaftStorage (raft_storage.h).
#include "server/raft_storage.h"

#include <utility>

#include "base/assert.h"

namespace raftkv::server {

std::uint64_t RaftStorage::snapshot_bytes() const { return image_ ? image_->payload_bytes() : 0; }

std::string RaftStorage::snapshot_chunk(std::uint64_t offset, std::uint64_t bytes_max) const {
    if (!image_) {
        RAFTKV_ASSERT(offset == 0, "snapshot chunk at {} with no snapshot", offset);
        return {};
    }
    Result<std::string> chunk = image_->read_payload(offset, bytes_max);
    RAFTKV_ASSERT(chunk.has_value(), "cannot read the snapshot: {}", chunk.error().to_string());
    return std::move(*chunk);
}

void RaftStorage::append(std::span<const raft::Entry> entries) { log_.append(entries); }

void RaftStorage::check_image_matches(const raft::SnapshotMeta& meta,
                                      const storage::SnapshotImage* image) const {
    RAFTKV_ASSERT(image != nullptr, "snapshot at index {} without its image", meta.index.value);
    RAFTKV_ASSERT(image->meta().index == meta.index, "{} holds index {}, not {}", image->name(),
                  image->meta().index.value, meta.index.value);
    RAFTKV_ASSERT(image->meta().term == meta.term, "{} holds term {}, not {}", image->name(),
                  image->meta().term.value, meta.term.value);
    RAFTKV_ASSERT(image->meta().membership == meta.membership, "{} holds another membership",
                  image->name());
}

void RaftStorage::apply_snapshot(const raft::SnapshotMeta& meta,
                                 std::unique_ptr<storage::SnapshotImage> image) {
    check_image_matches(meta, image.get());
    log_.apply_snapshot(meta);
    image_ = std::move(image);
}

void RaftStorage::compact(const raft::SnapshotMeta& meta,
                          std::unique_ptr<storage::SnapshotImage> image) {
    check_image_matches(meta, image.get());
    log_.compact(meta);
    image_ = std::move(image);
}

void RaftStorage::adopt_membership(const raft::Membership& membership) {
    raft::SnapshotMeta meta = log_.snapshot_meta();
    RAFTKV_ASSERT(meta.index > raft::Index(0), "no snapshot to give a membership");
    RAFTKV_ASSERT(meta.membership == raft::Membership{}, "the snapshot at {} has a membership",
                  meta.index.value);
    meta.membership = membership;
    // compact() at the snapshot's own index replaces only the meta.
    log_.compact(meta);
}

}  // namespace raftkv::server
