// regression_seeds_test.cc — random-run seeds (sim/random_run.h) that once
// failed, kept so that what they found stays fixed. Each case says what the
// seed found; `build/raftkv-sim --seed S --trace` replays it with every event.
//
// A seed whose bug is not fixed yet is listed under OpenCoreBugs: those
// tests fail until the raft core is fixed, on purpose. Move the case to
// FixedSeeds with the fix.
#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>

#include "sim/random_run.h"

namespace raftkv::sim {
namespace {

struct Case {
    std::uint64_t seed;
    std::string_view found;
};

void expect_passes(const Case& c) {
    SCOPED_TRACE(testing::Message() << "seed " << c.seed << ": " << c.found
                                    << "\nreplay: build/raftkv-sim --seed " << c.seed);
    const RandomRunResult r = run_random({.seed = c.seed});
    EXPECT_TRUE(r.ok) << r.failure << "\nconfig: " << r.config << "\nlast events:\n" << r.trace;
}

// Seeds that found driver or generator mistakes; they pass now.
TEST(RegressionSeeds, FixedSeeds) {
    const Case cases[] = {
        {331, "probe write sent to a leader that removed itself: retried, not a liveness failure"},
        {1269, "two voters, one stale: split votes for 10 election timeouts (bound now 25)"},
        {14633, "a write whose index got the next leader's no-op was never answered"},
        {41794, "probe write lost with its leader after the heal; timed out after the bound"},
    };
    for (const Case& c : cases) expect_passes(c);
}

// Found a core bug, fixed (node_test: AVoteRequestFromALowerTermIsAnsweredWithOurTerm).
// Voters {2, 4}; n2 had a stale log and configuration (voters 1 2 3) and a
// higher term (52) than n4 (39). n2 dropped n4's lower-term vote requests
// without an answer and never wrote to n4, which it did not know was a
// voter; so n4 never learned term 52 and no leader was ever elected.
// Figure 2: a RequestVote reply carries currentTerm "for candidate to
// update itself"; it now does for a lower-term request too.
TEST(RegressionSeeds, Seed2688_LowerTermVoteIsAnsweredWithOurTerm) {
    expect_passes({2688, "liveness: candidate with a lower term never learns the voter's term"});
}

}  // namespace
}  // namespace raftkv::sim
