// quorum.h — majority arithmetic over one configuration of voters.
//
// Answers the two questions a leader and a candidate ask of a set of voters:
// which index has a majority stored (the commit rule's first half, §5.3), and
// whether a set of votes has been won, lost or is still open (§5.2). Does not
// know terms: that the entry at the returned index is of the current term
// (§5.4.2, Figure 8) is the caller's check. Does not handle joint consensus;
// raftkv changes membership one server at a time (dissertation §4.1), so one
// majority configuration is all there is. Modeled on etcd-io/raft
// quorum/majority.go.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "raft/types.h"

namespace raftkv::raft {

enum class VoteResult : std::uint8_t {
    kPending = 1,  // neither a majority of yes nor of no votes yet
    kLost = 2,     // a majority voted no: the election cannot be won
    kWon = 3,      // a majority voted yes
};

std::string_view vote_result_name(VoteResult result);

// A set of voters, any majority of which decides. Learners are not in it.
// A value type; not thread-safe.
class MajorityConfig {
public:
    MajorityConfig() = default;
    explicit MajorityConfig(std::set<NodeId> voters);

    const std::set<NodeId>& voters() const { return voters_; }
    std::size_t size() const { return voters_.size(); }
    bool contains(NodeId id) const { return voters_.contains(id); }
    void add(NodeId id);
    void remove(NodeId id) { voters_.erase(id); }

    // The count of voters that makes a majority: size() / 2 + 1.
    std::size_t quorum_size() const { return voters_.size() / 2 + 1; }

    // The largest index that a majority of voters have in their logs: the
    // quorum_size()-th largest of their match indexes. A voter missing from
    // `match` counts as index 0; entries for non-voters are ignored. An empty
    // configuration returns the largest possible index, so that joining it
    // with another configuration (as a joint one would) leaves that one in
    // charge; raftkv never commits through an empty configuration.
    Index committed_index(const std::map<NodeId, Index>& match) const;

    // The outcome of an election given the votes received so far (true =
    // granted). A voter missing from `votes` has not answered; entries for
    // non-voters are ignored. An empty configuration has won, by the same
    // convention as committed_index.
    VoteResult vote_result(const std::map<NodeId, bool>& votes) const;

    // "(1 2 3)"
    std::string to_string() const;

private:
    // Invariant: never contains NodeId(0), which means "no node".
    std::set<NodeId> voters_;
};

}  // namespace raftkv::raft
