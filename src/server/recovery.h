// recovery.h — rebuilds a server's state from its data directory at start:
// the newest snapshot, then the log entries after it (the tutorial's
// catch_up, made safe).
//
// Layout of the data directory: DATA_DIR/snapshots (storage/snapshot_file.h)
// and DATA_DIR/wal (storage/wal.h). A torn last log record is cut off by the
// Wal with a warning; anything else that does not add up — a damaged record
// or snapshot, a log that does not continue the snapshot, an entry the state
// machine cannot decode — is an error that names the file, and the server
// does not start. Does not lock the directory: the server does.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "base/status.h"
#include "kv/state_machine.h"
#include "raft/types.h"
#include "storage/wal.h"

namespace raftkv::server {

struct RecoveredState {
    kv::StateMachine state;
    std::unique_ptr<storage::Wal> wal;  // open, positioned to append applied + 1
    raft::Index snapshot_index;         // 0 when there is no snapshot
    raft::Index applied;                // every entry up to here is in `state`
    raft::Term term;                    // of the last entry or the snapshot
    std::uint64_t log_bytes_since_snapshot = 0;
    std::uint64_t entries_replayed = 0;
};

std::filesystem::path wal_dir(const std::filesystem::path& data_dir);
std::filesystem::path snapshot_dir(const std::filesystem::path& data_dir);

// Roughly the bytes one log entry takes on disk, for the snapshot trigger.
std::uint64_t entry_log_bytes(const raft::Entry& entry);

// Creates the directories if missing and recovers. Warnings (a torn tail cut,
// a leftover temporary file removed) are logged.
Result<RecoveredState> recover_state(const std::filesystem::path& data_dir,
                                     std::uint64_t wal_segment_bytes);

}  // namespace raftkv::server
