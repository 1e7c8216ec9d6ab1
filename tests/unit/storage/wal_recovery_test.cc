// wal_recovery_test.cc — opening a WAL whose files a crash or a bad disk
// damaged: torn tails are cut with a warning, anything else stops with
// kCorruption naming file, offset and record (STYLE.md section 4).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/checksum.h"
#include "base/coding.h"
#include "storage/files.h"
#include "storage/wal.h"
#include "storage/wal_format.h"
#include "testing/temp_dir.h"

namespace raftkv::storage {
namespace {

namespace fs = std::filesystem;
using raft::Entry;
using raft::Index;
using raft::Term;

using raftkv::testing::TempDir;

constexpr std::size_t kPayloadBytes = 24;
constexpr std::size_t kRecordBytes = kRecordHeaderBytes + kPayloadBytes;

std::vector<Entry> make_entries(std::uint64_t first, std::uint64_t count) {
    std::vector<Entry> out;
    for (std::uint64_t i = first; i < first + count; ++i) {
        std::string data = fmt::format("entry {}", i);
        data.resize(kPayloadBytes, '.');
        out.push_back(Entry{.term = Term(1 + i / 4), .index = Index(i), .data = data});
    }
    return out;
}

// Offset of the record for entry `index` in a segment starting at `first`.
std::size_t offset_of(std::uint64_t index, std::uint64_t first = 1) {
    return kSegmentHeaderBytes + (index - first) * kRecordBytes;
}

// Writes `entries` through a Wal (so the bytes are the real format) and syncs.
void write_wal(const WalOptions& options, const std::vector<Entry>& entries) {
    WalRecovery rec;
    Result<std::unique_ptr<Wal>> wal = Wal::open(options, &rec);
    RAFTKV_ASSERT(wal.has_value());
    RAFTKV_ASSERT((*wal)->append(entries).is_ok());
    RAFTKV_ASSERT((*wal)->sync().is_ok());
}

// Plain write without fsync: these tests never crash the machine, and
// skipping the fsyncs keeps the every-offset loops fast.
void write_bytes(const fs::path& path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    RAFTKV_ASSERT(out.good());
}

std::string read_bytes(const fs::path& path) { return *read_file(path); }

struct Reopened {
    Status status;
    WalRecovery recovery;
    std::unique_ptr<Wal> wal;
};

Reopened reopen(const WalOptions& options) {
    Reopened r;
    Result<std::unique_ptr<Wal>> wal = Wal::open(options, &r.recovery);
    if (wal) {
        r.wal = std::move(wal).value();
    } else {
        r.status = wal.error();
    }
    return r;
}

std::vector<Entry> prefix(const std::vector<Entry>& entries, std::size_t n) {
    return {entries.begin(), entries.begin() + n};
}

// The crash test: cut the file at every byte offset within the last few
// records; recovery must keep exactly the records before the cut one.
TEST(WalRecovery, CutAtEveryOffsetKeepsWholeRecordsBeforeIt) {
    TempDir dir;
    const fs::path master = dir.path() / "master";
    const std::vector<Entry> entries = make_entries(1, 8);
    write_wal({.dir = master}, entries);
    const std::string bytes = read_bytes(master / segment_file_name(Index(1)));
    ASSERT_EQ(bytes.size(), offset_of(9));
    for (std::size_t cut = offset_of(5); cut < bytes.size(); ++cut) {
        SCOPED_TRACE(fmt::format("cut at {}", cut));
        const fs::path wal_dir = dir.path() / fmt::format("cut{}", cut);
        ASSERT_TRUE(create_dirs(wal_dir).is_ok());
        write_bytes(wal_dir / segment_file_name(Index(1)), bytes.substr(0, cut));
        Reopened r = reopen({.dir = wal_dir});
        ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
        const std::size_t whole = (cut - kSegmentHeaderBytes) / kRecordBytes;
        EXPECT_EQ(r.recovery.entries, prefix(entries, whole));
        const bool torn = cut != offset_of(whole + 1);
        EXPECT_EQ(r.recovery.warnings.size(), torn ? 1u : 0u);
        if (torn) {
            EXPECT_NE(r.recovery.warnings[0].find("torn"), std::string::npos);
        }
        // The file was cut back to whole records, and appending continues.
        EXPECT_EQ(*file_bytes(wal_dir / segment_file_name(Index(1))), offset_of(whole + 1));
        ASSERT_TRUE(r.wal->append(make_entries(whole + 1, 1)).is_ok());
        ASSERT_TRUE(r.wal->sync().is_ok());
        r.wal.reset();
        ASSERT_TRUE(fs::remove_all(wal_dir) > 0);
    }
}

TEST(WalRecovery, CutInsideSegmentHeaderRemovesTheSegment) {
    TempDir dir;
    const WalOptions options{.dir = dir.path(), .segment_bytes_max = offset_of(4)};
    const std::vector<Entry> entries = make_entries(1, 4);  // segments 1 and 4
    write_wal(options, entries);
    const fs::path last = dir.path() / segment_file_name(Index(4));
    const std::string bytes = read_bytes(last);
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, kSegmentHeaderBytes - 1,
                            kSegmentHeaderBytes, kSegmentHeaderBytes + 5}) {
        SCOPED_TRACE(fmt::format("cut at {}", cut));
        write_bytes(last, bytes.substr(0, cut));
        Reopened r = reopen(options);
        ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
        EXPECT_EQ(r.recovery.entries, prefix(entries, 3));
        EXPECT_EQ(r.recovery.warnings.size(), 1u);
        EXPECT_FALSE(fs::exists(last));
        EXPECT_EQ(r.wal->last_index(), Index(3));
    }
}

TEST(WalRecovery, ZeroFilledTailIsCutOff) {
    struct Case {
        std::string_view name;
        std::size_t keep;   // bytes of the real file kept
        std::size_t zeros;  // zero bytes appended after them
        std::size_t want_entries;
    };
    const Case cases[] = {
        {"zeros after the last record", offset_of(9), 4096, 8},
        {"a few zeros, less than a header", offset_of(9), 7, 8},
        {"zeros over the last record", offset_of(8), kRecordBytes, 7},
        {"zeros after half a record", offset_of(8) + 10, 100, 7},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        TempDir dir;
        const std::vector<Entry> entries = make_entries(1, 8);
        write_wal({.dir = dir.path()}, entries);
        const fs::path seg = dir.path() / segment_file_name(Index(1));
        write_bytes(seg, read_bytes(seg).substr(0, c.keep) + std::string(c.zeros, '\0'));
        Reopened r = reopen({.dir = dir.path()});
        ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
        EXPECT_EQ(r.recovery.entries, prefix(entries, c.want_entries));
        EXPECT_EQ(r.recovery.warnings.size(), 1u);
        EXPECT_EQ(*file_bytes(seg), offset_of(c.want_entries + 1));
    }
}

// Every byte of a record with records after it: flipping it must stop the
// start, naming the file and the record's offset. Never skipped.
TEST(WalRecovery, FlippedByteInMiddleRecordStops) {
    TempDir dir;
    const fs::path master = dir.path() / "master";
    write_wal({.dir = master}, make_entries(1, 9));
    const std::string bytes = read_bytes(master / segment_file_name(Index(1)));
    const std::size_t middle = offset_of(5);
    const fs::path wal_dir = dir.path() / "wal";
    const fs::path seg = wal_dir / segment_file_name(Index(1));
    ASSERT_TRUE(create_dirs(wal_dir).is_ok());
    for (std::size_t i = middle; i < middle + kRecordBytes; ++i) {
        SCOPED_TRACE(fmt::format("flip at {}", i));
        std::string bad = bytes;
        bad[i] = static_cast<char>(bad[i] ^ 0x20);
        write_bytes(seg, bad);
        Reopened r = reopen({.dir = wal_dir});
        ASSERT_EQ(r.status.code(), Code::kCorruption);
        EXPECT_NE(r.status.message().find(seg.string()), std::string::npos) << r.status.message();
        EXPECT_NE(r.status.message().find(fmt::format("at offset {} (record 4)", middle)),
                  std::string::npos)
            << r.status.message();
        EXPECT_EQ(read_bytes(seg), bad) << "a failed open must not change the file";
    }
}

TEST(WalRecovery, ChecksumMismatchMessageNamesFileOffsetRecord) {
    TempDir dir;
    write_wal({.dir = dir.path()}, make_entries(1, 9));
    const fs::path seg = dir.path() / segment_file_name(Index(1));
    std::string bad = read_bytes(seg);
    bad[offset_of(5) + kRecordHeaderBytes + 3] ^= 1;  // a payload byte
    write_bytes(seg, bad);
    Reopened r = reopen({.dir = dir.path()});
    EXPECT_EQ(r.status.message(), fmt::format("checksum mismatch in {} at offset {} (record 4)",
                                              seg.string(), offset_of(5)));
}

// A final record that fails its checksum and reaches the end of the last
// segment is what a torn write looks like: cut with a warning.
TEST(WalRecovery, FlippedByteInLastRecordIsCutOff) {
    TempDir dir;
    const std::vector<Entry> entries = make_entries(1, 6);
    write_wal({.dir = dir.path()}, entries);
    const fs::path seg = dir.path() / segment_file_name(Index(1));
    std::string bad = read_bytes(seg);
    bad[offset_of(6) + kRecordHeaderBytes + 1] ^= 0x40;
    write_bytes(seg, bad);
    Reopened r = reopen({.dir = dir.path()});
    ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
    EXPECT_EQ(r.recovery.entries, prefix(entries, 5));
    ASSERT_EQ(r.recovery.warnings.size(), 1u);
    EXPECT_NE(r.recovery.warnings[0].find("checksum mismatch"), std::string::npos);
}

TEST(WalRecovery, FlippedByteInEarlierSegmentStops) {
    struct Case {
        std::string_view name;
        std::size_t offset;  // in segment 1, which holds entries 1..3
    };
    const Case cases[] = {
        {"segment header", 10},
        {"first record", offset_of(1) + 2},
        {"last record payload", offset_of(3) + kRecordHeaderBytes + 2},
        {"cut short", offset_of(3) + 5},  // truncated, not flipped
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        TempDir dir;
        const WalOptions options{.dir = dir.path(), .segment_bytes_max = offset_of(4)};
        write_wal(options, make_entries(1, 9));
        const fs::path seg = dir.path() / segment_file_name(Index(1));
        std::string bad = read_bytes(seg);
        if (c.name == "cut short") {
            bad.resize(c.offset);
        } else {
            bad[c.offset] ^= 0x08;
        }
        write_bytes(seg, bad);
        Reopened r = reopen(options);
        ASSERT_EQ(r.status.code(), Code::kCorruption);
        EXPECT_NE(r.status.message().find(seg.string()), std::string::npos) << r.status.message();
    }
}

// Change a field, recompute both checksums: the checksum layer passes and the
// field checks behind it must catch the record.
TEST(WalRecovery, ValidChecksumsReachFieldChecks) {
    struct Case {
        std::string_view name;
        Entry replacement;  // re-encoded over the record of entry 5
        std::string_view want;
    };
    const Entry original = make_entries(5, 1)[0];
    Entry unknown_type = original;
    unknown_type.type = static_cast<raft::EntryType>(7);
    Entry wrong_index = original;
    wrong_index.index = Index(6);
    Entry old_term = original;
    old_term.term = Term(0);
    const Case cases[] = {
        {"unknown type", unknown_type, "unknown entry type 7"},
        {"index gap", wrong_index, "index gap: expected index 5, found 6"},
        {"term went backwards", old_term, "term went backwards: 0 after 2"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        TempDir dir;
        write_wal({.dir = dir.path()}, make_entries(1, 9));
        const fs::path seg = dir.path() / segment_file_name(Index(1));
        std::string bytes = read_bytes(seg);
        std::string record;
        encode_record(c.replacement, &record);
        ASSERT_EQ(record.size(), kRecordBytes);
        bytes.replace(offset_of(5), kRecordBytes, record);
        write_bytes(seg, bytes);
        Reopened r = reopen({.dir = dir.path()});
        ASSERT_EQ(r.status.code(), Code::kCorruption);
        EXPECT_EQ(r.status.message(), fmt::format("{} in {} at offset {} (record 4)", c.want,
                                                  seg.string(), offset_of(5)));
    }
}

TEST(WalRecovery, MissingMiddleSegmentIsAGap) {
    TempDir dir;
    const WalOptions options{.dir = dir.path(), .segment_bytes_max = offset_of(4)};
    write_wal(options, make_entries(1, 9));  // segments 1, 4, 7
    ASSERT_TRUE(remove_file(dir.path() / segment_file_name(Index(4))).is_ok());
    Reopened r = reopen(options);
    ASSERT_EQ(r.status.code(), Code::kCorruption);
    EXPECT_NE(r.status.message().find("index gap"), std::string::npos) << r.status.message();
    EXPECT_NE(r.status.message().find(segment_file_name(Index(7))), std::string::npos);
}

TEST(WalRecovery, SegmentNameMustMatchItsHeader) {
    TempDir dir;
    write_wal({.dir = dir.path()}, make_entries(1, 3));
    fs::rename(dir.path() / segment_file_name(Index(1)), dir.path() / segment_file_name(Index(2)));
    Reopened r = reopen({.dir = dir.path()});
    ASSERT_EQ(r.status.code(), Code::kCorruption);
    EXPECT_NE(r.status.message().find("first index 1"), std::string::npos) << r.status.message();
}

TEST(WalRecovery, UnsupportedVersionIsCorruption) {
    TempDir dir;
    write_wal({.dir = dir.path()}, make_entries(1, 3));
    const fs::path seg = dir.path() / segment_file_name(Index(1));
    std::string bytes = read_bytes(seg);
    encode_u32(bytes.data() + 8, 3);
    encode_u64(bytes.data() + 24, checksum(std::string_view(bytes).substr(0, 24)));
    write_bytes(seg, bytes);
    Reopened r = reopen({.dir = dir.path()});
    ASSERT_EQ(r.status.code(), Code::kCorruption);
    EXPECT_NE(r.status.message().find("version 3"), std::string::npos) << r.status.message();
}

TEST(WalRecovery, OversizedLengthIsCorruption) {
    TempDir dir;
    write_wal({.dir = dir.path()}, make_entries(1, 3));
    Reopened r = reopen({.dir = dir.path(), .payload_bytes_max = kPayloadBytes - 1});
    ASSERT_EQ(r.status.code(), Code::kCorruption);
    EXPECT_NE(r.status.message().find("exceeds the maximum"), std::string::npos);
}

}  // namespace
}  // namespace raftkv::storage
