// commands_test.cc — the command table, find_command and check().
#include "kv/commands.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace raftkv::kv {
namespace {

using Args = std::vector<std::string>;

TEST(Commands, TableIsConsistent) {
    std::set<std::string_view> names;
    for (const CommandInfo& c : all_commands()) {
        SCOPED_TRACE(c.name);
        EXPECT_TRUE(names.insert(c.name).second) << "duplicate name";
        for (char ch : c.name) EXPECT_FALSE(ch >= 'A' && ch <= 'Z');
        EXPECT_NE(c.arity, 0);
        EXPECT_FALSE(c.summary.empty());
        bool readonly = c.flags.find("readonly") != std::string_view::npos;
        bool write = c.flags.find("write") != std::string_view::npos;
        EXPECT_EQ(readonly, c.cls == CommandClass::kRead);
        EXPECT_EQ(write, c.cls == CommandClass::kWrite);
        EXPECT_EQ(find_command(c.name), &c);
    }
    for (std::string_view n :
         {"set",     "del",        "mset",       "incr",     "incrby",        "decr",
          "decrby",  "append",     "getdel",     "flushall", "delete",        "raftkv.address",
          "get",     "exists",     "mget",       "strlen",   "dbsize",        "keys",
          "scan",    "data",       "setex",      "psetex",   "getex",         "expire",
          "pexpire", "expireat",   "pexpireat",  "persist",  "raftkv.expire", "ttl",
          "pttl",    "expiretime", "pexpiretime", "raftkv.clock"}) {
        EXPECT_TRUE(names.contains(n)) << n;
    }
    EXPECT_EQ(names.size(), 35u);
}

// Issue 11, item 7: only servers propose the address table, active expiry
// and the clock; the client protocol cannot name them.
TEST(Commands, InternalCommandsAreNotClientCommands) {
    std::set<std::string_view> internal;
    for (const CommandInfo& c : all_commands()) {
        if (is_internal(c)) {
            internal.insert(c.name);
            EXPECT_EQ(find_client_command(c.name), nullptr) << c.name;
        } else {
            EXPECT_EQ(find_client_command(c.name), &c) << c.name;
        }
    }
    EXPECT_EQ(internal,
              (std::set<std::string_view>{"raftkv.address", "raftkv.expire", "raftkv.clock"}));
    EXPECT_EQ(find_client_command("RAFTKV.ADDRESS"), nullptr);
    EXPECT_NE(find_command("RAFTKV.ADDRESS"), nullptr) << "the state machine still applies it";
    EXPECT_EQ(find_client_command("SeT"), find_command("set"));
    EXPECT_EQ(internal_command_error("RAFTKV.CLOCK"),
              "ERR 'RAFTKV.CLOCK' is internal to raftkv: only its servers propose it, clients "
              "cannot send it");

    std::string reply;
    resp::ReplyWriter w(&reply);
    const Args run = {"SESSION", "RUN", "1", "1", "raftkv.clock"};
    EXPECT_FALSE(check(*find_command("session"), run, w));
    EXPECT_EQ(reply, "-" + internal_command_error("raftkv.clock") + "\r\n");
}

TEST(Commands, FindIsCaseInsensitive) {
    EXPECT_EQ(find_command("SET"), find_command("set"));
    EXPECT_EQ(find_command("sEt")->name, "set");
    EXPECT_EQ(find_command("DELETE")->id, CommandId::kDel);
    EXPECT_EQ(find_command("Data")->cls, CommandClass::kRead);
    EXPECT_EQ(find_command("hset"), nullptr);
    EXPECT_EQ(find_command(""), nullptr);
    EXPECT_EQ(find_command("se"), nullptr);
    EXPECT_EQ(find_command("sett"), nullptr);
}

TEST(Commands, CheckRepliesOnlyOnError) {
    struct Case {
        Args args;
        std::string want;  // "" when the command passes
    };
    const Case cases[] = {
        {{"set", "k", "v"}, ""},
        {{"SET", "k", "v", "nx", "get", "keepttl"}, ""},
        {{"set", "k"}, "-ERR wrong number of arguments for 'set' command\r\n"},
        {{"set", "k", "v", "nx", "xx"}, "-ERR syntax error\r\n"},
        {{"set", "k", "v", "ifeq", "old", "get"}, ""},
        {{"set", "k", "v", "ifeq", "nx"}, ""},  // "nx" is the value to match
        {{"set", "k", "v", "ifeq", "old", "nx"}, "-ERR syntax error\r\n"},
        {{"set", "k", "v", "xx", "ifeq", "old"}, "-ERR syntax error\r\n"},
        {{"set", "k", "v", "ifeq"}, "-ERR syntax error\r\n"},
        {{"set", "k", "v", "ex", "10"}, ""},
        {{"set", "k", "v", "ex", "-1"}, "-ERR invalid expire time in 'set' command\r\n"},
        {{"set", "k", "v", "ex", "9223372036854776"},
         "-ERR invalid expire time in 'set' command\r\n"},
        {{"setex", "k", "0", "v"}, "-ERR invalid expire time in 'setex' command\r\n"},
        {{"psetex", "k", "x", "v"}, "-ERR value is not an integer or out of range\r\n"},
        {{"getex", "k", "persist", "ex", "1"}, "-ERR syntax error\r\n"},
        {{"getex", "k", "ex", "0"}, ""},  // checked at apply, once the key is found
        {{"expire", "k", "10", "nx", "xx"},
         "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"},
        {{"expire", "k", "10", "gt", "lt"},
         "-ERR GT and LT options at the same time are not compatible\r\n"},
        {{"pexpire", "k", "10", "bogus"}, "-ERR Unsupported option bogus\r\n"},
        {{"expire", "k", "-10"}, ""},
        {{"expireat", "k", "9223372036854776"},
         "-ERR invalid expire time in 'expireat' command\r\n"},
        {{"raftkv.expire", "0"}, "-ERR RAFTKV.EXPIRE max must be an integer from 1 to 10000\r\n"},
        {{"GET", "k", "x"}, "-ERR wrong number of arguments for 'get' command\r\n"},
        {{"mset", "a", "1", "b"}, "-ERR wrong number of arguments for 'mset' command\r\n"},
        {{"incrby", "k", "1"}, ""},
        {{"incrby", "k", "one"}, "-ERR value is not an integer or out of range\r\n"},
        {{"decrby", "k", "-9223372036854775808"}, "-ERR decrement would overflow\r\n"},
        {{"flushall", "async"}, ""},
        {{"flushall", "x"}, "-ERR syntax error\r\n"},
        {{"scan", "0", "match", "*", "count", "5", "type", "string"}, ""},
        {{"scan", "abc"}, "-ERR invalid cursor\r\n"},
        {{"dbsize", "x"}, "-ERR wrong number of arguments for 'dbsize' command\r\n"},
        {{"data"}, ""},
        {{"delete"}, "-ERR wrong number of arguments for 'delete' command\r\n"},
        {{"RAFTKV.ADDRESS", "4", "127.0.0.4", "7004", "17004"}, ""},
        {{"raftkv.address", "4", "remove"}, ""},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.args[0]);
        std::string out;
        resp::ReplyWriter w(&out);
        const CommandInfo* info = find_command(c.args[0]);
        ASSERT_NE(info, nullptr);
        EXPECT_EQ(check(*info, c.args, w), c.want.empty());
        EXPECT_EQ(out, c.want);
    }
}

TEST(Commands, AddressArgumentsAreCheckedStrictly) {
    const std::string kArity = "-ERR wrong number of arguments for 'raftkv.address' command\r\n";
    const std::string kId = "-ERR RAFTKV.ADDRESS node id must be a positive integer\r\n";
    const std::string kHost =
        "-ERR RAFTKV.ADDRESS host must be 1 to 255 bytes of letters, digits and . : _ -\r\n";
    const std::string kPort = "-ERR RAFTKV.ADDRESS ports must be integers from 1 to 65535\r\n";
    struct Case {
        std::string_view name;
        Args args;
        std::string want;  // "" when the command passes
    };
    const Case cases[] = {
        {"ipv4", {"raftkv.address", "2", "127.0.0.2", "7002", "17002"}, ""},
        {"dns name",
         {"raftkv.address", "18446744073709551615", "db-1.example_x", "1", "65535"},
         ""},
        {"ipv6 literal", {"raftkv.address", "3", "::1", "6379", "16379"}, ""},
        {"remove any case", {"raftkv.address", "3", "ReMoVe"}, ""},
        {"no args", {"raftkv.address"}, kArity},
        {"id only", {"raftkv.address", "3"}, kArity},
        {"no peer port", {"raftkv.address", "3", "h", "1"}, kArity},
        {"extra", {"raftkv.address", "3", "h", "1", "2", "3"}, kArity},
        {"remove typo", {"raftkv.address", "3", "removed"}, "-ERR syntax error\r\n"},
        {"id zero", {"raftkv.address", "0", "h", "1", "2"}, kId},
        {"id negative", {"raftkv.address", "-1", "remove"}, kId},
        {"id leading zero", {"raftkv.address", "01", "h", "1", "2"}, kId},
        {"id too big", {"raftkv.address", "18446744073709551616", "h", "1", "2"}, kId},
        {"empty host", {"raftkv.address", "1", "", "1", "2"}, kHost},
        {"host with space", {"raftkv.address", "1", "a b", "1", "2"}, kHost},
        {"bracketed ipv6", {"raftkv.address", "1", "[::1]", "1", "2"}, kHost},
        {"host:port", {"raftkv.address", "1", "h:1@2", "1", "2"}, kHost},
        {"host too long", {"raftkv.address", "1", std::string(256, 'a'), "1", "2"}, kHost},
        {"port zero", {"raftkv.address", "1", "h", "0", "2"}, kPort},
        {"port too big", {"raftkv.address", "1", "h", "65536", "2"}, kPort},
        {"peer port text", {"raftkv.address", "1", "h", "1", "x"}, kPort},
        {"port with plus", {"raftkv.address", "1", "h", "+1", "2"}, kPort},
        {"same ports",
         {"raftkv.address", "1", "h", "7001", "7001"},
         "-ERR RAFTKV.ADDRESS client and peer ports must differ\r\n"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        std::string out;
        resp::ReplyWriter w(&out);
        EXPECT_EQ(check(*find_command(c.args[0]), c.args, w), c.want.empty());
        EXPECT_EQ(out, c.want);
    }
    EXPECT_TRUE(is_valid_address_host(std::string(255, 'a')));
}

TEST(Commands, ParseIntegersStrictly) {
    struct Case {
        std::string_view in;
        std::optional<std::int64_t> want;
    };
    const Case cases[] = {
        {"0", 0},
        {"1", 1},
        {"-1", -1},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775808", INT64_MIN},
        {"9223372036854775808", std::nullopt},
        {"-9223372036854775809", std::nullopt},
        {"18446744073709551616", std::nullopt},
        {"", std::nullopt},
        {"-", std::nullopt},
        {"-0", std::nullopt},
        {"01", std::nullopt},
        {"+1", std::nullopt},
        {" 1", std::nullopt},
        {"1 ", std::nullopt},
        {"1a", std::nullopt},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.in);
        EXPECT_EQ(parse_i64(c.in), c.want);
    }
    EXPECT_EQ(parse_u64("18446744073709551615"), UINT64_MAX);
    EXPECT_EQ(parse_u64("18446744073709551616"), std::nullopt);
    EXPECT_EQ(parse_u64("-1"), std::nullopt);
}

}  // namespace
}  // namespace raftkv::kv
