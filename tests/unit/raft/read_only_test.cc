// read_only_test.cc — a leader's linearizable reads (raft/read_only.h):
// ReadIndex rounds confirmed by a quorum of voters (§6.4), reads served only
// once applied, failure on lost leadership, and the lease (§d6.4.1).
#include "raft/read_only.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace raftkv::raft {
namespace {

MajorityConfig voters(std::initializer_list<std::uint64_t> ids) {
    std::set<NodeId> s;
    for (std::uint64_t id : ids) s.insert(NodeId(id));
    return MajorityConfig(s);
}

std::vector<std::string> contexts(const std::vector<ReadState>& states) {
    std::vector<std::string> out;
    for (const ReadState& s : states) out.push_back(s.context);
    return out;
}

const ReadOnlyOptions kNoLease{.lease_reads = false, .election_ticks = 10, .lease_drift_ticks = 2};
const ReadOnlyOptions kLease{.lease_reads = true, .election_ticks = 10, .lease_drift_ticks = 2};

TEST(ReadOnly, RoundIsConfirmedByAQuorumOfVoters) {
    // §6.4 steps 2-3: the leader (1) counts itself; one more of three decides.
    const MajorityConfig v = voters({1, 2, 3});
    ReadOnly r(kNoLease);
    r.add("a", Index(7), 0, true);
    r.add("b", Index(7), 0, true);
    EXPECT_TRUE(r.has_waiting());
    const std::uint64_t round = r.start_round(Index(7), 0, NodeId(1), v);
    EXPECT_EQ(round, 1u);
    EXPECT_FALSE(r.has_waiting());
    EXPECT_FALSE(r.has_ready(Index(7)));
    r.on_ack(NodeId(2), round, v);
    EXPECT_TRUE(r.has_ready(Index(7)));
    const std::vector<ReadState> got = r.take_read_states(Index(7));
    EXPECT_EQ(got, (std::vector<ReadState>{{Index(7), "a"}, {Index(7), "b"}}));
    EXPECT_FALSE(r.has_ready(Index(7)));
}

TEST(ReadOnly, AcksThatDoNotConfirm) {
    struct Case {
        std::string_view name;
        std::uint64_t from;
        std::uint64_t round;
    };
    const Case cases[] = {
        {"a non-voter's answer does not count", 9, 1},
        {"a heartbeat without a round", 2, 0},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        const MajorityConfig v = voters({1, 2, 3});
        ReadOnly r(kNoLease);
        r.add("a", Index(3), 0, true);
        r.start_round(Index(3), 0, NodeId(1), v);
        r.on_ack(NodeId(c.from), c.round, v);
        EXPECT_FALSE(r.has_ready(Index(3)));
        EXPECT_EQ(r.round_count(), 1u);
    }
}

TEST(ReadOnly, ANewerRoundConfirmsOlderOnes) {
    // Answers to round 2 were sent after round 1 was: they confirm it too.
    const MajorityConfig v = voters({1, 2, 3});
    ReadOnly r(kNoLease);
    r.add("a", Index(4), 0, true);
    const std::uint64_t first = r.start_round(Index(4), 0, NodeId(1), v);
    r.add("b", Index(5), 1, true);
    const std::uint64_t second = r.start_round(Index(5), 1, NodeId(1), v);
    EXPECT_LT(first, second);
    r.on_ack(NodeId(3), second, v);
    EXPECT_EQ(r.round_count(), 0u);
    EXPECT_EQ(r.take_read_states(Index(5)),
              (std::vector<ReadState>{{Index(4), "a"}, {Index(5), "b"}}));
    // A late answer to the first round changes nothing.
    r.on_ack(NodeId(2), first, v);
    EXPECT_FALSE(r.has_ready(Index(5)));
}

TEST(ReadOnly, ConfirmedReadsWaitUntilApplied) {
    // §6.4 step 4: served once the state machine applied the read index.
    const MajorityConfig v = voters({1});
    ReadOnly r(kNoLease);
    r.add("a", Index(5), 0, true);
    r.start_round(Index(5), 0, NodeId(1), v);  // a single voter confirms alone
    EXPECT_FALSE(r.has_ready(Index(4)));
    EXPECT_TRUE(r.take_read_states(Index(4)).empty());
    EXPECT_EQ(contexts(r.take_read_states(Index(5))), std::vector<std::string>{"a"});
}

TEST(ReadOnly, LosingLeadershipFailsUnconfirmedReadsOnly) {
    const MajorityConfig v = voters({1, 2, 3});
    ReadOnly r(kNoLease);
    r.add("confirmed", Index(2), 0, true);
    r.on_ack(NodeId(2), r.start_round(Index(2), 0, NodeId(1), v), v);
    r.add("in a round", Index(2), 1, true);
    r.start_round(Index(2), 1, NodeId(1), v);
    r.add("waiting", Index(2), 2, true);
    r.fail_unconfirmed();
    EXPECT_EQ(r.take_failed(), (std::vector<std::string>{"waiting", "in a round"}));
    EXPECT_TRUE(r.take_failed().empty());
    EXPECT_EQ(r.round_count(), 0u);
    EXPECT_FALSE(r.has_waiting());
    EXPECT_EQ(contexts(r.take_read_states(Index(2))), std::vector<std::string>{"confirmed"});
}

TEST(ReadOnly, FailedReadsAreReady) {
    ReadOnly r(kNoLease);
    r.add("a", Index(1), 0, true);
    EXPECT_FALSE(r.has_ready(Index(0)));
    r.fail_unconfirmed();
    EXPECT_TRUE(r.has_ready(Index(0)));
    EXPECT_EQ(r.take_failed(), std::vector<std::string>{"a"});
    EXPECT_FALSE(r.has_ready(Index(0)));
}

TEST(ReadOnly, RemovingASilentVoterCanConfirm) {
    // Two of four is no quorum; two of three is.
    ReadOnly r(kNoLease);
    const MajorityConfig four = voters({1, 2, 3, 4});
    r.add("a", Index(3), 0, true);
    const std::uint64_t round = r.start_round(Index(3), 0, NodeId(1), four);
    r.on_ack(NodeId(2), round, four);
    EXPECT_FALSE(r.has_ready(Index(3)));
    r.on_voters_changed(voters({1, 2, 3}));
    EXPECT_EQ(contexts(r.take_read_states(Index(3))), std::vector<std::string>{"a"});
}

TEST(ReadOnly, AcksOfRemovedVotersAreForgotten) {
    // Voter 2 answered, then left: in the new configuration {1 3 4} only the
    // leader (1) has answered, which is no quorum until 3 or 4 does.
    ReadOnly r(kNoLease);
    const MajorityConfig five = voters({1, 2, 3, 4, 5});
    r.add("a", Index(3), 0, true);
    const std::uint64_t round = r.start_round(Index(3), 0, NodeId(1), five);
    r.on_ack(NodeId(2), round, five);
    EXPECT_FALSE(r.has_ready(Index(3)));
    const MajorityConfig three = voters({1, 3, 4});
    r.on_voters_changed(three);
    EXPECT_FALSE(r.has_ready(Index(3)));
    r.on_ack(NodeId(3), round, three);
    EXPECT_EQ(contexts(r.take_read_states(Index(3))), std::vector<std::string>{"a"});
}

TEST(ReadOnly, LeaseFromAConfirmedRound) {
    // §d6.4.1: a round sent at tick 5 and confirmed gives a lease until
    // 5 + election (10) - drift (2) = 13.
    const MajorityConfig v = voters({1, 2, 3});
    ReadOnly r(kLease);
    r.on_ack(NodeId(2), r.start_round(Index(1), 5, NodeId(1), v), v);
    EXPECT_EQ(r.lease_until(), 13u);
    struct Case {
        std::string_view name;
        std::uint64_t now;
        bool leader_settled;
        bool want;
    };
    const Case cases[] = {
        {"inside the lease", 12, true, true},
        {"at its end", 13, true, false},
        {"leader not settled (transfer, no entry of its term)", 12, false, false},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(r.lease_valid(c.now, c.leader_settled), c.want);
    }
    // A read under the lease is confirmed at once, at the commit index given.
    r.add("fast", Index(9), 12, true);
    EXPECT_FALSE(r.has_waiting());
    EXPECT_EQ(r.take_read_states(Index(9)), (std::vector<ReadState>{{Index(9), "fast"}}));
}

TEST(ReadOnly, NoLeaseWhenDisabled) {
    const MajorityConfig v = voters({1, 2, 3});
    ReadOnly r(kNoLease);
    r.on_ack(NodeId(2), r.start_round(Index(1), 5, NodeId(1), v), v);
    EXPECT_EQ(r.lease_until(), 0u);
    EXPECT_FALSE(r.lease_valid(6, true));
    r.add("a", Index(1), 6, true);
    EXPECT_TRUE(r.has_waiting());
}

TEST(ReadOnly, ForfeitedLeaseComesBackOnlyInANewTerm) {
    // §d3.10: after a TimeoutNow the target may win before the lease ends.
    const MajorityConfig v = voters({1, 2, 3});
    ReadOnly r(kLease);
    r.on_ack(NodeId(2), r.start_round(Index(1), 0, NodeId(1), v), v);
    r.forfeit_lease();
    EXPECT_TRUE(r.is_lease_forfeited());
    EXPECT_FALSE(r.lease_valid(1, true));
    r.on_ack(NodeId(2), r.start_round(Index(1), 2, NodeId(1), v), v);
    EXPECT_EQ(r.lease_until(), 10u);
    EXPECT_FALSE(r.lease_valid(3, true));  // renewed rounds do not undo it
    r.reset(/*new_term=*/false);
    EXPECT_TRUE(r.is_lease_forfeited());
    EXPECT_EQ(r.lease_until(), 0u);
    r.reset(/*new_term=*/true);
    EXPECT_FALSE(r.is_lease_forfeited());
}

TEST(ReadOnly, WantsRound) {
    const MajorityConfig v = voters({1, 2, 3});
    ReadOnly plain(kNoLease);
    EXPECT_FALSE(plain.wants_round());
    plain.add("a", Index(1), 0, true);
    EXPECT_TRUE(plain.wants_round());  // a read waits
    plain.start_round(Index(1), 0, NodeId(1), v);
    EXPECT_TRUE(plain.wants_round());  // its round is unanswered
    plain.on_ack(NodeId(3), 1, v);
    EXPECT_FALSE(plain.wants_round());
    EXPECT_TRUE(ReadOnly(kLease).wants_round());  // a lease is kept
}

TEST(ReadOnly, OldEmptyRoundsArePruned) {
    // Rounds without reads only renew the lease: one older than an election
    // timeout is dropped when the next starts.
    const MajorityConfig v = voters({1, 2, 3});
    ReadOnly r(kLease);
    r.start_round(Index(1), 0, NodeId(1), v);
    r.start_round(Index(1), 5, NodeId(1), v);
    EXPECT_EQ(r.round_count(), 2u);
    r.start_round(Index(1), 10, NodeId(1), v);  // the one sent at 0 goes
    EXPECT_EQ(r.round_count(), 2u);
    r.add("a", Index(1), 11, false);
    r.start_round(Index(1), 11, NodeId(1), v);
    r.start_round(Index(1), 30, NodeId(1), v);  // drops 5 and 10, keeps the read's
    EXPECT_EQ(r.round_count(), 2u);
    r.on_ack(NodeId(2), 4, v);
    EXPECT_EQ(contexts(r.take_read_states(Index(1))), std::vector<std::string>{"a"});
}

}  // namespace
}  // namespace raftkv::raft
