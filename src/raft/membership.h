// membership.h — the payload of a kConfig entry: a whole Membership.
//
// Format (docs/raft_formats.md, "Configuration entry"): version u8 = 1,
// voter count u32, voter ids u64 each (ascending), learner count u32, learner
// ids u64 each (ascending); little-endian. The decoder rejects anything else.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "raft/types.h"

namespace raftkv::raft {

inline constexpr std::uint8_t kMembershipFormatVersion = 1;

std::string encode_membership(const Membership& m);
// nullopt on a wrong version, a wrong length, ids out of order or repeated,
// a node both voter and learner, or id 0.
std::optional<Membership> decode_membership(std::string_view bytes);

// "voters=[1 2 3] learners=[4]"
std::string to_string(const Membership& m);

}  // namespace raftkv::raft
