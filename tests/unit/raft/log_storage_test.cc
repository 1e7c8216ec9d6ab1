// log_storage_test.cc — MemoryLogStorage: bounds, byte-limited reads,
// overwriting appends, compaction and installing a snapshot.
#include "raft/log_storage.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace raftkv::raft {
namespace {

constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();

Entry entry(std::uint64_t index, std::uint64_t term, std::string data = "") {
    return Entry{.term = Term(term), .index = Index(index), .data = std::move(data)};
}

std::vector<std::uint64_t> terms_of(const std::vector<Entry>& entries) {
    std::vector<std::uint64_t> out;
    for (const Entry& e : entries) out.push_back(e.term.value);
    return out;
}

TEST(MemoryLogStorage, EmptyLog) {
    MemoryLogStorage s;
    EXPECT_EQ(s.first_index(), Index(1));
    EXPECT_EQ(s.last_index(), Index(0));
    EXPECT_EQ(s.term(Index(0)), Term(0));
    EXPECT_EQ(s.term(Index(1)), std::nullopt);
    EXPECT_TRUE(s.entries(Index(1), Index(1), kNoLimit).empty());
    EXPECT_EQ(s.snapshot_meta(), SnapshotMeta{});
}

TEST(MemoryLogStorage, AppendOverwritesFromTheFirstNewIndex) {
    struct Case {
        std::string_view name;
        std::vector<Entry> append;
        std::vector<std::uint64_t> want_terms;  // of entries 4..last
    };
    // Starts as a snapshot at 3@1 followed by 4@1 5@2 6@2.
    const Case cases[] = {
        {"nothing", {}, {1, 2, 2}},
        {"same entries again", {entry(4, 1), entry(5, 2)}, {1, 2}},
        {"extend", {entry(7, 3), entry(8, 3)}, {1, 2, 2, 3, 3}},
        {"replace a suffix", {entry(5, 3)}, {1, 3}},
        {"replace everything", {entry(4, 4), entry(5, 4)}, {4, 4}},
        {"entries in the snapshot are dropped", {entry(3, 1), entry(4, 5)}, {5}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        MemoryLogStorage s;
        s.apply_snapshot({.index = Index(3), .term = Term(1)});
        const std::vector<Entry> base = {entry(4, 1), entry(5, 2), entry(6, 2)};
        s.append(base);
        s.append(c.append);
        EXPECT_EQ(terms_of(s.entries(Index(4), s.last_index().next(), kNoLimit)), c.want_terms);
        EXPECT_EQ(s.last_index(), Index(3 + c.want_terms.size()));
    }
}

TEST(MemoryLogStorage, TermBounds) {
    MemoryLogStorage s;
    s.apply_snapshot({.index = Index(3), .term = Term(2)});
    const std::vector<Entry> es = {entry(4, 2), entry(5, 3)};
    s.append(es);
    EXPECT_EQ(s.term(Index(2)), std::nullopt);  // compacted
    EXPECT_EQ(s.term(Index(3)), Term(2));       // from the snapshot
    EXPECT_EQ(s.term(Index(5)), Term(3));
    EXPECT_EQ(s.term(Index(6)), std::nullopt);  // not yet held
}

TEST(MemoryLogStorage, EntriesByteLimit) {
    struct Case {
        std::string_view name;
        std::uint64_t bytes_max;
        std::size_t want_count;
    };
    // Entries 1..4 of 10 bytes each.
    const Case cases[] = {
        {"no limit", kNoLimit, 4}, {"zero still returns one", 0, 1}, {"less than one", 5, 1},
        {"exactly two", 20, 2},    {"between two and three", 25, 2}, {"exactly all", 40, 4},
    };
    MemoryLogStorage s;
    const std::string ten(10, 'x');
    const std::vector<Entry> es = {entry(1, 1, ten), entry(2, 1, ten), entry(3, 1, ten),
                                   entry(4, 1, ten)};
    s.append(es);
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(s.entries(Index(1), Index(5), c.bytes_max).size(), c.want_count);
    }
}

TEST(MemoryLogStorage, CompactKeepsTheTermOfTheLastCompactedEntry) {
    MemoryLogStorage s;
    const std::vector<Entry> es = {entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 3)};
    s.append(es);
    s.compact({.index = Index(0), .term = Term(0)});  // nothing to do
    EXPECT_EQ(s.first_index(), Index(1));
    const Membership members{.voters = {NodeId(1), NodeId(2)}, .learners = {}};
    s.compact({.index = Index(3), .term = Term(2), .membership = members}, "image");
    EXPECT_EQ(s.first_index(), Index(4));
    EXPECT_EQ(s.last_index(), Index(4));
    EXPECT_EQ(s.snapshot_meta(),
              (SnapshotMeta{.index = Index(3), .term = Term(2), .membership = members}));
    EXPECT_EQ(s.snapshot_bytes(), 5u);
    EXPECT_EQ(s.snapshot_chunk(1, 3), "mag");
    EXPECT_EQ(s.snapshot_chunk(3, 10), "ge");
    EXPECT_EQ(s.term(Index(3)), Term(2));
    EXPECT_EQ(s.term(Index(2)), std::nullopt);
    s.compact({.index = Index(4), .term = Term(3)});
    EXPECT_EQ(s.last_index(), Index(4));
    EXPECT_EQ(s.first_index(), Index(5));
}

TEST(MemoryLogStorage, ApplySnapshotDropsTheLog) {
    MemoryLogStorage s;
    const std::vector<Entry> es = {entry(1, 1), entry(2, 1)};
    s.append(es);
    s.apply_snapshot({.index = Index(10), .term = Term(4)});
    EXPECT_EQ(s.first_index(), Index(11));
    EXPECT_EQ(s.last_index(), Index(10));
    EXPECT_EQ(s.term(Index(10)), Term(4));
    EXPECT_EQ(s.term(Index(2)), std::nullopt);
}

TEST(MemoryLogStorageDeathTest, AppendWithAGapAborts) {
    MemoryLogStorage s;
    const std::vector<Entry> es = {entry(2, 1)};
    EXPECT_DEATH(s.append(es), "last_index\\(\\).next\\(\\)");
}

}  // namespace
}  // namespace raftkv::raft
