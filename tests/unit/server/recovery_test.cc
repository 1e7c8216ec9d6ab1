// recovery_test.cc — start-up from snapshot + log (server/recovery.h).
#include "server/recovery.h"

#include <gtest/gtest.h>

#include <fstream>

#include "kv/command_codec.h"
#include "resp/reply_writer.h"
#include "storage/snapshot_file.h"
#include "testing/temp_dir.h"

namespace raftkv::server {
namespace {

using Args = std::vector<std::string>;

class RecoveryTest : public ::testing::Test {
protected:
    // The i-th command of the test history: set k<i%3> v<i>, and every
    // fourth an incr, so order matters.
    static Args command(int i) {
        if (i % 4 == 0) return {"incr", "counter"};
        return {"set", "k" + std::to_string(i % 3), "v" + std::to_string(i)};
    }
    static kv::StateMachine state_after(int count) {
        kv::StateMachine sm;
        std::string out;
        resp::ReplyWriter w(&out);
        for (int i = 1; i <= count; ++i) sm.apply(command(i), w);
        return sm;
    }
    // Writes entries [first, last] of the history to the log.
    void write_log(int first, int last, std::string corrupt_payload_at = {}) {
        storage::WalRecovery rec;
        auto wal = storage::Wal::open(storage::WalOptions{.dir = wal_dir(dir_)}, &rec);
        ASSERT_TRUE(wal) << wal.error().to_string();
        if ((*wal)->last_index().value == 0 && first > 1) {
            (*wal)->reset_next_index(raft::Index(static_cast<std::uint64_t>(first)));
        }
        std::vector<raft::Entry> entries;
        for (int i = first; i <= last; ++i) {
            entries.push_back(raft::Entry{.term = raft::Term(1),
                                          .index = raft::Index(static_cast<std::uint64_t>(i)),
                                          .data = kv::encode_command(command(i))});
        }
        if (!corrupt_payload_at.empty()) entries.back().data = corrupt_payload_at;
        ASSERT_TRUE((*wal)->append(entries).is_ok());
        ASSERT_TRUE((*wal)->sync().is_ok());
    }
    void write_snapshot(int index) {
        const storage::SnapshotMeta meta{
            .last_index = raft::Index(static_cast<std::uint64_t>(index)),
            .last_term = raft::Term(1)};
        ASSERT_TRUE(storage::save_snapshot(snapshot_dir(dir_), meta, state_after(index).snapshot())
                        .is_ok());
    }

    raftkv::testing::TempDir tmp_;
    const std::filesystem::path dir_ = tmp_.path();
};

TEST_F(RecoveryTest, EmptyDirectoryStartsEmpty) {
    auto r = recover_state(dir_, 1 << 20);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->applied, raft::Index(0));
    EXPECT_EQ(r->state.key_count(), 0u);
    EXPECT_EQ(r->wal->last_index(), raft::Index(0));
}

TEST_F(RecoveryTest, LogOnlyReplaysEverything) {
    write_log(1, 10);
    auto r = recover_state(dir_, 1 << 20);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->applied, raft::Index(10));
    EXPECT_EQ(r->entries_replayed, 10u);
    EXPECT_TRUE(r->state == state_after(10));
}

TEST_F(RecoveryTest, SnapshotThenTheLogAfterIt) {
    write_log(1, 12);
    write_snapshot(8);
    auto r = recover_state(dir_, 1 << 20);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->snapshot_index, raft::Index(8));
    EXPECT_EQ(r->applied, raft::Index(12));
    EXPECT_EQ(r->entries_replayed, 4u);  // 9..12; 1..8 come from the snapshot
    EXPECT_TRUE(r->state == state_after(12));
}

TEST_F(RecoveryTest, SnapshotNewerThanTheLogStartsAfterIt) {
    write_log(1, 5);
    write_snapshot(9);
    auto r = recover_state(dir_, 1 << 20);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->applied, raft::Index(9));
    EXPECT_TRUE(r->state == state_after(9));
    EXPECT_EQ(r->wal->last_index(), raft::Index(9));
    // The next write continues the snapshot.
    std::vector<raft::Entry> next{raft::Entry{
        .term = raft::Term(1), .index = raft::Index(10), .data = kv::encode_command(command(10))}};
    EXPECT_TRUE(r->wal->append(next).is_ok());
}

TEST_F(RecoveryTest, LogThatDoesNotContinueTheSnapshotIsAnError) {
    write_snapshot(3);
    write_log(6, 8);  // 4 and 5 are missing
    auto r = recover_state(dir_, 1 << 20);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::kCorruption);
    EXPECT_NE(r.error().message().find("resumes at index 6 but the snapshot ends at index 3"),
              std::string::npos)
        << r.error().message();
}

TEST_F(RecoveryTest, UndecodableEntryNamesItsIndex) {
    write_log(1, 4, "not a command");
    auto r = recover_state(dir_, 1 << 20);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("log entry 4"), std::string::npos) << r.error().message();
}

TEST_F(RecoveryTest, DamagedSnapshotStopsTheStart) {
    write_log(1, 6);
    write_snapshot(6);
    const auto path = snapshot_dir(dir_) / storage::snapshot_file_name(raft::Index(6));
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x7f');
    f.close();
    auto r = recover_state(dir_, 1 << 20);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::kCorruption);
    EXPECT_NE(r.error().message().find(path.filename().string()), std::string::npos)
        << r.error().message();
}

}  // namespace
}  // namespace raftkv::server
