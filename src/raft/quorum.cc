// quorum.cc — majority arithmetic over one configuration of voters.
//
// See quorum.h. Configurations hold a handful of voters (the simulation runs
// 1 to 7), so each call copies the acks into a small vector; no caching.
#include "raft/quorum.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "base/assert.h"

namespace raftkv::raft {

MajorityConfig::MajorityConfig(std::set<NodeId> voters) : voters_(std::move(voters)) {
    RAFTKV_ASSERT(!voters_.contains(NodeId(0)), "node id 0 means 'no node', not a voter");
}

void MajorityConfig::add(NodeId id) {
    RAFTKV_ASSERT(id != NodeId(0), "node id 0 means 'no node', not a voter");
    voters_.insert(id);
}

std::string_view vote_result_name(VoteResult result) {
    switch (result) {
        case VoteResult::kPending:
            return "pending";
        case VoteResult::kLost:
            return "lost";
        case VoteResult::kWon:
            return "won";
    }
    return "unknown";
}

Index MajorityConfig::committed_index(const std::map<NodeId, Index>& match) const {
    if (voters_.empty()) return Index(std::numeric_limits<std::uint64_t>::max());
    std::vector<Index> acked;
    acked.reserve(voters_.size());
    for (NodeId id : voters_) {
        auto it = match.find(id);
        acked.push_back(it == match.end() ? Index(0) : it->second);
    }
    // Descending order: the first quorum_size() voters all have at least
    // acked[quorum_size() - 1], and no larger index is on a majority.
    const std::size_t q = quorum_size();
    std::nth_element(acked.begin(), acked.begin() + static_cast<std::ptrdiff_t>(q - 1), acked.end(),
                     std::greater<Index>());
    return acked[q - 1];
}

VoteResult MajorityConfig::vote_result(const std::map<NodeId, bool>& votes) const {
    if (voters_.empty()) return VoteResult::kWon;
    std::size_t yes = 0;
    std::size_t no = 0;
    for (NodeId id : voters_) {
        auto it = votes.find(id);
        if (it == votes.end()) continue;
        ++(it->second ? yes : no);
    }
    const std::size_t q = quorum_size();
    RAFTKV_ASSERT(!(yes >= q && no >= q), "won and lost at once: yes={} no={} of {}", yes, no,
                  voters_.size());
    if (yes >= q) return VoteResult::kWon;
    // Lost once the unanswered voters can no longer make up a majority.
    const std::size_t missing = voters_.size() - yes - no;
    if (yes + missing < q) return VoteResult::kLost;
    return VoteResult::kPending;
}

std::string MajorityConfig::to_string() const {
    std::string out = "(";
    for (NodeId id : voters_) {
        if (out.size() > 1) out += ' ';
        out += fmt::format("{}", id.value);
    }
    out += ')';
    return out;
}

}  // namespace raftkv::raft
