// tracker_test.cc — the leader's and a candidate's view of the whole
// configuration: commit over voters only, vote tallies, check-quorum, and
// configuration changes one server at a time, by tables that cite the rule
// they test.
#include "raft/tracker.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

namespace raftkv::raft {

namespace {

std::set<NodeId> ids(std::initializer_list<std::uint64_t> values) {
    std::set<NodeId> out;
    for (std::uint64_t v : values) out.insert(NodeId(v));
    return out;
}

Configuration make_config(std::set<NodeId> voters, std::set<NodeId> learners = {}) {
    return Configuration{.voters = MajorityConfig(std::move(voters)),
                         .learners = std::move(learners)};
}

// A tracker over `config` whose members were all created with next = 1.
ProgressTracker make_tracker(const Configuration& config) {
    ProgressTracker t;
    t.apply_configuration(config, Index(1));
    return t;
}

// Acks each member's log through the given index, as a leader would on an
// append response (§5.3).
void set_match(ProgressTracker& t, const std::map<std::uint64_t, std::uint64_t>& match) {
    for (const auto& [id, index] : match) {
        if (index > 0) {
            EXPECT_TRUE(t.progress(NodeId(id)).maybe_update(Index(index)));
        }
    }
}

std::vector<NodeId> visit_order(const ProgressTracker& t) {
    std::vector<NodeId> out;
    t.for_each([&](NodeId id, const Progress&) { out.push_back(id); });
    return out;
}

TEST(Tracker, CommittedCountsVotersOnly) {
    // §5.3: an entry is committed once a majority of voters store it.
    // Dissertation §4.2.1: learners receive the log but are not in any
    // majority, however far ahead they are.
    struct Case {
        std::string_view name;
        std::set<NodeId> voters, learners;
        std::map<std::uint64_t, std::uint64_t> match;
        std::uint64_t want;
    };
    const Case cases[] = {
        {"single voter commits what it has", ids({1}), {}, {{1, 7}}, 7},
        {"two of three decide", ids({1, 2, 3}), {}, {{1, 9}, {2, 5}, {3, 2}}, 5},
        {"five voters need three",
         ids({1, 2, 3, 4, 5}),
         {},
         {{1, 9}, {2, 8}, {3, 7}, {4, 1}, {5, 0}},
         7},
        {"learners far ahead do not count",
         ids({1, 2, 3}),
         ids({4, 5}),
         {{1, 5}, {2, 3}, {3, 1}, {4, 9}, {5, 9}},
         3},
        {"a learner cannot make a majority of two voters",
         ids({1, 2}),
         ids({3}),
         {{1, 5}, {2, 0}, {3, 5}},
         0},
        {"learners behind do not hold commit back",
         ids({1, 2, 3}),
         ids({4}),
         {{1, 6}, {2, 6}, {3, 6}, {4, 0}},
         6},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        ProgressTracker t = make_tracker(make_config(c.voters, c.learners));
        set_match(t, c.match);
        EXPECT_EQ(t.committed(), Index(c.want));
    }
}

TEST(Tracker, LearnerCatchingUpDoesNotChangeCommit) {
    // Dissertation §4.2.1: a new server catches up as a learner without
    // affecting availability or the commit index.
    ProgressTracker t = make_tracker(make_config(ids({1, 2, 3}), ids({4})));
    set_match(t, {{1, 20}, {2, 12}, {3, 4}});
    ASSERT_EQ(t.committed(), Index(12));
    for (std::uint64_t index = 1; index <= 30; ++index) {
        EXPECT_TRUE(t.progress(NodeId(4)).maybe_update(Index(index)));
        EXPECT_EQ(t.committed(), Index(12));
    }
}

TEST(Tracker, TallyVotes) {
    // §5.2: a candidate wins with votes from a majority of the voters; it
    // has lost once the voters left cannot make one. Each node votes at most
    // once per term, so its first answer is the one that counts; answers
    // arriving after the outcome is known change nothing.
    struct Vote {
        std::uint64_t id;
        bool granted;
    };
    struct Case {
        std::string_view name;
        std::set<NodeId> voters, learners;
        std::vector<Vote> votes;
        VoteTally want;
    };
    const Case cases[] = {
        {"single voter wins with its own vote",
         ids({1}),
         {},
         {{1, true}},
         {1, 0, VoteResult::kWon}},
        {"single voter waits for its own vote", ids({1}), {}, {}, {0, 0, VoteResult::kPending}},
        {"three: one yes is pending",
         ids({1, 2, 3}),
         {},
         {{1, true}},
         {1, 0, VoteResult::kPending}},
        {"three: two yes win",
         ids({1, 2, 3}),
         {},
         {{1, true}, {3, true}},
         {2, 0, VoteResult::kWon}},
        {"three: one each is pending",
         ids({1, 2, 3}),
         {},
         {{1, true}, {2, false}},
         {1, 1, VoteResult::kPending}},
        {"three: two no lose",
         ids({1, 2, 3}),
         {},
         {{1, true}, {2, false}, {3, false}},
         {1, 2, VoteResult::kLost}},
        {"duplicate cannot turn a no into a yes",
         ids({1, 2, 3}),
         {},
         {{1, true}, {2, false}, {2, true}},
         {1, 1, VoteResult::kPending}},
        {"duplicate cannot turn a yes into a no",
         ids({1, 2, 3}),
         {},
         {{1, true}, {2, true}, {2, false}},
         {2, 0, VoteResult::kWon}},
        {"late no after a win",
         ids({1, 2, 3}),
         {},
         {{1, true}, {2, true}, {3, false}},
         {2, 1, VoteResult::kWon}},
        {"five: two yes two no is pending",
         ids({1, 2, 3, 4, 5}),
         {},
         {{1, true}, {2, true}, {3, false}, {4, false}},
         {2, 2, VoteResult::kPending}},
        {"five: three no lose",
         ids({1, 2, 3, 4, 5}),
         {},
         {{1, true}, {2, true}, {3, false}, {4, false}, {5, false}},
         {2, 3, VoteResult::kLost}},
        {"five: three yes win",
         ids({1, 2, 3, 4, 5}),
         {},
         {{1, true}, {4, true}, {5, true}},
         {3, 0, VoteResult::kWon}},
        {"late yes after a loss",
         ids({1, 2, 3, 4, 5}),
         {},
         {{1, true}, {2, false}, {3, false}, {4, false}, {5, true}},
         {2, 3, VoteResult::kLost}},
        {"learners' votes are ignored",
         ids({1, 2, 3}),
         ids({4, 5}),
         {{1, true}, {4, true}, {5, true}},
         {1, 0, VoteResult::kPending}},
        {"strangers' votes are ignored",
         ids({1, 2, 3}),
         {},
         {{1, true}, {9, true}, {8, false}},
         {1, 0, VoteResult::kPending}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        ProgressTracker t = make_tracker(make_config(c.voters, c.learners));
        for (const Vote& v : c.votes) t.record_vote(NodeId(v.id), v.granted);
        EXPECT_EQ(t.tally_votes(), c.want);
    }
}

TEST(Tracker, ResetVotesStartsANewElection) {
    // §5.2: a new term is a new election; last term's answers do not carry over.
    ProgressTracker t = make_tracker(make_config(ids({1, 2, 3})));
    t.record_vote(NodeId(1), true);
    t.record_vote(NodeId(2), false);
    t.record_vote(NodeId(3), false);
    ASSERT_EQ(t.tally_votes().result, VoteResult::kLost);

    t.reset_votes();
    EXPECT_EQ(t.tally_votes(), (VoteTally{0, 0, VoteResult::kPending}));
    t.record_vote(NodeId(1), true);
    t.record_vote(NodeId(2), true);
    EXPECT_EQ(t.tally_votes(), (VoteTally{2, 0, VoteResult::kWon}));
}

TEST(Tracker, QuorumActive) {
    // Dissertation §6.2 and §9.6 (check-quorum): a leader that has not heard
    // from a majority of voters within an election timeout steps down. The
    // leader counts itself whatever its own flag says; learners never count.
    struct Case {
        std::string_view name;
        std::set<NodeId> voters, learners;
        std::uint64_t self;
        std::set<NodeId> active;  // members whose recent_active is set
        bool want;
    };
    const Case cases[] = {
        {"single voter is its own majority", ids({1}), {}, 1, {}, true},
        {"three: nobody else heard", ids({1, 2, 3}), {}, 1, {}, false},
        {"three: one other heard", ids({1, 2, 3}), {}, 1, ids({3}), true},
        {"three: self's own flag is not needed", ids({1, 2, 3}), {}, 1, ids({2}), true},
        {"three: self's own flag is not enough", ids({1, 2, 3}), {}, 1, ids({1}), false},
        {"five: one other heard", ids({1, 2, 3, 4, 5}), {}, 1, ids({4}), false},
        {"five: two others heard", ids({1, 2, 3, 4, 5}), {}, 1, ids({2, 5}), true},
        {"learners do not make a quorum", ids({1, 2, 3}), ids({4, 5}), 1, ids({4, 5}), false},
        {"self not a voter does not count", ids({2, 3, 4}), ids({1}), 1, ids({2}), false},
        {"self not a voter, two voters heard", ids({2, 3, 4}), ids({1}), 1, ids({2, 4}), true},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        ProgressTracker t = make_tracker(make_config(c.voters, c.learners));
        for (NodeId id : c.active) t.progress(id).set_recent_active(true);
        const NodeId self(c.self);
        EXPECT_EQ(t.quorum_active(self), c.want);

        // The round is reset: every member but self is inactive again, and
        // self's flag is as it was.
        t.for_each([&](NodeId id, const Progress& pr) {
            SCOPED_TRACE(id.value);
            EXPECT_EQ(pr.is_recent_active(), id == self && c.active.contains(id));
        });
        // With nobody heard from since, only a lone voter stays active.
        EXPECT_EQ(t.quorum_active(self), c.voters == ids({c.self}));
    }
}

TEST(Tracker, ApplyConfigurationOneServerAtATime) {
    // Dissertation §4.1–§4.2.1: add a server as a learner, let it catch up,
    // promote it, then remove another voter.
    ProgressTracker t = make_tracker(make_config(ids({1, 2, 3})));
    set_match(t, {{1, 10}, {2, 10}, {3, 4}});
    ASSERT_EQ(t.committed(), Index(10));

    // Add 4 as a learner: it gets a fresh Progress from the leader's next
    // index; the voters keep theirs; commit is unchanged.
    const Configuration with_learner = make_config(ids({1, 2, 3}), ids({4}));
    EXPECT_EQ(voters_changed(t.config(), with_learner), 0u);
    t.apply_configuration(with_learner, Index(11));
    EXPECT_EQ(t.config(), with_learner);
    EXPECT_EQ(t.voter_ids(), (std::vector<NodeId>{NodeId(1), NodeId(2), NodeId(3)}));
    EXPECT_EQ(t.learner_ids(), std::vector<NodeId>{NodeId(4)});
    EXPECT_TRUE(t.is_learner(NodeId(4)));
    EXPECT_FALSE(t.is_voter(NodeId(4)));
    EXPECT_EQ(t.progress(NodeId(4)).match(), Index(0));
    EXPECT_EQ(t.progress(NodeId(4)).next(), Index(11));
    EXPECT_EQ(t.progress(NodeId(1)).match(), Index(10));
    EXPECT_EQ(t.progress(NodeId(3)).match(), Index(4));
    EXPECT_EQ(t.committed(), Index(10));

    // 4 catches up; promoting it keeps its match, and it now counts.
    set_match(t, {{4, 12}});
    set_match(t, {{1, 12}});
    EXPECT_EQ(t.committed(), Index(10));
    const Configuration promoted = make_config(ids({1, 2, 3, 4}));
    EXPECT_EQ(voters_changed(t.config(), promoted), 1u);
    t.apply_configuration(promoted, Index(13));
    EXPECT_TRUE(t.is_voter(NodeId(4)));
    EXPECT_TRUE(t.learner_ids().empty());
    EXPECT_EQ(t.progress(NodeId(4)).match(), Index(12));
    EXPECT_EQ(t.progress(NodeId(4)).next(), Index(13));
    // Four voters need three: 12, 12, 10, 4.
    EXPECT_EQ(t.committed(), Index(10));
    set_match(t, {{2, 12}});
    EXPECT_EQ(t.committed(), Index(12));

    // Remove voter 2: its Progress goes; three voters need two: 12, 12, 4.
    const Configuration removed = make_config(ids({1, 3, 4}));
    EXPECT_EQ(voters_changed(t.config(), removed), 1u);
    t.apply_configuration(removed, Index(13));
    EXPECT_FALSE(t.is_member(NodeId(2)));
    EXPECT_EQ(visit_order(t), (std::vector<NodeId>{NodeId(1), NodeId(3), NodeId(4)}));
    EXPECT_EQ(t.committed(), Index(12));
}

TEST(Tracker, VotersChanged) {
    struct Case {
        std::string_view name;
        Configuration from, to;
        std::size_t want;
    };
    const Case cases[] = {
        {"same", make_config(ids({1, 2, 3})), make_config(ids({1, 2, 3})), 0},
        {"learner added", make_config(ids({1, 2, 3})), make_config(ids({1, 2, 3}), ids({4})), 0},
        {"learner promoted", make_config(ids({1, 2}), ids({3})), make_config(ids({1, 2, 3})), 1},
        {"voter demoted", make_config(ids({1, 2, 3})), make_config(ids({1, 2}), ids({3})), 1},
        {"voter removed", make_config(ids({1, 2, 3})), make_config(ids({1, 2})), 1},
        {"bootstrap from empty", make_config({}), make_config(ids({1, 2, 3})), 3},
        {"one in, one out", make_config(ids({1, 2, 3})), make_config(ids({1, 2, 4})), 2},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(voters_changed(c.from, c.to), c.want);
    }
}

TEST(Tracker, ResetStartsEveryMemberOverForANewTerm) {
    // §5.3, Figure 2: a new leader sets nextIndex to its last index + 1 and
    // matchIndex to 0 for every server, itself included (its own match
    // advances when its write syncs, dissertation §10.2.1).
    ProgressTracker t = make_tracker(make_config(ids({1, 2, 3}), ids({4})));
    set_match(t, {{1, 8}, {2, 7}, {4, 3}});
    t.progress(NodeId(2)).become_replicate();
    t.progress(NodeId(3)).set_recent_active(true);
    t.record_vote(NodeId(1), true);

    t.reset(Index(20));
    t.for_each([](NodeId id, const Progress& pr) {
        SCOPED_TRACE(id.value);
        EXPECT_EQ(pr.state(), ProgressState::kProbe);
        EXPECT_EQ(pr.match(), Index(0));
        EXPECT_EQ(pr.next(), Index(21));
        EXPECT_FALSE(pr.is_recent_active());
    });
    EXPECT_EQ(t.tally_votes(), (VoteTally{0, 0, VoteResult::kPending}));
    EXPECT_EQ(t.committed(), Index(0));
    EXPECT_EQ(t.config(), make_config(ids({1, 2, 3}), ids({4})));
}

TEST(Tracker, ForEachVisitsMembersInIdOrder) {
    // Deterministic iteration (STYLE.md section 7): messages go out in id order.
    ProgressTracker t = make_tracker(make_config(ids({5, 1, 3}), ids({4, 2})));
    EXPECT_EQ(visit_order(t),
              (std::vector<NodeId>{NodeId(1), NodeId(2), NodeId(3), NodeId(4), NodeId(5)}));
}

TEST(Tracker, IsSingleton) {
    struct Case {
        std::string_view name;
        std::set<NodeId> voters, learners;
        bool want;
    };
    const Case cases[] = {
        {"one voter", ids({1}), {}, true},
        {"one voter and a learner", ids({1}), ids({2}), true},
        {"two voters", ids({1, 2}), {}, false},
        {"three voters", ids({1, 2, 3}), {}, false},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(make_tracker(make_config(c.voters, c.learners)).is_singleton(), c.want);
    }
}

TEST(Tracker, ToString) {
    ProgressTracker t = make_tracker(make_config(ids({1, 2}), ids({3})));
    set_match(t, {{1, 4}});
    t.progress(NodeId(1)).set_recent_active(true);
    EXPECT_EQ(t.config().to_string(), "voters=(1 2) learners=(3)");
    EXPECT_EQ(t.to_string(),
              "voters=(1 2) learners=(3)\n"
              "1: probe match=4 next=5\n"
              "2: probe match=0 next=1 inactive\n"
              "3: probe match=0 next=1 inactive");
}

// Death tests match the asserted condition.
TEST(TrackerDeathTest, VoterAndLearnerAtOnceAborts) {
    ProgressTracker t;
    EXPECT_DEATH(t.apply_configuration(make_config(ids({1, 2, 3}), ids({3})), Index(1)),
                 "!voters.contains\\(id\\)");
}

TEST(TrackerDeathTest, ProgressOfANonMemberAborts) {
    ProgressTracker t = make_tracker(make_config(ids({1, 2, 3})));
    EXPECT_DEATH(t.progress(NodeId(4)), "it != progress_.end\\(\\)");
}

TEST(TrackerDeathTest, NoCommitWithoutVoters) {
    ProgressTracker t = make_tracker(make_config({}, ids({1})));
    EXPECT_DEATH(static_cast<void>(t.committed()), "config_.voters.size\\(\\) > 0");
}

}  // namespace

}  // namespace raftkv::raft
