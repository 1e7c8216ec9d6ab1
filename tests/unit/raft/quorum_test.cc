// quorum_test.cc — majority commit index and vote counting, by tables and
// against a sort-and-pick model.
#include "raft/quorum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string_view>
#include <vector>

#include "testing/seed.h"

namespace raftkv::raft {
namespace {

MajorityConfig config_of(std::initializer_list<std::uint64_t> ids) {
    std::set<NodeId> voters;
    for (std::uint64_t id : ids) voters.insert(NodeId(id));
    return MajorityConfig(std::move(voters));
}

TEST(Quorum, QuorumSize) {
    const std::size_t want[] = {1, 1, 2, 2, 3, 3, 4, 4};
    for (std::uint64_t n = 0; n < 8; ++n) {
        MajorityConfig c;
        for (std::uint64_t id = 1; id <= n; ++id) c.add(NodeId(id));
        EXPECT_EQ(c.quorum_size(), want[n]) << n << " voters";
    }
}

TEST(Quorum, CommittedIndex) {
    struct Case {
        std::string_view name;
        std::vector<std::uint64_t> voters;
        std::map<std::uint64_t, std::uint64_t> match;
        std::uint64_t want;
    };
    const Case cases[] = {
        {"single voter commits what it has", {1}, {{1, 7}}, 7},
        {"single voter without an ack", {1}, {}, 0},
        {"two of three decide", {1, 2, 3}, {{1, 9}, {2, 5}, {3, 2}}, 5},
        {"unknown acks count as zero", {1, 2, 3}, {{3, 4}}, 0},
        {"one missing of three", {1, 2, 3}, {{1, 4}, {2, 6}}, 4},
        {"two voters need both", {1, 2}, {{1, 10}, {2, 3}}, 3},
        {"four voters need three", {1, 2, 3, 4}, {{1, 8}, {2, 8}, {3, 2}, {4, 1}}, 2},
        {"five voters, middle value", {1, 2, 3, 4, 5}, {{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}}, 3},
        {"ties", {1, 2, 3}, {{1, 5}, {2, 5}, {3, 5}}, 5},
        {"non-voters are ignored", {1, 2, 3}, {{1, 3}, {2, 3}, {3, 1}, {9, 100}, {8, 100}}, 3},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        std::set<NodeId> voters;
        for (std::uint64_t id : c.voters) voters.insert(NodeId(id));
        std::map<NodeId, Index> match;
        for (auto [id, index] : c.match) match[NodeId(id)] = Index(index);
        EXPECT_EQ(MajorityConfig(voters).committed_index(match), Index(c.want));
    }
}

TEST(Quorum, EmptyConfigCommitsEverythingAndWins) {
    MajorityConfig empty;
    EXPECT_EQ(empty.committed_index({}), Index(std::numeric_limits<std::uint64_t>::max()));
    EXPECT_EQ(empty.vote_result({}), VoteResult::kWon);
}

TEST(Quorum, VoteResult) {
    struct Case {
        std::string_view name;
        std::vector<std::uint64_t> voters;
        std::map<std::uint64_t, bool> votes;
        VoteResult want;
    };
    const Case cases[] = {
        {"single voter, no answer", {1}, {}, VoteResult::kPending},
        {"single voter, yes", {1}, {{1, true}}, VoteResult::kWon},
        {"single voter, no", {1}, {{1, false}}, VoteResult::kLost},
        {"three: own vote only", {1, 2, 3}, {{1, true}}, VoteResult::kPending},
        {"three: two yes", {1, 2, 3}, {{1, true}, {2, true}}, VoteResult::kWon},
        {"three: one yes one no", {1, 2, 3}, {{1, true}, {2, false}}, VoteResult::kPending},
        {"three: two no", {1, 2, 3}, {{2, false}, {3, false}}, VoteResult::kLost},
        {"three: all answered, split",
         {1, 2, 3},
         {{1, true}, {2, false}, {3, true}},
         VoteResult::kWon},
        {"four: two yes two no",
         {1, 2, 3, 4},
         {{1, true}, {2, true}, {3, false}, {4, false}},
         VoteResult::kLost},
        {"four: two yes, one no",
         {1, 2, 3, 4},
         {{1, true}, {2, true}, {3, false}},
         VoteResult::kPending},
        {"non-voters do not count",
         {1, 2, 3},
         {{1, true}, {7, true}, {8, true}},
         VoteResult::kPending},
        {"five: three no",
         {1, 2, 3, 4, 5},
         {{2, false}, {3, false}, {4, false}},
         VoteResult::kLost},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        std::set<NodeId> voters;
        for (std::uint64_t id : c.voters) voters.insert(NodeId(id));
        std::map<NodeId, bool> votes;
        for (auto [id, granted] : c.votes) votes[NodeId(id)] = granted;
        VoteResult got = MajorityConfig(voters).vote_result(votes);
        EXPECT_EQ(got, c.want) << vote_result_name(got) << " want " << vote_result_name(c.want);
    }
}

TEST(Quorum, ToString) {
    EXPECT_EQ(config_of({3, 1, 2}).to_string(), "(1 2 3)");
    EXPECT_EQ(MajorityConfig().to_string(), "()");
}

// The dumb model: sort every voter's ack (0 if missing) ascending; the value
// at position n - quorum is the largest index at least `quorum` voters have.
std::uint64_t model_committed(const std::vector<std::uint64_t>& acks) {
    std::vector<std::uint64_t> sorted = acks;
    std::sort(sorted.begin(), sorted.end());
    return sorted[sorted.size() - (sorted.size() / 2 + 1)];
}

// The dumb model for votes: try every way the missing voters could answer.
VoteResult model_vote(std::size_t n, std::size_t yes, std::size_t no) {
    const std::size_t missing = n - yes - no;
    const bool can_win = 2 * (yes + missing) > n;
    const bool can_lose = 2 * (no + missing) >= n;  // fewer than a majority of yes
    if (!can_lose) return VoteResult::kWon;
    if (!can_win) return VoteResult::kLost;
    return VoteResult::kPending;
}

TEST(Quorum, RandomConfigsMatchSortAndPick) {
    const std::uint64_t seed = testing::test_seed(0x9a0c);
    SCOPED_TRACE(testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    for (int round = 0; round < 5000; ++round) {
        const std::size_t n = 1 + rng() % 7;
        std::set<NodeId> voters;
        while (voters.size() < n) voters.insert(NodeId(1 + rng() % 20));
        std::map<NodeId, Index> match;
        std::map<NodeId, bool> votes;
        std::vector<std::uint64_t> acks;
        std::size_t yes = 0;
        std::size_t no = 0;
        for (NodeId id : voters) {
            const bool present = rng() % 4 != 0;
            const std::uint64_t index = present ? rng() % 10 : 0;
            if (present) match[id] = Index(index);
            acks.push_back(index);
            switch (rng() % 3) {
                case 0:
                    break;
                case 1:
                    votes[id] = true;
                    ++yes;
                    break;
                default:
                    votes[id] = false;
                    ++no;
                    break;
            }
        }
        // Non-voters with large acks and yes votes must change nothing.
        match[NodeId(21 + rng() % 5)] = Index(1000);
        votes[NodeId(21 + rng() % 5)] = true;
        MajorityConfig config(voters);
        ASSERT_EQ(config.committed_index(match), Index(model_committed(acks)))
            << "round " << round << " config " << config.to_string();
        ASSERT_EQ(config.vote_result(votes), model_vote(n, yes, no))
            << "round " << round << " yes=" << yes << " no=" << no << " n=" << n;
    }
}

}  // namespace
}  // namespace raftkv::raft
