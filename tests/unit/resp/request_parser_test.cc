// request_parser_test.cc — RequestParser: valid and malformed requests, every split.
//
// Each table case is fed whole, byte by byte and in random splits; the
// commands and the final outcome must not depend on the split. Random tests
// print seed=0x... on failure and rerun from RAFTKV_SEED.
#include "resp/request_parser.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "testing/seed.h"
#include "testing/splits.h"

namespace raftkv::resp {
namespace {

using namespace std::string_literals;
using Argv = std::vector<std::string>;

using raftkv::testing::random_split;
using raftkv::testing::seed_trace;
using raftkv::testing::test_seed;

// What a connection sees when it feeds `pieces` in order: the requests, then
// kMalformed and its error, or kNeedMore when the stream ran out.
struct Outcome {
    std::vector<Argv> requests;
    ParseStatus last = ParseStatus::kNeedMore;
    std::string error;
    bool operator==(const Outcome&) const = default;
};

void PrintTo(const Outcome& o, std::ostream* os) {
    *os << "{" << o.requests.size() << " requests:";
    for (const Argv& argv : o.requests) {
        *os << " [";
        for (const std::string& a : argv) *os << ::testing::PrintToString(a) << " ";
        *os << "]";
    }
    *os << " last=" << static_cast<int>(o.last) << " error=" << ::testing::PrintToString(o.error)
        << "}";
}

Outcome feed(const std::vector<std::string_view>& pieces, ParserLimits limits = {}) {
    RequestParser parser(limits);
    Outcome o;
    for (std::string_view piece : pieces) {
        while (!piece.empty()) {
            std::size_t consumed = 0;
            o.last = parser.parse(piece, &consumed);
            EXPECT_LE(consumed, piece.size());
            piece.remove_prefix(consumed);
            if (o.last == ParseStatus::kMalformed) {
                o.error = parser.error();
                return o;
            }
            if (o.last == ParseStatus::kNeedMore) {
                EXPECT_TRUE(piece.empty()) << "kNeedMore left " << piece.size() << " bytes";
                break;
            }
            EXPECT_GT(consumed, 0u);
            o.requests.push_back(parser.args());
        }
    }
    // Ending right after a request or inside one look the same to a connection.
    if (o.last == ParseStatus::kComplete) o.last = ParseStatus::kNeedMore;
    return o;
}

Outcome feed_whole(std::string_view in, ParserLimits limits = {}) { return feed({in}, limits); }

// Checks that `in` gives `want` fed whole, byte by byte and in random splits.
void expect_every_split(std::string_view in, const Outcome& want, ParserLimits limits = {}) {
    raftkv::testing::expect_every_split(
        in, want, [&](const raftkv::testing::Pieces& pieces) { return feed(pieces, limits); });
}

std::string multibulk(const Argv& argv) {
    std::string out = fmt::format("*{}\r\n", argv.size());
    for (const std::string& a : argv) out += fmt::format("${}\r\n{}\r\n", a.size(), a);
    return out;
}

constexpr ParserLimits kSmallLimits{.bulk_bytes_max = 4, .args_max = 2, .inline_bytes_max = 8};

TEST(RequestParser, ValidRequests) {
    struct Case {
        std::string_view name;
        std::string in;
        std::vector<Argv> want;
        ParserLimits limits = {};
    };
    const Case cases[] = {
        {"multibulk", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", {{"GET", "k"}}},
        {"empty bulk", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", {{"SET", "k", ""}}},
        {"CRLF inside a bulk", "*1\r\n$6\r\n\r\n\r\n\r\n\r\n", {{"\r\n\r\n\r\n"}}},
        {"NUL and high bytes", "*1\r\n$4\r\na\0\xff\n\r\n"s, {{"a\0\xff\n"s}}},
        {"command name kept as sent", "*1\r\n$4\r\npInG\r\n", {{"pInG"}}},
        {"*0 and *-1 are no request", "*0\r\n*-1\r\n*-7\r\n*1\r\n$4\r\nPING\r\n", {{"PING"}}},
        {"pipelined",
         "*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n",
         {{"PING"}, {"PING"}, {"ECHO", "hi"}}},
        {"inline", "set chelsea rules\r\n", {{"set", "chelsea", "rules"}}},
        {"inline bare newline", "get a\nget b\n", {{"get", "a"}, {"get", "b"}}},
        {"inline spaces and tabs", "  set\t a  \t b \r\n", {{"set", "a", "b"}}},
        {"inline \\v is part of a word", "a\vb c\n", {{"a\vb", "c"}}},
        {"empty inline lines are no request", "\r\n\n \t \r\nPING\r\n", {{"PING"}}},
        {"double quotes", "set k \"two words\"\n", {{"set", "k", "two words"}}},
        {"double quote escapes",
         R"(e "\n\r\t\b\a\\\"\x41\x7a\xFF")"s + "\n",
         {{"e", "\n\r\t\b\a\\\"Az\xff"}}},
        {"unknown escape is the byte",
         R"("\z\xZZ\x4")"
         "\n",
         {{"zxZZx4"}}},
        {"single quotes",
         R"(set k 'it\'s "raw" \n')"
         "\n",
         {{"set", "k", R"(it's "raw" \n)"}}},
        {"empty quoted args", "set \"\" ''\r\n", {{"set", "", ""}}},
        {"quote inside a word opens", "a\"b c\" d\n", {{"ab c", "d"}}},
        {"closing quote then tab", "\"a\"\tb\n", {{"a", "b"}}},
        {"inline NUL is a byte", "a\0b\n"s, {{"a\0b"s}}},
        {"inline at its limit", "12345678\n", {{"12345678"}}, kSmallLimits},
        {"\\r counts toward the inline limit", "1234567\r\n", {{"1234567"}}, kSmallLimits},
        {"bulk and argc at their limits",
         "*2\r\n$4\r\nabcd\r\n$0\r\n\r\n",
         {{"abcd", ""}},
         kSmallLimits},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        expect_every_split(c.in, Outcome{.requests = c.want}, c.limits);
    }
}

TEST(RequestParser, MalformedRequests) {
    struct Case {
        std::string_view name;
        std::string in;
        std::string want_error;
        std::vector<Argv> want_before = {};
        ParserLimits limits = {};
    };
    const std::string count_40(40, '1');
    const Case cases[] = {
        {"count not a number", "*x\r\n", "Protocol error: invalid multibulk length"},
        {"count empty", "*\r\n", "Protocol error: invalid multibulk length"},
        {"count leading zero", "*01\r\n", "Protocol error: invalid multibulk length"},
        {"count plus sign", "*+1\r\n", "Protocol error: invalid multibulk length"},
        {"count bare newline", "*1\n$1\r\na\r\n", "Protocol error: invalid multibulk length"},
        {"count over INT_MAX", "*2147483648\r\n", "Protocol error: invalid multibulk length"},
        {"count over args_max", "*1048577\r\n", "Protocol error: invalid multibulk length"},
        {"count over small args_max",
         "*3\r\n",
         "Protocol error: invalid multibulk length",
         {},
         kSmallLimits},
        {"count line too long", "*" + count_40 + "\r\n",
         "Protocol error: too big mbulk count string"},
        {"not a bulk", "*1\r\nx", "Protocol error: expected '$', got 'x'"},
        {"Redis: wrong multibulk payload header", "*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
         "Protocol error: expected '$', got 'f'"},
        {"negative bulk length", "*1\r\n$-1\r\n", "Protocol error: invalid bulk length"},
        {"bulk length not a number", "*1\r\n$1x\r\n", "Protocol error: invalid bulk length"},
        {"bulk length -0", "*1\r\n$-0\r\n", "Protocol error: invalid bulk length"},
        {"bulk over proto-max-bulk-len", "*1\r\n$536870913\r\n",
         "Protocol error: invalid bulk length"},
        {"bulk over small limit",
         "*1\r\n$5\r\n",
         "Protocol error: invalid bulk length",
         {},
         kSmallLimits},
        {"bulk length overflows int64", "*1\r\n$99999999999999999999\r\n",
         "Protocol error: invalid bulk length"},
        {"bulk length line too long", "*1\r\n$" + count_40,
         "Protocol error: too big bulk count string"},
        {"bulk longer than announced", "*1\r\n$3\r\nabcd\r\n",
         "Protocol error: expected CRLF after bulk"},
        {"bulk followed by bare newline", "*1\r\n$3\r\nabc\n",
         "Protocol error: expected CRLF after bulk"},
        {"error after good requests",
         "PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n:1\r\n",
         "Protocol error: expected '$', got ':'",
         {{"PING"}, {"PING"}}},
        {"unbalanced double quote", "set \"a\r\n", "Protocol error: unbalanced quotes in request"},
        {"unbalanced single quote", "set 'a\n", "Protocol error: unbalanced quotes in request"},
        {"escaped closing quote", "set \"a\\\"\n", "Protocol error: unbalanced quotes in request"},
        {"text after closing double quote", "set \"a\"b\r\n",
         "Protocol error: unbalanced quotes in request"},
        {"text after closing single quote", "set 'a'b\r\n",
         "Protocol error: unbalanced quotes in request"},
        {"inline too big without newline",
         "123456789",
         "Protocol error: too big inline request",
         {},
         kSmallLimits},
        {"inline too big with newline",
         "123456789\n",
         "Protocol error: too big inline request",
         {},
         kSmallLimits},
        {"inline too big with CR",
         "12345678\r\n",
         "Protocol error: too big inline request",
         {},
         kSmallLimits},
        {"inline too big at default limit", std::string(64 * 1024 + 1, 'a'),
         "Protocol error: too big inline request"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        expect_every_split(
            c.in,
            Outcome{
                .requests = c.want_before, .last = ParseStatus::kMalformed, .error = c.want_error},
            c.limits);
    }
}

TEST(RequestParser, MalformedIsSticky) {
    RequestParser parser;
    std::size_t consumed = 0;
    ASSERT_EQ(parser.parse("*x\r\n", &consumed), ParseStatus::kMalformed);
    EXPECT_LE(consumed, 4u);
    EXPECT_EQ(parser.parse("PING\r\n", &consumed), ParseStatus::kMalformed);
    EXPECT_EQ(consumed, 0u);
    EXPECT_EQ(parser.error(), "Protocol error: invalid multibulk length");
}

TEST(RequestParser, EmptyInputNeedsMore) {
    RequestParser parser;
    std::size_t consumed = 99;
    EXPECT_EQ(parser.parse("", &consumed), ParseStatus::kNeedMore);
    EXPECT_EQ(consumed, 0u);
    ASSERT_EQ(parser.parse("*1\r\n$4\r\nPI", &consumed), ParseStatus::kNeedMore);
    EXPECT_EQ(parser.parse("", &consumed), ParseStatus::kNeedMore);
    EXPECT_EQ(consumed, 0u);
    ASSERT_EQ(parser.parse("NG\r\n", &consumed), ParseStatus::kComplete);
    EXPECT_EQ(parser.args(), (Argv{"PING"}));
}

TEST(RequestParser, PartialRequestNeedsMore) {
    const std::string in = "*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n";
    for (std::size_t n = 0; n < in.size(); ++n) {
        SCOPED_TRACE(fmt::format("prefix of {} bytes", n));
        EXPECT_EQ(feed_whole(std::string_view(in).substr(0, n)), Outcome{});
    }
    EXPECT_EQ(feed_whole("GET a"), Outcome{});
    EXPECT_EQ(feed_whole("GET a\r"), Outcome{});
}

// A header announcing a huge body or count fails at once: the parser never
// waits for (and buffers) bytes it will refuse.
TEST(RequestParser, LimitsEnforcedBeforeTheBody) {
    struct Case {
        std::string_view name;
        std::string header;
        std::string want_error;
    };
    const Case cases[] = {
        {"bulk", "*2\r\n$3\r\nSET\r\n$536870913\r\n", "Protocol error: invalid bulk length"},
        {"count", "*1048577\r\n", "Protocol error: invalid multibulk length"},
        {"count line", "*" + std::string(33, '1'), "Protocol error: too big mbulk count string"},
        {"bulk line", "*1\r\n$" + std::string(33, '1'),
         "Protocol error: too big bulk count string"},
        {"inline", std::string(64 * 1024 + 1, 'x'), "Protocol error: too big inline request"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        RequestParser parser;
        std::size_t consumed = 0;
        EXPECT_EQ(parser.parse(c.header, &consumed), ParseStatus::kMalformed);
        EXPECT_EQ(parser.error(), c.want_error);
    }
    // At the limit the header is accepted and the body awaited.
    RequestParser parser;
    std::size_t consumed = 0;
    const std::string at_limit = "*1\r\n$536870912\r\n";
    EXPECT_EQ(parser.parse(at_limit, &consumed), ParseStatus::kNeedMore);
    EXPECT_EQ(consumed, at_limit.size());
}

// The bulks of one request are bounded together too (Redis's
// client-query-buffer-limit): three 400-byte bulks under a 1000-byte limit
// fail at the third header, before its body; the count restarts per request.
TEST(RequestParser, RequestBytesBoundAllBulksTogether) {
    RequestParser parser(ParserLimits{.bulk_bytes_max = 512, .request_bytes_max = 1000});
    const std::string bulk(400, 'b');
    const std::string ok = "*2\r\n$400\r\n" + bulk + "\r\n$400\r\n" + bulk + "\r\n";
    std::size_t consumed = 0;
    ASSERT_EQ(parser.parse(ok, &consumed), ParseStatus::kComplete);
    ASSERT_EQ(parser.parse(ok, &consumed), ParseStatus::kComplete);  // a fresh budget
    const std::string big = "*3\r\n$400\r\n" + bulk + "\r\n$400\r\n" + bulk + "\r\n$400\r\n";
    std::string_view rest = big;
    ParseStatus status = ParseStatus::kNeedMore;
    while (status != ParseStatus::kMalformed && !rest.empty()) {
        status = parser.parse(rest, &consumed);
        rest.remove_prefix(consumed);
    }
    EXPECT_EQ(status, ParseStatus::kMalformed);
    EXPECT_EQ(parser.error(), "Protocol error: request larger than 1000 bytes");
}

// A bulk arriving in many small pieces is appended, not re-scanned: 4 MiB in
// 7-byte pieces would take hours if each call looked at the bulk again.
TEST(RequestParser, LargeBulkInSmallPieces) {
    const std::string value(4 * 1024 * 1024, 'v');
    const std::string in = multibulk({"SET", "k", value});
    RequestParser parser;
    std::string_view rest = in;
    std::size_t requests = 0;
    while (!rest.empty()) {
        std::string_view piece = rest.substr(0, 7);
        rest.remove_prefix(piece.size());
        std::size_t consumed = 0;
        const ParseStatus status = parser.parse(piece, &consumed);
        ASSERT_NE(status, ParseStatus::kMalformed) << parser.error();
        ASSERT_EQ(consumed, piece.size());
        if (status == ParseStatus::kComplete) {
            ++requests;
            ASSERT_EQ(parser.args().size(), 3u);
            EXPECT_EQ(parser.args()[2], value);
        }
    }
    EXPECT_EQ(requests, 1u);
}

TEST(RequestParser, ArgsCanBeMovedOutBetweenRequests) {
    RequestParser parser;
    const std::string in = multibulk({"SET", "key", std::string(100 * 1024, 'x')}) +
                           multibulk({"GET", "k2"}) + "DEL a b c\r\n";
    std::string_view rest = in;
    std::vector<Argv> got;
    while (!rest.empty()) {
        std::size_t consumed = 0;
        ASSERT_EQ(parser.parse(rest, &consumed), ParseStatus::kComplete);
        rest.remove_prefix(consumed);
        got.push_back(std::move(parser.args()));
    }
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0][2].size(), 100u * 1024);
    EXPECT_EQ(got[1], (Argv{"GET", "k2"}));
    EXPECT_EQ(got[2], (Argv{"DEL", "a", "b", "c"}));
}

TEST(RequestParser, ParseInt64FollowsString2ll) {
    struct Case {
        std::string_view in;
        bool want_ok;
        std::int64_t want = 0;
    };
    const Case cases[] = {
        {"0", true, 0},
        {"7", true, 7},
        {"-7", true, -7},
        {"9223372036854775807", true, INT64_MAX},
        {"-9223372036854775808", true, INT64_MIN},
        {"9223372036854775808", false},
        {"-9223372036854775809", false},
        {"99999999999999999999", false},
        {"", false},
        {"-", false},
        {"-0", false},
        {"01", false},
        {"+1", false},
        {" 1", false},
        {"1 ", false},
        {"1a", false},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.in);
        std::int64_t v = 42;
        EXPECT_EQ(parse_int64(c.in, &v), c.want_ok);
        if (c.want_ok) {
            EXPECT_EQ(v, c.want);
        }
    }
}

std::string random_bytes(std::mt19937_64* rng, std::size_t size_max) {
    static constexpr char kTricky[] = {'\r', '\n', '\0', '$', '*', '"', '\'', '\\', ' ', 'x'};
    std::string s((*rng)() % (size_max + 1), '\0');
    for (char& c : s) {
        c = (*rng)() % 2 == 0 ? kTricky[(*rng)() % sizeof(kTricky)]
                              : static_cast<char>((*rng)() & 0xff);
    }
    return s;
}

std::vector<Argv> random_requests(std::mt19937_64* rng) {
    std::vector<Argv> requests(1 + (*rng)() % 5);
    for (Argv& argv : requests) {
        argv.resize(1 + (*rng)() % 6);
        for (std::string& a : argv) a = random_bytes(rng, (*rng)() % 8 == 0 ? 300 : 12);
    }
    return requests;
}

// Property: any argv encoded as a multibulk parses back equal, however split.
TEST(RequestParser, MultibulkRoundTrip) {
    const std::uint64_t seed = test_seed();
    SCOPED_TRACE(seed_trace(seed));
    std::mt19937_64 rng(seed);
    for (int iter = 0; iter < 300; ++iter) {
        const std::vector<Argv> requests = random_requests(&rng);
        std::string in;
        for (const Argv& argv : requests) in += multibulk(argv);
        const Outcome want{.requests = requests};
        ASSERT_EQ(feed_whole(in), want);
        ASSERT_EQ(feed(random_split(in, &rng)), want);
    }
}

// Property: any argv written as an inline line with every arg double-quoted
// (non-printable bytes as \xHH) splits back equal.
TEST(RequestParser, InlineQuotedRoundTrip) {
    const std::uint64_t seed = test_seed();
    SCOPED_TRACE(seed_trace(seed));
    std::mt19937_64 rng(seed);
    for (int iter = 0; iter < 300; ++iter) {
        const std::vector<Argv> requests = random_requests(&rng);
        std::string in;
        for (const Argv& argv : requests) {
            for (const std::string& a : argv) {
                in += rng() % 2 == 0 ? " \"" : "\t\"";
                for (char c : a) {
                    const auto u = static_cast<unsigned char>(c);
                    if (c == '"' || c == '\\') {
                        in += '\\';
                        in += c;
                    } else if (u < 0x20 || u >= 0x7f) {
                        in += fmt::format("\\x{:02x}", u);
                    } else {
                        in += c;
                    }
                }
                in += '"';
            }
            in += rng() % 2 == 0 ? "\r\n" : "\n";
        }
        const Outcome want{.requests = requests};
        ASSERT_EQ(feed_whole(in), want);
        ASSERT_EQ(feed(random_split(in, &rng)), want);
    }
}

}  // namespace
}  // namespace raftkv::resp
