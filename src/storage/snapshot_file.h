// snapshot_file.h — snapshot files: the state machine image at a log index,
// saved atomically, loaded with its checksum verified.
//
// A snapshot is (last included index, last included term, opaque payload from
// the state machine); this file neither knows nor parses the payload (kv/
// does). Files are named snap-<index, 20 digits>.snap; the newest one wins.
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

namespace raftkv::storage {

inline constexpr std::string_view kSnapshotMagic = "RAFTKVSN";  // 8 bytes
inline constexpr std::uint32_t kSnapshotFormatVersion = 1;
// magic 8, version 4, reserved 4, index 8, term 8, payload_bytes 8, checksum 8.
inline constexpr std::size_t kSnapshotHeaderBytes = 48;
static_assert(kSnapshotHeaderBytes == kSnapshotMagic.size() + 4 + 4 + 8 + 8 + 8 + 8);

struct SnapshotMeta {
    raft::Index last_index;  // the last log index the snapshot covers (inclusive)
    raft::Term last_term;    // the term of that entry
    bool operator==(const SnapshotMeta&) const = default;
};

struct LoadedSnapshot {
    SnapshotMeta meta;
    std::string payload;
};

// "snap-00000000000000000100.snap" for index 100.
std::string snapshot_file_name(raft::Index last_index);

// Encodes a whole snapshot file; decode_snapshot is its inverse and returns
// kCorruption (the message names `path`) for any byte string it did not make.
std::string encode_snapshot(const SnapshotMeta& meta, std::string_view payload);
Result<LoadedSnapshot> decode_snapshot(std::string_view bytes, const std::filesystem::path& path);

// Writes snap-<index>.snap in `dir` atomically (creating `dir` if needed), then
// removes the snapshot files with a smaller index. meta.last_index must be >= 1.
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

}  // namespace raftkv::storage
