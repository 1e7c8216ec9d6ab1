// history_test.cc — the history text format: round trips, escapes and errors.
//
// Format spec: docs/history_format.md. The checker's tests are in
// linearizability_test.cc.
#include "sim/history.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>

#include "testing/seed.h"

namespace raftkv::sim {
namespace {

std::string all_bytes() {
    std::string s;
    for (int c = 0; c < 256; ++c) s.push_back(static_cast<char>(c));
    return s;
}

History sample_history() {
    History h{.time_unit = TimeUnit::kTicks};
    h.ops.push_back({.client = 1,
                     .kind = OpKind::kSet,
                     .key = "a",
                     .value = "1",
                     .reply = {.kind = ReplyKind::kOk},
                     .call_time = 0,
                     .return_time = 10});
    h.ops.push_back({.client = 2,
                     .kind = OpKind::kGet,
                     .key = "a",
                     .reply = {.kind = ReplyKind::kValue, .bytes = "1"},
                     .call_time = 5,
                     .return_time = 12});
    h.ops.push_back({.client = 2,
                     .kind = OpKind::kGet,
                     .key = "a",
                     .reply = {.kind = ReplyKind::kNil},
                     .call_time = -3,
                     .return_time = -1});
    h.ops.push_back({.client = 3,
                     .kind = OpKind::kIncr,
                     .key = "n",
                     .delta = -7,
                     .reply = {.kind = ReplyKind::kInteger, .integer = -7},
                     .call_time = 1,
                     .return_time = 2});
    h.ops.push_back({.client = 3,
                     .kind = OpKind::kIncr,
                     .key = "s",
                     .delta = 1,
                     .reply = {.kind = ReplyKind::kNotApplied},
                     .call_time = 1,
                     .return_time = 2});
    h.ops.push_back({.client = 4,
                     .kind = OpKind::kCas,
                     .key = "a",
                     .value = "2",
                     .expected = std::nullopt,
                     .reply = {.kind = ReplyKind::kNotApplied},
                     .call_time = 3,
                     .return_time = 4});
    h.ops.push_back({.client = 4,
                     .kind = OpKind::kCas,
                     .key = "a",
                     .value = "nil",
                     .expected = "nil",
                     .reply = {.kind = ReplyKind::kOk},
                     .call_time = 3,
                     .return_time = 4});
    h.ops.push_back({.client = 5,
                     .kind = OpKind::kDel,
                     .key = "a",
                     .reply = {.kind = ReplyKind::kInteger, .integer = 1},
                     .call_time = 6,
                     .return_time = 6});
    h.ops.push_back({.client = 6,
                     .kind = OpKind::kSet,
                     .key = all_bytes(),
                     .value = all_bytes(),
                     .outcome = Outcome::kUnknown,
                     .call_time = 7,
                     .return_time = kNeverReturned});
    h.ops.push_back({.client = 18446744073709551615ull,
                     .kind = OpKind::kSet,
                     .key = "",
                     .value = "",
                     .outcome = Outcome::kFailed,
                     .call_time = 7,
                     .return_time = 9});
    h.ops.push_back({.client = 7,
                     .kind = OpKind::kIncr,
                     .key = "q \"x\" \\",
                     .delta = std::numeric_limits<std::int64_t>::min(),
                     .outcome = Outcome::kUnknown,
                     .call_time = 8,
                     .return_time = 20});
    return h;
}

TEST(HistoryFormat, RoundTripKeepsEveryField) {
    const History h = sample_history();
    ASSERT_TRUE(validate_history(h).is_ok()) << validate_history(h).to_string();
    const std::string text = format_history(h);
    Result<History> back = parse_history(text);
    ASSERT_TRUE(back) << back.error().to_string() << "\n" << text;
    EXPECT_EQ(*back, h) << text;
    EXPECT_EQ(format_history(*back), text);
}

// Version 2 (expiry): a clock line and set/cas deadlines survive the round
// trip; a history without a clock is still written as version 1.
TEST(HistoryFormat, Version2CarriesTheClockAndDeadlines) {
    History h{
        .time_unit = TimeUnit::kTicks,
        .clock = ClockModel{.units_per_ms = 20, .origin_ms = 1'700'000'000'000, .skew_ms = 75}};
    h.ops.push_back(Operation{.client = 1,
                              .kind = OpKind::kSet,
                              .key = "k",
                              .value = "v",
                              .expire_at_ms = 1'700'000'000'500,
                              .reply = {.kind = ReplyKind::kOk},
                              .call_time = 0,
                              .return_time = 40});
    h.ops.push_back(Operation{.client = 2,
                              .kind = OpKind::kCas,
                              .key = "k",
                              .value = "w",
                              .expected = std::nullopt,
                              .expire_at_ms = 7,
                              .outcome = Outcome::kUnknown,
                              .call_time = 10,
                              .return_time = kNeverReturned});
    const std::string text = format_history(h);
    EXPECT_EQ(text,
              "raftkv-history 2 ticks\n"
              "clock 20 1700000000000 75\n"
              "1 0 40 ok set \"k\" \"v\" pxat 1700000000500 -> ok\n"
              "2 10 - unknown cas \"k\" nil \"w\" pxat 7\n");
    Result<History> back = parse_history(text);
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(*back, h);
    h.clock.reset();
    EXPECT_FALSE(validate_history(h).is_ok()) << "a deadline needs the clock";
    for (Operation& op : h.ops) op.expire_at_ms.reset();
    EXPECT_TRUE(format_history(h).starts_with("raftkv-history 1 ticks\n"));
}

TEST(HistoryFormat, WritesReadableLines) {
    struct Case {
        std::string_view name;
        Operation op;
        std::string_view want;
    };
    const Case cases[] = {
        {"get with a value",
         {.client = 2,
          .kind = OpKind::kGet,
          .key = "k",
          .reply = {.kind = ReplyKind::kValue, .bytes = "v"},
          .call_time = 5,
          .return_time = 9},
         R"(2 5 9 ok get "k" -> "v")"},
        {"cas on a missing key",
         {.client = 7,
          .kind = OpKind::kCas,
          .key = "k",
          .value = "v",
          .expected = std::nullopt,
          .reply = {.kind = ReplyKind::kNotApplied},
          .call_time = 100,
          .return_time = 250},
         R"(7 100 250 ok cas "k" nil "v" -> not-applied)"},
        {"binary bytes are escaped",
         {.client = 1,
          .kind = OpKind::kSet,
          .key = std::string("a\0\n\xff", 4),
          .value = "\"\\\t\r",
          .outcome = Outcome::kUnknown,
          .call_time = 1,
          .return_time = kNeverReturned},
         R"(1 1 - unknown set "a\x00\n\xff" "\"\\\t\r")"},
        {"incr with a negative delta",
         {.client = 3,
          .kind = OpKind::kIncr,
          .key = "n",
          .delta = -2,
          .reply = {.kind = ReplyKind::kInteger, .integer = -2},
          .call_time = 0,
          .return_time = 1},
         R"(3 0 1 ok incr "n" -2 -> -2)"},
        {"failed del",
         {.client = 3,
          .kind = OpKind::kDel,
          .key = "n",
          .outcome = Outcome::kFailed,
          .call_time = 0,
          .return_time = 1},
         R"(3 0 1 failed del "n")"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(format_operation(c.op), c.want);
    }
}

TEST(HistoryFormat, ReaderSkipsCommentsBlankLinesAndCarriageReturns) {
    const std::string text =
        "raftkv-history 1 ns\r\n"
        "# a comment with \"quotes\r\n"
        "\r\n"
        "   \t\n"
        "  # indented comment\n"
        "1\t0  5 ok get \"k\" -> nil\r\n"
        "1 6 7 ok \t get \"k\" -> \"\\x41\\x4A\"";  // no final line break
    Result<History> h = parse_history(text);
    ASSERT_TRUE(h) << h.error().to_string();
    ASSERT_EQ(h->ops.size(), 2u);
    EXPECT_EQ(h->time_unit, TimeUnit::kNanoseconds);
    EXPECT_EQ(h->ops[1].reply.bytes, "AJ");
}

TEST(HistoryFormat, ErrorsNameTheLine) {
    struct Case {
        std::string_view name;
        std::string_view text;
        std::string_view want;  // a substring of the error message
    };
    const Case cases[] = {
        {"empty input", "", "t:1: empty history"},
        {"no version line", "1 0 1 ok get \"k\" -> nil\n", "t:1: first line must be"},
        {"unknown version", "raftkv-history 3 ns\n", "t:1: unsupported version '3'"},
        {"pxat in version 1", "raftkv-history 1 ns\n1 0 1 ok set \"k\" \"v\" pxat 5 -> ok\n",
         "t:2: a pxat deadline needs version 2 and a clock line"},
        {"pxat without a clock", "raftkv-history 2 ns\n1 0 1 ok set \"k\" \"v\" pxat 5 -> ok\n",
         "t:2: a pxat deadline needs version 2 and a clock line"},
        {"pxat on get", "raftkv-history 2 ns\nclock 1 0 0\n1 0 1 ok get \"k\" pxat 5 -> nil\n",
         "t:3: get takes key"},
        {"clock after an operation",
         "raftkv-history 2 ns\n1 0 1 ok get \"k\" -> nil\nclock 1 0 0\n",
         "t:3: the clock line comes once, before any operation"},
        {"bad clock", "raftkv-history 2 ns\nclock 0 0 0\n", "t:2: clock: units per ms"},
        {"clock in version 1", "raftkv-history 1 ns\nclock 1 0 0\n", "t:2: "},
        {"unknown unit", "raftkv-history 1 ms\n", "t:1: unknown time unit 'ms'"},
        {"unknown outcome", "raftkv-history 1 ns\n\n1 0 1 okay get \"k\" -> nil\n",
         "t:3: unknown outcome 'okay'"},
        {"unknown op", "raftkv-history 1 ns\n1 0 1 ok getset \"k\" -> nil\n",
         "t:2: unknown operation 'getset'"},
        {"too few fields", "raftkv-history 1 ns\n1 0 1 ok get\n", "t:2: want 'client call"},
        {"bad client", "raftkv-history 1 ns\n-1 0 1 ok get \"k\" -> nil\n", "t:2: client '-1'"},
        {"bad time", "raftkv-history 1 ns\n1 0x5 1 ok get \"k\" -> nil\n", "t:2: call time"},
        {"time overflow", "raftkv-history 1 ns\n1 0 99999999999999999999 ok get \"k\" -> nil\n",
         "t:2: return time"},
        {"return before call", "raftkv-history 1 ns\n1 5 4 ok get \"k\" -> nil\n",
         "t:2: return time 4 is before call time 5"},
        {"never returned but ok", "raftkv-history 1 ns\n1 5 - ok get \"k\" -> nil\n",
         "t:2: return time '-'"},
        {"unquoted key", "raftkv-history 1 ns\n1 0 1 ok get k -> nil\n",
         "t:2: key must be a quoted string"},
        {"wrong arity", "raftkv-history 1 ns\n1 0 1 ok set \"k\" -> ok\n",
         "t:2: set takes key value (2 fields), got 1"},
        {"bad delta", "raftkv-history 1 ns\n1 0 1 ok incr \"k\" one -> 1\n", "t:2: delta 'one'"},
        {"missing reply", "raftkv-history 1 ns\n1 0 1 ok get \"k\"\n",
         "t:2: an ok operation needs '-> reply'"},
        {"reply on unknown", "raftkv-history 1 ns\n1 0 1 unknown get \"k\" -> nil\n",
         "t:2: outcome unknown takes no reply"},
        {"reply does not fit", "raftkv-history 1 ns\n1 0 1 ok set \"k\" \"v\" -> 3\n",
         "t:2: this reply does not fit set"},
        {"del replies 0 or 1", "raftkv-history 1 ns\n1 0 1 ok del \"k\" -> 2\n",
         "t:2: this reply does not fit del"},
        {"two replies", "raftkv-history 1 ns\n1 0 1 ok get \"k\" -> nil nil\n",
         "t:2: want exactly one reply"},
        {"unknown reply", "raftkv-history 1 ns\n1 0 1 ok get \"k\" -> none\n",
         "t:2: unknown reply 'none'"},
        {"unterminated string", "raftkv-history 1 ns\n1 0 1 ok get \"k -> nil\n",
         "t:2: unterminated string starting at column 14"},
        {"bad escape", "raftkv-history 1 ns\n1 0 1 ok get \"\\q\" -> nil\n",
         "t:2: unknown escape '\\q'"},
        {"short hex escape", "raftkv-history 1 ns\n1 0 1 ok get \"\\x4\" -> nil\n",
         "t:2: bad \\x escape"},
        {"string glued to a word", "raftkv-history 1 ns\n1 0 1 ok get \"k\"x -> nil\n",
         "t:2: no space after string"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Result<History> h = parse_history(c.text, "t");
        ASSERT_FALSE(h);
        EXPECT_EQ(h.error().code(), Code::kInvalid);
        EXPECT_NE(h.error().message().find(c.want), std::string::npos) << h.error().message();
    }
}

TEST(HistoryFormat, RandomHistoriesRoundTrip) {
    const std::uint64_t seed = raftkv::testing::test_seed();
    SCOPED_TRACE(raftkv::testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    auto bytes = [&] {
        std::string s(rng() % 6, '\0');
        for (char& c : s) c = static_cast<char>(rng() % 256);
        return s;
    };
    for (int round = 0; round < 200; ++round) {
        History h{.time_unit = rng() % 2 ? TimeUnit::kTicks : TimeUnit::kNanoseconds};
        const int n = static_cast<int>(rng() % 8);
        for (int i = 0; i < n; ++i) {
            Operation op{.client = rng(),
                         .key = bytes(),
                         .call_time = static_cast<std::int64_t>(rng() % 1000) - 500};
            op.return_time = op.call_time + static_cast<std::int64_t>(rng() % 100);
            op.kind = static_cast<OpKind>(rng() % 5);
            op.value = op.kind == OpKind::kSet || op.kind == OpKind::kCas ? bytes() : "";
            if (op.kind == OpKind::kCas && rng() % 2) op.expected = bytes();
            if (op.kind == OpKind::kIncr) op.delta = static_cast<std::int64_t>(rng());
            op.outcome = static_cast<Outcome>(rng() % 3);
            if (op.outcome == Outcome::kUnknown && rng() % 2) op.return_time = kNeverReturned;
            if (op.outcome == Outcome::kOk) {
                switch (op.kind) {
                    case OpKind::kGet:
                        op.reply = rng() % 2 ? Reply{.kind = ReplyKind::kNil}
                                             : Reply{.kind = ReplyKind::kValue, .bytes = bytes()};
                        break;
                    case OpKind::kSet:
                        op.reply = {.kind = ReplyKind::kOk};
                        break;
                    case OpKind::kIncr:
                        op.reply = {.kind = ReplyKind::kInteger,
                                    .integer = static_cast<std::int64_t>(rng())};
                        break;
                    case OpKind::kCas:
                        op.reply = {.kind = ReplyKind::kNotApplied};
                        break;
                    case OpKind::kDel:
                        op.reply = {.kind = ReplyKind::kInteger,
                                    .integer = static_cast<std::int64_t>(rng() % 2)};
                        break;
                }
            }
            h.ops.push_back(op);
        }
        ASSERT_TRUE(validate_history(h).is_ok()) << validate_history(h).to_string();
        Result<History> back = parse_history(format_history(h));
        ASSERT_TRUE(back) << back.error().to_string();
        ASSERT_EQ(*back, h) << format_history(h);
    }
}

TEST(HistoryFormat, FileRoundTrip) {
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() /
        fmt::format("raftkv-history-test-{}.txt",
                    ::testing::UnitTest::GetInstance()->random_seed());
    const History h = sample_history();
    ASSERT_TRUE(write_history_file(path, h).is_ok());
    Result<History> back = read_history_file(path);
    std::filesystem::remove(path);
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(*back, h);
    Result<History> missing = read_history_file(path);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message().find(path.string()), std::string::npos);
    EXPECT_NE(missing.error().message().find("No such file or directory"), std::string::npos)
        << missing.error().to_string();
    Result<History> directory = read_history_file(path.parent_path());
    ASSERT_FALSE(directory);
    EXPECT_EQ(directory.error().message(), fmt::format("cannot read history {}: it is a directory",
                                                       path.parent_path().string()));
}

}  // namespace
}  // namespace raftkv::sim
