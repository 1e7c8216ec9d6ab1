// hard_state_file.h — Raft's hard state on disk: current term, vote, commit
// index, replaced atomically as one small checksummed file.
//
// Raft persists term and vote before it grants a vote or answers a leader
// (§5.2, Figure 2); this file only stores and validates them, it does not
// decide when. Layout: docs/snapshot_format.md (section "hard state").
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

struct HardState {
    raft::Term term;
    raft::NodeId voted_for;  // 0 = no vote in `term`
    raft::Index commit;
    bool operator==(const HardState&) const = default;
};

std::string encode_hard_state(const HardState& state);
// kCorruption (naming `path`) for bytes encode_hard_state did not make.
Result<HardState> decode_hard_state(std::string_view bytes, const std::filesystem::path& path);

// Replaces `dir`/hard_state atomically (creating `dir` if needed); durable on return.
Status save_hard_state(const std::filesystem::path& dir, const HardState& state);

// Loads `dir`/hard_state; all zeros (term 0, no vote, commit 0) when the file
// does not exist; kCorruption when it fails validation.
Result<HardState> load_hard_state(const std::filesystem::path& dir);

}  // namespace raftkv::storage
