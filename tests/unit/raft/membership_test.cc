// membership_test.cc — the kConfig entry codec: its exact bytes, round trips
// (by table and randomized), and every rejection membership.h lists.
// Format: docs/raft_formats.md, "Configuration entry".
#include "raft/membership.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "base/coding.h"
#include "testing/seed.h"

namespace raftkv::raft {
namespace {

constexpr std::uint64_t kIdMax = std::numeric_limits<std::uint64_t>::max();

Membership membership(std::initializer_list<std::uint64_t> voters,
                      std::initializer_list<std::uint64_t> learners) {
    Membership m;
    for (std::uint64_t id : voters) m.voters.insert(NodeId(id));
    for (std::uint64_t id : learners) m.learners.insert(NodeId(id));
    return m;
}

// Bytes written field by field, independently of the encoder, so that a
// test can say exactly what is malformed.
std::string payload(std::uint8_t version, const std::vector<std::uint64_t>& voters,
                    const std::vector<std::uint64_t>& learners) {
    std::string out;
    put_u8(&out, version);
    put_u32(&out, static_cast<std::uint32_t>(voters.size()));
    for (std::uint64_t id : voters) put_u64(&out, id);
    put_u32(&out, static_cast<std::uint32_t>(learners.size()));
    for (std::uint64_t id : learners) put_u64(&out, id);
    return out;
}

TEST(Membership, EncodingIsTheDocumentedLayout) {
    // docs/raft_formats.md: version u8, voter count u32, voter ids u64,
    // learner count u32, learner ids u64; little-endian.
    const std::string want(
        "\x01"                               // version 1
        "\x02\x00\x00\x00"                   // 2 voters
        "\x01\x00\x00\x00\x00\x00\x00\x00"   // voter 1
        "\x02\x01\x00\x00\x00\x00\x00\x00"   // voter 0x102
        "\x01\x00\x00\x00"                   // 1 learner
        "\x08\x07\x06\x05\x04\x03\x02\x01",  // learner 0x0102030405060708
        1 + 4 + 16 + 4 + 8);
    const Membership m = membership({0x102, 1}, {0x0102030405060708});
    EXPECT_EQ(encode_membership(m), want);
    EXPECT_EQ(decode_membership(want), m);
    EXPECT_EQ(kMembershipFormatVersion, 1);
}

TEST(Membership, RoundTrip) {
    struct Case {
        std::string_view name;
        Membership m;
    };
    const Case cases[] = {
        {"nobody", membership({}, {})},
        {"one voter", membership({1}, {})},
        {"three voters", membership({1, 2, 3}, {})},
        {"voters and learners", membership({1, 2, 3}, {4, 5})},
        {"learners only", membership({}, {7})},
        {"largest id", membership({kIdMax}, {kIdMax - 1})},
        {"ids far apart", membership({1, 1ull << 32, 1ull << 63}, {2, 3})},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        const std::string bytes = encode_membership(c.m);
        EXPECT_EQ(bytes.size(), 1 + 4 + 8 * c.m.voters.size() + 4 + 8 * c.m.learners.size());
        EXPECT_EQ(decode_membership(bytes), c.m);
    }
}

TEST(Membership, RandomRoundTrip) {
    const std::uint64_t seed = testing::test_seed(0x3e3b);
    SCOPED_TRACE(testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 1000; ++i) {
        Membership m;
        const std::size_t count = rng() % 12;
        for (std::size_t j = 0; j < count; ++j) {
            // Small ids collide often, which exercises the disjointness.
            const NodeId id(rng() % 2 == 0 ? 1 + rng() % 16 : 1 + rng() % (kIdMax - 1));
            if (m.contains(id)) continue;
            (rng() % 3 == 0 ? m.learners : m.voters).insert(id);
        }
        const std::string bytes = encode_membership(m);
        const std::optional<Membership> back = decode_membership(bytes);
        ASSERT_EQ(back, m) << to_string(m);
        // Canonical: the only bytes that decode to m are these.
        EXPECT_EQ(encode_membership(*back), bytes);
    }
}

TEST(Membership, DecodeRejectsMalformed) {
    struct Case {
        std::string_view name;
        std::string bytes;
    };
    const std::string good = payload(1, {1, 2, 3}, {4});
    const Case cases[] = {
        // A wrong version.
        {"empty", ""},
        {"version 0", payload(0, {1}, {})},
        {"version 2", payload(2, {1}, {})},
        {"version 255", payload(255, {1}, {})},
        // A wrong length.
        {"version only", "\x01"},
        {"voter count cut", good.substr(0, 3)},
        {"voter id cut", good.substr(0, 1 + 4 + 8 + 3)},
        {"learner count missing", good.substr(0, 1 + 4 + 24)},
        {"learner count cut", good.substr(0, 1 + 4 + 24 + 2)},
        {"learner id cut", good.substr(0, good.size() - 1)},
        {"one byte too many", good + std::string(1, '\0')},
        {"a whole id too many", good + std::string(8, '\x09')},
        {"voter count past the end", payload(1, {1, 2, 3}, {}).substr(0, 1) +
                                         std::string("\x04\x00\x00\x00", 4) +
                                         payload(1, {1, 2, 3}, {}).substr(5)},
        {"voter count 2^32-1", std::string("\x01\xff\xff\xff\xff", 5) + std::string(16, '\x01')},
        {"learner count 2^32-1",
         payload(1, {1}, {}).substr(0, 1 + 4 + 8) + std::string("\xff\xff\xff\xff", 4)},
        // Ids out of order or repeated.
        {"voters descending", payload(1, {2, 1}, {})},
        {"voters repeated", payload(1, {1, 1}, {})},
        {"voters out of order later on", payload(1, {1, 5, 3}, {})},
        {"learners descending", payload(1, {1}, {5, 4})},
        {"learners repeated", payload(1, {1}, {4, 4})},
        {"largest id repeated", payload(1, {kIdMax, kIdMax}, {})},
        // A node both voter and learner.
        {"voter also learner", payload(1, {1, 2, 3}, {2})},
        {"only voter also learner", payload(1, {kIdMax}, {kIdMax})},
        // Id 0.
        {"voter 0", payload(1, {0}, {})},
        {"voter 0 first of several", payload(1, {0, 1, 2}, {})},
        {"learner 0", payload(1, {1}, {0})},
    };
    ASSERT_TRUE(decode_membership(good).has_value());  // the cases differ from it only as named
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(decode_membership(c.bytes), std::nullopt);
    }
}

TEST(Membership, DecodeRejectsEveryProperPrefix) {
    const std::string good = encode_membership(membership({1, 2, 3}, {4, 5}));
    for (std::size_t n = 0; n < good.size(); ++n) {
        SCOPED_TRACE(n);
        EXPECT_EQ(decode_membership(std::string_view(good).substr(0, n)), std::nullopt);
    }
}

TEST(Membership, ToString) {
    EXPECT_EQ(to_string(membership({}, {})), "voters=[] learners=[]");
    EXPECT_EQ(to_string(membership({3, 1, 2}, {4})), "voters=[1 2 3] learners=[4]");
}

}  // namespace
}  // namespace raftkv::raft
