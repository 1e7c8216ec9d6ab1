// message_codec_test.cc — the peer message codec: its exact bytes, round
// trips of every message type with every field set (by table and
// randomized), every rejection message_codec.h lists, and every truncation.
// Format: docs/peer_protocol.md, "Message".
#include "raft/message_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "base/coding.h"
#include "raft/membership.h"
#include "testing/seed.h"

namespace raftkv::raft {
namespace {

constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();

Membership membership(std::initializer_list<std::uint64_t> voters,
                      std::initializer_list<std::uint64_t> learners) {
    Membership m;
    for (std::uint64_t id : voters) m.voters.insert(NodeId(id));
    for (std::uint64_t id : learners) m.learners.insert(NodeId(id));
    return m;
}

// A message of `type` with every field set to a distinct non-default value;
// entries only where the format allows them (kAppend), and of every type.
Message full_message(MessageType type) {
    Message m{
        .type = type,
        .from = NodeId(3),
        .to = NodeId(kU64Max),
        .term = Term(0x0102030405060708),
        .index = Index(41),
        .log_term = Term(6),
        .commit = Index(40),
        .reject = true,
        .hint = {.index = Index(37), .term = Term(5)},
        .read_round = 0xfedcba9876543210,
        .transfer = true,
        .snapshot = {.index = Index(30), .term = Term(4), .membership = membership({1, 2, 3}, {9})},
        .offset = 1u << 20,
        .data = std::string("chunk\0with\xffnul", 14),
        .done = true,
    };
    if (type == MessageType::kAppend) {
        m.entries = {
            {.term = Term(6), .index = Index(42), .type = EntryType::kNoop, .data = ""},
            {.term = Term(7), .index = Index(43), .type = EntryType::kCommand, .data = "set a 1"},
            {.term = Term(7),
             .index = Index(44),
             .type = EntryType::kConfig,
             .data = encode_membership(membership({1, 2, 3}, {4}))},
        };
    }
    return m;
}

std::vector<MessageType> all_types() {
    std::vector<MessageType> types;
    for (int t = 1; t <= 11; ++t) types.push_back(static_cast<MessageType>(t));
    return types;
}

// Bytes written field by field, independently of the encoder, so that a
// test can say exactly what is malformed. Counts and lengths follow the
// lists unless overridden.
struct RawEntry {
    std::uint64_t term = 2;
    std::uint64_t index = 0;  // 0: the right one (message index + 1 + position)
    std::uint8_t type = 1;
    std::string data = "x";
    std::optional<std::uint32_t> data_bytes;
};

struct Raw {
    std::uint8_t version = 1;
    std::uint8_t type = 5;  // kAppend
    std::uint8_t flags = 0;
    std::uint64_t from = 1, to = 2, term = 3, index = 10, log_term = 2, commit = 9;
    std::uint64_t hint_index = 0, hint_term = 0, read_round = 0, offset = 0;
    std::uint64_t snapshot_index = 0, snapshot_term = 0;
    std::vector<std::uint64_t> voters, learners;
    std::optional<std::uint32_t> voter_count, learner_count;
    std::vector<RawEntry> entries;
    std::optional<std::uint32_t> entry_count;
    std::string data;
    std::optional<std::uint32_t> data_bytes;
    std::string trailing;
};

std::string bytes(const Raw& r) {
    std::string out;
    put_u8(&out, r.version);
    put_u8(&out, r.type);
    put_u8(&out, r.flags);
    for (std::uint64_t v :
         {r.from, r.to, r.term, r.index, r.log_term, r.commit, r.hint_index, r.hint_term,
          r.read_round, r.offset, r.snapshot_index, r.snapshot_term}) {
        put_u64(&out, v);
    }
    put_u32(&out, r.voter_count.value_or(static_cast<std::uint32_t>(r.voters.size())));
    for (std::uint64_t id : r.voters) put_u64(&out, id);
    put_u32(&out, r.learner_count.value_or(static_cast<std::uint32_t>(r.learners.size())));
    for (std::uint64_t id : r.learners) put_u64(&out, id);
    put_u32(&out, r.entry_count.value_or(static_cast<std::uint32_t>(r.entries.size())));
    for (std::size_t i = 0; i < r.entries.size(); ++i) {
        const RawEntry& e = r.entries[i];
        put_u64(&out, e.term);
        put_u64(&out, e.index != 0 ? e.index : r.index + 1 + i);
        put_u8(&out, e.type);
        put_u32(&out, e.data_bytes.value_or(static_cast<std::uint32_t>(e.data.size())));
        out += e.data;
    }
    put_u32(&out, r.data_bytes.value_or(static_cast<std::uint32_t>(r.data.size())));
    out += r.data;
    out += r.trailing;
    return out;
}

TEST(MessageCodec, EncodingIsTheDocumentedLayout) {
    // docs/peer_protocol.md: the heartbeat example, byte for byte.
    const Message m{.type = MessageType::kHeartbeat,
                    .from = NodeId(1),
                    .to = NodeId(2),
                    .term = Term(5),
                    .commit = Index(7),
                    .read_round = 3};
    std::string want;
    want += std::string("\x01\x07\x00", 3);                      // version, type, flags
    want += std::string("\x01\x00\x00\x00\x00\x00\x00\x00", 8);  // from 1
    want += std::string("\x02\x00\x00\x00\x00\x00\x00\x00", 8);  // to 2
    want += std::string("\x05\x00\x00\x00\x00\x00\x00\x00", 8);  // term 5
    want += std::string(16, '\0');                               // index, log_term
    want += std::string("\x07\x00\x00\x00\x00\x00\x00\x00", 8);  // commit 7
    want += std::string(16, '\0');                               // hint
    want += std::string("\x03\x00\x00\x00\x00\x00\x00\x00", 8);  // read_round 3
    want += std::string(8 + 16, '\0');                           // offset, snapshot
    want += std::string(4 * 4, '\0');  // voters, learners, entries, data: all empty
    EXPECT_EQ(encode_message(m), want);
    EXPECT_EQ(want.size(), kMessageBytesMin);
    EXPECT_EQ(kMessageBytesMin, 115u);
}

TEST(MessageCodec, RawBuilderMatchesTheEncoder) {
    // The tests below trust `bytes()` to write the format; check it once.
    Raw raw;
    raw.entries = {RawEntry{}, RawEntry{.term = 3, .type = 2, .data = ""}};
    raw.voters = {1, 2};
    raw.learners = {5};
    raw.data = "abc";
    const Result<Message> m = decode_message(bytes(raw));
    ASSERT_TRUE(m.has_value()) << m.error().to_string();
    EXPECT_EQ(encode_message(*m), bytes(raw));
    EXPECT_EQ(m->entries.size(), 2u);
    EXPECT_EQ(m->entries[1].index, Index(12));
}

TEST(MessageCodec, EveryTypeRoundTripsWithEveryFieldSet) {
    for (MessageType type : all_types()) {
        SCOPED_TRACE(message_type_name(type));
        const Message m = full_message(type);
        const std::string encoded = encode_message(m);
        const Result<Message> back = decode_message(encoded);
        ASSERT_TRUE(back.has_value()) << back.error().to_string();
        EXPECT_EQ(*back, m);
        EXPECT_EQ(encode_message(*back), encoded);
    }
}

TEST(MessageCodec, DefaultsAndExtremesRoundTrip) {
    const Message cases[] = {
        {.type = MessageType::kTimeoutNow, .from = NodeId(1), .to = NodeId(2)},
        {.type = MessageType::kAppend,
         .from = NodeId(kU64Max),
         .to = NodeId(1),
         .term = Term(kU64Max),
         .index = Index(kU64Max - 1),
         .log_term = Term(kU64Max),
         .entries = {{.term = Term(kU64Max), .index = Index(kU64Max), .data = "last"}}},
        {.type = MessageType::kSnapshot,
         .from = NodeId(2),
         .to = NodeId(1),
         .snapshot = {.index = Index(1), .term = Term(1), .membership = membership({}, {})},
         .data = std::string(100000, 'z')},
    };
    for (const Message& m : cases) {
        SCOPED_TRACE(to_string(m));
        const Result<Message> back = decode_message(encode_message(m));
        ASSERT_TRUE(back.has_value()) << back.error().to_string();
        EXPECT_EQ(*back, m);
    }
}

TEST(MessageCodec, RandomMessagesRoundTrip) {
    const std::uint64_t seed = testing::test_seed();
    SCOPED_TRACE(testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    auto pick = [&](std::uint64_t n) {
        return std::uniform_int_distribution<std::uint64_t>(0, n)(rng);
    };
    for (int round = 0; round < 500; ++round) {
        Message m;
        m.type = static_cast<MessageType>(1 + pick(10));
        m.from = NodeId(1 + pick(5));
        m.to = NodeId(m.from.value + 1 + pick(5));
        m.term = Term(pick(1) ? pick(100) + 50 : kU64Max);
        m.index = Index(pick(1000));
        m.log_term = Term(pick(50));
        m.commit = Index(pick(1000));
        m.reject = pick(1) != 0;
        m.hint = {.index = Index(pick(1000)), .term = Term(pick(50))};
        m.read_round = rng();
        m.transfer = pick(1) != 0;
        m.snapshot.index = Index(pick(1000));
        m.snapshot.term = Term(pick(50));
        for (std::uint64_t id = 1; id < 8; ++id) {
            const std::uint64_t where = pick(2);
            if (where == 1) m.snapshot.membership.voters.insert(NodeId(id));
            if (where == 2) m.snapshot.membership.learners.insert(NodeId(id));
        }
        m.offset = rng();
        m.data = std::string(pick(40), static_cast<char>(pick(255)));
        m.done = pick(1) != 0;
        if (m.type == MessageType::kAppend) {
            Term t = m.log_term;
            for (std::uint64_t i = 0, n = pick(5); i < n; ++i) {
                if (pick(1) != 0 && t < m.term) t = t.next();
                m.entries.push_back({.term = t == Term(0) ? Term(1) : t,
                                     .index = Index(m.index.value + 1 + i),
                                     .type = EntryType::kCommand,
                                     .data = std::string(pick(20), 'e')});
                t = m.entries.back().term;
            }
            if (!m.entries.empty() && m.entries.back().term > m.term) m.entries.clear();
        }
        SCOPED_TRACE(to_string(m));
        const Result<Message> back = decode_message(encode_message(m));
        ASSERT_TRUE(back.has_value()) << back.error().to_string();
        ASSERT_EQ(*back, m);
    }
}

TEST(MessageCodec, RejectsBadBytesWithAReason) {
    struct Case {
        std::string_view name;
        std::function<void(Raw&)> edit;
        std::string_view want;  // a part of the error message
    };
    const Case cases[] = {
        {"version 0", [](Raw& r) { r.version = 0; }, "unknown format version 0"},
        {"version 2", [](Raw& r) { r.version = 2; }, "unknown format version 2"},
        {"type 0", [](Raw& r) { r.type = 0; }, "unknown type 0"},
        {"type 12", [](Raw& r) { r.type = 12; }, "unknown type 12"},
        {"type 255", [](Raw& r) { r.type = 255; }, "unknown type 255"},
        {"unknown flag", [](Raw& r) { r.flags = 0x08; }, "unknown flag bits 0x08"},
        {"from 0", [](Raw& r) { r.from = 0; }, "from is node id 0"},
        {"to 0", [](Raw& r) { r.to = 0; }, "to is node id 0"},
        {"from is to", [](Raw& r) { r.to = r.from; }, "from and to are both node 1"},
        {"voter 0",
         [](Raw& r) {
             r.voters = {0, 1};
         },
         "snapshot voter 0 is node id 0"},
        {"learner 0", [](Raw& r) { r.learners = {0}; }, "snapshot learner 0 is node id 0"},
        {"voters repeat",
         [](Raw& r) {
             r.voters = {1, 2, 2};
         },
         "does not ascend"},
        {"voters descend",
         [](Raw& r) {
             r.voters = {2, 1};
         },
         "does not ascend"},
        {"voter also learner",
         [](Raw& r) {
             r.voters = {1, 2};
             r.learners = {2};
         },
         "node 2 both as voter and as learner"},
        {"voter count past the end", [](Raw& r) { r.voter_count = 1000; },
         "snapshot voter count 1000 needs at least 8000 bytes"},
        {"absurd voter count", [](Raw& r) { r.voter_count = 0xffffffff; },
         "snapshot voter count 4294967295"},
        {"absurd learner count", [](Raw& r) { r.learner_count = 0xffffffff; },
         "snapshot learner count 4294967295"},
        {"absurd entry count", [](Raw& r) { r.entry_count = 0xffffffff; },
         "entry count 4294967295 needs at least"},
        {"entry count past the end",
         [](Raw& r) {
             r.entries = {RawEntry{}};
             r.entry_count = 2;
         },
         "entry count 2 needs at least 42 bytes"},
        {"absurd entry data length",
         [](Raw& r) { r.entries = {RawEntry{.data_bytes = 0xffffffff}}; },
         "entry 0 data of 4294967295 bytes is longer than"},
        {"absurd snapshot data length", [](Raw& r) { r.data_bytes = 0xfffffff0; },
         "snapshot data of 4294967280 bytes is longer than the 0 bytes left"},
        {"trailing byte", [](Raw& r) { r.trailing = "!"; }, "1 bytes after the end of the message"},
        {"trailing message", [](Raw& r) { r.trailing = bytes(Raw{}); }, "bytes after the end"},
        {"entries on a heartbeat",
         [](Raw& r) {
             r.type = 7;
             r.entries = {RawEntry{}};
         },
         "1 entries on a heartbeat message"},
        {"entry type 0", [](Raw& r) { r.entries = {RawEntry{.type = 0}}; },
         "entry 0 has unknown entry type 0"},
        {"entry type 4",
         [](Raw& r) {
             r.entries = {RawEntry{}, RawEntry{.type = 4}};
         },
         "entry 1 has unknown entry type 4"},
        {"entry index not after index", [](Raw& r) { r.entries = {RawEntry{.index = 12}}; },
         "entry 0 has index 12, expected 11"},
        {"entry index gap",
         [](Raw& r) {
             r.entries = {RawEntry{}, RawEntry{.index = 13}};
         },
         "entry 1 has index 13, expected 12"},
        {"entry index wraps",
         [](Raw& r) {
             r.index = kU64Max;
             r.entries = {RawEntry{.index = 1}};
         },
         "entry 0 has index 1, expected 0"},
        {"entry term 0",
         [](Raw& r) {
             r.log_term = 0;
             r.entries = {RawEntry{.term = 0}};
         },
         "entry 0 (index 11) has term 0"},
        {"entry term below log_term", [](Raw& r) { r.entries = {RawEntry{.term = 1}}; },
         "has term 1, below the term 2 before it"},
        {"entry terms decrease",
         [](Raw& r) {
             r.entries = {RawEntry{.term = 3}, RawEntry{.term = 2}};
         },
         "entry 1 (index 12) has term 2, below the term 3 before it"},
        {"entry term above the message term", [](Raw& r) { r.entries = {RawEntry{.term = 4}}; },
         "has term 4, above the message term 3"},
        {"config entry that is no configuration",
         [](Raw& r) { r.entries = {RawEntry{.type = 3, .data = "\x01garbage"}}; },
         "configuration entry whose payload (8 bytes) is not a valid configuration"},
        {"config entry with id 0",
         [](Raw& r) {
             r.entries = {RawEntry{.type = 3, .data = encode_membership(membership({1}, {}))}};
             r.entries[0].data[5] = 0;
         },
         "not a valid configuration"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Raw raw;
        c.edit(raw);
        const Result<Message> m = decode_message(bytes(raw));
        ASSERT_FALSE(m.has_value()) << to_string(*m);
        EXPECT_EQ(m.error().code(), Code::kInvalid);
        EXPECT_NE(m.error().message().find(c.want), std::string::npos) << m.error().message();
        EXPECT_NE(m.error().message().find("bad peer message at offset"), std::string::npos)
            << m.error().message();
    }
}

TEST(MessageCodec, ErrorsNameTheOffset) {
    Raw raw;
    raw.entries = {RawEntry{}, RawEntry{.type = 9}};
    const Result<Message> m = decode_message(bytes(raw));
    ASSERT_FALSE(m.has_value());
    // The second entry's type byte: header 99, two empty lists 8, entry
    // count 4, first entry 21 + 1 data byte, then term and index 16.
    const std::size_t type_at = 99 + 8 + 4 + 22 + 16;
    EXPECT_NE(m.error().message().find(fmt::format("at offset {} of", type_at)), std::string::npos)
        << m.error().message();
}

TEST(MessageCodec, EveryTruncationIsRefused) {
    for (MessageType type : all_types()) {
        SCOPED_TRACE(message_type_name(type));
        const std::string encoded = encode_message(full_message(type));
        for (std::size_t n = 0; n < encoded.size(); ++n) {
            const Result<Message> m = decode_message(std::string_view(encoded).substr(0, n));
            ASSERT_FALSE(m.has_value()) << "prefix of " << n << " bytes decoded";
            // Truncation shows as missing bytes, or a count or length that
            // the bytes left cannot hold; all say how many bytes are left.
            EXPECT_NE(m.error().message().find("left"), std::string::npos)
                << "prefix of " << n << ": " << m.error().message();
        }
    }
}

TEST(MessageCodec, EverySingleByteFlipIsRefusedOrCanonical) {
    // A flipped byte may still make a valid message (a different term, say);
    // then it must encode back to exactly the flipped bytes.
    const std::string encoded = encode_message(full_message(MessageType::kAppend));
    for (std::size_t i = 0; i < encoded.size(); ++i) {
        std::string flipped = encoded;
        flipped[i] = static_cast<char>(flipped[i] ^ 0x41);
        const Result<Message> m = decode_message(flipped);
        if (m.has_value()) {
            EXPECT_EQ(encode_message(*m), flipped) << "byte " << i;
        }
    }
}

}  // namespace
}  // namespace raftkv::raft
