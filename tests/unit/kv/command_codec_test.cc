// command_codec_test.cc — log entry payloads: round trip and corruption.
#include "kv/command_codec.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "base/coding.h"
#include "test_util.h"

namespace raftkv::kv {
namespace {

using Args = std::vector<std::string>;

TEST(CommandCodec, KnownBytes) {
    const Args args = {"set", "k", ""};
    std::string want;
    want += '\x01';
    want += std::string("\x03\0\0\0", 4);
    want += std::string("\x03\0\0\0", 4) + "set";
    want += std::string("\x01\0\0\0", 4) + "k";
    want += std::string("\0\0\0\0", 4);
    EXPECT_EQ(encode_command(args), want);
}

TEST(CommandCodec, RandomRoundTrip) {
    const std::uint64_t seed = testing::test_seed(0xc0dec);
    SCOPED_TRACE(testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    for (int round = 0; round < 500; ++round) {
        Args args(1 + rng() % 8);
        for (std::string& a : args) {
            a.resize(rng() % (rng() % 10 == 0 ? 5000 : 20));
            for (char& c : a) c = static_cast<char>(rng());
        }
        Result<Args> back = decode_command(encode_command(args));
        ASSERT_TRUE(back.has_value()) << back.error().to_string();
        EXPECT_EQ(*back, args);
    }
}

TEST(CommandCodec, EveryTruncationIsRejected) {
    const std::string bytes = encode_command(Args{"mset", "a", "1", "b", "22"});
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        Result<Args> r = decode_command(std::string_view(bytes).substr(0, n));
        ASSERT_FALSE(r.has_value()) << n;
        EXPECT_EQ(r.error().code(), Code::kCorruption);
    }
}

TEST(CommandCodec, CorruptionNamesTheProblem) {
    auto header = [](std::uint8_t version, std::uint32_t argc) {
        std::string s;
        put_u8(&s, version);
        put_u32(&s, argc);
        return s;
    };
    std::string good = encode_command(Args{"get", "k"});
    struct Case {
        std::string_view name;
        std::string bytes;
        std::string_view want;
    };
    std::string huge_arg = header(1, 1);
    put_u32(&huge_arg, kArgBytesMax + 1);
    std::string past_end = header(1, 1);
    put_u32(&past_end, 10);
    past_end += "short";
    const Case cases[] = {
        {"empty", "", "empty payload"},
        {"version 0", header(0, 1), "unsupported version 0"},
        {"version 3", header(3, 1), "unsupported version 3"},
        {"version 2 without its time", std::string("\x02\x01\0\0", 4), "too short for the time"},
        {"no count", std::string("\x01\x01", 2), "too short for the argument count"},
        {"zero args", header(1, 0), "argument count is 0"},
        {"too many args", header(1, kArgCountMax + 1), "exceeds"},
        {"count past the end", header(1, 3) + std::string(8, '\0'), "cannot fit"},
        {"argument too long", huge_arg, "exceeds 536870912"},
        {"argument past the end", past_end, "argument 0 at offset 5: length 10 runs past"},
        {"trailing bytes", good + "x", "1 bytes after the last argument"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Result<Args> r = decode_command(c.bytes);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code(), Code::kCorruption);
        EXPECT_NE(r.error().message().find(c.want), std::string::npos) << r.error().message();
    }
}

TEST(CommandCodec, Version2KnownBytes) {
    const Args args = {"incr", "n"};
    std::string want;
    want += '\x02';
    want += std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8);
    want += std::string("\x02\0\0\0", 4);
    want += std::string("\x04\0\0\0", 4) + "incr";
    want += std::string("\x01\0\0\0", 4) + "n";
    EXPECT_EQ(encode_command(args, 0x0102030405060708), want);
    Result<LoggedCommand> back = decode_logged_command(want);
    ASSERT_TRUE(back.has_value()) << back.error().to_string();
    EXPECT_EQ(back->args, args);
    EXPECT_EQ(back->time_ms, 0x0102030405060708u);
    EXPECT_EQ(encode_command(*back), want);
}

TEST(CommandCodec, Version1StillDecodesWithoutATime) {
    const Args args = {"set", "k", "v"};
    const std::string v1 = encode_command(args);
    ASSERT_EQ(v1[0], '\x01');
    Result<LoggedCommand> back = decode_logged_command(v1);
    ASSERT_TRUE(back.has_value()) << back.error().to_string();
    EXPECT_EQ(back->args, args);
    EXPECT_EQ(back->time_ms, std::nullopt);
    EXPECT_EQ(encode_command(*back), v1) << "re-encodes in its own version";
    Result<Args> plain = decode_command(encode_command(args, 1700000000000));
    ASSERT_TRUE(plain.has_value());
    EXPECT_EQ(*plain, args);
}

TEST(CommandCodec, Version2EveryTruncationIsRejected) {
    const std::string bytes = encode_command(Args{"mset", "a", "1"}, 42);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        Result<LoggedCommand> r = decode_logged_command(std::string_view(bytes).substr(0, n));
        ASSERT_FALSE(r.has_value()) << n;
        EXPECT_EQ(r.error().code(), Code::kCorruption);
    }
    std::string zero_args;
    put_u8(&zero_args, 2);
    put_u64(&zero_args, 42);
    put_u32(&zero_args, 0);
    Result<LoggedCommand> r = decode_logged_command(zero_args);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("argument count is 0 at offset 9"), std::string::npos)
        << r.error().message();
}

}  // namespace
}  // namespace raftkv::kv
