// tracker.h — the leader's (and a candidate's) view of the whole
// configuration: who votes, who only learns, how far each member's log is
// known to match, and the votes of the current election.
//
// Answers the questions node code asks of all members at once: which index a
// majority of voters hold (§5.3; that it is of the current term, §5.4.2 and
// Figure 8, is the caller's check), whether an election is won or lost
// (§5.2), and whether a majority was heard from recently (check-quorum,
// dissertation §6.2 and §9.6). Does not send messages, read the log, or decide
// when a configuration takes effect (dissertation §4.1: when it is appended;
// that is node code). Does not handle joint consensus: raftkv changes
// membership one server at a time. Modeled on etcd-io/raft tracker/tracker.go.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "raft/inflights.h"
#include "raft/progress.h"
#include "raft/quorum.h"
#include "raft/types.h"

namespace raftkv::raft {

// One membership configuration: the voters, any majority of which decides,
// and the learners, which receive the log but neither vote nor count towards
// commit (dissertation §4.2.1: a new server catches up as a non-voting
// member before it is promoted). A value type.
struct Configuration {
    MajorityConfig voters;
    // Invariant: disjoint from voters.voters(); never contains NodeId(0).
    // Checked by check_invariants(), which the tracker calls on every
    // configuration it is given.
    std::set<NodeId> learners;

    // Asserts the invariants stated next to the members.
    void check_invariants() const;

    bool is_member(NodeId id) const { return voters.contains(id) || learners.contains(id); }

    // "voters=(1 2 3) learners=(4)"
    std::string to_string() const;

    bool operator==(const Configuration& other) const {
        return voters.voters() == other.voters.voters() && learners == other.learners;
    }
};

// The number of servers whose right to vote differs between `from` and `to`:
// voters added, removed, promoted from learner or demoted to one. A change
// one server at a time (dissertation §4.1) has at most 1. Learners joining or
// leaving do not count. For node code to assert where a change is proposed.
std::size_t voters_changed(const Configuration& from, const Configuration& to);

// What tally_votes() counted: votes from current voters only.
struct VoteTally {
    std::size_t granted = 0;
    std::size_t rejected = 0;
    VoteResult result = VoteResult::kPending;

    bool operator==(const VoteTally&) const = default;
};

// The configuration, one Progress per member (voters and learners, self
// included), and the votes received in the current election. Iteration is
// always in NodeId order, so traces and messages are deterministic.
//
// Owned by the raft node; not thread-safe. References returned by progress()
// are valid until the next apply_configuration() or reset().
class ProgressTracker {
public:
    // An empty configuration; node code applies the first one (bootstrap or
    // a restored snapshot) with apply_configuration(). New Progress objects
    // get `limits` for their in-flight window.
    explicit ProgressTracker(InflightsLimits limits = {});

    const Configuration& config() const { return config_; }

    // Replaces the configuration. A server that becomes a member gets a
    // fresh Progress with next = `next_for_new_members` (the leader's last
    // index + 1, by the same rule as reset()); a server that stays a member,
    // including a learner promoted to voter or a voter demoted to learner,
    // keeps its Progress, so a promoted learner keeps the match it caught up
    // to; a server that leaves loses its Progress. Votes are kept: the tally
    // only counts current voters.
    //
    // Does not enforce one server at a time: bootstrap and snapshot restore
    // legitimately replace a configuration wholesale, and only node code
    // knows which case it is in. It asserts voters_changed() <= 1 where it
    // proposes a change. Requires config.check_invariants() to hold.
    void apply_configuration(const Configuration& config, Index next_for_new_members);

    // Starts a new term (any role change: follower, candidate, leader):
    // every member's Progress becomes Progress(last_index + 1) — match 0,
    // probe state, not recently active (§5.3, Figure 2) — and the votes are
    // cleared.
    //
    // Self's match is left at 0 on purpose: a leader's own entries count
    // towards commit only once they are persisted on its own disk
    // (dissertation §10.2.1), so the caller advances it through
    // progress(self).maybe_update() when its write syncs, including for the
    // entries it already had when it was elected.
    void reset(Index last_index);

    // The largest index a majority of voters hold: MajorityConfig::
    // committed_index over the voters' match indexes. Learners never count.
    // Requires at least one voter (raftkv never commits through an empty
    // configuration).
    Index committed() const;

    // Records `id`'s answer to the current election. The first answer from a
    // node wins; a duplicate (a retransmitted or reordered response) is
    // ignored, so a node cannot change its vote in a term (§5.2).
    void record_vote(NodeId id, bool granted);
    // Counts the recorded votes of current voters (answers from non-voters
    // are kept but ignored) and the election's outcome. Requires at least one
    // voter.
    VoteTally tally_votes() const;
    // Forgets every vote (a new election starts).
    void reset_votes() { votes_.clear(); }

    // Check-quorum (dissertation §6.2, §9.6): true if a majority of voters
    // was active since the last call, where `self` counts as active if it is
    // a voter (a leader hears itself without messages; its own flag is not
    // read) and every other voter counts if its Progress has
    // is_recent_active(). Learners never count.
    //
    // Then, whatever the answer, clears recent_active on every member but
    // `self` (voters and learners alike; self's flag is left as it is), to
    // start the next round, as etcd's QuorumActive followed by its
    // ResetRecentActive loop. So the leader calls this once per election
    // timeout and steps down on false. Requires at least one voter.
    bool quorum_active(NodeId self);

    // Exactly one voter: it commits and wins elections alone. Learners may
    // exist; they do not change that.
    bool is_singleton() const { return config_.voters.size() == 1; }
    bool is_voter(NodeId id) const { return config_.voters.contains(id); }
    bool is_learner(NodeId id) const { return config_.learners.contains(id); }
    bool is_member(NodeId id) const { return progress_.contains(id); }

    // In increasing id order.
    std::vector<NodeId> voter_ids() const;
    std::vector<NodeId> learner_ids() const;

    // The Progress of member `id`. Requires is_member(id).
    Progress& progress(NodeId id);
    const Progress& progress(NodeId id) const;

    // Calls fn(NodeId, Progress&) for every member, voters and learners, in
    // increasing id order. fn must not change the configuration.
    template <typename Fn>
    void for_each(Fn&& fn) {
        for (auto& [id, pr] : progress_) fn(id, pr);
    }
    template <typename Fn>
    void for_each(Fn&& fn) const {
        for (const auto& [id, pr] : progress_) fn(id, pr);
    }

    // "voters=(1 2 3) learners=(4)" followed by one line per member:
    // "1: replicate match=5 next=9 inflight=3". For traces and failures.
    std::string to_string() const;

private:
    void check_invariants() const;

    InflightsLimits limits_;
    Configuration config_;
    // Invariant: the keys are exactly the members of config_ (voters and
    // learners).
    std::map<NodeId, Progress> progress_;
    // The answers of the current election, by node. An entry is never
    // overwritten until reset_votes() or reset().
    std::map<NodeId, bool> votes_;
};

}  // namespace raftkv::raft
