// raft_disk_test.cc — the raft persistence thread (server/raft_disk.h):
// appends, conflicting suffixes, hard state, snapshots received and taken,
// order of completions, a full disk; each checked by recovering the data
// directory with recover_raft (server/raft_recovery.h).
#include "server/raft_disk.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <thread>
#include <vector>

#include "kv/state_machine.h"
#include "resp/reply_writer.h"
#include "server/raft_recovery.h"
#include "server/recovery.h"
#include "testing/temp_dir.h"

namespace raftkv::server {
namespace {

using raft::Entry;
using raft::Index;
using raft::NodeId;
using raft::Term;
using std::chrono::steady_clock;

constexpr std::uint64_t kNoLimit = UINT64_MAX;

Entry entry(std::uint64_t index, std::uint64_t term, std::size_t bytes = 16) {
    return Entry{.term = Term(term), .index = Index(index), .data = std::string(bytes, 'x')};
}

std::vector<Entry> entries(std::uint64_t first, std::uint64_t last, std::uint64_t term) {
    std::vector<Entry> out;
    for (std::uint64_t i = first; i <= last; ++i) out.push_back(entry(i, term));
    return out;
}

// A state machine image with `count` keys.
std::string image_with_keys(int count) {
    kv::StateMachine sm;
    std::string out;
    resp::ReplyWriter w(&out);
    for (int i = 0; i < count; ++i) {
        const std::vector<std::string> args = {"set", "k" + std::to_string(i), "v"};
        sm.apply(args, w);
    }
    return sm.snapshot();
}

const raft::Membership kThree{.voters = {NodeId(1), NodeId(2), NodeId(3)}};

class RaftDiskTest : public ::testing::Test {
protected:
    // Recovers the directory and starts a RaftDisk over it.
    void start(std::uint64_t segment_bytes = 1 << 20,
               std::chrono::milliseconds idle_sync_delay = kIdleSyncDelay) {
        auto r = recover_raft(dir_, segment_bytes);
        ASSERT_TRUE(r) << r.error().to_string();
        disk_ = std::make_unique<RaftDisk>(
            io_.get_executor(),
            RaftDiskOptions{.data_dir = dir_,
                            .snapshot_index = r->storage->snapshot_meta().index,
                            .idle_sync_delay = idle_sync_delay},
            std::move(r->wal));
    }
    // Stops the disk and recovers the directory again.
    RecoveredRaft restart() {
        disk_->stop();
        disk_.reset();
        auto r = recover_raft(dir_, 1 << 20);
        RAFTKV_ASSERT(r.has_value(), "{}", r.error().to_string());
        return std::move(*r);
    }
    // Runs the loop until `n` completions have arrived, failing the test
    // after a deadline.
    void run_until_done(std::size_t n) {
        const auto deadline = steady_clock::now() + std::chrono::seconds(10);
        while (results_.size() < n) {
            ASSERT_LT(steady_clock::now(), deadline) << "timed out";
            io_.restart();
            io_.run_one_for(std::chrono::milliseconds(10));
        }
    }
    std::function<void(PersistResult)> collect() {
        return [this](PersistResult r) { results_.push_back(std::move(r)); };
    }
    // Persists one job and waits for its completion.
    PersistResult persist(PersistJob job) {
        disk_->persist(std::move(job), collect());
        run_until_done(results_.size() + 1);
        return std::move(results_.back());
    }
    PersistResult save_snapshot(const raft::SnapshotMeta& meta, std::string image) {
        disk_->save_snapshot(meta, std::move(image), collect());
        run_until_done(results_.size() + 1);
        return std::move(results_.back());
    }
    static std::vector<Entry> all_entries(const RaftStorage& s) {
        return s.entries(s.first_index(), s.last_index().next(), kNoLimit);
    }

    raftkv::testing::TempDir tmp_;
    std::filesystem::path dir_ = tmp_.path();  // a case of a table test may point it elsewhere
    asio::io_context io_;
    std::unique_ptr<RaftDisk> disk_;
    std::vector<PersistResult> results_;
};

TEST_F(RaftDiskTest, EntriesAndHardStateComeBack) {
    ASSERT_NO_FATAL_FAILURE(start());
    const raft::HardState hs{.term = Term(2), .vote = NodeId(1), .commit = Index(3)};
    PersistResult r = persist({.entries = entries(1, 5, 2), .hard_state = hs});
    ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
    EXPECT_EQ(r.snapshot_image, nullptr);
    EXPECT_GT(disk_->bytes_on_disk(), 0u);

    RecoveredRaft got = restart();
    EXPECT_EQ(got.hard_state, hs);
    EXPECT_EQ(all_entries(*got.storage), entries(1, 5, 2));
    EXPECT_EQ(got.applied, Index(0));
    EXPECT_EQ(got.state.key_count(), 0u);
    EXPECT_EQ(got.wal->last_index(), Index(5));
}

TEST_F(RaftDiskTest, ConflictingEntriesReplaceTheSuffix) {
    struct Case {
        std::string_view name;
        std::vector<std::vector<Entry>> jobs;
    };
    const Case cases[] = {
        {"cut in the middle", {entries(1, 5, 1), entries(3, 4, 2)}},
        {"cut everything", {entries(1, 5, 1), entries(1, 2, 2)}},
        {"same entries again", {entries(1, 5, 1), entries(4, 5, 1)}},
        {"extend", {entries(1, 3, 1), entries(4, 6, 1)}},
        {"several cuts", {entries(1, 9, 1), entries(5, 6, 2), entries(6, 8, 3), entries(2, 2, 4)}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        raftkv::testing::TempDir dir;
        dir_ = dir.path();
        ASSERT_NO_FATAL_FAILURE(start(256));  // small segments: cuts cross segment files
        raft::MemoryLogStorage model;
        for (const std::vector<Entry>& job : c.jobs) {
            ASSERT_TRUE(persist({.entries = job}).status.is_ok());
            model.append(job);
        }
        RecoveredRaft got = restart();
        EXPECT_EQ(all_entries(*got.storage),
                  model.entries(Index(1), model.last_index().next(), kNoLimit));
        EXPECT_EQ(got.wal->last_index(), model.last_index());
    }
}

TEST_F(RaftDiskTest, SnapshotFromTheLeaderReplacesTheLog) {
    ASSERT_NO_FATAL_FAILURE(start(256));
    ASSERT_TRUE(persist({.entries = entries(1, 12, 1)}).status.is_ok());
    const std::string image = image_with_keys(7);
    const raft::SnapshotMeta meta{.index = Index(10), .term = Term(3), .membership = kThree};
    const raft::HardState hs{.term = Term(3), .vote = NodeId(2), .commit = Index(10)};
    PersistResult r = persist({.snapshot = raft::Snapshot{.meta = meta, .data = image},
                               .entries = entries(11, 13, 3),
                               .hard_state = hs});
    ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
    ASSERT_NE(r.snapshot_image, nullptr);
    EXPECT_EQ(r.snapshot_image->meta(), meta);
    EXPECT_EQ(*r.snapshot_image->read_payload(0, kNoLimit), image);

    RecoveredRaft got = restart();
    EXPECT_EQ(got.storage->snapshot_meta(), meta);
    EXPECT_EQ(got.snapshot_version, storage::kSnapshotFormatVersion);
    EXPECT_EQ(got.applied, Index(10));
    EXPECT_EQ(got.state.key_count(), 7u);
    EXPECT_EQ(got.hard_state, hs);
    // The old entries 11 and 12 (term 1) are gone: the log restarted after 10.
    EXPECT_EQ(all_entries(*got.storage), entries(11, 13, 3));
    EXPECT_EQ(got.storage->snapshot_chunk(0, kNoLimit), image);
    EXPECT_TRUE(got.warnings.empty());
}

TEST_F(RaftDiskTest, SnapshotFromTheLeaderPastTheLog) {
    ASSERT_NO_FATAL_FAILURE(start());
    ASSERT_TRUE(persist({.entries = entries(1, 3, 1)}).status.is_ok());
    const raft::SnapshotMeta meta{.index = Index(50), .term = Term(4), .membership = kThree};
    ASSERT_TRUE(persist({.snapshot = raft::Snapshot{.meta = meta, .data = image_with_keys(2)}})
                    .status.is_ok());
    ASSERT_TRUE(persist({.entries = entries(51, 52, 4)}).status.is_ok());
    RecoveredRaft got = restart();
    EXPECT_EQ(got.storage->snapshot_meta(), meta);
    EXPECT_EQ(all_entries(*got.storage), entries(51, 52, 4));
    EXPECT_EQ(got.wal->first_index(), Index(51));
}

TEST_F(RaftDiskTest, SnapshotTakenCompactsTheLog) {
    ASSERT_NO_FATAL_FAILURE(start(256));  // about four entries per segment
    ASSERT_TRUE(persist({.entries = entries(1, 40, 1)}).status.is_ok());
    const std::uint64_t before = disk_->bytes_on_disk();
    const raft::SnapshotMeta meta{.index = Index(30), .term = Term(1), .membership = kThree};
    PersistResult r = save_snapshot(meta, image_with_keys(30));
    ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
    ASSERT_NE(r.snapshot_image, nullptr);
    EXPECT_EQ(r.snapshot_image->meta(), meta);
    EXPECT_LT(disk_->bytes_on_disk(), before / 2);

    // What the server does with it: RaftStorage drops the prefix.
    RaftStorage live;
    live.append(entries(1, 40, 1));
    live.compact(meta, std::move(r.snapshot_image));
    EXPECT_EQ(live.first_index(), Index(31));

    RecoveredRaft got = restart();
    EXPECT_EQ(got.storage->snapshot_meta(), meta);
    EXPECT_EQ(got.applied, Index(30));
    EXPECT_EQ(got.state.key_count(), 30u);
    EXPECT_EQ(all_entries(*got.storage), entries(31, 40, 1));
    EXPECT_EQ(all_entries(*got.storage), all_entries(live));
    EXPECT_LE(got.wal->first_index(), Index(31));  // a segment holding 30 and 31 is kept whole
}

TEST_F(RaftDiskTest, SnapshotTakenAtTheLastIndexEmptiesTheLog) {
    ASSERT_NO_FATAL_FAILURE(start(256));
    ASSERT_TRUE(persist({.entries = entries(1, 10, 1)}).status.is_ok());
    ASSERT_TRUE(
        save_snapshot({.index = Index(10), .term = Term(1)}, image_with_keys(1)).status.is_ok());
    ASSERT_TRUE(persist({.entries = entries(11, 11, 2)}).status.is_ok());
    RecoveredRaft got = restart();
    EXPECT_EQ(got.storage->snapshot_meta().index, Index(10));
    EXPECT_EQ(all_entries(*got.storage), entries(11, 11, 2));
}

TEST_F(RaftDiskTest, SnapshotOlderThanTheOneOnDiskIsRefused) {
    ASSERT_NO_FATAL_FAILURE(start());
    ASSERT_TRUE(persist({.entries = entries(1, 5, 1)}).status.is_ok());
    const raft::SnapshotMeta received{.index = Index(20), .term = Term(2), .membership = kThree};
    ASSERT_TRUE(persist({.snapshot = raft::Snapshot{.meta = received, .data = image_with_keys(3)}})
                    .status.is_ok());
    PersistResult r = save_snapshot({.index = Index(5), .term = Term(1)}, image_with_keys(1));
    EXPECT_EQ(r.status.code(), Code::kInvalid) << r.status.to_string();
    EXPECT_EQ(r.snapshot_image, nullptr);
    // Not sticky: the disk goes on.
    ASSERT_TRUE(persist({.entries = entries(21, 21, 2)}).status.is_ok());
    RecoveredRaft got = restart();
    EXPECT_EQ(got.storage->snapshot_meta(), received);
    EXPECT_EQ(got.state.key_count(), 3u);
    EXPECT_EQ(all_entries(*got.storage), entries(21, 21, 2));
}

TEST_F(RaftDiskTest, CompletionsRunInOrder) {
    ASSERT_NO_FATAL_FAILURE(start(1024));
    std::vector<int> order;
    for (int i = 0; i < 50; ++i) {
        const std::uint64_t index = static_cast<std::uint64_t>(i) + 1;
        disk_->persist({.entries = entries(index, index, 1),
                        .hard_state = raft::HardState{.term = Term(1), .commit = Index(index)}},
                       [&order, this, i](PersistResult r) {
                           EXPECT_TRUE(r.status.is_ok()) << r.status.to_string();
                           order.push_back(i);
                           results_.push_back(std::move(r));
                       });
    }
    run_until_done(50);
    for (int i = 0; i < 50; ++i) EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
    RecoveredRaft got = restart();
    EXPECT_EQ(got.hard_state.commit, Index(50));
    EXPECT_EQ(got.storage->last_index(), Index(50));
}

// raft/ready.h, must_sync (etcd's MustSync): a Ready whose only change is
// the commit index needs no sync. Its record is written, not synced; the
// next job's sync covers it.
TEST_F(RaftDiskTest, ACommitOnlyJobIsCoveredByTheNextSync) {
    ASSERT_NO_FATAL_FAILURE(start(1 << 20, std::chrono::hours(1)));  // no idle sync
    const raft::HardState appended{.term = Term(2), .vote = NodeId(1), .commit = Index(0)};
    ASSERT_TRUE(persist({.entries = entries(1, 3, 2), .hard_state = appended}).status.is_ok());
    EXPECT_EQ(disk_->wal_syncs(), 1u);

    raft::HardState committed = appended;
    committed.commit = Index(3);
    ASSERT_TRUE(persist({.hard_state = committed, .must_sync = false}).status.is_ok());
    EXPECT_EQ(disk_->wal_syncs(), 1u) << "a commit-only job synced";

    ASSERT_TRUE(persist({.entries = entries(4, 4, 2)}).status.is_ok());
    EXPECT_EQ(disk_->wal_syncs(), 2u);
    RecoveredRaft got = restart();
    EXPECT_EQ(got.hard_state, committed);
    EXPECT_EQ(got.storage->last_index(), Index(4));
}

// An idle disk does not keep an unsynced tail: it syncs it itself after
// idle_sync_delay.
TEST_F(RaftDiskTest, AnIdleDiskSyncsWhatACommitOnlyJobLeft) {
    ASSERT_NO_FATAL_FAILURE(start(1 << 20, std::chrono::milliseconds(1)));
    ASSERT_TRUE(persist({.entries = entries(1, 3, 2),
                         .hard_state = raft::HardState{.term = Term(2), .commit = Index(0)}})
                    .status.is_ok());
    const std::uint64_t before = disk_->wal_syncs();
    ASSERT_TRUE(persist({.hard_state = raft::HardState{.term = Term(2), .commit = Index(3)},
                         .must_sync = false})
                    .status.is_ok());
    const auto deadline = steady_clock::now() + std::chrono::seconds(10);
    while (disk_->wal_syncs() == before) {
        ASSERT_LT(steady_clock::now(), deadline) << "the idle disk never synced";
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(disk_->wal_syncs(), before + 1);
    EXPECT_EQ(restart().hard_state.commit, Index(3));
}

TEST_F(RaftDiskTest, StopRunsWhatIsQueued) {
    ASSERT_NO_FATAL_FAILURE(start());
    disk_->persist({.entries = entries(1, 3, 1)}, collect());
    disk_->save_snapshot({.index = Index(2), .term = Term(1)}, image_with_keys(2), collect());
    RecoveredRaft got = restart();  // stops before the loop ran a completion
    EXPECT_EQ(got.storage->snapshot_meta().index, Index(2));
    EXPECT_EQ(all_entries(*got.storage), entries(3, 3, 1));
}

// RLIMIT_FSIZE makes write(2) fail with EFBIG, which counts as a full disk.
// The job fails alone, undone; handed again once there is room, it lands.
TEST_F(RaftDiskTest, AFullDiskFailsTheJobAloneAndItCanBeRetried) {
    ASSERT_NO_FATAL_FAILURE(start());
    ASSERT_TRUE(persist({.entries = entries(1, 1, 1)}).status.is_ok());

    auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
    rlimit lim = old;
    lim.rlim_cur = 4096;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
    std::vector<Entry> big = {entry(2, 1, 8192)};
    PersistResult r = persist(
        {.entries = big, .hard_state = raft::HardState{.term = Term(1), .commit = Index(2)}});
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
    ::signal(SIGXFSZ, old_handler);

    EXPECT_EQ(r.status.code(), Code::kDiskFull) << r.status.to_string();
    EXPECT_NE(r.status.message().find(".wal"), std::string::npos) << r.status.message();
    // Space is back: the same job again.
    PersistResult again = persist(
        {.entries = big, .hard_state = raft::HardState{.term = Term(1), .commit = Index(2)}});
    ASSERT_TRUE(again.status.is_ok()) << again.status.to_string();

    RecoveredRaft got = restart();
    std::vector<Entry> want = entries(1, 1, 1);
    want.push_back(big[0]);
    EXPECT_EQ(all_entries(*got.storage), want);
    EXPECT_EQ(got.hard_state.commit, Index(2));
}

}  // namespace
}  // namespace raftkv::server
