// raft_recovery.h — rebuilds a replicated server's durable state from its
// data directory at start: the newest snapshot (into the state machine and
// RaftStorage), the hard state, and every log entry after the snapshot
// (into RaftStorage, not applied: the raft node re-applies committed
// entries itself).
//
// Data directory (shared with the single-node server's, recovery.h):
//   DATA_DIR/snapshots/snap-<index>.snap   storage/snapshot_file.h (v1 or v2)
//   DATA_DIR/wal/<first index>.wal         storage/wal.h
//   DATA_DIR/hard_state                    storage/hard_state_file.h (the WAL's
//                                          spill; before WAL format 2, the only copy)
// A single-node directory (a version 1 snapshot, a WAL of commands, no hard
// state) recovers with an empty snapshot membership and a zero hard state;
// the server supplies its founding configuration (RaftStorage::
// adopt_membership). Torn tails and corruption follow the Wal's rules
// (docs/wal_format.md): a torn last record is cut with a warning, anything
// else stops the start with an error naming the file. Does not lock the
// directory: the server does. Written for RaftDisk (raft_disk.h), which
// takes over the Wal.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "kv/state_machine.h"
#include "raft/types.h"
#include "server/raft_storage.h"
#include "storage/wal.h"

namespace raftkv::server {

// Where the hard state file lives: the data directory itself.
std::filesystem::path hard_state_dir(const std::filesystem::path& data_dir);

struct RecoveredRaft {
    // The snapshot's image only: no log entry is applied.
    kv::StateMachine state;
    // Open, positioned to append storage->last_index() + 1. For RaftDisk.
    std::unique_ptr<storage::Wal> wal;
    // The newest of the WAL's hard state records and the hard state file;
    // zero when there is none. Its term is raised
    // to the last log entry's term if lower (a single-node directory has no
    // hard state file but terms in its log), clearing the vote.
    raft::HardState hard_state;
    // The snapshot (its file open) and every WAL entry after it. Heap-held
    // so that its address, which raft::Node borrows, never changes.
    std::unique_ptr<RaftStorage> storage;
    // The snapshot's index (0 when none): what `state` has applied.
    raft::Index applied;
    // The snapshot file's format version (0 when none). Version 1 carries no
    // membership: call storage->adopt_membership with the founding one.
    std::uint32_t snapshot_version = 0;
    // Torn tails cut, leftover files removed, a log suffix dropped (also
    // logged).
    std::vector<std::string> warnings;
};

// Creates the directories if missing and recovers. Errors: kCorruption
// naming the file for damage other than a torn tail, for a log that does
// not continue the snapshot, and for a hard state whose commit index is past
// the end of the log; I/O errors as they come.
Result<RecoveredRaft> recover_raft(const std::filesystem::path& data_dir,
                                   std::uint64_t wal_segment_bytes);

}  // namespace raftkv::server
