// linearizability_test.cc — the checker against classic small histories, a
// random property test, the search budget and the failure report.
//
// Histories are written in the text format (docs/history_format.md), one
// operation per line: `client call return outcome command [-> reply]`.
#include "sim/linearizability.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <random>
#include <span>
#include <string>

#include "testing/seed.h"

namespace raftkv::sim {
namespace {

History history_from(std::string_view body) {
    Result<History> h = parse_history("raftkv-history 1 ticks\n" + std::string(body), "case");
    EXPECT_TRUE(h) << h.error().to_string();
    return h ? *h : History{};
}

struct Case {
    std::string_view name;
    std::string_view history;
    Verdict want;
};

void run_cases(std::span<const Case> cases) {
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        const CheckResult r = check_linearizable(history_from(c.history));
        EXPECT_EQ(verdict_name(r.verdict), verdict_name(c.want)) << r.report();
    }
}

constexpr Verdict kYes = Verdict::kLinearizable;
constexpr Verdict kNo = Verdict::kNotLinearizable;

TEST(Linearizability, SequentialHistories) {
    const Case cases[] = {
        {"empty history", "", kYes},
        {"get of a missing key is nil", "1 0 1 ok get \"x\" -> nil\n", kYes},
        {"get of a missing key is not a value", "1 0 1 ok get \"x\" -> \"\"\n", kNo},
        {"read your write",
         "1 0 10 ok set \"x\" \"1\" -> ok\n"
         "1 20 30 ok get \"x\" -> \"1\"\n",
         kYes},
        {"read a value nobody wrote",
         "1 0 10 ok set \"x\" \"1\" -> ok\n"
         "1 20 30 ok get \"x\" -> \"2\"\n",
         kNo},
        {"last write wins",
         "1 0 10 ok set \"x\" \"1\" -> ok\n"
         "2 11 12 ok set \"x\" \"2\" -> ok\n"
         "1 20 30 ok get \"x\" -> \"1\"\n",
         kNo},
        {"lines in any order",
         "1 20 30 ok get \"x\" -> \"2\"\n"
         "2 11 12 ok set \"x\" \"2\" -> ok\n"
         "1 0 10 ok set \"x\" \"1\" -> ok\n",
         kYes},
        {"del then get",
         "1 0 1 ok set \"x\" \"1\" -> ok\n"
         "1 2 3 ok del \"x\" -> 1\n"
         "1 4 5 ok get \"x\" -> nil\n"
         "1 6 7 ok del \"x\" -> 0\n",
         kYes},
        {"del of a present key says 1", "1 0 1 ok set \"x\" \"1\" -> ok\n1 2 3 ok del \"x\" -> 0\n",
         kNo},
        {"calls that touch in time are concurrent",
         "1 0 10 ok set \"x\" \"1\" -> ok\n"
         "2 10 20 ok get \"x\" -> nil\n",
         kYes},
    };
    run_cases(cases);
}

TEST(Linearizability, ConcurrentReadsAndWrites) {
    const Case cases[] = {
        {"a read during a write sees the new value",
         "1 0 100 ok set \"x\" \"1\" -> ok\n"
         "2 10 20 ok get \"x\" -> \"1\"\n",
         kYes},
        {"a read during a write sees the old value",
         "1 0 100 ok set \"x\" \"1\" -> ok\n"
         "2 10 20 ok get \"x\" -> nil\n",
         kYes},
        {"stale read after a completed write",
         "1 0 10 ok set \"x\" \"1\" -> ok\n"
         "2 20 30 ok get \"x\" -> nil\n",
         kNo},
        {"reads see new then old: no order allows it",
         "1 0 100 ok set \"x\" \"1\" -> ok\n"
         "2 10 20 ok get \"x\" -> \"1\"\n"
         "3 30 40 ok get \"x\" -> nil\n",
         kNo},
        {"reads see old then new",
         "1 0 100 ok set \"x\" \"1\" -> ok\n"
         "2 10 20 ok get \"x\" -> nil\n"
         "3 30 40 ok get \"x\" -> \"1\"\n",
         kYes},
        {"two writers, readers disagree on their order",
         "1 0 100 ok set \"x\" \"a\" -> ok\n"
         "2 0 100 ok set \"x\" \"b\" -> ok\n"
         "3 10 20 ok get \"x\" -> \"a\"\n"
         "3 30 40 ok get \"x\" -> \"b\"\n"
         "4 10 20 ok get \"x\" -> \"b\"\n"
         "4 30 40 ok get \"x\" -> \"a\"\n",
         kNo},
        {"two writers, readers agree on their order",
         "1 0 100 ok set \"x\" \"a\" -> ok\n"
         "2 0 100 ok set \"x\" \"b\" -> ok\n"
         "3 10 20 ok get \"x\" -> \"a\"\n"
         "3 30 40 ok get \"x\" -> \"b\"\n"
         "4 10 20 ok get \"x\" -> \"a\"\n"
         "4 30 40 ok get \"x\" -> \"b\"\n",
         kYes},
    };
    run_cases(cases);
}

TEST(Linearizability, FailedAndUnknownOutcomes) {
    const Case cases[] = {
        {"unknown write whose value appears later",
         "1 0 5 unknown set \"x\" \"1\"\n"
         "2 50 60 ok get \"x\" -> \"1\"\n",
         kYes},
        {"unknown write that never returned, value appears",
         "1 0 - unknown set \"x\" \"1\"\n"
         "2 50 60 ok get \"x\" -> \"1\"\n",
         kYes},
        {"unknown write whose value never appears",
         "1 0 5 unknown set \"x\" \"1\"\n"
         "2 50 60 ok get \"x\" -> nil\n",
         kYes},
        {"unknown write takes effect only after its call",
         "2 0 10 ok get \"x\" -> \"1\"\n"
         "1 20 30 unknown set \"x\" \"1\"\n",
         kNo},
        {"unknown write appears then vanishes",
         "1 0 5 unknown set \"x\" \"1\"\n"
         "2 50 60 ok get \"x\" -> \"1\"\n"
         "2 70 80 ok get \"x\" -> nil\n",
         kNo},
        {"failed write whose value appears",
         "1 0 5 failed set \"x\" \"1\"\n"
         "2 50 60 ok get \"x\" -> \"1\"\n",
         kNo},
        {"failed write whose value never appears",
         "1 0 5 failed set \"x\" \"1\"\n"
         "2 50 60 ok get \"x\" -> nil\n",
         kYes},
        {"unknown read constrains nothing",
         "1 0 5 unknown get \"x\"\n"
         "2 50 60 ok get \"x\" -> nil\n",
         kYes},
        {"unknown incr explains a skipped number",
         "1 0 5 unknown incr \"n\" 1\n"
         "2 50 60 ok incr \"n\" 1 -> 2\n",
         kYes},
        {"unknown incr applies at most once",
         "1 0 5 unknown incr \"n\" 1\n"
         "2 50 60 ok incr \"n\" 1 -> 3\n",
         kNo},
        {"many unknown writes, one of them seen",
         "1 0 - unknown set \"x\" \"1\"\n"
         "2 0 - unknown set \"x\" \"2\"\n"
         "3 0 - unknown set \"x\" \"3\"\n"
         "4 0 - unknown set \"x\" \"4\"\n"
         "5 50 60 ok get \"x\" -> \"3\"\n"
         "5 70 80 ok get \"x\" -> \"2\"\n",
         kYes},
    };
    run_cases(cases);
}

TEST(Linearizability, IncrAndCas) {
    const Case cases[] = {
        {"incr sequence",
         "1 0 1 ok incr \"n\" 1 -> 1\n"
         "1 2 3 ok incr \"n\" 5 -> 6\n"
         "1 4 5 ok incr \"n\" -10 -> -4\n"
         "1 6 7 ok get \"n\" -> \"-4\"\n",
         kYes},
        {"concurrent incrs in either order",
         "1 0 10 ok incr \"n\" 1 -> 2\n"
         "2 0 10 ok incr \"n\" 1 -> 1\n",
         kYes},
        {"lost increment: both saw 0",
         "1 0 10 ok incr \"n\" 1 -> 1\n"
         "2 0 10 ok incr \"n\" 1 -> 1\n",
         kNo},
        {"lost increment seen by a read",
         "1 0 1 ok incr \"n\" 1 -> 1\n"
         "2 2 3 ok incr \"n\" 1 -> 2\n"
         "3 4 5 ok get \"n\" -> \"1\"\n",
         kNo},
        {"incr of a non-integer does nothing",
         "1 0 1 ok set \"n\" \"a\" -> ok\n"
         "1 2 3 ok incr \"n\" 1 -> not-applied\n"
         "1 4 5 ok get \"n\" -> \"a\"\n",
         kYes},
        {"incr of a non-integer cannot succeed",
         "1 0 1 ok set \"n\" \"a\" -> ok\n1 2 3 ok incr \"n\" 1 -> 1\n", kNo},
        {"incr wants Redis's strict integer form",
         "1 0 1 ok set \"n\" \"01\" -> ok\n1 2 3 ok incr \"n\" 1 -> not-applied\n", kYes},
        {"incr overflow does nothing",
         "1 0 1 ok set \"n\" \"9223372036854775807\" -> ok\n"
         "1 2 3 ok incr \"n\" 1 -> not-applied\n"
         "1 4 5 ok incr \"n\" -1 -> 9223372036854775806\n",
         kYes},
        {"incr of a set number",
         "1 0 1 ok set \"n\" \"41\" -> ok\n"
         "1 2 3 ok incr \"n\" 1 -> 42\n",
         kYes},
        {"cas race: one wins",
         "1 0 1 ok set \"x\" \"0\" -> ok\n"
         "2 10 20 ok cas \"x\" \"0\" \"a\" -> ok\n"
         "3 10 20 ok cas \"x\" \"0\" \"b\" -> not-applied\n"
         "4 30 40 ok get \"x\" -> \"a\"\n",
         kYes},
        {"cas race: both win",
         "1 0 1 ok set \"x\" \"0\" -> ok\n"
         "2 10 20 ok cas \"x\" \"0\" \"a\" -> ok\n"
         "3 10 20 ok cas \"x\" \"0\" \"b\" -> ok\n",
         kNo},
        {"cas race: the loser's value stays",
         "1 0 1 ok set \"x\" \"0\" -> ok\n"
         "2 10 20 ok cas \"x\" \"0\" \"a\" -> ok\n"
         "3 10 20 ok cas \"x\" \"0\" \"b\" -> not-applied\n"
         "4 30 40 ok get \"x\" -> \"b\"\n",
         kNo},
        {"cas chain",
         "2 10 20 ok cas \"x\" \"1\" \"2\" -> ok\n"
         "3 10 20 ok cas \"x\" nil \"1\" -> ok\n"
         "4 10 20 ok cas \"x\" \"2\" \"3\" -> ok\n"
         "4 30 40 ok get \"x\" -> \"3\"\n",
         kYes},
        {"cas nil on a present key does nothing",
         "1 0 1 ok set \"x\" \"0\" -> ok\n"
         "2 2 3 ok cas \"x\" nil \"1\" -> not-applied\n",
         kYes},
    };
    run_cases(cases);
}

History timed_history(std::string_view body, std::int64_t skew_ms) {
    Result<History> h = parse_history(
        fmt::format("raftkv-history 2 ticks\nclock 1 0 {}\n{}", skew_ms, body), "case");
    EXPECT_TRUE(h) << h.error().to_string();
    return h ? *h : History{};
}

// Expiry (issue 11): with a clock, an operation takes effect at one clock
// time inside [call - skew, return + skew], times never go back, and a key
// whose deadline is before that time is gone (redis.io/commands/set, PXAT;
// "expired iff deadline < now", as Redis). Times here are ms.
TEST(Linearizability, ExpiryByTheClock) {
    struct TimedCase {
        std::string_view name;
        std::int64_t skew_ms;
        std::string history;
        Verdict want;
    };
    constexpr std::string_view kSet = "1 0 10 ok set \"k\" \"v\" pxat 100 -> ok\n";
    const std::string set(kSet);
    const TimedCase cases[] = {
        {"alive before its deadline", 0, set + "2 50 60 ok get \"k\" -> \"v\"\n", kYes},
        {"alive at its deadline", 0, set + "2 100 100 ok get \"k\" -> \"v\"\n", kYes},
        {"seen alive after its deadline", 0, set + "2 200 210 ok get \"k\" -> \"v\"\n", kNo},
        {"gone after its deadline", 0, set + "2 200 210 ok get \"k\" -> nil\n", kYes},
        {"gone before its deadline", 0, set + "2 50 60 ok get \"k\" -> nil\n", kNo},
        {"skew lets a late read see it alive", 100, set + "2 150 160 ok get \"k\" -> \"v\"\n",
         kYes},
        {"but not later than the skew", 100, set + "2 250 260 ok get \"k\" -> \"v\"\n", kNo},
        {"concurrent reads across the deadline", 0,
         set + "2 95 105 ok get \"k\" -> nil\n3 90 110 ok get \"k\" -> \"v\"\n", kYes},
        // Once an operation saw the key expired, no later one sees it alive,
        // whatever the skew: time never goes back.
        {"expired, then alive again", 100,
         set + "2 150 160 ok get \"k\" -> nil\n3 170 180 ok get \"k\" -> \"v\"\n", kNo},
        {"incr keeps the deadline", 0,
         "1 0 10 ok set \"k\" \"5\" pxat 100 -> ok\n2 20 30 ok incr \"k\" 1 -> 6\n"
         "3 200 210 ok get \"k\" -> nil\n",
         kYes},
        {"incr's value outlives the deadline", 0,
         "1 0 10 ok set \"k\" \"5\" pxat 100 -> ok\n2 20 30 ok incr \"k\" 1 -> 6\n"
         "3 200 210 ok get \"k\" -> \"6\"\n",
         kNo},
        {"incr of an expired key starts at 0", 0,
         "1 0 10 ok set \"k\" \"5\" pxat 100 -> ok\n2 200 210 ok incr \"k\" 1 -> 1\n", kYes},
        {"an unknown incr may land after the deadline", 0,
         "1 0 10 ok set \"k\" \"5\" pxat 100 -> ok\n2 90 - unknown incr \"k\" 1\n"
         "3 300 310 ok get \"k\" -> \"1\"\n",
         kYes},
        {"but what it wrote before the deadline expires", 0,
         "1 0 10 ok set \"k\" \"5\" pxat 100 -> ok\n2 90 - unknown incr \"k\" 1\n"
         "3 300 310 ok get \"k\" -> \"6\"\n",
         kNo},
        {"set nx on an expired key", 0, set + "2 200 210 ok cas \"k\" nil \"w\" -> ok\n", kYes},
        {"set nx on a live key", 0, set + "2 50 60 ok cas \"k\" nil \"w\" -> ok\n", kNo},
        {"a plain set clears the deadline", 0,
         set + "2 20 30 ok set \"k\" \"w\" -> ok\n3 200 210 ok get \"k\" -> \"w\"\n", kYes},
        {"del of an expired key", 0, set + "2 200 210 ok del \"k\" -> 0\n", kYes},
        {"del of an expired key finds nothing", 0, set + "2 200 210 ok del \"k\" -> 1\n", kNo},
        {"a deadline already past", 0,
         "1 50 60 ok set \"k\" \"v\" pxat 10 -> ok\n2 70 80 ok get \"k\" -> nil\n", kYes},
    };
    for (const TimedCase& c : cases) {
        SCOPED_TRACE(c.name);
        const CheckResult r = check_linearizable(timed_history(c.history, c.skew_ms));
        EXPECT_EQ(verdict_name(r.verdict), verdict_name(c.want)) << r.report();
    }
}

TEST(Linearizability, KeysAreIndependent) {
    const History h = history_from(
        "1 0 10 ok set \"x\" \"1\" -> ok\n"
        "2 0 10 ok set \"y\" \"1\" -> ok\n"
        "1 20 30 ok get \"y\" -> \"1\"\n"
        "2 20 30 ok get \"x\" -> \"1\"\n"
        "3 5 6 ok set \"z\" \"1\" -> ok\n"
        "3 7 8 ok get \"z\" -> nil\n"
        "4 0 1 ok get \"a\" -> nil\n");
    const CheckResult r = check_linearizable(h);
    EXPECT_EQ(r.verdict, Verdict::kNotLinearizable);
    ASSERT_EQ(r.keys.size(), 4u);
    const char* want_keys[] = {"a", "x", "y", "z"};
    for (std::size_t i = 0; i < r.keys.size(); ++i) {
        SCOPED_TRACE(want_keys[i]);
        EXPECT_EQ(r.keys[i].key, want_keys[i]);
        EXPECT_EQ(r.keys[i].verdict, i == 3 ? kNo : kYes);
    }
    EXPECT_EQ(r.keys[1].op_count, 2u);
}

TEST(Linearizability, ReportNamesKeyAndOperations) {
    const History h = history_from(
        "1 0 10 ok set \"k\\x00\" \"1\" -> ok\n"
        "2 20 30 ok get \"k\\x00\" -> \"1\"\n"
        "2 40 50 ok get \"k\\x00\" -> nil\n"
        "3 0 1 ok get \"fine\" -> nil\n");
    const CheckResult r = check_linearizable(h);
    const std::string report = r.report();
    const char* want[] = {
        "not linearizable: 2 keys, 4 operations; 1 keys not linearizable, 0 gave up",
        "key \"k\\x00\": not linearizable (3 operations",
        "longest linearizable prefix: 2 of 3 operations",
        "#0     1 0 10 ok set \"k\\x00\" \"1\" -> ok   => \"1\"",
        "#1     2 20 30 ok get \"k\\x00\" -> \"1\"   => \"1\"",
        "then, with the value \"1\", no pending operation can go next, and #2 returns",
        "#2     2 40 50 ok get \"k\\x00\" -> nil   (the model replies \"1\")",
    };
    for (const char* w : want) EXPECT_NE(report.find(w), std::string::npos) << w << "\n" << report;
    EXPECT_EQ(report.find("fine"), std::string::npos) << report;
    EXPECT_EQ(check_linearizable(h).report(), report);  // deterministic
}

TEST(Linearizability, GivesUpWithinBudget) {
    // 12 concurrent writers, then a read of a value none wrote: the search
    // tries every subset of writers before it can say no.
    std::string body;
    for (int i = 0; i < 12; ++i) body += fmt::format("{} 0 100 ok set \"x\" \"{}\" -> ok\n", i, i);
    body += "99 200 300 ok get \"x\" -> \"none\"\n";
    const History h = history_from(body);
    const CheckResult small = check_linearizable(h, {.steps_max_per_key = 1000});
    EXPECT_EQ(small.verdict, Verdict::kUnknown) << small.report();
    EXPECT_NE(small.report().find("gave up after 1000 steps"), std::string::npos) << small.report();
    const CheckResult tiny_cache = check_linearizable(h, {.cache_bytes_max_per_key = 4096});
    EXPECT_EQ(tiny_cache.verdict, Verdict::kUnknown) << tiny_cache.report();
    const CheckResult full = check_linearizable(h);
    EXPECT_EQ(full.verdict, Verdict::kNotLinearizable) << full.report();
}

// Files as the harness writes them (tests/sim/testdata/history_*.txt).
TEST(Linearizability, HistoryFilesFromTestdata) {
    const std::filesystem::path dir = std::filesystem::path(__FILE__).parent_path() / "testdata";
    struct Case {
        std::string_view file;
        Verdict want;
        std::string_view report_has;
    };
    const Case cases[] = {
        {"history_register_ok.txt", kYes, "linearizable: 2 keys, 9 operations"},
        {"history_lost_increment.txt", kNo, "#3     1 300 310 ok get \"n\" -> \"2\"   (the model"},
        {"history_stale_read.txt", kNo, "#1     2 150 151 ok get \"k\" -> \"old\"   (the model"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.file);
        Result<History> h = read_history_file(dir / c.file);
        ASSERT_TRUE(h) << h.error().to_string();
        const CheckResult r = check_linearizable(*h);
        EXPECT_EQ(verdict_name(r.verdict), verdict_name(c.want)) << r.report();
        EXPECT_NE(r.report().find(c.report_has), std::string::npos) << r.report();
    }
}

// ---- Property test: histories from a sequential model, made concurrent. ----

struct Generated {
    History history;
    std::vector<std::size_t> ok_gets;  // positions of get operations with outcome ok
};

// Runs random operations one after another on a model of registers, each at
// its own instant 10*i, then widens every interval at random around that
// instant: the instants are still a valid linearization, so the history must
// be linearizable however wide the intervals grow.
Generated generate(std::mt19937_64& rng, int op_count, int key_count, std::int64_t widen_max) {
    std::map<std::string, Value> model;
    Generated g;
    g.history.time_unit = TimeUnit::kTicks;
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
    for (int i = 0; i < op_count; ++i) {
        Operation op{.client = static_cast<std::uint64_t>(pick(5))};
        op.key = fmt::format("k{}", pick(key_count));
        op.kind = static_cast<OpKind>(pick(5));
        Value& reg = model[op.key];
        const std::string fresh = fmt::format("v{}", i);
        switch (op.kind) {
            case OpKind::kGet:
                op.reply = reg ? Reply{.kind = ReplyKind::kValue, .bytes = *reg}
                               : Reply{.kind = ReplyKind::kNil};
                break;
            case OpKind::kSet:
                op.value = fresh;
                break;
            case OpKind::kIncr:
                op.delta = pick(7) - 3;
                break;
            case OpKind::kCas:
                op.value = fresh;
                op.expected = pick(3) == 0 ? Value() : reg;
                if (pick(4) == 0) op.expected = "stale";
                break;
            case OpKind::kDel:
                break;
        }
        // A few writes fail (never applied) or are unknown (applied or not).
        const int fate = op.kind == OpKind::kGet ? 99 : pick(100);
        op.outcome = fate < 4 ? Outcome::kFailed : fate < 8 ? Outcome::kUnknown : Outcome::kOk;
        const bool takes_effect =
            op.outcome == Outcome::kOk || (op.outcome == Outcome::kUnknown && pick(2) == 0);
        if (takes_effect) {
            switch (op.kind) {
                case OpKind::kGet:
                    break;
                case OpKind::kSet:
                    reg = op.value;
                    op.reply = {.kind = ReplyKind::kOk};
                    break;
                case OpKind::kDel:
                    op.reply = {.kind = ReplyKind::kInteger, .integer = reg ? 1 : 0};
                    reg = std::nullopt;
                    break;
                case OpKind::kCas:
                    op.reply = {.kind =
                                    reg == op.expected ? ReplyKind::kOk : ReplyKind::kNotApplied};
                    if (reg == op.expected) reg = op.value;
                    break;
                case OpKind::kIncr: {
                    std::int64_t n = 0;
                    if (reg) {
                        const char* end = reg->data() + reg->size();
                        const auto [ptr, ec] = std::from_chars(reg->data(), end, n);
                        if (ec != std::errc() || ptr != end || fmt::format("{}", n) != *reg) {
                            op.reply = {.kind = ReplyKind::kNotApplied};
                            break;
                        }
                    }
                    n += op.delta;
                    reg = fmt::format("{}", n);
                    op.reply = {.kind = ReplyKind::kInteger, .integer = n};
                    break;
                }
            }
        }
        if (op.outcome != Outcome::kOk) op.reply = {};
        const std::int64_t at = 10 * static_cast<std::int64_t>(i);
        op.call_time =
            at - static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(widen_max + 1));
        op.return_time =
            at + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(widen_max + 1));
        if (op.outcome == Outcome::kUnknown && pick(2) == 0) op.return_time = kNeverReturned;
        if (op.outcome == Outcome::kOk && op.kind == OpKind::kGet) {
            g.ok_gets.push_back(g.history.ops.size());
        }
        g.history.ops.push_back(std::move(op));
    }
    std::shuffle(g.history.ops.begin(), g.history.ops.end(), rng);  // lines come in any order
    g.ok_gets.clear();
    for (std::size_t i = 0; i < g.history.ops.size(); ++i) {
        const Operation& op = g.history.ops[i];
        if (op.outcome == Outcome::kOk && op.kind == OpKind::kGet) g.ok_gets.push_back(i);
    }
    return g;
}

TEST(Linearizability, RandomConcurrentHistoriesFromAModel) {
    const std::uint64_t seed = raftkv::testing::test_seed();
    SCOPED_TRACE(raftkv::testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    for (int round = 0; round < 150; ++round) {
        SCOPED_TRACE(fmt::format("round {}", round));
        const int key_count = 1 + static_cast<int>(rng() % 3);
        const std::int64_t widen_max = 5 + static_cast<std::int64_t>(rng() % 40);
        Generated g = generate(rng, 60, key_count, widen_max);
        ASSERT_TRUE(validate_history(g.history).is_ok()) << validate_history(g.history).to_string();
        const CheckResult ok = check_linearizable(g.history);
        ASSERT_EQ(ok.verdict, Verdict::kLinearizable) << ok.report() << format_history(g.history);
        if (g.ok_gets.empty()) continue;
        // A read of a value nobody ever wrote cannot be explained.
        Operation& victim = g.history.ops[g.ok_gets[rng() % g.ok_gets.size()]];
        victim.reply = {.kind = ReplyKind::kValue, .bytes = "never written"};
        const CheckResult bad = check_linearizable(g.history);
        ASSERT_EQ(bad.verdict, Verdict::kNotLinearizable)
            << bad.report() << format_history(g.history);
        EXPECT_NE(bad.report().find(format_value(victim.key)), std::string::npos);
    }
}

// A history the size of a short harness run stays cheap: the search cost
// grows with concurrency, not length.
TEST(Linearizability, LongHistoryChecksQuickly) {
    const std::uint64_t seed = raftkv::testing::test_seed(0x5eed);
    SCOPED_TRACE(raftkv::testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    const Generated g = generate(rng, 5000, 5, 40);
    const CheckResult r = check_linearizable(g.history);
    ASSERT_EQ(r.verdict, Verdict::kLinearizable) << r.report();
    std::uint64_t steps = 0;
    for (const KeyCheck& k : r.keys) steps += k.steps;
    EXPECT_LT(steps, 1'000'000u);
}

}  // namespace
}  // namespace raftkv::sim
