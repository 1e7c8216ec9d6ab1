// snapshot_image.h — a durable snapshot image as the log storage serves it:
// its meta and its payload, read in chunks at an offset (to stream it to a
// follower in InstallSnapshot chunks).
//
// The server's images are snapshot files (snapshot_file.h, SnapshotFile);
// the simulation keeps them in memory (MemorySnapshotImage), so that the
// replica and its RaftStorage need no real file there. Neither writes
// anything: whoever made the image durable hands it over afterwards.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "base/assert.h"
#include "base/status.h"
#include "raft/types.h"

namespace raftkv::storage {

// A snapshot's metadata is raft::SnapshotMeta (raft/types.h).
using raft::SnapshotMeta;

// One durable image. Read-only; implementations say their threading rule.
class SnapshotImage {
public:
    virtual ~SnapshotImage() = default;

    virtual const SnapshotMeta& meta() const = 0;
    virtual std::uint64_t payload_bytes() const = 0;
    // Up to `bytes_max` payload bytes from `offset` (requires
    // offset <= payload_bytes()); fewer only at the end of the payload.
    // An error names the image (name()) and the offset.
    virtual Result<std::string> read_payload(std::uint64_t offset,
                                             std::uint64_t bytes_max) const = 0;
    // Names the image in messages: a file's path, or "memory snapshot at N".
    virtual std::string name() const = 0;
};

// An image held in memory, for the simulation and tests: it is as durable
// as the simulated disk that kept it says. Not thread-safe.
class MemorySnapshotImage final : public SnapshotImage {
public:
    MemorySnapshotImage(SnapshotMeta meta, std::string payload)
        : meta_(std::move(meta)), payload_(std::move(payload)) {}

    const SnapshotMeta& meta() const override { return meta_; }
    std::uint64_t payload_bytes() const override { return payload_.size(); }
    Result<std::string> read_payload(std::uint64_t offset, std::uint64_t bytes_max) const override {
        RAFTKV_ASSERT(offset <= payload_.size(), "payload read at {} past its {} bytes", offset,
                      payload_.size());
        return payload_.substr(offset,
                               std::min<std::uint64_t>(bytes_max, payload_.size() - offset));
    }
    std::string name() const override;

private:
    SnapshotMeta meta_;
    std::string payload_;
};

}  // namespace raftkv::storage
