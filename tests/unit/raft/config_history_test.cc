// config_history_test.cc — the configurations of a node's log
// (raft/config_history.h): which one is in effect at an index, and what
// appending, truncating a conflicting suffix (§5.3), compacting and
// restoring a snapshot do to them (§d4.1: a configuration is in effect once
// appended).
#include "raft/config_history.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "raft/membership.h"

namespace raftkv::raft {
namespace {

Membership voters(std::initializer_list<std::uint64_t> ids) {
    Membership m;
    for (std::uint64_t id : ids) m.voters.insert(NodeId(id));
    return m;
}

Entry config_entry(std::uint64_t index, const Membership& m) {
    return Entry{.term = Term(1),
                 .index = Index(index),
                 .type = EntryType::kConfig,
                 .data = encode_membership(m)};
}

Entry command_entry(std::uint64_t index) {
    return Entry{
        .term = Term(1), .index = Index(index), .type = EntryType::kCommand, .data = "set a 1"};
}

// Base {1} at 0; {1 2} at 3; {1 2 3} at 5; command entries between.
ConfigHistory three_configs() {
    ConfigHistory h(Index(0), voters({1}));
    const std::vector<Entry> entries = {command_entry(1), command_entry(2),
                                        config_entry(3, voters({1, 2})), command_entry(4),
                                        config_entry(5, voters({1, 2, 3}))};
    h.note_entries(entries);
    return h;
}

TEST(ConfigHistory, AtIndexIsTheLastEntryAtOrBeforeIt) {
    const ConfigHistory h = three_configs();
    struct Case {
        std::string_view name;
        std::uint64_t index;
        Membership want;
    };
    const Case cases[] = {
        {"before any entry: the base", 0, voters({1})},
        {"between base and first entry", 2, voters({1})},
        {"at an entry: in effect from its own index", 3, voters({1, 2})},
        {"after an entry", 4, voters({1, 2})},
        {"the latest", 5, voters({1, 2, 3})},
        {"past the log: still the latest", 99, voters({1, 2, 3})},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(h.at(Index(c.index)), c.want);
    }
    EXPECT_EQ(h.latest(), voters({1, 2, 3}));
    EXPECT_EQ(h.entry_count(), 2u);
}

TEST(ConfigHistory, CommandEntriesAreIgnored) {
    ConfigHistory h(Index(0), voters({1}));
    const std::vector<Entry> entries = {command_entry(1), command_entry(2)};
    h.note_entries(entries);
    EXPECT_EQ(h.entry_count(), 0u);
    EXPECT_EQ(h.latest(), voters({1}));
}

TEST(ConfigHistory, TruncationBringsTheOlderConfigurationBack) {
    // §d4.1: a follower uses a configuration as soon as it appends it, so
    // when the leader overwrites that entry the previous one is in effect.
    struct Case {
        std::string_view name;
        std::uint64_t first;
        Membership want_latest;
        std::size_t want_entries;
    };
    const Case cases[] = {
        {"past every entry keeps all", 6, voters({1, 2, 3}), 2},
        {"at the last entry drops it", 5, voters({1, 2}), 1},
        {"between entries drops the later", 4, voters({1, 2}), 1},
        {"at the first entry drops both", 3, voters({1}), 0},
        {"just past the base drops both", 1, voters({1}), 0},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        ConfigHistory h = three_configs();
        h.truncate_from(Index(c.first));
        EXPECT_EQ(h.latest(), c.want_latest);
        EXPECT_EQ(h.entry_count(), c.want_entries);
        EXPECT_EQ(h.base_index(), Index(0));
    }
}

TEST(ConfigHistory, TruncatedEntriesAreReplacedByTheLeaders) {
    ConfigHistory h = three_configs();
    h.truncate_from(Index(5));
    const std::vector<Entry> entries = {config_entry(5, voters({1, 2, 4}))};
    h.note_entries(entries);
    EXPECT_EQ(h.latest(), voters({1, 2, 4}));
    EXPECT_EQ(h.at(Index(4)), voters({1, 2}));
}

TEST(ConfigHistory, CompactionFoldsEntriesIntoTheBase) {
    struct Case {
        std::string_view name;
        std::uint64_t snapshot_index;
        std::uint64_t want_base_index;
        Membership want_base;
        std::size_t want_entries;
    };
    const Case cases[] = {
        {"before the first entry moves only the base index", 2, 2, voters({1}), 2},
        {"at an entry makes it the base", 3, 3, voters({1, 2}), 1},
        {"between entries: the base is the earlier, at the snapshot", 4, 4, voters({1, 2}), 1},
        {"past every entry", 7, 7, voters({1, 2, 3}), 0},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        ConfigHistory h = three_configs();
        h.compact_to(Index(c.snapshot_index));
        EXPECT_EQ(h.base_index(), Index(c.want_base_index));
        EXPECT_EQ(h.base(), c.want_base);
        EXPECT_EQ(h.entry_count(), c.want_entries);
        // What is in effect at or after the snapshot does not change.
        EXPECT_EQ(h.latest(), voters({1, 2, 3}));
        EXPECT_EQ(h.at(Index(c.snapshot_index)), three_configs().at(Index(c.snapshot_index)));
    }
}

TEST(ConfigHistory, CompactionAtOrBelowTheBaseChangesNothing) {
    ConfigHistory h = three_configs();
    h.compact_to(Index(4));
    h.compact_to(Index(2));
    EXPECT_EQ(h.base_index(), Index(4));
    EXPECT_EQ(h.base(), voters({1, 2}));
    EXPECT_EQ(h.entry_count(), 1u);
}

TEST(ConfigHistory, RestoreReplacesEverything) {
    ConfigHistory h = three_configs();
    h.restore(Index(10), voters({4, 5}));
    EXPECT_EQ(h.base_index(), Index(10));
    EXPECT_EQ(h.latest(), voters({4, 5}));
    EXPECT_EQ(h.at(Index(12)), voters({4, 5}));
    EXPECT_EQ(h.entry_count(), 0u);
    const std::vector<Entry> entries = {config_entry(11, voters({4, 5, 6}))};
    h.note_entries(entries);
    EXPECT_EQ(h.latest(), voters({4, 5, 6}));
}

TEST(ConfigHistoryDeathTest, EntriesMustAscend) {
    ConfigHistory h = three_configs();
    const std::vector<Entry> entries = {config_entry(5, voters({1}))};
    EXPECT_DEATH(h.note_entries(entries), "out of order at 5");
}

TEST(ConfigHistoryDeathTest, EntriesMustFollowTheBase) {
    ConfigHistory h(Index(10), voters({1}));
    const std::vector<Entry> entries = {config_entry(10, voters({1, 2}))};
    EXPECT_DEATH(h.note_entries(entries), "at or before the base 10");
}

TEST(ConfigHistoryDeathTest, UndecodableEntry) {
    ConfigHistory h(Index(0), voters({1}));
    const std::vector<Entry> entries = {
        Entry{.term = Term(1), .index = Index(1), .type = EntryType::kConfig, .data = "junk"}};
    EXPECT_DEATH(h.note_entries(entries), "undecodable configuration entry at index 1");
}

TEST(ConfigHistoryDeathTest, TruncatingTheSnapshot) {
    // The snapshot's entries are committed: a truncation there is a bug.
    ConfigHistory h = three_configs();
    h.compact_to(Index(4));
    EXPECT_DEATH(h.truncate_from(Index(4)), "truncating at 4, at or before the base 4");
}

}  // namespace
}  // namespace raftkv::raft
