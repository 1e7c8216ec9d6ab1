// snapshot_file.h — snapshot files: the state machine image at a log index,
// saved atomically, loaded with its checksums verified, or opened and read
// in chunks (to stream it to a follower) without holding it in memory.
//
// A snapshot is (last included index, last included term, the membership in
// effect there, opaque payload from the state machine); this file neither
// knows nor parses the payload (kv/ does). Files are named
// snap-<index, 20 digits>.snap; the newest one wins. Writes version 2; reads
// versions 1 (no membership: it loads as empty) and 2.
// Layout: docs/snapshot_format.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "raft/types.h"
#include "storage/files.h"
#include "storage/snapshot_image.h"

namespace raftkv::storage {

inline constexpr std::string_view kSnapshotMagic = "RAFTKVSN";  // 8 bytes
inline constexpr std::uint32_t kSnapshotFormatVersion = 2;
// Version 2 header: magic 8, version 4, reserved 4, index 8, term 8,
// voter_count 4, learner_count 4, payload_bytes 8, payload_checksum 8,
// header_checksum 8; then 8 bytes per member id; then the payload.
inline constexpr std::size_t kSnapshotHeaderBytes = 64;
static_assert(kSnapshotHeaderBytes == kSnapshotMagic.size() + 4 + 4 + 8 + 8 + 4 + 4 + 8 + 8 + 8);
// Version 1 header: magic 8, version 4, reserved 4, index 8, term 8,
// payload_bytes 8, checksum 8; then the payload.
inline constexpr std::size_t kSnapshotV1HeaderBytes = 48;
static_assert(kSnapshotV1HeaderBytes == kSnapshotMagic.size() + 4 + 4 + 8 + 8 + 8 + 8);
// Voters plus learners a snapshot file may name; a file with more is corrupt.
inline constexpr std::uint32_t kSnapshotMembersMax = 1024;

struct LoadedSnapshot {
    SnapshotMeta meta;
    std::string payload;
    std::uint32_t version = kSnapshotFormatVersion;  // of the file it came from
};

// "snap-00000000000000000100.snap" for index 100.
std::string snapshot_file_name(raft::Index last_index);

// Encodes a whole snapshot file (version 2); decode_snapshot is its inverse
// and returns kCorruption (the message names `path`) for any byte string it
// did not make. decode_snapshot also reads version 1 files.
std::string encode_snapshot(const SnapshotMeta& meta, std::string_view payload);
Result<LoadedSnapshot> decode_snapshot(std::string_view bytes, const std::filesystem::path& path);
// The version 1 layout, which this build no longer writes: for compatibility
// tests and the fuzzer only. meta.membership must be empty.
std::string encode_snapshot_v1(const SnapshotMeta& meta, std::string_view payload);

// Writes snap-<index>.snap in `dir` atomically (creating `dir` if needed), then
// removes the snapshot files with a smaller index. meta.index must be >= 1.
// Durable on return.
Status save_snapshot(const std::filesystem::path& dir, const SnapshotMeta& meta,
                     std::string_view payload);

// Loads the snapshot with the highest index in `dir`; nullopt when there is
// none (or `dir` does not exist). If that file is damaged the result is
// kCorruption naming it: an older snapshot is not used instead, because the
// log before the newest one may already be compacted. Leftover temporary
// files from an interrupted save are deleted, each with a warning appended to
// `warnings` (may be null) and logged.
Result<std::optional<LoadedSnapshot>> load_newest_snapshot(const std::filesystem::path& dir,
                                                           std::vector<std::string>* warnings);

// One snapshot file, open for reading its payload in chunks with pread(2),
// so that a snapshot can be sent to a follower without loading it whole.
// open() validates the header and the membership (and the file's size), not
// the payload: verify_payload() streams it through its checksum.
//
// Keeps the file open: once it is removed (superseded by a newer snapshot)
// the reads still see it. Movable, not copyable. read_payload() and
// verify_payload() only pread(2) and may run on any one thread at a time;
// the object is handed between threads by moving it. As a SnapshotImage
// (snapshot_image.h) it is what RaftStorage serves chunks from.
class SnapshotFile final : public SnapshotImage {
public:
    // kNotFound when `path` does not exist; kCorruption (naming `path`) for a
    // header, membership or file size that fails validation.
    static Result<SnapshotFile> open(const std::filesystem::path& path);

    SnapshotFile(SnapshotFile&&) noexcept = default;
    SnapshotFile& operator=(SnapshotFile&&) noexcept = default;

    const SnapshotMeta& meta() const override { return meta_; }
    std::uint32_t version() const { return version_; }
    const std::filesystem::path& path() const { return path_; }
    std::uint64_t payload_bytes() const override { return payload_bytes_; }
    std::string name() const override { return path_.string(); }

    // Up to `bytes_max` payload bytes from `offset` (requires
    // offset <= payload_bytes()); fewer only at the end of the payload.
    // kIoError naming the file and offset if pread fails or the file shrank.
    Result<std::string> read_payload(std::uint64_t offset, std::uint64_t bytes_max) const override;
    // Reads the whole payload in chunks and checks its checksum: kCorruption
    // naming the file on a mismatch.
    Status verify_payload() const;

private:
    SnapshotFile() = default;

    std::filesystem::path path_;
    UniqueFd fd_;
    SnapshotMeta meta_;
    std::uint32_t version_ = 0;
    std::uint64_t payload_offset_ = 0;  // where the payload starts in the file
    std::uint64_t payload_bytes_ = 0;
    // Version 2: the payload checksum. Version 1: the whole-file checksum,
    // whose input starts with the first 40 header bytes (kept in v1_header_).
    std::uint64_t payload_checksum_ = 0;
    std::string v1_header_;
};

}  // namespace raftkv::storage
