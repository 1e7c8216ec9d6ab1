// membership.cc — see membership.h.
#include "raft/membership.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdint>
#include <set>
#include <vector>

#include "base/coding.h"

namespace raftkv::raft {
namespace {

void put_ids(std::string* out, const std::set<NodeId>& ids) {
    put_u32(out, static_cast<std::uint32_t>(ids.size()));
    for (NodeId id : ids) put_u64(out, id.value);
}

// Reads a count and that many ascending non-zero ids; advances `bytes`.
std::optional<std::set<NodeId>> get_ids(std::string_view* bytes) {
    if (bytes->size() < 4) return std::nullopt;
    const std::uint32_t count = decode_u32(bytes->data());
    bytes->remove_prefix(4);
    if (bytes->size() / 8 < count) return std::nullopt;
    std::set<NodeId> ids;
    std::uint64_t last = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::uint64_t id = decode_u64(bytes->data());
        bytes->remove_prefix(8);
        if (id <= last) return std::nullopt;  // zero, repeated or out of order
        last = id;
        ids.insert(NodeId(id));
    }
    return ids;
}

}  // namespace

std::string encode_membership(const Membership& m) {
    std::string out;
    put_u8(&out, kMembershipFormatVersion);
    put_ids(&out, m.voters);
    put_ids(&out, m.learners);
    return out;
}

std::optional<Membership> decode_membership(std::string_view bytes) {
    if (bytes.empty() || static_cast<std::uint8_t>(bytes[0]) != kMembershipFormatVersion) {
        return std::nullopt;
    }
    bytes.remove_prefix(1);
    auto voters = get_ids(&bytes);
    if (!voters) return std::nullopt;
    auto learners = get_ids(&bytes);
    if (!learners || !bytes.empty()) return std::nullopt;
    for (NodeId id : *learners) {
        if (voters->contains(id)) return std::nullopt;
    }
    return Membership{.voters = std::move(*voters), .learners = std::move(*learners)};
}

std::string to_string(const Membership& m) {
    std::vector<std::uint64_t> v, l;
    for (NodeId id : m.voters) v.push_back(id.value);
    for (NodeId id : m.learners) l.push_back(id.value);
    return fmt::format("voters=[{}] learners=[{}]", fmt::join(v, " "), fmt::join(l, " "));
}

}  // namespace raftkv::raft
