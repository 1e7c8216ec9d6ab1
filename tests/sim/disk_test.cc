// disk_test.cc — the simulated disk: what survives a crash (synced, unsynced,
// torn), overwrites and snapshots across crashes, faults, counters, trace and
// determinism.
//
// The torn-crash property compares against a dumb model: replaying a prefix
// of the same writes on a fresh disk and syncing. Randomized tests take their
// seed from RAFTKV_SEED.
#include "sim/disk.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "testing/seed.h"

namespace raftkv::sim {
namespace {

using raft::Entry;
using raft::Index;
using raft::SnapshotMeta;
using raft::Term;

using Write = std::variant<SimHardState, std::vector<Entry>, SimSnapshot>;

constexpr std::uint64_t kBytesMax = UINT64_MAX;

Entry entry(std::uint64_t index, std::uint64_t term) {
    return {.term = Term(term), .index = Index(index), .data = fmt::format("e{}t{}", index, term)};
}

// Entries [first, end) all in `term`.
std::vector<Entry> entries(std::uint64_t first, std::uint64_t end, std::uint64_t term) {
    std::vector<Entry> out;
    for (std::uint64_t i = first; i < end; ++i) out.push_back(entry(i, term));
    return out;
}

SimHardState hard_state(std::uint64_t term, std::uint64_t vote, std::uint64_t commit) {
    return {.term = Term(term), .vote = NodeId(vote), .commit = Index(commit)};
}

SimSnapshot snapshot(std::uint64_t index, std::uint64_t term, std::string data) {
    return {.meta = {.index = Index(index), .term = Term(term)}, .data = std::move(data)};
}

// Every byte of an image, for comparing two of them exactly.
std::string full_text(const DiskImage& image) {
    const raft::MemoryLogStorage& log = image.log;
    std::string out = image_summary(image);
    if (image.snapshot) out += fmt::format(" data={}", image.snapshot->data);
    for (const Entry& e : log.entries(log.first_index(), log.last_index().next(), kBytesMax)) {
        out += fmt::format(" {}:{}:{}", e.index.value, e.term.value, e.data);
    }
    return out;
}

// The log's entries as "index:term" pairs.
std::string log_text(const raft::MemoryLogStorage& log) {
    std::string out = fmt::format("after {}:", log.snapshot_meta().index.value);
    for (const Entry& e : log.entries(log.first_index(), log.last_index().next(), kBytesMax)) {
        out += fmt::format(" {}:{}", e.index.value, e.term.value);
    }
    return out;
}

Status write_to(SimDisk& disk, const Write& write) {
    if (const auto* hs = std::get_if<SimHardState>(&write)) return disk.save_hard_state(*hs);
    if (const auto* es = std::get_if<std::vector<Entry>>(&write)) return disk.append(*es);
    return disk.save_snapshot(std::get<SimSnapshot>(write));
}

void must(const Status& s) { ASSERT_TRUE(s.is_ok()) << s.to_string(); }

SimDisk make_disk(std::uint64_t node = 1) { return SimDisk({.node = NodeId(node)}); }

// A random write that is valid on top of the disk's current state: appends
// (sometimes overwriting a suffix), hard states with growing terms, and
// snapshots that compact the log or replace it.
Write random_write(const SimDisk& disk, std::mt19937_64& rng) {
    const raft::MemoryLogStorage& log = disk.log();
    const SimHardState hs = disk.hard_state();
    const std::uint64_t last = log.last_index().value;
    const std::uint64_t first = log.first_index().value;
    const std::uint64_t kind = rng() % 10;
    if (kind < 2) {
        const bool new_term = rng() % 2 == 0;
        const std::uint64_t term = hs.term.value + (new_term ? 1 : 0);
        const std::uint64_t vote = new_term || hs.vote.value == 0 ? rng() % 4 : hs.vote.value;
        return hard_state(term, vote, hs.commit.value + rng() % 2);
    }
    if (kind < 3 && last >= first) {
        if (rng() % 4 == 0) return snapshot(last + 2, hs.term.value, fmt::format("s{}", last + 2));
        const std::uint64_t index = first + rng() % (last - first + 1);
        return snapshot(index, log.term(Index(index))->value, fmt::format("s{}", index));
    }
    // At most 3 entries back, never below the first held one.
    const std::uint64_t back = rng() % 4;
    const std::uint64_t from = std::max(first, last + 1 > back ? last + 1 - back : first);
    const std::uint64_t count = 1 + rng() % 5;
    const std::uint64_t term = std::max<std::uint64_t>(hs.term.value, 1);
    return entries(from, from + count, term);
}

// Replays writes[0, count) on a fresh disk, then the first `partial` entries
// of writes[count] when partial > 0, syncs, and returns the image.
std::string replay(const std::vector<Write>& writes, std::size_t count, std::size_t partial) {
    SimDisk disk = make_disk();
    for (std::size_t i = 0; i < count; ++i) EXPECT_TRUE(write_to(disk, writes[i]).is_ok());
    if (partial > 0) {
        const auto& es = std::get<std::vector<Entry>>(writes[count]);
        EXPECT_TRUE(disk.append(std::span<const Entry>(es).first(partial)).is_ok());
    }
    EXPECT_TRUE(disk.sync().is_ok());
    return full_text(disk.durable());
}

// Every image a crash may leave after writes[0, synced) were synced and the
// rest were not: a prefix of the rest, the last append possibly torn.
std::set<std::string> allowed_images(const std::vector<Write>& writes, std::size_t synced) {
    std::set<std::string> out;
    for (std::size_t k = synced; k <= writes.size(); ++k) {
        out.insert(replay(writes, k, 0));
        if (k == writes.size()) break;
        if (const auto* es = std::get_if<std::vector<Entry>>(&writes[k])) {
            for (std::size_t j = 1; j < es->size(); ++j) out.insert(replay(writes, k, j));
        }
    }
    return out;
}

TEST(SimDisk, SyncedDataSurvivesCrash) {
    struct Case {
        std::string_view name;
        bool torn_writes;
    };
    const Case cases[] = {{"default crash", false}, {"torn crash", true}};
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        SimDisk disk = make_disk();
        must(disk.save_hard_state(hard_state(2, 1, 3)));
        must(disk.append(entries(1, 6, 2)));
        must(disk.save_snapshot(snapshot(2, 2, "image")));
        must(disk.sync());
        const std::string before = full_text(disk.current());
        NetworkRng rng(7);
        disk.crash(rng, {.torn_writes = c.torn_writes});
        EXPECT_EQ(full_text(disk.current()), before);
        EXPECT_EQ(disk.hard_state(), hard_state(2, 1, 3));
        EXPECT_EQ(disk.snapshot(), snapshot(2, 2, "image"));
        EXPECT_EQ(log_text(disk.log()), "after 2: 3:2 4:2 5:2");
    }
}

TEST(SimDisk, UnsyncedWritesAreLostByDefault) {
    SimDisk disk = make_disk();
    must(disk.save_hard_state(hard_state(1, 1, 0)));
    must(disk.append(entries(1, 3, 1)));
    must(disk.sync());
    const std::string synced = full_text(disk.durable());

    must(disk.save_hard_state(hard_state(2, 2, 2)));
    must(disk.append(entries(3, 6, 2)));
    must(disk.save_snapshot(snapshot(4, 2, "late")));
    EXPECT_EQ(disk.pending_writes(), 3u);
    EXPECT_EQ(log_text(disk.log()), "after 4: 5:2") << "reads see unsynced writes";

    NetworkRng rng(1);
    disk.crash(rng, {});
    EXPECT_EQ(full_text(disk.current()), synced);
    EXPECT_EQ(disk.pending_writes(), 0u);
    EXPECT_FALSE(disk.snapshot().has_value());
    EXPECT_EQ(log_text(disk.log()), "after 0: 1:1 2:1");
}

TEST(SimDisk, DefaultCrashDrawsNoRandomness) {
    SimDisk disk = make_disk();
    must(disk.append(entries(1, 4, 1)));
    NetworkRng used(99);
    NetworkRng untouched(99);
    disk.crash(used, {});
    SimDisk empty = make_disk(2);
    empty.crash(used, {.torn_writes = true});  // nothing unsynced: no draw either
    EXPECT_EQ(used.next(), untouched.next());
}

// Property: after random writes, some synced, a torn crash leaves exactly one
// of the images a prefix of the unsynced writes gives, and never loses a
// synced write. Across the runs, every kind of outcome shows up.
TEST(SimDisk, TornCrashKeepsAPrefixOfUnsyncedWrites) {
    const std::uint64_t seed = testing::test_seed();
    SCOPED_TRACE(testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    DiskCounters total;
    for (int run = 0; run < 200; ++run) {
        SCOPED_TRACE(fmt::format("run {}", run));
        SimDisk disk = make_disk();
        std::vector<Write> writes;
        std::size_t synced = 0;
        const std::size_t write_count = 1 + rng() % 20;
        for (std::size_t i = 0; i < write_count; ++i) {
            writes.push_back(random_write(disk, rng));
            must(write_to(disk, writes.back()));
            if (rng() % 4 == 0) {
                must(disk.sync());
                synced = writes.size();
            }
        }
        NetworkRng crash_rng(rng());
        disk.crash(crash_rng, {.torn_writes = true});
        const std::string got = full_text(disk.current());
        EXPECT_EQ(got, full_text(disk.durable()));
        const std::set<std::string> allowed = allowed_images(writes, synced);
        EXPECT_TRUE(allowed.contains(got)) << got;
        const DiskCounters& c = disk.counters();
        total.writes_lost += c.writes_lost;
        total.writes_survived += c.writes_survived;
        total.torn_appends += c.torn_appends;
        EXPECT_EQ(c.writes_lost + c.writes_survived, writes.size() - synced) << c.to_string();
    }
    EXPECT_GT(total.writes_lost, 0u);
    EXPECT_GT(total.writes_survived, 0u);
    EXPECT_GT(total.torn_appends, 0u);
}

// A follower truncates a conflicting suffix by appending over it (§5.3). The
// truncation is durable only with the first new entry: crash before it and
// the old suffix comes back.
TEST(SimDisk, OverwriteIsDurableOnlyWithItsFirstNewEntry) {
    struct Case {
        std::string_view name;
        std::uint64_t cut;  // units reaching the platter in torn mode; ~0: default crash
        std::string want;
    };
    const Case cases[] = {
        {"default crash brings the old suffix back", ~0ULL, "after 0: 1:1 2:1 3:1 4:1 5:1"},
        {"torn before the append: old suffix", 0, "after 0: 1:1 2:1 3:1 4:1 5:1"},
        {"torn after one new entry: suffix gone", 1, "after 0: 1:1 2:1 3:2"},
        {"torn after the whole append", 2, "after 0: 1:1 2:1 3:2 4:2"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        SimDisk disk = make_disk();
        must(disk.append(entries(1, 6, 1)));
        must(disk.sync());
        must(disk.append(entries(3, 5, 2)));
        EXPECT_EQ(log_text(disk.log()), "after 0: 1:1 2:1 3:2 4:2");
        if (c.cut == ~0ULL) {
            NetworkRng rng(1);
            disk.crash(rng, {});
        } else {
            // Find a seed whose one draw over [0, 2] gives the cut we want.
            std::uint64_t s = 0;
            while (NetworkRng(s).uniform(0, 2) != c.cut) ++s;
            NetworkRng rng(s);
            disk.crash(rng, {.torn_writes = true});
        }
        EXPECT_EQ(log_text(disk.log()), c.want);
    }
}

// A snapshot replacement is all or nothing: after a torn crash the disk holds
// the old snapshot with its log, or the new one with its log, never a mix.
TEST(SimDisk, SnapshotReplacementIsAtomic) {
    const std::uint64_t seed = testing::test_seed();
    SCOPED_TRACE(testing::seed_trace(seed));
    NetworkRng rng(seed);
    std::set<std::string> seen;
    for (int run = 0; run < 100; ++run) {
        SimDisk disk = make_disk();
        must(disk.append(entries(1, 6, 1)));
        must(disk.save_snapshot(snapshot(2, 1, "old image")));
        must(disk.sync());
        must(disk.save_snapshot(snapshot(9, 3, "new image")));  // received: replaces the log
        must(disk.append(entries(10, 12, 3)));
        disk.crash(rng, {.torn_writes = true});
        const std::string got = fmt::format("{} {}", disk.snapshot()->data, log_text(disk.log()));
        EXPECT_TRUE(got == "old image after 2: 3:1 4:1 5:1" || got == "new image after 9:" ||
                    got == "new image after 9: 10:3" || got == "new image after 9: 10:3 11:3")
            << got;
        seen.insert(got);
    }
    EXPECT_EQ(seen.size(), 4u) << "100 runs should reach every outcome";
}

TEST(SimDisk, SnapshotCompactsAnAgreeingLogAndReplacesAnother) {
    struct Case {
        std::string_view name;
        SimSnapshot snap;
        std::string want;
    };
    const Case cases[] = {
        {"taken locally: keeps what follows", snapshot(3, 2, "a"), "after 3: 4:2 5:2"},
        {"at the last entry: empty log", snapshot(5, 2, "b"), "after 5:"},
        {"term disagrees: log dropped", snapshot(3, 3, "c"), "after 3:"},
        {"past the log: log dropped", snapshot(8, 2, "d"), "after 8:"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        SimDisk disk = make_disk();
        must(disk.append(entries(1, 3, 1)));
        must(disk.append(entries(3, 6, 2)));
        must(disk.save_snapshot(c.snap));
        EXPECT_EQ(log_text(disk.log()), c.want);
        must(disk.sync());
        NetworkRng rng(1);
        disk.crash(rng, {});
        EXPECT_EQ(log_text(disk.log()), c.want);
        EXPECT_EQ(disk.snapshot(), c.snap);
    }
}

// Runs writes, syncs and torn crashes from one seed; returns the trace.
std::vector<std::string> traced_run(std::uint64_t seed) {
    std::vector<std::string> trace;
    SimDisk disk(
        {.node = NodeId(3), .trace = [&](std::string_view line) { trace.emplace_back(line); }});
    std::mt19937_64 workload(seed);
    NetworkRng rng(seed);
    for (int i = 0; i < 200; ++i) {
        EXPECT_TRUE(write_to(disk, random_write(disk, workload)).is_ok());
        if (workload() % 5 == 0) {
            EXPECT_TRUE(disk.sync().is_ok());
        }
        if (workload() % 17 == 0) disk.crash(rng, {.torn_writes = true});
    }
    trace.push_back(disk.counters().to_string());
    trace.push_back(full_text(disk.current()));
    return trace;
}

TEST(SimDisk, SameSeedSameOutcome) {
    const std::uint64_t seed = testing::test_seed();
    SCOPED_TRACE(testing::seed_trace(seed));
    const std::vector<std::string> first = traced_run(seed);
    EXPECT_EQ(traced_run(seed), first);
    EXPECT_NE(traced_run(seed + 1), first);
    EXPECT_GT(first.size(), 200u);
}

TEST(SimDisk, TraceNamesEachWrite) {
    std::vector<std::string> trace;
    SimDisk disk(
        {.node = NodeId(2), .trace = [&](std::string_view line) { trace.emplace_back(line); }});
    must(disk.save_hard_state(hard_state(1, 2, 0)));
    must(disk.append(entries(1, 4, 1)));
    must(disk.sync());
    must(disk.append(entries(2, 3, 1)));
    disk.set_full(true);
    EXPECT_EQ(disk.append(entries(3, 4, 1)).code(), Code::kDiskFull);
    NetworkRng rng(1);
    disk.crash(rng, {});
    const std::vector<std::string> want = {
        "disk 2: hard state term=1 vote=2 commit=0",
        "disk 2: append [1, 4) last_term=1",
        "disk 2: sync 2 writes: hs=(term=1 vote=2 commit=0) "
        "snapshot=(index=0 term=0 bytes=0) log=[1, 4) last_term=1",
        "disk 2: append [2, 3) last_term=1 replaces [2, 4)",
        "disk 2: refused append [3, 4) last_term=1: disk full",
        "disk 2: crash kept 0 of 1 unsynced writes: hs=(term=1 vote=2 commit=0) "
        "snapshot=(index=0 term=0 bytes=0) log=[1, 4) last_term=1",
    };
    EXPECT_EQ(trace, want);
}

TEST(SimDisk, CountersCountWritesSyncsAndCrashes) {
    SimDisk disk = make_disk();
    must(disk.save_hard_state(hard_state(1, 1, 0)));
    must(disk.append(entries(1, 4, 1)));
    must(disk.sync());
    must(disk.sync());  // nothing new: still an fsync
    must(disk.append(entries(4, 6, 1)));
    must(disk.save_snapshot(snapshot(2, 1, "x")));
    NetworkRng rng(1);
    disk.crash(rng, {});
    const DiskCounters& c = disk.counters();
    EXPECT_EQ(c.writes, 4u);
    EXPECT_EQ(c.hard_state_writes, 1u);
    EXPECT_EQ(c.appends, 2u);
    EXPECT_EQ(c.entries_appended, 5u);
    EXPECT_EQ(c.snapshot_writes, 1u);
    EXPECT_EQ(c.syncs, 2u);
    EXPECT_EQ(c.crashes, 1u);
    EXPECT_EQ(c.writes_lost, 2u);
    EXPECT_EQ(c.writes_survived, 0u);
    EXPECT_EQ(c.torn_appends, 0u);
    EXPECT_EQ(c.writes_refused, 0u);
    EXPECT_EQ(c.sync_failures, 0u);
}

TEST(SimDisk, FullDiskRefusesWritesAndChangesNothing) {
    SimDisk disk = make_disk();
    must(disk.append(entries(1, 3, 1)));
    disk.set_full(true);
    const std::string before = full_text(disk.current());
    const Write refused[] = {hard_state(1, 1, 0), entries(3, 4, 1), snapshot(1, 1, "s")};
    for (const Write& w : refused) {
        const Status s = write_to(disk, w);
        EXPECT_EQ(s.code(), Code::kDiskFull) << s.to_string();
        EXPECT_NE(s.message().find("node 1"), std::string::npos) << s.message();
    }
    EXPECT_EQ(full_text(disk.current()), before);
    EXPECT_EQ(disk.counters().writes_refused, 3u);
    must(disk.sync());  // a sync allocates nothing
    disk.set_full(false);
    must(disk.append(entries(3, 4, 1)));
    EXPECT_EQ(disk.log().last_index(), Index(3));
}

TEST(SimDisk, FailedSyncIsFinalUntilCrash) {
    SimDisk disk = make_disk();
    must(disk.append(entries(1, 3, 1)));
    must(disk.sync());
    must(disk.append(entries(3, 5, 1)));
    disk.fail_next_sync();
    const Status failed = disk.sync();
    EXPECT_EQ(failed.code(), Code::kIoError) << failed.to_string();
    EXPECT_TRUE(disk.has_failed());
    EXPECT_EQ(disk.durable().log.last_index(), Index(2)) << "nothing became durable";
    EXPECT_EQ(disk.sync().code(), Code::kIoError) << "no retry of a failed fsync";
    EXPECT_EQ(disk.append(entries(5, 6, 1)).code(), Code::kIoError);
    EXPECT_EQ(disk.counters().sync_failures, 2u);
    EXPECT_EQ(disk.counters().writes_refused, 1u);

    NetworkRng rng(1);
    disk.crash(rng, {});
    EXPECT_FALSE(disk.has_failed());
    EXPECT_EQ(disk.log().last_index(), Index(2));
    must(disk.append(entries(3, 4, 2)));
    must(disk.sync());
}

}  // namespace
}  // namespace raftkv::sim
