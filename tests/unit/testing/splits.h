// splits.h — feeds one input to a stream parser whole, byte by byte and in
// random seeded splits, and checks that the outcome does not depend on the
// split.
//
// Knows nothing of any parser: the test passes a function that feeds a list
// of pieces and returns a comparable outcome (with a PrintTo for failures).
// Random splits take their seed from testing/seed.h.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

#include "testing/seed.h"

namespace raftkv::testing {

// Pieces of one input, in order; they point into the input.
using Pieces = std::vector<std::string_view>;

// `in` as pieces of one byte each.
inline Pieces byte_split(std::string_view in) {
    Pieces pieces;
    for (std::size_t i = 0; i < in.size(); ++i) pieces.push_back(in.substr(i, 1));
    return pieces;
}

// `in` cut at random places, drawn from `rng`: mostly pieces of at most 8
// bytes, sometimes bigger ones.
inline Pieces random_split(std::string_view in, std::mt19937_64* rng) {
    Pieces pieces;
    while (!in.empty()) {
        const std::size_t max = (*rng)() % 4 == 0 ? in.size() : 8;
        const std::size_t n = 1 + (*rng)() % std::min(max, in.size());
        pieces.push_back(in.substr(0, n));
        in.remove_prefix(n);
    }
    return pieces;
}

// Expects feed(pieces) == want for `in` fed whole, byte by byte and in 20
// random splits; a failure names the way it was fed and, for random splits,
// the seed. `feed` takes a const Pieces&.
template <typename Outcome, typename Feed>
void expect_every_split(std::string_view in, const Outcome& want, Feed feed) {
    {
        SCOPED_TRACE("whole");
        EXPECT_EQ(feed(Pieces{in}), want);
    }
    {
        SCOPED_TRACE("byte by byte");
        EXPECT_EQ(feed(byte_split(in)), want);
    }
    const std::uint64_t seed = test_seed();
    SCOPED_TRACE("random splits " + seed_trace(seed));
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(feed(random_split(in, &rng)), want);
}

}  // namespace raftkv::testing
