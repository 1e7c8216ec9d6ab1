// wal_test.cc — the Wal API: append, sync, reopen, rotation, suffix
// truncation, prefix compaction (with the gap after a snapshot), disk full
// and the sticky failed state. Recovery from damaged files is in
// wal_recovery_test.cc, the randomized model check in wal_property_test.cc.
#include "storage/wal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "storage/files.h"
#include "storage/wal_format.h"
#include "testing/temp_dir.h"

namespace raftkv::storage {
namespace {

namespace fs = std::filesystem;
using raft::Entry;
using raft::Index;
using raft::Term;

using raftkv::testing::TempDir;

std::vector<Entry> make_entries(std::uint64_t first, std::uint64_t count, std::uint64_t term,
                                std::size_t payload_bytes = 16) {
    std::vector<Entry> out;
    for (std::uint64_t i = first; i < first + count; ++i) {
        std::string data = fmt::format("e{}t{}:", i, term);
        data.resize(payload_bytes, static_cast<char>('a' + i % 26));
        out.push_back(Entry{.term = Term(term),
                            .index = Index(i),
                            .type = i % 7 == 0 ? raft::EntryType::kNoop : raft::EntryType::kCommand,
                            .data = data});
    }
    return out;
}

std::vector<std::string> wal_files(const fs::path& dir) {
    std::vector<std::string> out;
    const Result<std::vector<std::string>> names = list_dir(dir);
    for (const std::string& name : *names) {
        if (name.ends_with(".wal")) out.push_back(name);
    }
    return out;
}

struct Opened {
    std::unique_ptr<Wal> wal;
    WalRecovery recovery;
};

Opened open_ok(const WalOptions& options) {
    Opened o;
    Result<std::unique_ptr<Wal>> r = Wal::open(options, &o.recovery);
    RAFTKV_ASSERT(r.has_value(), "{}", r.status().to_string());
    o.wal = std::move(r).value();
    return o;
}

std::vector<Entry> concat(std::vector<Entry> a, const std::vector<Entry>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// The file descriptor this process has open on `path`, found through /proc.
int fd_open_on(const fs::path& path) {
    for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const fs::path target = fs::read_symlink(e.path(), ec);
        if (!ec && target == fs::canonical(path)) return std::stoi(e.path().filename().string());
    }
    return -1;
}

TEST(Wal, EmptyDirectoryOpensEmpty) {
    TempDir dir;
    Opened o = open_ok({.dir = dir.path() / "wal"});
    EXPECT_TRUE(o.recovery.entries.empty());
    EXPECT_TRUE(o.recovery.warnings.empty());
    EXPECT_EQ(o.wal->first_index(), Index(1));
    EXPECT_EQ(o.wal->last_index(), Index(0));
    EXPECT_EQ(o.wal->bytes_on_disk(), 0u);
    EXPECT_TRUE(fs::is_directory(dir.path() / "wal"));
}

TEST(Wal, AppendSyncReopenReadsBack) {
    TempDir dir;
    const WalOptions options{.dir = dir.path()};
    const std::vector<Entry> first = make_entries(1, 10, 1);
    const std::vector<Entry> second = make_entries(11, 5, 2, 1000);
    {
        Opened o = open_ok(options);
        ASSERT_TRUE(o.wal->append(first).is_ok());
        ASSERT_TRUE(o.wal->append(second).is_ok());
        ASSERT_TRUE(o.wal->append({}).is_ok());
        ASSERT_TRUE(o.wal->sync().is_ok());
        EXPECT_EQ(o.wal->first_index(), Index(1));
        EXPECT_EQ(o.wal->last_index(), Index(15));
    }
    Opened o = open_ok(options);
    EXPECT_EQ(o.recovery.entries, concat(first, second));
    EXPECT_TRUE(o.recovery.warnings.empty());
    EXPECT_EQ(o.wal->last_index(), Index(15));
    EXPECT_EQ(wal_files(dir.path()), std::vector<std::string>{"00000000000000000001.wal"});
    EXPECT_EQ(o.wal->bytes_on_disk(), *file_bytes(dir.path() / "00000000000000000001.wal"));
    // Appending continues after a reopen.
    ASSERT_TRUE(o.wal->append(make_entries(16, 1, 2)).is_ok());
    EXPECT_EQ(o.wal->last_index(), Index(16));
}

TEST(Wal, RotatesAcrossManySegments) {
    TempDir dir;
    const WalOptions options{.dir = dir.path(), .segment_bytes_max = 300};
    const std::vector<Entry> entries = make_entries(1, 100, 3, 50);  // 90-byte records
    {
        Opened o = open_ok(options);
        for (std::size_t i = 0; i < entries.size(); i += 7) {
            const std::size_t n = std::min<std::size_t>(7, entries.size() - i);
            ASSERT_TRUE(o.wal->append(std::span(entries).subspan(i, n)).is_ok());
        }
        ASSERT_TRUE(o.wal->sync().is_ok());
    }
    const std::vector<std::string> files = wal_files(dir.path());
    // 32-byte header + 3 records reach 302 bytes, so each segment holds 3.
    ASSERT_EQ(files.size(), 34u);
    EXPECT_EQ(files[0], segment_file_name(Index(1)));
    EXPECT_EQ(files[1], segment_file_name(Index(4)));
    EXPECT_EQ(files[33], segment_file_name(Index(100)));
    Opened o = open_ok(options);
    EXPECT_EQ(o.recovery.entries, entries);
    std::uint64_t total = 0;
    for (const std::string& f : files) total += *file_bytes(dir.path() / f);
    EXPECT_EQ(o.wal->bytes_on_disk(), total);
}

TEST(Wal, OversizedEntryGetsItsOwnSegment) {
    TempDir dir;
    const WalOptions options{.dir = dir.path(), .segment_bytes_max = 100};
    const std::vector<Entry> entries = make_entries(1, 3, 1, 500);
    {
        Opened o = open_ok(options);
        ASSERT_TRUE(o.wal->append(entries).is_ok());
        ASSERT_TRUE(o.wal->sync().is_ok());
    }
    EXPECT_EQ(wal_files(dir.path()).size(), 3u);
    EXPECT_EQ(open_ok(options).recovery.entries, entries);
}

TEST(Wal, TruncateSuffixThenAppend) {
    struct Case {
        std::string_view name;
        std::uint64_t first;  // truncate_suffix(first)
    };
    // 20 entries of 90 bytes, 3 per segment: segments start at 1, 4, 7, ... 19.
    const Case cases[] = {
        {"inside the last segment", 20},  {"at the start of the last segment", 19},
        {"inside an earlier segment", 8}, {"at a segment boundary", 7},
        {"inside the first segment", 2},  {"everything", 1},
        {"past the end is a no-op", 21},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        TempDir dir;
        const WalOptions options{.dir = dir.path(), .segment_bytes_max = 300};
        const std::vector<Entry> old_entries = make_entries(1, 20, 1, 50);
        const std::vector<Entry> new_entries = make_entries(c.first, 4, 2, 50);
        {
            Opened o = open_ok(options);
            ASSERT_TRUE(o.wal->append(old_entries).is_ok());
            ASSERT_TRUE(o.wal->truncate_suffix(Index(c.first)).is_ok());
            EXPECT_EQ(o.wal->last_index(), Index(std::min<std::uint64_t>(c.first - 1, 20)));
            ASSERT_TRUE(o.wal->append(new_entries).is_ok());
            ASSERT_TRUE(o.wal->sync().is_ok());
            EXPECT_EQ(o.wal->last_index(), Index(c.first + 3));
        }
        std::vector<Entry> want(old_entries.begin(),
                                old_entries.begin() + std::min<std::uint64_t>(c.first - 1, 20));
        want = concat(want, new_entries);
        Opened o = open_ok(options);
        EXPECT_EQ(o.recovery.entries, want);
        EXPECT_TRUE(o.recovery.warnings.empty());
    }
}

TEST(Wal, TruncateSuffixIsDurableWithoutSync) {
    TempDir dir;
    const WalOptions options{.dir = dir.path(), .segment_bytes_max = 300};
    {
        Opened o = open_ok(options);
        ASSERT_TRUE(o.wal->append(make_entries(1, 10, 1, 50)).is_ok());
        ASSERT_TRUE(o.wal->truncate_suffix(Index(5)).is_ok());
    }
    EXPECT_EQ(open_ok(options).recovery.entries, make_entries(1, 4, 1, 50));
}

TEST(Wal, CompactPrefixKeepsPartlyCoveredSegment) {
    TempDir dir;
    const WalOptions options{.dir = dir.path(), .segment_bytes_max = 300};
    const std::vector<Entry> entries = make_entries(1, 20, 1, 50);  // segments 1, 4, 7, ... 19
    {
        Opened o = open_ok(options);
        ASSERT_TRUE(o.wal->append(entries).is_ok());
        ASSERT_TRUE(o.wal->sync().is_ok());
        const std::uint64_t before = o.wal->bytes_on_disk();
        ASSERT_TRUE(o.wal->compact_prefix(Index(8)).is_ok());
        // Segments [1,3] and [4,6] go; [7,9] holds 9 > 8, so it stays whole.
        EXPECT_EQ(o.wal->first_index(), Index(7));
        EXPECT_EQ(o.wal->last_index(), Index(20));
        EXPECT_LT(o.wal->bytes_on_disk(), before);
        ASSERT_TRUE(o.wal->compact_prefix(Index(3)).is_ok());  // already gone: no-op
        EXPECT_EQ(o.wal->first_index(), Index(7));
        ASSERT_TRUE(o.wal->append(make_entries(21, 2, 1, 50)).is_ok());
        ASSERT_TRUE(o.wal->sync().is_ok());
    }
    Opened o = open_ok(options);
    EXPECT_EQ(o.wal->first_index(), Index(7));
    ASSERT_EQ(o.recovery.entries.size(), 16u);
    EXPECT_EQ(o.recovery.entries.front().index, Index(7));
    EXPECT_EQ(o.recovery.entries.back().index, Index(22));
    EXPECT_EQ(wal_files(dir.path()).front(), segment_file_name(Index(7)));
}

// After a snapshot at 100 every segment goes; the log restarts at 101 and a
// restart must accept a first segment that does not start at 1.
TEST(Wal, CompactEverythingThenAppendAfterGap) {
    struct Case {
        std::string_view name;
        std::uint64_t snapshot_index;
    };
    const Case cases[] = {
        {"snapshot at the last index", 100},
        {"snapshot past the last index (installed from a leader)", 150},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        TempDir dir;
        const WalOptions options{.dir = dir.path(), .segment_bytes_max = 1000};
        const std::uint64_t next = c.snapshot_index + 1;
        {
            Opened o = open_ok(options);
            ASSERT_TRUE(o.wal->append(make_entries(1, 100, 1, 50)).is_ok());
            ASSERT_TRUE(o.wal->compact_prefix(Index(c.snapshot_index)).is_ok());
            EXPECT_TRUE(wal_files(dir.path()).empty());
            EXPECT_EQ(o.wal->bytes_on_disk(), 0u);
            EXPECT_EQ(o.wal->first_index(), Index(next));
            EXPECT_EQ(o.wal->last_index(), Index(c.snapshot_index));
            ASSERT_TRUE(o.wal->append(make_entries(next, 20, 2, 50)).is_ok());
            ASSERT_TRUE(o.wal->sync().is_ok());
        }
        EXPECT_EQ(wal_files(dir.path()).front(), segment_file_name(Index(next)));
        Opened o = open_ok(options);
        EXPECT_EQ(o.recovery.entries, make_entries(next, 20, 2, 50));
        EXPECT_EQ(o.wal->first_index(), Index(next));
        EXPECT_EQ(o.wal->last_index(), Index(next + 19));
    }
}

TEST(Wal, ResetNextIndexAfterEmptyOpen) {
    TempDir dir;
    const WalOptions options{.dir = dir.path()};
    {
        Opened o = open_ok(options);
        o.wal->reset_next_index(Index(51));  // a snapshot at 50 was restored
        EXPECT_EQ(o.wal->first_index(), Index(51));
        EXPECT_EQ(o.wal->last_index(), Index(50));
        ASSERT_TRUE(o.wal->append(make_entries(51, 3, 4)).is_ok());
        ASSERT_TRUE(o.wal->sync().is_ok());
    }
    EXPECT_EQ(open_ok(options).recovery.entries, make_entries(51, 3, 4));
}

TEST(Wal, PayloadOverMaximumIsRefused) {
    TempDir dir;
    Opened o = open_ok({.dir = dir.path(), .payload_bytes_max = 100});
    Status s = o.wal->append(make_entries(1, 2, 1, 101));
    EXPECT_EQ(s.code(), Code::kInvalid);
    EXPECT_EQ(o.wal->last_index(), Index(0));
    EXPECT_TRUE(o.wal->append(make_entries(1, 2, 1, 100)).is_ok());  // not sticky
}

// RLIMIT_FSIZE makes write(2) fail with EFBIG, the same path as ENOSPC.
class FileSizeLimit {
public:
    explicit FileSizeLimit(std::uint64_t bytes) {
        old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
        RAFTKV_ASSERT(::getrlimit(RLIMIT_FSIZE, &old_) == 0);
        rlimit lim = old_;
        lim.rlim_cur = bytes;
        RAFTKV_ASSERT(::setrlimit(RLIMIT_FSIZE, &lim) == 0);
    }
    ~FileSizeLimit() {
        RAFTKV_ASSERT(::setrlimit(RLIMIT_FSIZE, &old_) == 0);
        ::signal(SIGXFSZ, old_handler_);
    }

private:
    rlimit old_{};
    sighandler_t old_handler_;
};

// A full disk undoing a batch that had started the only segment (here a
// hard state record, the first write after the log was emptied): nothing is
// left to sync, and the next sync must not touch the removed file. Found in
// review: sync() read the last segment of an empty list.
TEST(Wal, AFullDiskThatUndoesTheOnlySegmentLeavesNothingToSync) {
    TempDir dir;
    const WalOptions options{.dir = dir.path() / "wal", .hard_state_dir = dir.path()};
    Opened o = open_ok(options);
    const raft::HardState hs{.term = Term(1), .vote = raft::NodeId(1)};
    Status s;
    {
        FileSizeLimit limit(kSegmentHeaderBytes + 8);  // the header fits, the record not
        s = o.wal->save_hard_state(hs);
    }
    EXPECT_EQ(s.code(), Code::kDiskFull) << s.to_string();
    EXPECT_TRUE(wal_files(options.dir).empty());
    EXPECT_FALSE(o.wal->needs_sync());
    EXPECT_TRUE(o.wal->sync().is_ok());
    ASSERT_TRUE(o.wal->save_hard_state(hs).is_ok());  // not sticky
    ASSERT_TRUE(o.wal->sync().is_ok());
    o.wal.reset();
    EXPECT_EQ(open_ok(options).recovery.hard_state, hs);
}

TEST(Wal, DiskFullUndoesAppendAndStaysUsable) {
    struct Case {
        std::string_view name;
        std::uint64_t segment_bytes_max;
    };
    const Case cases[] = {
        {"within one segment", 1 << 20},
        {"across rotations", 310},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        TempDir dir;
        const WalOptions options{.dir = dir.path(), .segment_bytes_max = c.segment_bytes_max};
        // The last entry alone is bigger than the limit, even in a fresh segment.
        const std::vector<Entry> batch =
            concat(make_entries(4, 5, 1, 200), make_entries(9, 1, 1, 1000));
        Opened o = open_ok(options);
        ASSERT_TRUE(o.wal->append(make_entries(1, 3, 1, 50)).is_ok());
        ASSERT_TRUE(o.wal->sync().is_ok());
        const fs::path seg = dir.path() / segment_file_name(Index(1));
        const std::uint64_t size = *file_bytes(seg);
        Status s;
        {
            FileSizeLimit limit(size + 300);  // room for one record and a bit
            s = o.wal->append(batch);
        }
        EXPECT_EQ(s.code(), Code::kDiskFull) << s.to_string();
        EXPECT_NE(s.message().find(".wal"), std::string::npos) << s.message();
        EXPECT_EQ(o.wal->last_index(), Index(3));
        EXPECT_EQ(*file_bytes(seg), size) << "no partial record may remain";
        EXPECT_EQ(wal_files(dir.path()).size(), 1u);
        EXPECT_EQ(o.wal->bytes_on_disk(), size);
        ASSERT_TRUE(o.wal->sync().is_ok());
        // Space is back: the same batch goes through.
        ASSERT_TRUE(o.wal->append(batch).is_ok());
        ASSERT_TRUE(o.wal->sync().is_ok());
        o.wal.reset();
        Opened again = open_ok(options);
        EXPECT_EQ(again.recovery.entries, concat(make_entries(1, 3, 1, 50), batch));
        EXPECT_TRUE(again.recovery.warnings.empty());
    }
}

void expect_failed(Wal* wal, std::uint64_t next) {
    EXPECT_FALSE(wal->failure().is_ok());
    EXPECT_FALSE(wal->sync().is_ok());
    EXPECT_FALSE(wal->append(make_entries(next, 1, 9)).is_ok());
    EXPECT_FALSE(wal->truncate_suffix(wal->first_index()).is_ok());
    EXPECT_FALSE(wal->compact_prefix(Index(1)).is_ok());
}

TEST(Wal, FailedSyncIsSticky) {
    TempDir dir;
    Opened o = open_ok({.dir = dir.path()});
    ASSERT_TRUE(o.wal->append(make_entries(1, 3, 1)).is_ok());
    // Swap the segment's descriptor for a pipe: fdatasync(2) fails with EINVAL.
    const int fd = fd_open_on(dir.path() / segment_file_name(Index(1)));
    ASSERT_GE(fd, 0);
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    ASSERT_GE(::dup2(p[1], fd), 0);
    ::close(p[0]);
    ::close(p[1]);
    Status s = o.wal->sync();
    EXPECT_EQ(s.code(), Code::kIoError) << s.to_string();
    EXPECT_NE(s.message().find("fdatasync"), std::string::npos) << s.message();
    expect_failed(o.wal.get(), 4);
    EXPECT_EQ(o.wal->sync().message(), s.message());
}

TEST(Wal, FailedWriteIsSticky) {
    TempDir dir;
    Opened o = open_ok({.dir = dir.path()});
    ASSERT_TRUE(o.wal->append(make_entries(1, 3, 1)).is_ok());
    // A read-only descriptor in its place: pwrite(2) fails with EBADF.
    const int fd = fd_open_on(dir.path() / segment_file_name(Index(1)));
    ASSERT_GE(fd, 0);
    const int ro = ::open("/dev/null", O_RDONLY);
    ASSERT_GE(::dup2(ro, fd), 0);
    ::close(ro);
    Status s = o.wal->append(make_entries(4, 1, 1));
    EXPECT_EQ(s.code(), Code::kIoError) << s.to_string();
    expect_failed(o.wal.get(), 4);
}

}  // namespace
}  // namespace raftkv::storage
