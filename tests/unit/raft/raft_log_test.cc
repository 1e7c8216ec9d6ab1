// raft_log_test.cc — the core's log: follower appends and conflicts, fast
// backtracking hints, commit and apply bounds, persistence reports, snapshot
// restore and the voting rule. Each rule test cites its paper section.
#include "raft/raft_log.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raftkv::raft {
namespace {

constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();

Entry entry(std::uint64_t index, std::uint64_t term, std::string data = "") {
    return Entry{.term = Term(term), .index = Index(index), .data = std::move(data)};
}

// Entries first, first+1, ... with the given terms.
std::vector<Entry> entries_from(std::uint64_t first, std::vector<std::uint64_t> terms) {
    std::vector<Entry> out;
    for (std::uint64_t t : terms) out.push_back(entry(first + out.size(), t));
    return out;
}

// The terms of entries [first_index, last_index] as the log returns them.
std::vector<std::uint64_t> log_terms(const RaftLog& log) {
    std::vector<std::uint64_t> out;
    for (const Entry& e : log.slice(log.first_index(), log.last_index().next(), kNoLimit)) {
        out.push_back(e.term.value);
    }
    return out;
}

TEST(RaftLog, EmptyLog) {
    MemoryLogStorage storage;
    RaftLog log(&storage);
    EXPECT_EQ(log.first_index(), Index(1));
    EXPECT_EQ(log.last_index(), Index(0));
    EXPECT_EQ(log.last_term(), Term(0));
    EXPECT_EQ(log.committed(), Index(0));
    EXPECT_TRUE(log.match_term(Index(0), Term(0)));
    EXPECT_FALSE(log.has_next_committed_entries());
    log.check_invariants();
}

TEST(RaftLog, StartsAfterTheStoredSnapshot) {
    MemoryLogStorage storage;
    storage.apply_snapshot({.index = Index(5), .term = Term(2)});
    const std::vector<Entry> es = entries_from(6, {2, 3});
    storage.append(es);
    RaftLog log(&storage);
    EXPECT_EQ(log.first_index(), Index(6));
    EXPECT_EQ(log.last_index(), Index(7));
    EXPECT_EQ(log.committed(), Index(5));
    EXPECT_EQ(log.applied(), Index(5));
    EXPECT_EQ(log.term(Index(4)), std::nullopt);
    EXPECT_EQ(log.term(Index(5)), Term(2));
    EXPECT_EQ(log.term(Index(7)), Term(3));
    EXPECT_EQ(log.term(Index(8)), std::nullopt);
    EXPECT_TRUE(log.unstable_entries().empty());
}

TEST(RaftLog, MaybeAppend) {
    // §5.3, Figure 2 AppendEntries steps 2-5. The log starts as 1@1 2@2 3@3
    // (persisted 1..2, 3 unstable) with committed 1.
    struct Case {
        std::string_view name;
        std::uint64_t prev_index, prev_term, leader_committed;
        std::vector<Entry> entries;
        std::optional<std::uint64_t> want_last_new;
        std::vector<std::uint64_t> want_terms;
        std::uint64_t want_committed;
    };
    const Case cases[] = {
        {"prev term mismatch rejects", 3, 2, 3, entries_from(4, {4}), std::nullopt, {1, 2, 3}, 1},
        {"prev past the end rejects", 4, 3, 3, {}, std::nullopt, {1, 2, 3}, 1},
        {"heartbeat at the end commits", 3, 3, 3, {}, 3, {1, 2, 3}, 3},
        {"commit limited to what the message vouches for", 2, 2, 3, {}, 2, {1, 2, 3}, 2},
        {"extend", 3, 3, 4, entries_from(4, {4, 4}), 5, {1, 2, 3, 4, 4}, 4},
        {"extend, leader commit beyond", 3, 3, 9, entries_from(4, {4}), 4, {1, 2, 3, 4}, 4},
        {"stale append of entries present changes nothing",
         1,
         1,
         2,
         entries_from(2, {2}),
         2,
         {1, 2, 3},
         2},
        {"conflict in the unstable suffix", 2, 2, 3, entries_from(3, {4, 4}), 4, {1, 2, 4, 4}, 3},
        {"conflict in the persisted part", 1, 1, 1, entries_from(2, {4}), 2, {1, 4}, 1},
        {"matching prefix then conflict", 1, 1, 1, entries_from(2, {2, 5, 5}), 4, {1, 2, 5, 5}, 1},
        {"a lower leader commit never lowers ours", 3, 3, 0, {}, 3, {1, 2, 3}, 1},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        MemoryLogStorage storage;
        storage.append(entries_from(1, {1, 2}));
        RaftLog log(&storage);
        log.append(entries_from(3, {3}));
        log.commit_to(Index(1));
        std::optional<Index> got = log.maybe_append(Index(c.prev_index), Term(c.prev_term),
                                                    Index(c.leader_committed), c.entries);
        if (c.want_last_new) {
            EXPECT_EQ(got, Index(*c.want_last_new));
        } else {
            EXPECT_EQ(got, std::nullopt);
        }
        EXPECT_EQ(log_terms(log), c.want_terms);
        EXPECT_EQ(log.committed(), Index(c.want_committed));
        log.check_invariants();
    }
}

TEST(RaftLog, DelayedAppendDoesNotCutOffLaterEntries) {
    // §5.3: "If an existing entry conflicts with a new one (same index but
    // different terms), delete the existing entry and all that follow it" —
    // only on a conflict. An append delivered late, after a longer one, must
    // not truncate: those later entries may already be acknowledged.
    MemoryLogStorage storage;
    RaftLog log(&storage);
    ASSERT_EQ(log.maybe_append(Index(0), Term(0), Index(0), entries_from(1, {1, 1, 1, 1})),
              Index(4));
    ASSERT_EQ(log.maybe_append(Index(0), Term(0), Index(0), entries_from(1, {1, 1})), Index(2));
    EXPECT_EQ(log.last_index(), Index(4));
}

TEST(RaftLog, FindConflict) {
    // The log is 1@1 2@2 3@3.
    struct Case {
        std::string_view name;
        std::vector<Entry> entries;
        std::uint64_t want;
    };
    const Case cases[] = {
        {"no entries", {}, 0},
        {"all present", entries_from(1, {1, 2, 3}), 0},
        {"some present", entries_from(2, {2, 3}), 0},
        {"new entries after the end", entries_from(2, {2, 3, 4, 4}), 4},
        {"only new entries", entries_from(4, {4}), 4},
        {"conflict at the start", entries_from(1, {4, 4}), 1},
        {"conflict in the middle", entries_from(2, {1, 4, 4}), 2},
        {"conflict at the end", entries_from(3, {4}), 3},
    };
    MemoryLogStorage storage;
    storage.append(entries_from(1, {1, 2, 3}));
    RaftLog log(&storage);
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(log.find_conflict(c.entries), Index(c.want));
    }
}

TEST(RaftLog, FindConflictByTerm) {
    // A follower's log: 1..5 of terms 1 1 2 2 2, then 6..10 of term 5.
    struct Case {
        std::string_view name;
        std::uint64_t index, term;
        ConflictHint want;
    };
    const Case cases[] = {
        {"term at index already low enough", 5, 2, {Index(5), Term(2)}},
        {"skip the term 5 run to the last term <= 4", 10, 4, {Index(5), Term(2)}},
        {"skip the term 5 run for term 2", 10, 2, {Index(5), Term(2)}},
        {"back to term 1", 10, 1, {Index(2), Term(1)}},
        {"nothing low enough", 10, 0, {Index(0), Term(0)}},
        {"equal term matches in place", 8, 5, {Index(8), Term(5)}},
        {"higher term matches in place", 8, 7, {Index(8), Term(5)}},
        {"index 0 is the empty prefix", 0, 3, {Index(0), Term(0)}},
    };
    MemoryLogStorage storage;
    storage.append(entries_from(1, {1, 1, 2, 2, 2, 5, 5, 5, 5, 5}));
    RaftLog log(&storage);
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(log.find_conflict_by_term(Index(c.index), Term(c.term)), c.want);
    }
}

TEST(RaftLog, FindConflictByTermStopsAtCompaction) {
    MemoryLogStorage storage;
    storage.apply_snapshot({.index = Index(10), .term = Term(3)});
    storage.append(entries_from(11, {4, 4, 4}));
    RaftLog log(&storage);
    // 10 is the snapshot (term 3 <= 3); below it the term is unknown.
    EXPECT_EQ(log.find_conflict_by_term(Index(13), Term(3)), (ConflictHint{Index(10), Term(3)}));
    EXPECT_EQ(log.find_conflict_by_term(Index(13), Term(1)), (ConflictHint{Index(9), Term(0)}));
}

TEST(RaftLog, ConflictByTermHintsSkipALongDivergentLog) {
    // Dissertation §3.5 / paper §5.3: a follower that stayed with a deposed
    // leader holds 60 entries of term 2 the new leader never had; the leader
    // has 60 entries of term 3 after the common prefix 1..10 of term 1.
    // Backtracking one index per round trip would take 60 rounds; with the
    // term hints on both sides it takes a constant number.
    MemoryLogStorage leader_storage;
    leader_storage.append(entries_from(1, std::vector<std::uint64_t>(10, 1)));
    leader_storage.append(entries_from(11, std::vector<std::uint64_t>(60, 3)));
    RaftLog leader(&leader_storage);
    MemoryLogStorage follower_storage;
    follower_storage.append(entries_from(1, std::vector<std::uint64_t>(10, 1)));
    follower_storage.append(entries_from(11, std::vector<std::uint64_t>(60, 2)));
    RaftLog follower(&follower_storage);

    Index next = leader.last_index().next();
    int rounds = 0;
    for (;; ++rounds) {
        ASSERT_LT(rounds, 5) << "backtracking did not converge fast";
        const Index prev = next.prev();
        const Term prev_term = *leader.term(prev);
        if (follower.match_term(prev, prev_term)) break;
        // The follower rejects with its hint (etcd's handleAppendEntries).
        const ConflictHint hint =
            follower.find_conflict_by_term(std::min(prev, follower.last_index()), prev_term);
        // The leader maps the hint onto its own log (etcd's stepLeader).
        Index probe = hint.index;
        if (hint.term != Term(0)) probe = leader.find_conflict_by_term(hint.index, hint.term).index;
        next = probe.next();
    }
    EXPECT_EQ(next, Index(11));
    EXPECT_LE(rounds, 2);
    const std::vector<Entry> rest = leader.slice(next, leader.last_index().next(), kNoLimit);
    EXPECT_EQ(follower.maybe_append(next.prev(), Term(1), Index(0), rest), Index(70));
    EXPECT_EQ(follower.last_term(), Term(3));
}

TEST(RaftLog, CommitToAndMaybeCommit) {
    MemoryLogStorage storage;
    storage.append(entries_from(1, {1, 1, 2}));
    RaftLog log(&storage);
    log.commit_to(Index(1));
    log.commit_to(Index(1));  // the same value is allowed
    EXPECT_EQ(log.committed(), Index(1));
    // §5.4.2, Figure 8: a leader of term 2 does not commit index 2 (term 1) by
    // counting replicas; it commits 3 (term 2), and 2 with it.
    EXPECT_FALSE(log.maybe_commit(Index(2), Term(2)));
    EXPECT_EQ(log.committed(), Index(1));
    EXPECT_TRUE(log.maybe_commit(Index(3), Term(2)));
    EXPECT_EQ(log.committed(), Index(3));
    EXPECT_FALSE(log.maybe_commit(Index(2), Term(1)));  // never backwards
    EXPECT_EQ(log.committed(), Index(3));
}

TEST(RaftLogDeathTest, CommitBounds) {
    MemoryLogStorage storage;
    storage.append(entries_from(1, {1, 1}));
    RaftLog log(&storage);
    log.commit_to(Index(2));
    EXPECT_DEATH(log.commit_to(Index(1)), "index >= committed_");
    EXPECT_DEATH(log.commit_to(Index(3)), "index <= last_index\\(\\)");
    EXPECT_DEATH(log.applied_to(Index(3)), "index <= committed_");
}

TEST(RaftLogDeathTest, TruncatingCommittedEntriesAborts) {
    MemoryLogStorage storage;
    storage.append(entries_from(1, {1, 1, 1}));
    RaftLog log(&storage);
    log.commit_to(Index(2));
    EXPECT_DEATH(log.maybe_append(Index(1), Term(1), Index(2), entries_from(2, {2})),
                 "conflict > committed_");
}

TEST(RaftLog, NextCommittedEntries) {
    const std::string ten(10, 'x');
    MemoryLogStorage storage;
    storage.append(std::vector<Entry>{entry(1, 1, ten), entry(2, 1, ten)});
    RaftLog log(&storage);
    log.append(std::vector<Entry>{entry(3, 2, ten), entry(4, 2, ten)});
    EXPECT_FALSE(log.has_next_committed_entries());
    log.commit_to(Index(3));
    ASSERT_TRUE(log.has_next_committed_entries());
    // Committed entries span the persisted part and the unstable part.
    EXPECT_EQ(log.next_committed_entries(kNoLimit).size(), 3u);
    EXPECT_EQ(log.next_committed_entries(0).size(), 1u);  // at least one
    log.applied_to(Index(2));
    std::vector<Entry> next = log.next_committed_entries(kNoLimit);
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0].index, Index(3));
    log.applied_to(Index(3));
    EXPECT_FALSE(log.has_next_committed_entries());
    EXPECT_TRUE(log.next_committed_entries(kNoLimit).empty());
}

TEST(RaftLog, SliceAcrossStableAndUnstable) {
    struct Case {
        std::string_view name;
        std::uint64_t lo, end, bytes_max;
        std::vector<std::uint64_t> want_indexes;
    };
    // 1..3 persisted, 4..6 unstable; each entry 10 bytes.
    const Case cases[] = {
        {"all", 1, 7, kNoLimit, {1, 2, 3, 4, 5, 6}},
        {"stable only", 1, 3, kNoLimit, {1, 2}},
        {"unstable only", 5, 7, kNoLimit, {5, 6}},
        {"across the boundary", 3, 5, kNoLimit, {3, 4}},
        {"limit inside the stable part", 1, 7, 25, {1, 2}},
        {"limit inside the unstable part", 2, 7, 40, {2, 3, 4, 5}},
        {"zero limit gives one", 4, 7, 0, {4}},
        {"empty range", 4, 4, kNoLimit, {}},
    };
    const std::string ten(10, 'x');
    MemoryLogStorage storage;
    storage.append(std::vector<Entry>{entry(1, 1, ten), entry(2, 1, ten), entry(3, 1, ten)});
    RaftLog log(&storage);
    log.append(std::vector<Entry>{entry(4, 2, ten), entry(5, 2, ten), entry(6, 2, ten)});
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        std::vector<std::uint64_t> got;
        for (const Entry& e : log.slice(Index(c.lo), Index(c.end), c.bytes_max)) {
            got.push_back(e.index.value);
        }
        EXPECT_EQ(got, c.want_indexes);
    }
}

TEST(RaftLog, StableTo) {
    // The log is persisted 1@1, unstable 2@2 3@2 4@3.
    struct Case {
        std::string_view name;
        std::uint64_t index, term;
        std::uint64_t want_first_unstable;
        std::size_t want_unstable_count;
    };
    const Case cases[] = {
        {"persisted a prefix", 2, 2, 3, 2},
        {"persisted everything", 4, 3, 5, 0},
        {"stale report: term mismatch", 3, 1, 2, 3},
        {"report below the unstable entries", 1, 1, 2, 3},
        {"report past the end", 5, 3, 2, 3},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        MemoryLogStorage storage;
        storage.append(entries_from(1, {1}));
        RaftLog log(&storage);
        log.append(entries_from(2, {2, 2, 3}));
        // The caller persists what it was handed, then reports (some of) it.
        storage.append(log.unstable_entries());
        log.stable_to(Index(c.index), Term(c.term));
        ASSERT_EQ(log.unstable_entries().size(), c.want_unstable_count);
        if (c.want_unstable_count > 0) {
            EXPECT_EQ(log.unstable_entries().front().index, Index(c.want_first_unstable));
        }
        EXPECT_EQ(log.last_index(), Index(4));
    }
}

TEST(RaftLog, StableToIgnoresAReportOverTakenByATruncation) {
    // The caller starts persisting 2@1 3@1; meanwhile a new leader's append
    // replaces index 3 with 3@2. The report "persisted through 3@1" is stale:
    // 3@2 is still unstable and must be handed out again.
    MemoryLogStorage storage;
    storage.append(entries_from(1, {1}));
    RaftLog log(&storage);
    log.append(entries_from(2, {1, 1}));
    const std::vector<Entry> handed_out(log.unstable_entries().begin(),
                                        log.unstable_entries().end());
    ASSERT_EQ(log.maybe_append(Index(2), Term(1), Index(0), entries_from(3, {2})), Index(3));
    storage.append(handed_out);
    log.stable_to(Index(3), Term(1));
    // Nothing became stable, not even 2@1: the whole report is ignored and
    // the next Ready hands out 2@1 3@2 again (rewriting 2@1 is harmless).
    ASSERT_EQ(log.unstable_entries().size(), 2u);
    EXPECT_EQ(log.unstable_entries()[1], entry(3, 2));
    EXPECT_EQ(log.term(Index(3)), Term(2));  // the unstable entry hides the stale one
    // Persisting the replacement overwrites the stale entry in storage.
    storage.append(log.unstable_entries());
    log.stable_to(Index(3), Term(2));
    EXPECT_TRUE(log.unstable_entries().empty());
    EXPECT_EQ(log.term(Index(3)), Term(2));
    log.check_invariants();
}

TEST(RaftLog, TruncationHidesTheStoredSuffixUntilPersisted) {
    MemoryLogStorage storage;
    storage.append(entries_from(1, {1, 1, 1, 1}));
    RaftLog log(&storage);
    ASSERT_EQ(log.maybe_append(Index(1), Term(1), Index(1), entries_from(2, {2})), Index(2));
    EXPECT_EQ(log.last_index(), Index(2));
    EXPECT_EQ(log.term(Index(3)), std::nullopt);
    EXPECT_EQ(log_terms(log), (std::vector<std::uint64_t>{1, 2}));
    storage.append(log.unstable_entries());
    log.stable_to(Index(2), Term(2));
    EXPECT_EQ(storage.last_index(), Index(2));
    EXPECT_EQ(log_terms(log), (std::vector<std::uint64_t>{1, 2}));
}

TEST(RaftLog, RestoreSnapshot) {
    MemoryLogStorage storage;
    storage.append(entries_from(1, {1, 1, 1}));
    RaftLog log(&storage);
    log.append(entries_from(4, {2}));
    log.commit_to(Index(2));
    log.applied_to(Index(1));
    log.restore({.index = Index(20), .term = Term(5)});
    EXPECT_EQ(log.first_index(), Index(21));
    EXPECT_EQ(log.last_index(), Index(20));
    EXPECT_EQ(log.last_term(), Term(5));
    EXPECT_EQ(log.committed(), Index(20));
    EXPECT_EQ(log.term(Index(3)), std::nullopt);
    EXPECT_TRUE(log.unstable_entries().empty());
    ASSERT_TRUE(log.unstable_snapshot().has_value());
    // Nothing is applied from the log before the snapshot itself.
    EXPECT_FALSE(log.has_next_committed_entries());
    // Entries after the snapshot may arrive before it is installed.
    ASSERT_EQ(log.maybe_append(Index(20), Term(5), Index(21), entries_from(21, {5})), Index(21));
    EXPECT_FALSE(log.has_next_committed_entries());
    // The caller installs the snapshot, then the state machine loads it.
    storage.apply_snapshot(*log.unstable_snapshot());
    log.stable_snapshot_to(Index(20));
    EXPECT_FALSE(log.unstable_snapshot().has_value());
    log.applied_to(Index(20));
    std::vector<Entry> next = log.next_committed_entries(kNoLimit);
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0].index, Index(21));
    storage.append(log.unstable_entries());
    log.stable_to(Index(21), Term(5));
    EXPECT_TRUE(log.unstable_entries().empty());
    EXPECT_EQ(log.first_index(), Index(21));
    log.check_invariants();
}

TEST(RaftLog, IsUpToDate) {
    // §5.4.1: a later last term wins; with equal last terms, the longer log.
    // Our log ends at 3@2.
    struct Case {
        std::string_view name;
        std::uint64_t last_index, last_term;
        bool want;
    };
    const Case cases[] = {
        {"higher term, shorter", 1, 3, true}, {"higher term, longer", 9, 3, true},
        {"same term, shorter", 2, 2, false},  {"same term, equal", 3, 2, true},
        {"same term, longer", 4, 2, true},    {"lower term, longer", 9, 1, false},
        {"lower term, shorter", 1, 1, false}, {"empty log", 0, 0, false},
    };
    MemoryLogStorage storage;
    storage.append(entries_from(1, {1, 2, 2}));
    RaftLog log(&storage);
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(log.is_up_to_date(Index(c.last_index), Term(c.last_term)), c.want);
    }
}

TEST(RaftLog, ToString) {
    MemoryLogStorage storage;
    storage.append(entries_from(1, {1, 1}));
    RaftLog log(&storage);
    log.append(entries_from(3, {2}));
    log.commit_to(Index(2));
    EXPECT_EQ(log.to_string(), "committed=2 applied=0 unstable=[3, 4) last=3");
}

}  // namespace
}  // namespace raftkv::raft
