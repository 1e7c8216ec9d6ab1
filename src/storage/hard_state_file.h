// hard_state_file.h — Raft's hard state (term, vote, commit index) as one
// small checksummed file, replaced atomically.
//
// Since WAL format 2 the hard state lives in the WAL as records
// (docs/wal_format.md), so that one fsync covers a Ready's entries and its
// hard state. This file is what the WAL spills the hard state into before
// an operation that removes WAL records (a suffix cut, a whole-log
// compaction), and what a version 1 data directory holds; the WAL reads it
// at open (storage/wal.h). It only stores and validates; it does not decide
// when. Layout: docs/snapshot_format.md (section "hard state").
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "base/status.h"
#include "raft/types.h"

namespace raftkv::storage {

inline constexpr std::string_view kHardStateFileName = "hard_state";
inline constexpr std::string_view kHardStateMagic = "RAFTKVHS";  // 8 bytes
inline constexpr std::uint32_t kHardStateFormatVersion = 1;
// magic 8, version 4, reserved 4, term 8, voted_for 8, commit 8, checksum 8.
inline constexpr std::size_t kHardStateBytes = 48;
static_assert(kHardStateBytes == kHardStateMagic.size() + 4 + 4 + 8 + 8 + 8 + 8);

// True when `a` is later than `b` in a server's history of hard states. A
// server's term never decreases; within a term its vote goes from none to
// one candidate, once; its commit index never decreases. So the order
// (term, has a vote, commit) is the order in which they were written, and
// the newest of several copies found in different places is their maximum.
bool is_newer_hard_state(const raft::HardState& a, const raft::HardState& b);
// "term=5 vote=2 commit=17".
std::string to_string(const raft::HardState& hs);

std::string encode_hard_state(const raft::HardState& state);
// kCorruption (naming `path`) for bytes encode_hard_state did not make.
Result<raft::HardState> decode_hard_state(std::string_view bytes,
                                          const std::filesystem::path& path);

// Replaces `dir`/hard_state atomically (creating `dir` if needed); durable on return.
Status save_hard_state(const std::filesystem::path& dir, const raft::HardState& state);

// Loads `dir`/hard_state; all zeros (term 0, no vote, commit 0) when the file
// does not exist; kCorruption when it fails validation.
Result<raft::HardState> load_hard_state(const std::filesystem::path& dir);

}  // namespace raftkv::storage
