// recovery.h — the layout of a server's data directory, shared by the raft
// disk thread (raft_disk.h) and start-up (raft_recovery.h).
//
// DATA_DIR/wal holds the log segments (storage/wal.h), DATA_DIR/snapshots
// the snapshot files (storage/snapshot_file.h), DATA_DIR/hard_state the
// term, vote and commit index (storage/hard_state_file.h).
#pragma once

#include <cstdint>
#include <filesystem>

#include "raft/types.h"

namespace raftkv::server {

std::filesystem::path wal_dir(const std::filesystem::path& data_dir);
std::filesystem::path snapshot_dir(const std::filesystem::path& data_dir);

// Roughly the bytes one log entry takes on disk, for the snapshot trigger.
std::uint64_t entry_log_bytes(const raft::Entry& entry);

}  // namespace raftkv::server
