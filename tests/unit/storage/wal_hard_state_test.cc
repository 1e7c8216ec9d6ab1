// wal_hard_state_test.cc — hard state records in the WAL (format 2,
// docs/wal_format.md): one sync covers a Ready's entries and its hard state,
// the newest copy wins wherever it lies, removing records never loses it,
// a crash at any byte keeps a hard state that was written, and format 1
// directories (segments without records of hard state, and the hard state
// file) are still read.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "base/checksum.h"
#include "base/coding.h"
#include "storage/files.h"
#include "storage/hard_state_file.h"
#include "storage/wal.h"
#include "storage/wal_format.h"
#include "testing/temp_dir.h"

namespace raftkv::storage {
namespace {

namespace fs = std::filesystem;
using raft::Entry;
using raft::HardState;
using raft::Index;
using raft::NodeId;
using raft::Term;
using raftkv::testing::TempDir;

std::vector<Entry> make_entries(std::uint64_t first, std::uint64_t count, Term term = Term(1)) {
    std::vector<Entry> out;
    for (std::uint64_t i = first; i < first + count; ++i) {
        out.push_back(Entry{.term = term, .index = Index(i), .data = fmt::format("entry {}", i)});
    }
    return out;
}

HardState hs(std::uint64_t term, std::uint64_t vote, std::uint64_t commit) {
    return HardState{.term = Term(term), .vote = NodeId(vote), .commit = Index(commit)};
}

struct Opened {
    Status status;
    WalRecovery recovery;
    std::unique_ptr<Wal> wal;
};

Opened open_wal(const fs::path& root, std::uint64_t segment_bytes_max = 64u << 20) {
    Opened o;
    auto wal = Wal::open(
        WalOptions{
            .dir = root / "wal", .segment_bytes_max = segment_bytes_max, .hard_state_dir = root},
        &o.recovery);
    if (wal) {
        o.wal = std::move(*wal);
    } else {
        o.status = wal.error();
    }
    return o;
}

void write_bytes(const fs::path& path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    RAFTKV_ASSERT(out.good());
}

TEST(IsNewerHardState, FollowsTheOrderAServerWritesThem) {
    struct Case {
        std::string_view name;
        HardState a, b;
        bool want;
    };
    const Case cases[] = {
        {"a higher term", hs(3, 0, 0), hs(2, 1, 9), true},
        {"a vote in the same term", hs(2, 1, 4), hs(2, 0, 4), true},
        {"a higher commit, same term and vote", hs(2, 1, 5), hs(2, 1, 4), true},
        {"equal is not newer", hs(2, 1, 4), hs(2, 1, 4), false},
        {"a lower term", hs(1, 1, 9), hs(2, 0, 0), false},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(is_newer_hard_state(c.a, c.b), c.want);
    }
}

// The point of format 2: entries and hard state of one Ready, one fsync.
TEST(WalHardState, EntriesAndHardStateShareOneBatchAndSurviveReopen) {
    TempDir dir;
    {
        Opened o = open_wal(dir.path());
        ASSERT_TRUE(o.status.is_ok()) << o.status.to_string();
        ASSERT_TRUE(o.wal->append(make_entries(1, 3), hs(1, 1, 0)).is_ok());
        ASSERT_TRUE(o.wal->save_hard_state(hs(1, 1, 2)).is_ok());  // commit only
        ASSERT_TRUE(o.wal->save_hard_state(hs(1, 1, 2)).is_ok());  // the same: nothing written
        ASSERT_TRUE(o.wal->sync().is_ok());
        EXPECT_EQ(o.wal->hard_state(), hs(1, 1, 2));
    }
    EXPECT_FALSE(fs::exists(dir.path() / kHardStateFileName)) << "no file on the common path";
    Opened o = open_wal(dir.path());
    ASSERT_TRUE(o.status.is_ok()) << o.status.to_string();
    EXPECT_EQ(o.recovery.entries, make_entries(1, 3));
    EXPECT_EQ(o.recovery.hard_state, hs(1, 1, 2));
    EXPECT_TRUE(o.recovery.warnings.empty());
}

TEST(WalHardState, AHardStateBeforeAnyEntryStartsASegment) {
    TempDir dir;
    {
        Opened o = open_wal(dir.path());
        ASSERT_TRUE(o.wal->save_hard_state(hs(1, 2, 0)).is_ok());  // a vote, fresh server
        ASSERT_TRUE(o.wal->sync().is_ok());
    }
    Opened o = open_wal(dir.path());
    ASSERT_TRUE(o.status.is_ok()) << o.status.to_string();
    EXPECT_TRUE(o.recovery.entries.empty());
    EXPECT_EQ(o.recovery.hard_state, hs(1, 2, 0));
    EXPECT_EQ(o.wal->last_index(), Index(0));
    ASSERT_TRUE(o.wal->append(make_entries(1, 2)).is_ok());  // continues in that segment
    ASSERT_TRUE(o.wal->sync().is_ok());
    o.wal.reset();
    Opened again = open_wal(dir.path());
    EXPECT_EQ(again.recovery.entries, make_entries(1, 2));
    EXPECT_EQ(again.recovery.hard_state, hs(1, 2, 0));
}

// A follower's log overwritten by a new leader: the cut must not take the
// newest term and vote with it (it would let the server vote twice in a term).
TEST(WalHardState, CuttingTheSuffixKeepsTheNewestHardState) {
    TempDir dir;
    {
        Opened o = open_wal(dir.path());
        ASSERT_TRUE(o.wal->append(make_entries(1, 5), hs(1, 1, 2)).is_ok());
        ASSERT_TRUE(o.wal->save_hard_state(hs(3, 2, 2)).is_ok());  // after entry 5
        ASSERT_TRUE(o.wal->sync().is_ok());
        ASSERT_TRUE(o.wal->truncate_suffix(Index(3)).is_ok());
        EXPECT_EQ(o.wal->hard_state(), hs(3, 2, 2));
    }
    Opened o = open_wal(dir.path());
    ASSERT_TRUE(o.status.is_ok()) << o.status.to_string();
    EXPECT_EQ(o.recovery.entries, make_entries(1, 2));
    EXPECT_EQ(o.recovery.hard_state, hs(3, 2, 2));
}

TEST(WalHardState, CompactingEverySegmentKeepsTheNewestHardState) {
    TempDir dir;
    {
        Opened o = open_wal(dir.path(), /*segment_bytes_max=*/200);
        ASSERT_TRUE(o.wal->append(make_entries(1, 6), hs(2, 1, 6)).is_ok());
        ASSERT_TRUE(o.wal->sync().is_ok());
        ASSERT_TRUE(o.wal->compact_prefix(Index(9)).is_ok());  // a snapshot past the log
        o.wal->reset_next_index(Index(10));
    }
    Opened o = open_wal(dir.path(), 200);
    ASSERT_TRUE(o.status.is_ok()) << o.status.to_string();
    EXPECT_TRUE(o.recovery.entries.empty());
    EXPECT_EQ(o.recovery.hard_state, hs(2, 1, 6));
}

TEST(WalHardState, CompactingOldSegmentsKeepsAHardStateOnlyTheyHeld) {
    TempDir dir;
    {
        Opened o = open_wal(dir.path(), /*segment_bytes_max=*/200);
        ASSERT_TRUE(o.wal->append(make_entries(1, 2), hs(2, 1, 1)).is_ok());
        ASSERT_TRUE(o.wal->append(make_entries(3, 6, Term(2))).is_ok());  // rotates
        ASSERT_TRUE(o.wal->sync().is_ok());
        ASSERT_TRUE(o.wal->compact_prefix(Index(4)).is_ok());
        ASSERT_GT(o.wal->first_index(), Index(1)) << "the first segment went";
    }
    Opened o = open_wal(dir.path(), 200);
    ASSERT_TRUE(o.status.is_ok()) << o.status.to_string();
    EXPECT_EQ(o.recovery.hard_state, hs(2, 1, 1));
}

// The crash test for the new record: cut the segment at every byte offset
// after a synced prefix; the hard state recovered is the newest one whose
// record is whole before the cut, and the entries are a prefix.
TEST(WalHardState, CutAtEveryOffsetKeepsTheNewestWholeHardState) {
    TempDir dir;
    const fs::path master = dir.path() / "master";
    std::vector<std::pair<std::uint64_t, HardState>> written;  // segment size after each record
    {
        Opened o = open_wal(master);
        ASSERT_TRUE(o.wal->append(make_entries(1, 2), hs(1, 1, 0)).is_ok());
        ASSERT_TRUE(o.wal->sync().is_ok());
        written.emplace_back(o.wal->bytes_on_disk(), hs(1, 1, 0));
        ASSERT_TRUE(o.wal->save_hard_state(hs(1, 1, 2)).is_ok());
        written.emplace_back(o.wal->bytes_on_disk(), hs(1, 1, 2));
        ASSERT_TRUE(o.wal->append(make_entries(3, 1, Term(2)), hs(2, 0, 2)).is_ok());
        written.emplace_back(o.wal->bytes_on_disk(), hs(2, 0, 2));
        ASSERT_TRUE(o.wal->save_hard_state(hs(2, 3, 3)).is_ok());
        written.emplace_back(o.wal->bytes_on_disk(), hs(2, 3, 3));
        ASSERT_TRUE(o.wal->sync().is_ok());
    }
    const std::string bytes = *read_file(master / "wal" / segment_file_name(Index(1)));
    ASSERT_EQ(bytes.size(), written.back().first);
    const std::size_t entry3_end = written[1].first + kRecordHeaderBytes + 7;  // "entry 3"
    for (std::size_t cut = written.front().first; cut <= bytes.size(); ++cut) {
        SCOPED_TRACE(fmt::format("cut at {}", cut));
        const fs::path root = dir.path() / fmt::format("cut{}", cut);
        ASSERT_TRUE(create_dirs(root / "wal").is_ok());
        write_bytes(root / "wal" / segment_file_name(Index(1)), bytes.substr(0, cut));
        Opened o = open_wal(root);
        ASSERT_TRUE(o.status.is_ok()) << o.status.to_string();
        HardState want;
        for (const auto& [end, state] : written) {
            if (end <= cut) want = state;
        }
        EXPECT_EQ(o.recovery.hard_state, want);
        std::vector<Entry> want_entries = make_entries(1, 2);
        if (cut >= entry3_end) want_entries.push_back(make_entries(3, 1, Term(2))[0]);
        EXPECT_EQ(o.recovery.entries, want_entries);
        o.wal.reset();
        fs::remove_all(root);
    }
}

// The second layer of validation: a hard state record with good checksums
// but impossible fields was written wrong, never torn.
TEST(WalHardState, ImpossibleRecordsAreCorruption) {
    struct Case {
        std::string_view name;
        std::function<void(std::string*)> damage;  // of the record after entry 2
        std::string_view want;
    };
    const std::size_t at = kSegmentHeaderBytes + 2 * (kRecordHeaderBytes + 7);
    auto reseal = [at](std::string* b) {
        // Recompute both checksums so that only the fields are wrong.
        char* h = b->data() + at;
        const std::uint32_t payload = decode_u32(h + kPayloadBytesOffset);
        encode_u32(h + kHeaderChecksumOffset,
                   static_cast<std::uint32_t>(checksum(std::string_view(
                       h + kPayloadBytesOffset, kRecordHeaderBytes - kPayloadBytesOffset))));
        Checksummer c;
        c.update(std::string_view(h + kHeaderChecksumOffset,
                                  kRecordHeaderBytes - kHeaderChecksumOffset));
        c.update(std::string_view(h + kRecordHeaderBytes, payload));
        encode_u64(h + kRecordChecksumOffset, c.digest());
    };
    const Case cases[] = {
        {"an index field that is not the entry before it",
         [&](std::string* b) {
             encode_u64(b->data() + at + kIndexOffset, 7);
             reseal(b);
         },
         "hard state record after index 2 says index 7"},
        {"a term below the log's",
         [&](std::string* b) {
             encode_u64(b->data() + at + kTermOffset, 0);
             reseal(b);
         },
         "hard state term 0 below the log's term 1"},
        {"in a version 1 segment",
         [&](std::string* b) {
             encode_u32(b->data() + 8, 1);
             encode_u64(b->data() + 24, checksum(std::string_view(*b).substr(0, 24)));
         },
         "hard state record in a version 1 segment"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        TempDir dir;
        {
            Opened o = open_wal(dir.path());
            ASSERT_TRUE(o.wal->append(make_entries(1, 2), hs(1, 1, 0)).is_ok());
            ASSERT_TRUE(o.wal->append(make_entries(3, 1)).is_ok());  // so the record is not last
            ASSERT_TRUE(o.wal->sync().is_ok());
        }
        const fs::path seg = dir.path() / "wal" / segment_file_name(Index(1));
        std::string bytes = *read_file(seg);
        ASSERT_EQ(static_cast<std::uint8_t>(bytes[at + kTypeOffset]), kHardStateRecordType);
        c.damage(&bytes);
        write_bytes(seg, bytes);
        Opened o = open_wal(dir.path());
        ASSERT_EQ(o.status.code(), Code::kCorruption) << o.status.to_string();
        EXPECT_NE(o.status.message().find(c.want), std::string::npos) << o.status.message();
    }
}

// A data directory of format 1: segments without hard state records and the
// hard state in its own file. It opens; the first new record goes into a new
// format 2 segment (a format 1 segment is never appended to).
TEST(WalHardState, AFormat1DirectoryIsReadAndContinuedInANewSegment) {
    TempDir dir;
    {
        Opened o = open_wal(dir.path());
        ASSERT_TRUE(o.wal->append(make_entries(1, 3)).is_ok());
        ASSERT_TRUE(o.wal->sync().is_ok());
    }
    // Without hard state records a segment differs from format 1 only in
    // its version field.
    const fs::path seg = dir.path() / "wal" / segment_file_name(Index(1));
    std::string bytes = *read_file(seg);
    encode_u32(bytes.data() + 8, 1);
    encode_u64(bytes.data() + 24, checksum(std::string_view(bytes).substr(0, 24)));
    write_bytes(seg, bytes);
    ASSERT_TRUE(save_hard_state(dir.path(), hs(4, 2, 3)).is_ok());
    {
        Opened o = open_wal(dir.path());
        ASSERT_TRUE(o.status.is_ok()) << o.status.to_string();
        EXPECT_EQ(o.recovery.entries, make_entries(1, 3));
        EXPECT_EQ(o.recovery.hard_state, hs(4, 2, 3));
        ASSERT_TRUE(o.wal->append(make_entries(4, 1, Term(4)), hs(4, 2, 4)).is_ok());
        ASSERT_TRUE(o.wal->sync().is_ok());
    }
    EXPECT_EQ(*read_file(seg), bytes) << "the format 1 segment is left as it was";
    EXPECT_TRUE(fs::exists(dir.path() / "wal" / segment_file_name(Index(4))));
    Opened o = open_wal(dir.path());
    ASSERT_TRUE(o.status.is_ok()) << o.status.to_string();
    EXPECT_EQ(o.recovery.entries.size(), 4u);
    EXPECT_EQ(o.recovery.hard_state, hs(4, 2, 4));
}

// The file and the records both hold a hard state: the newest wins, even
// when the file's is the newer (spilled just before a cut).
TEST(WalHardState, TheNewestOfFileAndRecordsWins) {
    TempDir dir;
    {
        Opened o = open_wal(dir.path());
        ASSERT_TRUE(o.wal->append(make_entries(1, 2), hs(2, 1, 1)).is_ok());
        ASSERT_TRUE(o.wal->sync().is_ok());
    }
    ASSERT_TRUE(save_hard_state(dir.path(), hs(1, 1, 0)).is_ok());  // older
    EXPECT_EQ(open_wal(dir.path()).recovery.hard_state, hs(2, 1, 1));
    ASSERT_TRUE(save_hard_state(dir.path(), hs(3, 0, 1)).is_ok());  // newer
    EXPECT_EQ(open_wal(dir.path()).recovery.hard_state, hs(3, 0, 1));
}

}  // namespace
}  // namespace raftkv::storage
