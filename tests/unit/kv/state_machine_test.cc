// state_machine_test.cc — the kv commands against Redis 7 semantics, byte for
// byte; SCAN's guarantee; snapshot/restore; determinism.
#include "kv/state_machine.h"

#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/checksum.h"
#include "base/coding.h"
#include "test_util.h"

namespace raftkv::kv {
namespace {

using testing::Args;
using testing::run;

struct Step {
    Args command;
    std::string want;  // the exact RESP reply
};
struct Case {
    std::string_view name;
    std::vector<Step> steps;
};

void run_cases(std::span<const Case> cases) {
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        StateMachine sm;
        for (const Step& s : c.steps) {
            SCOPED_TRACE(fmt::format("{}", fmt::join(s.command, " ")));
            EXPECT_EQ(run(sm, s.command), s.want);
        }
    }
}

const std::string kOk = "+OK\r\n";
const std::string kNil = "$-1\r\n";
const std::string kSyntax = "-ERR syntax error\r\n";
const std::string kNotInt = "-ERR value is not an integer or out of range\r\n";
const std::string kOverflow = "-ERR increment or decrement would overflow\r\n";

std::string bulk(std::string_view s) { return fmt::format("${}\r\n{}\r\n", s.size(), s); }
std::string integer(std::int64_t v) { return fmt::format(":{}\r\n", v); }
std::string arity(std::string_view name) {
    return fmt::format("-ERR wrong number of arguments for '{}' command\r\n", name);
}

TEST(StateMachine, TutorialSession) {
    const Case cases[] = {
        {"set get delete data",
         {
             {{"set", "chelsea", "rules"}, kOk},
             {{"get", "chelsea"}, bulk("rules")},
             {{"data"}, bulk(R"({"chelsea": "rules"})")},
             {{"delete", "chelsea"}, ":1\r\n"},
             {{"get", "chelsea"}, kNil},
             {{"data"}, bulk("{}")},
             {{"delete", "chelsea"}, ":0\r\n"},
         }},
        {"data lists keys in byte order",
         {
             {{"set", "b", "2"}, kOk},
             {{"set", "a", "1"}, kOk},
             {{"set", "B", "3"}, kOk},
             {{"data"}, bulk(R"({"B": "3", "a": "1", "b": "2"})")},
             {{"data", "x"}, arity("data")},
         }},
    };
    run_cases(cases);
}

TEST(StateMachine, DataEscapesNastyBytes) {
    const Case cases[] = {
        {"quotes, backslashes, controls, UTF-8 and invalid bytes",
         {
             {{"set", "q\"k", "a\\b"}, kOk},
             {{"set", std::string("\0\n", 2), "\t\x01"}, kOk},
             {{"set", "\xc3\xa9", "\xff\xc3"}, kOk},
             {{"data"},
              bulk(R"({"\u0000\n": "\t\u0001", "q\"k": "a\\b", )"
                   "\"\xc3\xa9\": \"\\u00ff\\u00c3\"}")},
         }},
    };
    run_cases(cases);
}

TEST(StateMachine, SetAndGet) {
    const Case cases[] = {
        {"get of a missing key is nil", {{{"get", "k"}, kNil}}},
        {"set replaces",
         {
             {{"set", "k", "v1"}, kOk},
             {{"SET", "k", "v2"}, kOk},
             {{"GeT", "k"}, bulk("v2")},
         }},
        {"empty key and value",
         {
             {{"set", "", ""}, kOk},
             {{"get", ""}, bulk("")},
             {{"exists", ""}, ":1\r\n"},
         }},
        {"binary keys and values",
         {
             {{"set", std::string("a\0b\r\n", 5), std::string("\xff\0\r\n", 4)}, kOk},
             {{"get", std::string("a\0b\r\n", 5)}, bulk(std::string("\xff\0\r\n", 4))},
             {{"get", std::string("a\0c\r\n", 5)}, kNil},
             {{"strlen", std::string("a\0b\r\n", 5)}, ":4\r\n"},
         }},
        {"NX sets only a new key",
         {
             {{"set", "k", "1", "NX"}, kOk},
             {{"set", "k", "2", "nx"}, kNil},
             {{"get", "k"}, bulk("1")},
         }},
        {"XX sets only an existing key",
         {
             {{"set", "k", "1", "XX"}, kNil},
             {{"get", "k"}, kNil},
             {{"set", "k", "1"}, kOk},
             {{"set", "k", "2", "xx"}, kOk},
             {{"get", "k"}, bulk("2")},
         }},
        {"GET returns the old value",
         {
             {{"set", "k", "1", "GET"}, kNil},
             {{"set", "k", "2", "get"}, bulk("1")},
             {{"get", "k"}, bulk("2")},
         }},
        {"NX GET: old value, set only if new",
         {
             {{"set", "k", "1", "NX", "GET"}, kNil},
             {{"get", "k"}, bulk("1")},
             {{"set", "k", "2", "GET", "NX"}, bulk("1")},
             {{"get", "k"}, bulk("1")},
         }},
        {"XX GET: old value, set only if it exists",
         {
             {{"set", "k", "1", "XX", "GET"}, kNil},
             {{"exists", "k"}, ":0\r\n"},
             {{"set", "k", "1"}, kOk},
             {{"set", "k", "2", "XX", "GET"}, bulk("1")},
             {{"get", "k"}, bulk("2")},
         }},
        // IFEQ is Redis 8.4's compare-and-set. Every raftkv key holds a
        // string, so Redis's WRONGTYPE reply for a key of another type has
        // no case here.
        {"IFEQ sets only when the value is equal",
         {
             {{"set", "k", "1"}, kOk},
             {{"set", "k", "2", "IFEQ", "1"}, kOk},
             {{"get", "k"}, bulk("2")},
             {{"set", "k", "3", "ifeq", "1"}, kNil},
             {{"get", "k"}, bulk("2")},
         }},
        {"IFEQ compares whole values, byte for byte",
         {
             {{"set", "k", "ab"}, kOk},
             {{"set", "k", "x", "IFEQ", "a"}, kNil},
             {{"set", "k", "x", "IFEQ", "abc"}, kNil},
             {{"set", "k", "x", "IFEQ", "AB"}, kNil},
             {{"set", "k", "x", "IFEQ", ""}, kNil},
             {{"get", "k"}, bulk("ab")},
             {{"set", "e", ""}, kOk},
             {{"set", "e", "y", "IFEQ", ""}, kOk},
             {{"get", "e"}, bulk("y")},
         }},
        {"IFEQ never creates a missing key",
         {
             {{"set", "k", "1", "IFEQ", "1"}, kNil},
             {{"set", "k", "1", "IFEQ", ""}, kNil},
             {{"exists", "k"}, ":0\r\n"},
             {{"dbsize"}, ":0\r\n"},
         }},
        {"IFEQ GET: old value, set only if equal",
         {
             {{"set", "k", "1", "IFEQ", "1", "GET"}, kNil},
             {{"exists", "k"}, ":0\r\n"},
             {{"set", "k", "1"}, kOk},
             {{"set", "k", "2", "GET", "IFEQ", "0"}, bulk("1")},
             {{"get", "k"}, bulk("1")},
             {{"set", "k", "2", "IFEQ", "1", "get", "KEEPTTL"}, bulk("1")},
             {{"get", "k"}, bulk("2")},
         }},
        {"IFEQ with a NUL byte in the value",
         {
             {{"set", "k", std::string("a\0b", 3)}, kOk},
             {{"set", "k", "x", "IFEQ", "a"}, kNil},
             {{"set", "k", "x", "IFEQ", std::string("a\0c", 3)}, kNil},
             {{"set", "k", std::string("\0", 1), "IFEQ", std::string("a\0b", 3)}, kOk},
             {{"get", "k"}, bulk(std::string("\0", 1))},
         }},
        {"KEEPTTL is accepted",
         {
             {{"set", "k", "1", "KEEPTTL"}, kOk},
             {{"set", "k", "2", "keepttl", "GET", "XX"}, bulk("1")},
         }},
        {"option errors change nothing",
         {
             {{"set", "k", "1", "NX", "XX"}, kSyntax},
             {{"set", "k", "1", "XX", "NX"}, kSyntax},
             {{"set", "k", "1", "bogus"}, kSyntax},
             {{"set", "k", "1", "IFEQ", "1", "NX"}, kSyntax},
             {{"set", "k", "1", "nx", "ifeq", "1"}, kSyntax},
             {{"set", "k", "1", "IFEQ", "1", "XX"}, kSyntax},
             {{"set", "k", "1", "XX", "IFEQ", "1"}, kSyntax},
             {{"set", "k", "1", "IFEQ", "1", "IFEQ", "1"}, kSyntax},
             {{"set", "k", "1", "IFEQ"}, kSyntax},
             {{"set", "k", "1", "GET", "IFEQ"}, kSyntax},
             {{"set", "k", "1", "EX", "0"}, "-ERR invalid expire time in 'set' command\r\n"},
             {{"set", "k", "1", "px", "x"}, "-ERR value is not an integer or out of range\r\n"},
             {{"set", "k", "1", "EX", "10", "PX", "10"}, kSyntax},
             {{"set", "k", "1", "KEEPTTL", "EXAT", "10"}, kSyntax},
             {{"set", "k", "1", "PXAT"}, kSyntax},
             {{"set", "k"}, arity("set")},
             {{"get"}, arity("get")},
             {{"get", "a", "b"}, arity("get")},
             {{"dbsize"}, ":0\r\n"},
         }},
    };
    run_cases(cases);
}

TEST(StateMachine, DelExistsMsetMget) {
    const Case cases[] = {
        {"DEL counts keys that existed, once",
         {
             {{"mset", "a", "1", "b", "2"}, kOk},
             {{"del", "a", "a", "c", "b"}, ":2\r\n"},
             {{"dbsize"}, ":0\r\n"},
             {{"del"}, arity("del")},
             {{"delete"}, arity("delete")},
         }},
        {"EXISTS counts repeats",
         {
             {{"set", "a", "1"}, kOk},
             {{"exists", "a", "a", "a", "b"}, ":3\r\n"},
             {{"exists"}, arity("exists")},
         }},
        {"MSET sets all and overwrites; the last of a repeated key wins",
         {
             {{"set", "a", "old"}, kOk},
             {{"mset", "a", "1", "b", "2", "a", "3"}, kOk},
             {{"mget", "a", "b", "c"}, "*3\r\n" + bulk("3") + bulk("2") + kNil},
         }},
        {"MSET with an odd pair count is an arity error and sets nothing",
         {
             {{"mset", "a", "1", "b"}, arity("mset")},
             {{"mset", "a"}, arity("mset")},
             {{"mset"}, arity("mset")},
             {{"dbsize"}, ":0\r\n"},
         }},
        {"MGET of missing keys",
         {
             {{"mget", "x"}, "*1\r\n" + kNil},
             {{"mget"}, arity("mget")},
         }},
    };
    run_cases(cases);
}

TEST(StateMachine, IncrDecr) {
    const std::string max = "9223372036854775807";
    const std::string min = "-9223372036854775808";
    const Case cases[] = {
        {"a missing key counts as 0",
         {
             {{"incr", "n"}, ":1\r\n"},
             {{"incrby", "m", "-5"}, ":-5\r\n"},
             {{"decr", "d"}, ":-1\r\n"},
             {{"decrby", "e", "7"}, ":-7\r\n"},
             {{"get", "m"}, bulk("-5")},
         }},
        {"zero and negative amounts",
         {
             {{"set", "n", "10"}, kOk},
             {{"incrby", "n", "0"}, ":10\r\n"},
             {{"incrby", "n", "-20"}, ":-10\r\n"},
             {{"decrby", "n", "-3"}, ":-7\r\n"},
             {{"get", "n"}, bulk("-7")},
         }},
        {"limits and overflow",
         {
             {{"set", "n", max}, kOk},
             {{"incr", "n"}, kOverflow},
             {{"get", "n"}, bulk(max)},
             {{"decr", "n"}, ":9223372036854775806\r\n"},
             {{"set", "m", min}, kOk},
             {{"decr", "m"}, kOverflow},
             {{"incrby", "m", max}, ":-1\r\n"},
             {{"incrby", "z", min}, integer(INT64_MIN)},
             {{"incrby", "z", "-1"}, kOverflow},
             {{"decrby", "y", min}, "-ERR decrement would overflow\r\n"},
             {{"decrby", "y", max}, integer(-INT64_MAX)},
         }},
        {"values that are not integers",
         {
             {{"set", "s", "abc"}, kOk},
             {{"incr", "s"}, kNotInt},
             {{"set", "s", " 1"}, kOk},
             {{"incr", "s"}, kNotInt},
             {{"set", "s", "+1"}, kOk},
             {{"incr", "s"}, kNotInt},
             {{"set", "s", "01"}, kOk},
             {{"incr", "s"}, kNotInt},
             {{"set", "s", "-0"}, kOk},
             {{"incr", "s"}, kNotInt},
             {{"set", "s", ""}, kOk},
             {{"incr", "s"}, kNotInt},
             {{"set", "s", "1.5"}, kOk},
             {{"incr", "s"}, kNotInt},
             {{"set", "s", "9223372036854775808"}, kOk},
             {{"incr", "s"}, kNotInt},
             {{"set", "s", "99999999999999999999999"}, kOk},
             {{"decr", "s"}, kNotInt},
             {{"get", "s"}, bulk("99999999999999999999999")},
             {{"set", "s", "0"}, kOk},
             {{"incr", "s"}, ":1\r\n"},
         }},
        {"amounts that are not integers",
         {
             {{"incrby", "n", "x"}, kNotInt},
             {{"incrby", "n", "1e3"}, kNotInt},
             {{"decrby", "n", "9223372036854775808"}, kNotInt},
             {{"incrby", "n", ""}, kNotInt},
             {{"incrby", "n"}, arity("incrby")},
             {{"incr", "n", "1"}, arity("incr")},
             {{"exists", "n"}, ":0\r\n"},
         }},
    };
    run_cases(cases);
}

TEST(StateMachine, AppendGetdelStrlenFlushall) {
    const Case cases[] = {
        {"APPEND creates and extends",
         {
             {{"append", "k", "ab"}, ":2\r\n"},
             {{"append", "k", ""}, ":2\r\n"},
             {{"append", "k", std::string("\0c", 2)}, ":4\r\n"},
             {{"get", "k"}, bulk(std::string("ab\0c", 4))},
             {{"strlen", "k"}, ":4\r\n"},
             {{"strlen", "missing"}, ":0\r\n"},
         }},
        {"GETDEL returns and deletes",
         {
             {{"set", "k", "v"}, kOk},
             {{"getdel", "k"}, bulk("v")},
             {{"getdel", "k"}, kNil},
             {{"exists", "k"}, ":0\r\n"},
             {{"getdel"}, arity("getdel")},
         }},
        {"FLUSHALL with and without options",
         {
             {{"mset", "a", "1", "b", "2"}, kOk},
             {{"flushall"}, kOk},
             {{"dbsize"}, ":0\r\n"},
             {{"set", "a", "1"}, kOk},
             {{"flushall", "ASYNC"}, kOk},
             {{"set", "a", "1"}, kOk},
             {{"flushall", "sync"}, kOk},
             {{"set", "a", "1"}, kOk},
             {{"flushall", "now"}, kSyntax},
             {{"flushall", "sync", "async"}, kSyntax},
             {{"dbsize"}, ":1\r\n"},
         }},
        {"unknown commands",
         {
             {{"hset", "h", "f", "v"},
              "-ERR unknown command 'hset', with args beginning with: 'h' 'f' 'v' \r\n"},
         }},
    };
    run_cases(cases);
}

TEST(StateMachine, KeysAndScanPatterns) {
    const Case cases[] = {
        {"KEYS with patterns",
         {
             {{"mset", "hello", "1", "hallo", "2", "hxllo", "3", "heeeello", "4", "x", "5"}, kOk},
             {{"keys", "h[ae]llo"}, "*2\r\n" + bulk("hallo") + bulk("hello")},
             {{"keys", "h?llo"}, "*3\r\n" + bulk("hallo") + bulk("hxllo") + bulk("hello")},
             {{"keys", "nomatch*"}, "*0\r\n"},
             {{"keys", "x"}, "*1\r\n" + bulk("x")},
             {{"keys"}, arity("keys")},
         }},
        {"SCAN argument errors",
         {
             {{"scan", "x"}, "-ERR invalid cursor\r\n"},
             {{"scan", "-1"}, "-ERR invalid cursor\r\n"},
             {{"scan", "18446744073709551616"}, "-ERR invalid cursor\r\n"},
             {{"scan", "0", "COUNT"}, kSyntax},
             {{"scan", "0", "COUNT", "0"}, kSyntax},
             {{"scan", "0", "COUNT", "-1"}, kSyntax},
             {{"scan", "0", "COUNT", "x"}, kNotInt},
             {{"scan", "0", "FOO", "bar"}, kSyntax},
             {{"scan"}, arity("scan")},
         }},
        {"SCAN of an empty store",
         {
             {{"scan", "0"}, "*2\r\n" + bulk("0") + "*0\r\n"},
             {{"scan", "00"}, "*2\r\n" + bulk("0") + "*0\r\n"},
             {{"scan", "18446744073709551615"}, "*2\r\n" + bulk("0") + "*0\r\n"},
         }},
        {"SCAN with MATCH and TYPE",
         {
             {{"mset", "a1", "1", "a2", "2", "b1", "3"}, kOk},
             {{"scan", "0", "MATCH", "b*", "COUNT", "100"},
              "*2\r\n" + bulk("0") + "*1\r\n" + bulk("b1")},
             {{"scan", "0", "TYPE", "hash"}, "*2\r\n" + bulk("0") + "*0\r\n"},
             {{"scan", "0", "type", "STRING", "match", "b?"},
              "*2\r\n" + bulk("0") + "*1\r\n" + bulk("b1")},
         }},
    };
    run_cases(cases);
}

// Parses the reply of SCAN (written by ReplyWriter, so the shape is known).
struct ScanReply {
    std::string cursor;
    std::vector<std::string> keys;
};
ScanReply parse_scan_reply(std::string_view r) {
    ScanReply out;
    auto line = [&]() {
        std::size_t end = r.find("\r\n");
        std::string_view l = r.substr(0, end);
        r.remove_prefix(end + 2);
        return l;
    };
    auto bulk_string = [&]() {
        std::string_view header = line();
        EXPECT_EQ(header[0], '$');
        std::size_t n = std::stoul(std::string(header.substr(1)));
        std::string s(r.substr(0, n));
        r.remove_prefix(n + 2);
        return s;
    };
    EXPECT_EQ(line(), "*2");
    out.cursor = bulk_string();
    std::string_view count = line();
    EXPECT_EQ(count[0], '*');
    std::size_t n = std::stoul(std::string(count.substr(1)));
    for (std::size_t i = 0; i < n; ++i) out.keys.push_back(bulk_string());
    EXPECT_TRUE(r.empty());
    return out;
}

TEST(StateMachine, FullScanReturnsEveryKeyForEveryCount) {
    StateMachine sm;
    std::set<std::string> all;
    for (int i = 0; i < 200; ++i) {
        all.insert(fmt::format("key:{}", i));
        ASSERT_EQ(run(sm, {"set", fmt::format("key:{}", i), "v"}), kOk);
    }
    for (int count = 1; count <= 201; count += (count < 20 ? 1 : 45)) {
        SCOPED_TRACE(fmt::format("COUNT {}", count));
        std::multiset<std::string> seen;
        std::string cursor = "0";
        int calls = 0;
        do {
            ScanReply r =
                parse_scan_reply(run(sm, {"scan", cursor, "COUNT", std::to_string(count)}));
            seen.insert(r.keys.begin(), r.keys.end());
            cursor = r.cursor;
            ASSERT_LT(++calls, 1000);
        } while (cursor != "0");
        EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), all);
        EXPECT_EQ(seen.size(), all.size()) << "no duplicates without collisions";
    }
}

TEST(StateMachine, ScanDuringChangesNeverMissesStableKeys) {
    const std::uint64_t seed = testing::test_seed(0x5ca1ab1e);
    SCOPED_TRACE(testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    for (int round = 0; round < 20; ++round) {
        StateMachine sm;
        std::set<std::string> stable;
        for (int i = 0; i < 100; ++i) {
            stable.insert(fmt::format("stable:{}", i));
            ASSERT_EQ(run(sm, {"set", fmt::format("stable:{}", i), "v"}), kOk);
        }
        std::set<std::string> seen;
        std::string cursor = "0";
        int next_churn = 0;
        do {
            std::string count = std::to_string(1 + rng() % 10);
            ScanReply r = parse_scan_reply(run(sm, {"scan", cursor, "COUNT", count}));
            seen.insert(r.keys.begin(), r.keys.end());
            cursor = r.cursor;
            // Grow and shrink the table between calls: add a burst of keys
            // (forcing rehashes), or delete most of the churn keys.
            if (rng() % 2 == 0) {
                for (int i = 0; i < 60; ++i) {
                    run(sm, {"set", fmt::format("churn:{}", next_churn++), "x"});
                }
            } else {
                for (int i = 0; i < next_churn; ++i) {
                    if (rng() % 4 != 0) run(sm, {"del", fmt::format("churn:{}", i)});
                }
            }
        } while (cursor != "0");
        for (const std::string& k : stable) EXPECT_TRUE(seen.contains(k)) << k;
    }
}

// A random command stream over a small key space, mixing every write.
Args random_command(std::mt19937_64& rng) {
    auto key = [&]() { return fmt::format("k{}", rng() % 40); };
    auto value = [&]() {
        std::string v;
        std::size_t n = rng() % 12;
        for (std::size_t i = 0; i < n; ++i) v.push_back(static_cast<char>(rng() % 256));
        if (rng() % 3 == 0) v = std::to_string(static_cast<std::int64_t>(rng() % 2000) - 1000);
        return v;
    };
    switch (rng() % 12) {
        case 0:
            return {"set", key(), value()};
        case 1:
            switch (rng() % 3) {
                case 0:
                    return {"set", key(), value(), "NX", "GET"};
                case 1:
                    return {"set", key(), value(), "XX", "GET"};
                default:
                    return {"set", key(), value(), "IFEQ", value()};
            }
        case 2:
            return {"del", key(), key()};
        case 3:
            return {"mset", key(), value(), key(), value()};
        case 4:
            return {"incr", key()};
        case 5:
            return {"incrby", key(), std::to_string(static_cast<std::int64_t>(rng()))};
        case 6:
            return {"decrby", key(), std::to_string(rng() % 100)};
        case 7:
            return {"append", key(), value()};
        case 8:
            return {"getdel", key()};
        case 9:
            return rng() % 50 == 0 ? Args{"flushall"} : Args{"get", key()};
        case 10:
            return {"scan", "0", "COUNT", "5", "MATCH", "k1*"};
        default:
            return {"set", fmt::format("big{}", rng() % 500), value()};
    }
}

TEST(StateMachine, SameCommandsGiveSameRepliesAndSnapshots) {
    const std::uint64_t seed = testing::test_seed(0xdecade);
    SCOPED_TRACE(testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    StateMachine a;
    StateMachine b;
    for (int i = 0; i < 5000; ++i) {
        Args cmd = random_command(rng);
        ASSERT_EQ(run(a, cmd), run(b, cmd)) << "command " << i;
        if (i % 500 == 0) {
            ASSERT_EQ(a.snapshot(), b.snapshot()) << "command " << i;
        }
    }
    EXPECT_EQ(run(a, {"data"}), run(b, {"data"}));
    EXPECT_EQ(run(a, {"keys", "*"}), run(b, {"keys", "*"}));
    EXPECT_EQ(a.snapshot(), b.snapshot());
    EXPECT_TRUE(a == b);
}

TEST(StateMachine, SnapshotRestoreRoundTrip) {
    const std::uint64_t seed = testing::test_seed(0x5eed);
    SCOPED_TRACE(testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    for (int round = 0; round < 30; ++round) {
        StateMachine sm;
        std::size_t n = rng() % 300;
        for (std::size_t i = 0; i < n; ++i) run(sm, random_command(rng));
        std::string image = sm.snapshot();
        StateMachine restored;
        run(restored, {"set", "junk", "replaced by restore"});
        ASSERT_TRUE(restored.restore(image).is_ok()) << "round " << round;
        EXPECT_TRUE(restored == sm) << "round " << round;
        EXPECT_EQ(restored.key_count(), sm.key_count());
        EXPECT_EQ(restored.data_bytes(), sm.data_bytes());
        EXPECT_EQ(restored.snapshot(), image);
        EXPECT_EQ(run(restored, {"data"}), run(sm, {"data"}));
    }
}

TEST(StateMachine, DataBytesCountsKeysAndValues) {
    StateMachine sm;
    run(sm, {"set", "ab", "cde"});
    run(sm, {"append", "ab", "f"});
    run(sm, {"incr", "n"});
    EXPECT_EQ(sm.data_bytes(), 2u + 4 + 1 + 1);
    run(sm, {"set", "ab", ""});
    EXPECT_EQ(sm.data_bytes(), 2u + 0 + 2);
    run(sm, {"getdel", "n"});
    run(sm, {"del", "ab"});
    EXPECT_EQ(sm.data_bytes(), 0u);
    EXPECT_EQ(sm.key_count(), 0u);
}

StateMachine sample_machine() {
    StateMachine sm;
    run(sm, {"mset", "alpha", "1", "beta", std::string("\0\xff", 2), "", "empty key"});
    return sm;
}

TEST(StateMachine, RestoreRejectsEveryTruncation) {
    StateMachine sm = sample_machine();
    const std::string image = sm.snapshot();
    for (std::size_t n = 0; n < image.size(); ++n) {
        StateMachine target;
        run(target, {"set", "keep", "me"});
        Status s = target.restore(std::string_view(image).substr(0, n));
        ASSERT_FALSE(s.is_ok()) << "prefix of " << n << " bytes";
        EXPECT_EQ(s.code(), Code::kCorruption);
        EXPECT_EQ(run(target, {"data"}), bulk(R"({"keep": "me"})")) << "state unchanged";
    }
}

TEST(StateMachine, RestoreRejectsEveryFlippedByte) {
    StateMachine sm = sample_machine();
    const std::string image = sm.snapshot();
    for (std::size_t i = 0; i < image.size(); ++i) {
        std::string bad = image;
        bad[i] = static_cast<char>(bad[i] ^ 0x10);
        StateMachine target;
        Status s = target.restore(bad);
        ASSERT_FALSE(s.is_ok()) << "flipped byte " << i;
        EXPECT_EQ(s.code(), Code::kCorruption);
        EXPECT_EQ(target.key_count(), 0u);
    }
}

// Rewrites the checksum so that validation past it is reached.
std::string reseal(std::string body) {
    put_u64(&body, checksum(body));
    return body;
}

// The version 3 image of a state without deadlines: the current image
// with each record's 8-byte deadline (0) taken out (docs/kv_snapshot_format.md).
std::string as_version3(const std::string& image) {
    if (image[4] == 3) return image;  // no deadlines: written as version 3
    std::string body = image.substr(0, 13);
    body[4] = 3;
    std::uint64_t count = 0;
    for (int i = 0; i < 8; ++i) {
        count |= std::uint64_t{static_cast<unsigned char>(image[5 + i])} << (8 * i);
    }
    std::size_t at = 13;
    const auto u32_at = [&](std::size_t p) {
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            v |= std::uint32_t{static_cast<unsigned char>(image[p + i])} << (8 * i);
        }
        return v;
    };
    for (std::uint64_t r = 0; r < count; ++r) {
        const std::size_t key_end = at + 4 + u32_at(at);
        const std::size_t value_end = key_end + 4 + u32_at(key_end);
        body.append(image, at, value_end - at);
        RAFTKV_ASSERT(image.compare(value_end, 8, std::string(8, '\0')) == 0, "a deadline");
        at = value_end + 8;
    }
    body.append(image, at, image.size() - 8 - at);
    return reseal(body);
}

// The version 2 image of a state without sessions: the version 3 image
// without its index, log time and empty session section.
std::string as_version2(const std::string& current) {
    const std::string image = as_version3(current);
    std::string body = image.substr(0, image.size() - 8 - 8 - 8 - 4);
    body[4] = 2;
    return reseal(body);
}

// The version 1 image of a state without addresses or sessions: version 2
// without its empty address section.
std::string as_version1(const std::string& current) {
    const std::string image = as_version3(current);
    std::string body = image.substr(0, image.size() - 8 - 8 - 8 - 4 - 4);
    body[4] = 1;
    return reseal(body);
}

TEST(StateMachine, RestoreNamesTheProblem) {
    const std::string image = as_version1(sample_machine().snapshot());
    const std::string body = image.substr(0, image.size() - 8);
    std::string wrong_version = body;
    wrong_version[4] = 9;
    std::string wrong_count = body;
    wrong_count[5] = 4;  // 3 records claimed as 4
    std::string few = body;
    few[5] = 2;  // 3 records claimed as 2: trailing bytes
    std::string dup;
    dup.append("RKVS");
    put_u8(&dup, 1);
    put_u64(&dup, 2);
    for (int i = 0; i < 2; ++i) {
        put_u32(&dup, 1);
        dup.append("k");
        put_u32(&dup, 1);
        dup.append("v");
    }
    struct BadCase {
        std::string_view name;
        std::string image;
        std::string_view want;  // part of the message
    };
    const BadCase cases[] = {
        {"empty", "", "less than the 21-byte minimum"},
        {"magic", "XKVS" + image.substr(4), "bad magic"},
        {"version", reseal(wrong_version), "unsupported version 9"},
        {"checksum", body + std::string(8, '\0'), "checksum mismatch"},
        {"count too large", reseal(wrong_count), "runs past the end"},
        {"count too small", reseal(few), "bytes after the last section"},
        {"duplicate key", reseal(dup), "record 1 at offset 23: duplicate key"},
    };
    for (const BadCase& c : cases) {
        SCOPED_TRACE(c.name);
        StateMachine sm;
        Status s = sm.restore(c.image);
        ASSERT_FALSE(s.is_ok());
        EXPECT_EQ(s.code(), Code::kCorruption);
        EXPECT_NE(s.message().find(c.want), std::string::npos) << s.message();
        EXPECT_EQ(sm.key_count(), 0u);
    }
}

TEST(StateMachine, EmptySnapshotRoundTrips) {
    StateMachine empty;
    std::string image = empty.snapshot();
    EXPECT_EQ(image.size(), 45u);
    StateMachine sm = sample_machine();
    ASSERT_TRUE(sm.restore(image).is_ok());
    EXPECT_EQ(sm.key_count(), 0u);
    EXPECT_EQ(sm.data_bytes(), 0u);
    EXPECT_TRUE(sm == empty);
}

TEST(StateMachine, Version1ImagesStillRestore) {
    StateMachine sm = sample_machine();
    const std::string v1 = as_version1(sm.snapshot());
    StateMachine restored;
    run(restored, {"raftkv.address", "2", "h", "1", "2"});
    ASSERT_TRUE(restored.restore(v1).is_ok());
    EXPECT_TRUE(restored == sm);
    EXPECT_TRUE(restored.addresses().empty());
    EXPECT_EQ(restored.last_index(), 0u) << "version 1 has no index";
    EXPECT_EQ(as_version1(restored.snapshot()), v1);
}

TEST(StateMachine, AddressesAreAppliedOutsideTheKeySpace) {
    run_cases(std::vector<Case>{
        {"set, replace and remove",
         {
             {{"RAFTKV.ADDRESS", "2", "127.0.0.2", "7002", "17002"}, kOk},
             {{"raftkv.address", "2", "10.0.0.2", "7002", "7003"}, kOk},
             {{"raftkv.address", "3", "::1", "7003", "17003"}, kOk},
             {{"dbsize"}, integer(0)},
             {{"keys", "*"}, "*0\r\n"},
             {{"scan", "0"}, "*2\r\n$1\r\n0\r\n*0\r\n"},
             {{"data"}, bulk("{}")},
             {{"raftkv.address", "2", "remove"}, integer(1)},
             {{"raftkv.address", "2", "remove"}, integer(0)},
             {{"flushall"}, kOk},
         }},
        {"bad arguments change nothing",
         {
             {{"raftkv.address", "0", "h", "1", "2"},
              "-ERR RAFTKV.ADDRESS node id must be a positive integer\r\n"},
             {{"raftkv.address", "1", "h", "1"}, arity("raftkv.address")},
             {{"raftkv.address", "1", "h"}, kSyntax},
         }},
    });
    StateMachine sm;
    run(sm, {"raftkv.address", "2", "127.0.0.2", "7002", "17002"});
    run(sm, {"raftkv.address", "3", "::1", "7003", "17003"});
    run(sm, {"raftkv.address", "2", "10.0.0.2", "7002", "7003"});
    run(sm, {"flushall"});  // clears keys only
    const std::map<std::uint64_t, ServerAddress> want = {
        {2, {.host = "10.0.0.2", .port = 7002, .peer_port = 7003}},
        {3, {.host = "::1", .port = 7003, .peer_port = 17003}},
    };
    EXPECT_EQ(sm.addresses(), want);
    EXPECT_EQ(sm.key_count(), 0u);
    EXPECT_EQ(sm.data_bytes(), 0u);
}

TEST(StateMachine, AddressTableIsBounded) {
    StateMachine sm;
    for (std::size_t id = 1; id <= kAddressCountMax; ++id) {
        ASSERT_EQ(run(sm, {"raftkv.address", std::to_string(id), "h", "1", "2"}), kOk);
    }
    EXPECT_EQ(run(sm, {"raftkv.address", "100000", "h", "1", "2"}),
              "-ERR the address table is full (256 servers)\r\n");
    EXPECT_EQ(run(sm, {"raftkv.address", "7", "h2", "1", "2"}), kOk) << "replacing still works";
    EXPECT_EQ(sm.addresses().size(), kAddressCountMax);
    StateMachine restored;
    ASSERT_TRUE(restored.restore(sm.snapshot()).is_ok());
    EXPECT_EQ(restored.addresses(), sm.addresses());
}

TEST(StateMachine, AddressesRoundTripThroughSnapshots) {
    StateMachine sm = sample_machine();
    run(sm, {"raftkv.address", "9", "db.example", "6379", "16379"});
    run(sm, {"raftkv.address", "1", "127.0.0.1", "7001", "17001"});
    const std::string image = sm.snapshot();
    StateMachine restored;
    run(restored, {"raftkv.address", "5", "gone", "1", "2"});
    ASSERT_TRUE(restored.restore(image).is_ok());
    EXPECT_TRUE(restored == sm);
    EXPECT_EQ(restored.addresses(), sm.addresses());
    EXPECT_EQ(restored.snapshot(), image);
    for (std::size_t n = 0; n < image.size(); ++n) {
        StateMachine target;
        ASSERT_FALSE(target.restore(std::string_view(image).substr(0, n)).is_ok()) << n;
    }
}

TEST(StateMachine, Version2ImagesStillRestore) {
    StateMachine sm = sample_machine();
    run(sm, {"raftkv.address", "2", "127.0.0.2", "7002", "17002"});
    StateMachine restored;
    ASSERT_TRUE(restored.restore(as_version2(sm.snapshot())).is_ok());
    EXPECT_TRUE(restored == sm);
    EXPECT_EQ(restored.addresses(), sm.addresses());
    EXPECT_EQ(restored.last_index(), 0u) << "version 2 has no index";
}

TEST(StateMachine, RestoreRejectsBadAddresses) {
    // keys section of the empty store: magic, version 2, no records.
    std::string head = "RKVS";
    put_u8(&head, 2);
    put_u64(&head, 0);
    const auto with_address = [&](std::uint64_t id, std::string_view host, std::uint32_t port,
                                  std::uint32_t peer_port) {
        std::string b = head;
        put_u32(&b, 1);
        put_u64(&b, id);
        put_u32(&b, static_cast<std::uint32_t>(host.size()));
        b.append(host);
        put_u32(&b, port);
        put_u32(&b, peer_port);
        return reseal(b);
    };
    std::string two_out_of_order = head;
    put_u32(&two_out_of_order, 2);
    for (std::uint64_t id : {3, 2}) {
        put_u64(&two_out_of_order, id);
        put_u32(&two_out_of_order, 1);
        two_out_of_order.append("h");
        put_u32(&two_out_of_order, 1);
        put_u32(&two_out_of_order, 2);
    }
    std::string too_many = head;
    put_u32(&too_many, 257);
    struct BadCase {
        std::string_view name;
        std::string image;
        std::string_view want;
    };
    const BadCase cases[] = {
        {"no address section", reseal(head), "address count at offset 13 runs past the end"},
        {"node 0", with_address(0, "h", 1, 2), "address 0 at offset 17: invalid (node 0"},
        {"bad host", with_address(1, "a b", 1, 2), "invalid"},
        {"port too big", with_address(1, "h", 65536, 2), "ports 65536 and 2"},
        {"same ports", with_address(1, "h", 2, 2), "invalid"},
        {"out of order", reseal(two_out_of_order), "node 2 out of order"},
        {"too many", reseal(too_many), "address count 257 at offset 13 exceeds 256"},
    };
    for (const BadCase& c : cases) {
        SCOPED_TRACE(c.name);
        StateMachine sm;
        Status s = sm.restore(c.image);
        ASSERT_FALSE(s.is_ok());
        EXPECT_EQ(s.code(), Code::kCorruption);
        EXPECT_NE(s.message().find(c.want), std::string::npos) << s.message();
        EXPECT_TRUE(sm.addresses().empty());
    }
    StateMachine ok;
    ASSERT_TRUE(ok.restore(with_address(1, "h", 1, 2)).is_ok());
    EXPECT_EQ(ok.addresses().at(1).host, "h");
}

}  // namespace
}  // namespace raftkv::kv
