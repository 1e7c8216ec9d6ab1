// raft_recovery_test.cc — start-up of a replicated server from its data
// directory (server/raft_recovery.h): the snapshot into the state machine,
// the log after it into RaftStorage unapplied, the hard state; torn tails,
// a log suffix of a replaced history, single-node directories.
#include "server/raft_recovery.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "kv/command_codec.h"
#include "resp/reply_writer.h"
#include "server/recovery.h"
#include "storage/hard_state_file.h"
#include "storage/snapshot_file.h"
#include "testing/temp_dir.h"

namespace raftkv::server {
namespace {

using raft::Entry;
using raft::Index;
using raft::NodeId;
using raft::Term;

constexpr std::uint64_t kNoLimit = UINT64_MAX;

std::vector<std::string> command(int i) { return {"set", "k" + std::to_string(i), "v"}; }

Entry entry(std::uint64_t index, std::uint64_t term) {
    return Entry{.term = Term(term),
                 .index = Index(index),
                 .data = kv::encode_command(command(static_cast<int>(index)))};
}

std::vector<Entry> entries(std::uint64_t first, std::uint64_t last, std::uint64_t term) {
    std::vector<Entry> out;
    for (std::uint64_t i = first; i <= last; ++i) out.push_back(entry(i, term));
    return out;
}

// The image after applying commands 1..count.
std::string image_after(int count) {
    kv::StateMachine sm;
    std::string out;
    resp::ReplyWriter w(&out);
    for (int i = 1; i <= count; ++i) sm.apply(command(i), w);
    return sm.snapshot();
}

class RaftRecoveryTest : public ::testing::Test {
protected:
    void write_log(const std::vector<Entry>& batch, std::uint64_t segment_bytes = 1 << 20) {
        storage::WalRecovery rec;
        auto wal = storage::Wal::open(
            storage::WalOptions{.dir = wal_dir(dir_), .segment_bytes_max = segment_bytes}, &rec);
        ASSERT_TRUE(wal) << wal.error().to_string();
        if ((*wal)->last_index() == Index(0) && batch.front().index > Index(1)) {
            (*wal)->reset_next_index(batch.front().index);
        }
        ASSERT_TRUE((*wal)->append(batch).is_ok());
        ASSERT_TRUE((*wal)->sync().is_ok());
    }
    void write_snapshot(const raft::SnapshotMeta& meta, int keys) {
        ASSERT_TRUE(storage::save_snapshot(snapshot_dir(dir_), meta, image_after(keys)).is_ok());
    }
    static std::vector<Entry> all_entries(const RaftStorage& s) {
        return s.entries(s.first_index(), s.last_index().next(), kNoLimit);
    }
    Result<RecoveredRaft> recover() { return recover_raft(dir_, 1 << 20); }

    raftkv::testing::TempDir tmp_;
    const std::filesystem::path dir_ = tmp_.path();
};

TEST_F(RaftRecoveryTest, EmptyDirectoryStartsEmpty) {
    auto r = recover();
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->hard_state, raft::HardState{});
    EXPECT_EQ(r->applied, Index(0));
    EXPECT_EQ(r->snapshot_version, 0u);
    EXPECT_EQ(r->storage->last_index(), Index(0));
    EXPECT_EQ(r->storage->snapshot_meta(), raft::SnapshotMeta{});
    EXPECT_EQ(r->wal->last_index(), Index(0));
}

TEST_F(RaftRecoveryTest, LogIsHeldNotApplied) {
    write_log(entries(1, 6, 2));
    write_snapshot({.index = Index(4), .term = Term(2), .membership = {.voters = {NodeId(1)}}}, 4);
    ASSERT_TRUE(storage::save_hard_state(hard_state_dir(dir_),
                                         {.term = Term(3), .vote = NodeId(1), .commit = Index(6)})
                    .is_ok());
    auto r = recover();
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->applied, Index(4));
    kv::StateMachine want;
    ASSERT_TRUE(want.restore(image_after(4)).is_ok());
    EXPECT_TRUE(r->state == want);  // 5 and 6 are for the raft node to apply
    EXPECT_EQ(all_entries(*r->storage), entries(5, 6, 2));
    EXPECT_EQ(r->storage->snapshot_meta().membership.voters, std::set<NodeId>{NodeId(1)});
    EXPECT_EQ(r->hard_state,
              (raft::HardState{.term = Term(3), .vote = NodeId(1), .commit = Index(6)}));
    EXPECT_EQ(r->storage->snapshot_chunk(0, kNoLimit), image_after(4));
}

TEST_F(RaftRecoveryTest, TornTailIsCutOff) {
    write_log(entries(1, 5, 1));
    const auto segment = wal_dir(dir_) / "00000000000000000001.wal";
    std::filesystem::resize_file(segment, std::filesystem::file_size(segment) - 3);
    auto r = recover();
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(all_entries(*r->storage), entries(1, 4, 1));
    ASSERT_EQ(r->warnings.size(), 1u);
    EXPECT_NE(r->warnings[0].find("torn"), std::string::npos) << r->warnings[0];
    EXPECT_EQ(r->wal->last_index(), Index(4));
}

TEST_F(RaftRecoveryTest, CorruptionMidLogStopsTheStart) {
    write_log(entries(1, 5, 1));
    const auto segment = wal_dir(dir_) / "00000000000000000001.wal";
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x55');
    f.close();
    auto r = recover();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::kCorruption);
    EXPECT_NE(r.error().message().find(segment.string()), std::string::npos) << r.error().message();
}

// A crash while RaftDisk emptied the log for a snapshot from the leader: the
// log still holds the snapshot's index with another term, and a suffix of
// the history the snapshot replaced.
TEST_F(RaftRecoveryTest, LogOfAReplacedHistoryIsDropped) {
    write_log(entries(1, 10, 1));
    write_snapshot({.index = Index(8), .term = Term(2)}, 8);
    auto r = recover();
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->storage->last_index(), Index(8));
    EXPECT_TRUE(all_entries(*r->storage).empty());
    ASSERT_EQ(r->warnings.size(), 1u);
    EXPECT_NE(r->warnings[0].find("dropped log entries"), std::string::npos) << r->warnings[0];
    EXPECT_EQ(r->wal->last_index(), Index(8));
    EXPECT_TRUE(r->wal->append(entries(9, 9, 2)).is_ok());
    r->wal.reset();
    auto again = recover();  // the drop happened once, durably
    ASSERT_TRUE(again) << again.error().to_string();
    EXPECT_TRUE(again->warnings.empty());
}

TEST_F(RaftRecoveryTest, SnapshotPastTheLogStartsAfterIt) {
    write_log(entries(1, 3, 1));
    write_snapshot({.index = Index(9), .term = Term(1)}, 9);
    auto r = recover();
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->storage->first_index(), Index(10));
    EXPECT_EQ(r->wal->last_index(), Index(9));
    EXPECT_TRUE(r->wal->append(entries(10, 10, 1)).is_ok());
}

TEST_F(RaftRecoveryTest, GapAfterTheSnapshotIsCorruption) {
    write_snapshot({.index = Index(3), .term = Term(1)}, 3);
    write_log(entries(6, 8, 1));
    auto r = recover();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::kCorruption);
    EXPECT_NE(r.error().message().find("resumes at index 6 but the snapshot ends at index 3"),
              std::string::npos)
        << r.error().message();
}

TEST_F(RaftRecoveryTest, CommitPastTheLogIsCorruption) {
    write_log(entries(1, 3, 1));
    ASSERT_TRUE(
        storage::save_hard_state(hard_state_dir(dir_), {.term = Term(1), .commit = Index(7)})
            .is_ok());
    auto r = recover();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::kCorruption);
    EXPECT_NE(r.error().message().find("index 7 is committed"), std::string::npos)
        << r.error().message();
}

// A data directory of the single-node server: a version 1 snapshot, a log of
// commands in term 1, no hard state.
TEST_F(RaftRecoveryTest, SingleNodeDirectoryIsReadable) {
    write_log(entries(1, 7, 1));
    std::filesystem::create_directories(snapshot_dir(dir_));
    {
        const std::string bytes =
            storage::encode_snapshot_v1({.index = Index(5), .term = Term(1)}, image_after(5));
        std::ofstream out(snapshot_dir(dir_) / storage::snapshot_file_name(Index(5)),
                          std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    auto r = recover();
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->snapshot_version, 1u);
    EXPECT_EQ(r->storage->snapshot_meta().membership, raft::Membership{});
    EXPECT_EQ(r->applied, Index(5));
    EXPECT_EQ(all_entries(*r->storage), entries(6, 7, 1));
    // No hard state file, but the log has term 1: the term starts there.
    EXPECT_EQ(r->hard_state, (raft::HardState{.term = Term(1)}));
    const raft::Membership founders{.voters = {NodeId(1)}};
    r->storage->adopt_membership(founders);
    EXPECT_EQ(r->storage->snapshot_meta().membership, founders);
    EXPECT_EQ(r->storage->snapshot_chunk(0, kNoLimit), image_after(5));
}

}  // namespace
}  // namespace raftkv::server
