// reply_parser_test.cc — ReplyParser: valid and malformed replies, splits, ReplyWriter round trip.
//
// The parser is stateless, so a split stream is modelled as a caller that
// keeps unconsumed bytes and appends each new piece. Random tests print
// seed=0x... on failure and rerun from RAFTKV_SEED.
#include "resp/reply_parser.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply_writer.h"
#include "testing/seed.h"
#include "testing/splits.h"

namespace raftkv::resp {

void PrintTo(const Reply& r, std::ostream* os) {
    *os << reply_type_name(r.type);
    switch (r.type) {
        case Reply::Type::kSimple:
        case Reply::Type::kError:
        case Reply::Type::kBulk:
            *os << " " << ::testing::PrintToString(r.str);
            break;
        case Reply::Type::kInteger:
            *os << " " << r.integer;
            break;
        case Reply::Type::kArray:
            *os << " [";
            for (const Reply& e : r.elements) {
                PrintTo(e, os);
                *os << ", ";
            }
            *os << "]";
            break;
        case Reply::Type::kNil:
        case Reply::Type::kNilArray:
            break;
    }
}

namespace {

using namespace std::string_literals;

using raftkv::testing::random_split;
using raftkv::testing::seed_trace;
using raftkv::testing::test_seed;

Reply simple(std::string s) { return Reply{.type = Reply::Type::kSimple, .str = std::move(s)}; }
Reply error(std::string s) { return Reply{.type = Reply::Type::kError, .str = std::move(s)}; }
Reply integer(std::int64_t v) { return Reply{.type = Reply::Type::kInteger, .integer = v}; }
Reply bulk(std::string s) { return Reply{.type = Reply::Type::kBulk, .str = std::move(s)}; }
Reply nil() { return Reply{.type = Reply::Type::kNil}; }
Reply nil_array() { return Reply{.type = Reply::Type::kNilArray}; }
Reply array(std::vector<Reply> elements) {
    return Reply{.type = Reply::Type::kArray, .elements = std::move(elements)};
}

// What a client sees reading `pieces` in order: the replies, then kMalformed
// and its error, or kNeedMore when the stream ran out.
struct Outcome {
    std::vector<Reply> replies;
    ParseStatus last = ParseStatus::kNeedMore;
    std::string error;
    bool operator==(const Outcome&) const = default;
};

void PrintTo(const Outcome& o, std::ostream* os) {
    *os << "{replies:";
    for (const Reply& r : o.replies) {
        *os << " ";
        PrintTo(r, os);
    }
    *os << " last=" << static_cast<int>(o.last) << " error=" << ::testing::PrintToString(o.error)
        << "}";
}

Outcome feed(const std::vector<std::string_view>& pieces, ParserLimits limits = {}) {
    ReplyParser parser(limits);
    Outcome o;
    std::string buffer;
    for (std::string_view piece : pieces) {
        buffer.append(piece);
        for (;;) {
            std::size_t consumed = 0;
            Reply reply;
            o.last = parser.parse(buffer, &consumed, &reply);
            EXPECT_LE(consumed, buffer.size());
            if (o.last == ParseStatus::kMalformed) {
                EXPECT_EQ(consumed, 0u);
                o.error = parser.error();
                return o;
            }
            if (o.last == ParseStatus::kNeedMore) {
                EXPECT_EQ(consumed, 0u);
                EXPECT_EQ(reply, Reply{}) << "kNeedMore changed the output";
                break;
            }
            EXPECT_GT(consumed, 0u);
            buffer.erase(0, consumed);
            o.replies.push_back(std::move(reply));
            if (buffer.empty()) break;
        }
    }
    if (o.last == ParseStatus::kComplete) o.last = ParseStatus::kNeedMore;
    return o;
}

void expect_every_split(std::string_view in, const Outcome& want, ParserLimits limits = {}) {
    raftkv::testing::expect_every_split(
        in, want, [&](const raftkv::testing::Pieces& pieces) { return feed(pieces, limits); });
}

std::string nested_arrays(std::size_t depth) {
    std::string s;
    for (std::size_t i = 0; i < depth; ++i) s += "*1\r\n";
    return s + ":1\r\n";
}

Reply nested_reply(std::size_t depth) {
    Reply r = integer(1);
    for (std::size_t i = 0; i < depth; ++i) r = array({r});
    return r;
}

constexpr ParserLimits kSmallLimits{.bulk_bytes_max = 4, .args_max = 2, .inline_bytes_max = 8};

TEST(ReplyParser, ValidReplies) {
    struct Case {
        std::string_view name;
        std::string in;
        std::vector<Reply> want;
        ParserLimits limits = {};
    };
    const Case cases[] = {
        {"simple", "+OK\r\n", {simple("OK")}},
        {"empty simple", "+\r\n", {simple("")}},
        {"error without its dash",
         "-ERR unknown command 'x'\r\n",
         {error("ERR unknown command 'x'")}},
        {"MOVED", "-MOVED 0 127.0.0.1:7002\r\n", {error("MOVED 0 127.0.0.1:7002")}},
        {"zero", ":0\r\n", {integer(0)}},
        {"int64 min", ":-9223372036854775808\r\n", {integer(INT64_MIN)}},
        {"int64 max", ":9223372036854775807\r\n", {integer(INT64_MAX)}},
        {"bulk", "$5\r\nhello\r\n", {bulk("hello")}},
        {"empty bulk", "$0\r\n\r\n", {bulk("")}},
        {"binary bulk", "$5\r\n\r\n\0\r\n\r\n"s, {bulk("\r\n\0\r\n"s)}},
        {"nil bulk", "$-1\r\n", {nil()}},
        {"empty array", "*0\r\n", {array({})}},
        {"nil array", "*-1\r\n", {nil_array()}},
        {"mixed array", "*3\r\n$1\r\na\r\n:1\r\n$-1\r\n", {array({bulk("a"), integer(1), nil()})}},
        {"nested arrays",
         "*2\r\n*1\r\n+a\r\n*-1\r\n",
         {array({array({simple("a")}), nil_array()})}},
        {"pipelined", "+OK\r\n:7\r\n-ERR x\r\n", {simple("OK"), integer(7), error("ERR x")}},
        {"64 levels deep", nested_arrays(64), {nested_reply(64)}},
        {"at the small limits",
         "*2\r\n$4\r\nabcd\r\n+12345678\r\n",
         {array({bulk("abcd"), simple("12345678")})},
         kSmallLimits},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        expect_every_split(c.in, Outcome{.replies = c.want}, c.limits);
    }
}

TEST(ReplyParser, MalformedReplies) {
    struct Case {
        std::string_view name;
        std::string in;
        std::string want_error;
        std::vector<Reply> want_before = {};
        ParserLimits limits = {};
    };
    const Case cases[] = {
        {"RESP3 map", "%1\r\n", "Protocol error: expected a RESP2 reply type, got '%'"},
        {"RESP3 null", "_\r\n", "Protocol error: expected a RESP2 reply type, got '_'"},
        {"inline text", "OK\r\n", "Protocol error: expected a RESP2 reply type, got 'O'"},
        {"integer not a number", ":abc\r\n", "Protocol error: invalid integer reply"},
        {"integer leading zero", ":01\r\n", "Protocol error: invalid integer reply"},
        {"integer empty", ":\r\n", "Protocol error: invalid integer reply"},
        {"integer overflow", ":9223372036854775808\r\n", "Protocol error: invalid integer reply"},
        {"integer line too long", ":" + std::string(40, '1') + "\r\n",
         "Protocol error: too big length or integer line"},
        {"integer bare newline", ":1\n:2\r\n", "Protocol error: invalid integer reply"},
        {"bulk length -2", "$-2\r\n", "Protocol error: invalid bulk length"},
        {"bulk length not a number", "$x\r\n", "Protocol error: invalid bulk length"},
        {"bulk over the limit", "$5\r\n", "Protocol error: invalid bulk length", {}, kSmallLimits},
        {"bulk longer than announced", "$3\r\nabcd\r\n",
         "Protocol error: expected CRLF after bulk"},
        {"array length -2", "*-2\r\n", "Protocol error: invalid multibulk length"},
        {"array over the limit",
         "*3\r\n",
         "Protocol error: invalid multibulk length",
         {},
         kSmallLimits},
        {"bad element", "*2\r\n:1\r\n%0\r\n",
         "Protocol error: expected a RESP2 reply type, got '%'"},
        {"simple line too long",
         "+123456789\r\n",
         "Protocol error: too big status or error line",
         {},
         kSmallLimits},
        {"error line too long",
         "-123456789",
         "Protocol error: too big status or error line",
         {},
         kSmallLimits},
        {"65 levels deep", nested_arrays(65), "Protocol error: arrays nested deeper than 64"},
        {"error after good replies",
         "+OK\r\n:1\r\n:x\r\n",
         "Protocol error: invalid integer reply",
         {simple("OK"), integer(1)}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        expect_every_split(
            c.in,
            Outcome{
                .replies = c.want_before, .last = ParseStatus::kMalformed, .error = c.want_error},
            c.limits);
    }
}

// Every strict prefix of a reply needs more and consumes nothing.
TEST(ReplyParser, PrefixNeedsMore) {
    const std::string in = "*3\r\n$5\r\nhello\r\n:-12\r\n*2\r\n+OK\r\n$-1\r\n";
    ReplyParser parser;
    for (std::size_t n = 0; n < in.size(); ++n) {
        SCOPED_TRACE(fmt::format("prefix of {} bytes", n));
        std::size_t consumed = 99;
        Reply reply;
        EXPECT_EQ(parser.parse(std::string_view(in).substr(0, n), &consumed, &reply),
                  ParseStatus::kNeedMore);
        EXPECT_EQ(consumed, 0u);
    }
    std::size_t consumed = 0;
    Reply reply;
    ASSERT_EQ(parser.parse(in, &consumed, &reply), ParseStatus::kComplete);
    EXPECT_EQ(consumed, in.size());
}

// A header announcing a too-big body fails at once, before the body arrives.
TEST(ReplyParser, LimitsEnforcedBeforeTheBody) {
    const std::string_view headers[] = {"$536870913\r\n", "*1048577\r\n",
                                        "+" /* 64 KiB + 2 of text, no CRLF, below */};
    for (std::string_view header : headers) {
        std::string in(header);
        if (in == "+") in.append(64 * 1024 + 2, 'a');
        SCOPED_TRACE(in.substr(0, 16));
        ReplyParser parser;
        std::size_t consumed = 0;
        Reply reply;
        EXPECT_EQ(parser.parse(in, &consumed, &reply), ParseStatus::kMalformed);
    }
}

Reply random_reply(std::mt19937_64* rng, int depth) {
    auto text = [&](bool binary) {
        std::string s((*rng)() % 16, '\0');
        for (char& c : s) {
            c = static_cast<char>((*rng)() & 0xff);
            if (!binary && (c == '\r' || c == '\n')) c = ' ';
        }
        return s;
    };
    switch ((*rng)() % (depth < 4 ? 8 : 6)) {
        case 0:
            return simple(text(false));
        case 1:
            return error(text(false));
        case 2: {
            const std::int64_t edges[] = {0, -1, INT64_MIN, INT64_MAX};
            return integer((*rng)() % 2 == 0 ? edges[(*rng)() % 4]
                                             : static_cast<std::int64_t>((*rng)()));
        }
        case 3:
        case 4:
            return bulk(text(true));
        case 5:
            return (*rng)() % 2 == 0 ? nil() : nil_array();
        default: {
            std::vector<Reply> elements((*rng)() % 5);
            for (Reply& e : elements) e = random_reply(rng, depth + 1);
            return array(std::move(elements));
        }
    }
}

void write_reply(const Reply& r, ReplyWriter* w) {
    switch (r.type) {
        case Reply::Type::kSimple:
            w->simple(r.str);
            break;
        case Reply::Type::kError:
            w->error(r.str);
            break;
        case Reply::Type::kInteger:
            w->integer(r.integer);
            break;
        case Reply::Type::kBulk:
            w->bulk(r.str);
            break;
        case Reply::Type::kNil:
            w->null_bulk();
            break;
        case Reply::Type::kNilArray:
            w->null_array();
            break;
        case Reply::Type::kArray:
            w->array_header(r.elements.size());
            for (const Reply& e : r.elements) write_reply(e, w);
            break;
    }
}

// Property: parse(ReplyWriter(x)) == x, however the bytes are split.
TEST(ReplyParser, ReplyWriterRoundTrip) {
    const std::uint64_t seed = test_seed();
    SCOPED_TRACE(seed_trace(seed));
    std::mt19937_64 rng(seed);
    for (int iter = 0; iter < 300; ++iter) {
        std::vector<Reply> replies(1 + rng() % 4);
        for (Reply& r : replies) r = random_reply(&rng, 0);
        std::string out;
        ReplyWriter writer(&out);
        for (const Reply& r : replies) write_reply(r, &writer);
        const Outcome want{.replies = replies};
        ASSERT_EQ(feed({out}), want);
        ASSERT_EQ(feed(random_split(out, &rng)), want);
    }
}

}  // namespace
}  // namespace raftkv::resp
