// inflights_test.cc — the per-follower window of in-flight appends: count and
// byte limits, freeing by acknowledged index, and a random run against a
// vector model.
#include "raft/inflights.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

#include "testing/seed.h"

namespace raftkv::raft {
namespace {

TEST(Inflights, FullByCount) {
    Inflights w({.appends_max = 3, .bytes_max = 0});
    EXPECT_FALSE(w.is_full());
    w.add(Index(1), 10);
    w.add(Index(2), 10);
    EXPECT_FALSE(w.is_full());
    w.add(Index(5), 10);
    EXPECT_TRUE(w.is_full());
    EXPECT_EQ(w.count(), 3u);
    EXPECT_EQ(w.bytes(), 30u);
}

TEST(Inflights, FullByBytes) {
    Inflights w({.appends_max = 100, .bytes_max = 100});
    w.add(Index(1), 60);
    EXPECT_FALSE(w.is_full());
    // One message may overshoot the limit; the next one is stopped.
    w.add(Index(2), 60);
    EXPECT_TRUE(w.is_full());
    EXPECT_EQ(w.bytes(), 120u);
    w.free_le(Index(1));
    EXPECT_FALSE(w.is_full());
    EXPECT_EQ(w.bytes(), 60u);
}

TEST(Inflights, FreeLe) {
    struct Case {
        std::string_view name;
        std::uint64_t free_through;
        std::size_t want_count;
        std::uint64_t want_bytes;
    };
    // Window holds messages ending at 3, 6, 9, 12 of 1, 2, 4, 8 bytes.
    const Case cases[] = {
        {"ack below the first frees nothing", 2, 4, 15},
        {"ack of the first message", 3, 3, 14},
        {"ack inside the second message frees only the first", 5, 3, 14},
        {"ack of the third frees three", 9, 1, 8},
        {"ack of everything", 12, 0, 0},
        {"ack past everything", 100, 0, 0},
        {"zero frees nothing", 0, 4, 15},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Inflights w({.appends_max = 4, .bytes_max = 0});
        w.add(Index(3), 1);
        w.add(Index(6), 2);
        w.add(Index(9), 4);
        w.add(Index(12), 8);
        w.free_le(Index(c.free_through));
        EXPECT_EQ(w.count(), c.want_count);
        EXPECT_EQ(w.bytes(), c.want_bytes);
        EXPECT_EQ(w.is_full(), c.want_count == 4);
    }
}

TEST(Inflights, StaleAckAfterNewerAckFreesNothingMore) {
    Inflights w({.appends_max = 4, .bytes_max = 0});
    w.add(Index(3), 1);
    w.add(Index(6), 1);
    w.add(Index(9), 1);
    w.free_le(Index(6));
    w.free_le(Index(3));
    EXPECT_EQ(w.count(), 1u);
}

TEST(Inflights, ResetEmptiesTheWindow) {
    Inflights w({.appends_max = 2, .bytes_max = 10});
    w.add(Index(1), 5);
    w.add(Index(2), 5);
    EXPECT_TRUE(w.is_full());
    w.reset();
    EXPECT_FALSE(w.is_full());
    EXPECT_EQ(w.count(), 0u);
    EXPECT_EQ(w.bytes(), 0u);
    w.add(Index(1), 5);  // after a reset, indexes may start over (a new probe)
    EXPECT_EQ(w.count(), 1u);
}

// Death tests match the asserted condition, not its message: base/assert.h
// currently drops the formatted message (it passes it as an argument to an
// empty format string).
TEST(InflightsDeathTest, AddToFullWindowAborts) {
    Inflights w({.appends_max = 1, .bytes_max = 0});
    w.add(Index(1), 1);
    EXPECT_DEATH(w.add(Index(2), 1), "is_full");
}

TEST(InflightsDeathTest, IndexesMustIncrease) {
    Inflights w({.appends_max = 4, .bytes_max = 0});
    w.add(Index(5), 1);
    EXPECT_DEATH(w.add(Index(5), 1), "back\\(\\).last_index < last_index");
}

TEST(Inflights, RandomRunMatchesVectorModel) {
    const std::uint64_t seed = testing::test_seed(0x1f11);
    SCOPED_TRACE(testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    const InflightsLimits limits{.appends_max = 1 + rng() % 8, .bytes_max = rng() % 3 * 50};
    Inflights w(limits);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> model;  // (last index, bytes)
    std::uint64_t next_index = 1;
    for (int step = 0; step < 20000; ++step) {
        std::uint64_t model_bytes = 0;
        for (auto [index, bytes] : model) model_bytes += bytes;
        const bool model_full = model.size() >= limits.appends_max ||
                                (limits.bytes_max != 0 && model_bytes >= limits.bytes_max);
        ASSERT_EQ(w.is_full(), model_full) << "step " << step;
        ASSERT_EQ(w.count(), model.size()) << "step " << step;
        ASSERT_EQ(w.bytes(), model_bytes) << "step " << step;
        const std::uint64_t op = rng() % 10;
        if (op < 6 && !model_full) {
            next_index += 1 + rng() % 3;
            const std::uint64_t bytes = rng() % 40;
            w.add(Index(next_index), bytes);
            model.emplace_back(next_index, bytes);
        } else if (op < 9) {
            const std::uint64_t ack = next_index - rng() % 6;
            w.free_le(Index(ack));
            std::erase_if(model, [&](const auto& m) { return m.first <= ack; });
        } else {
            w.reset();
            model.clear();
        }
    }
}

}  // namespace
}  // namespace raftkv::raft
