// snapshot_file_test.cc — snapshot files: save/load round trip, newest wins,
// a damaged newest file is an error (no fallback), leftover temp files,
// version 1 files still read, membership validation, chunked payload reads.
#include "storage/snapshot_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>

#include "base/checksum.h"
#include "base/coding.h"
#include "storage/files.h"
#include "testing/seed.h"
#include "testing/temp_dir.h"

namespace raftkv::storage {
namespace {

namespace fs = std::filesystem;
using raft::Index;
using raft::Term;

using raftkv::testing::TempDir;

void write_bytes(const fs::path& path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(SnapshotFile, NoSnapshotIsNullopt) {
    TempDir dir;
    std::vector<std::string> warnings;
    Result<std::optional<LoadedSnapshot>> r = load_newest_snapshot(dir.path(), &warnings);
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    EXPECT_FALSE(r->has_value());
    Result<std::optional<LoadedSnapshot>> missing =
        load_newest_snapshot(dir.path() / "nope", nullptr);
    ASSERT_TRUE(missing.has_value());
    EXPECT_FALSE(missing->has_value());
}

TEST(SnapshotFile, SaveLoadRoundTrip) {
    const std::string payloads[] = {"", "x", std::string(100000, '\xff'), std::string("a\0b", 3)};
    for (const std::string& payload : payloads) {
        SCOPED_TRACE(payload.size());
        TempDir dir;
        const SnapshotMeta meta{.index = Index(100), .term = Term(7)};
        ASSERT_TRUE(save_snapshot(dir.path() / "snap", meta, payload).is_ok());
        EXPECT_TRUE(fs::exists(dir.path() / "snap" / "snap-00000000000000000100.snap"));
        Result<std::optional<LoadedSnapshot>> r =
            load_newest_snapshot(dir.path() / "snap", nullptr);
        ASSERT_TRUE(r.has_value()) << r.status().to_string();
        ASSERT_TRUE(r->has_value());
        EXPECT_EQ((*r)->meta, meta);
        EXPECT_EQ((*r)->payload, payload);
    }
}

TEST(SnapshotFile, SaveRemovesOlderSnapshots) {
    TempDir dir;
    ASSERT_TRUE(save_snapshot(dir.path(), {Index(10), Term(1)}, "ten").is_ok());
    ASSERT_TRUE(save_snapshot(dir.path(), {Index(20), Term(2)}, "twenty").is_ok());
    EXPECT_FALSE(fs::exists(dir.path() / snapshot_file_name(Index(10))));
    Result<std::optional<LoadedSnapshot>> r = load_newest_snapshot(dir.path(), nullptr);
    ASSERT_TRUE(r.has_value() && r->has_value());
    EXPECT_EQ((*r)->meta.index, Index(20));
    EXPECT_EQ((*r)->payload, "twenty");
}

TEST(SnapshotFile, DamagedNewestIsCorruptionNotFallback) {
    struct Case {
        std::string_view name;
        std::size_t flip_at;  // 0 means: truncate instead
    };
    const Case cases[] = {
        {"flipped payload byte", kSnapshotHeaderBytes + 2},
        {"flipped index byte", 16},
        {"flipped magic", 0 + 1},
        {"flipped length", 32},
        {"truncated", 0},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        TempDir dir;
        // An older valid snapshot is present, but must not be used.
        write_bytes(dir.path() / snapshot_file_name(Index(5)),
                    encode_snapshot({Index(5), Term(1)}, "old"));
        ASSERT_TRUE(save_snapshot(dir.path(), {Index(9), Term(2)}, "new state").is_ok());
        write_bytes(dir.path() / snapshot_file_name(Index(5)),
                    encode_snapshot({Index(5), Term(1)}, "old"));
        const fs::path newest = dir.path() / snapshot_file_name(Index(9));
        std::string bytes = *read_file(newest);
        if (c.flip_at == 0) {
            bytes.resize(bytes.size() - 1);
        } else {
            bytes[c.flip_at] ^= 0x10;
        }
        write_bytes(newest, bytes);
        Result<std::optional<LoadedSnapshot>> r = load_newest_snapshot(dir.path(), nullptr);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code(), Code::kCorruption);
        EXPECT_NE(r.error().message().find(newest.string()), std::string::npos)
            << r.error().message();
    }
}

TEST(SnapshotFile, LeftoverTempFileIsRemovedWithWarning) {
    TempDir dir;
    ASSERT_TRUE(save_snapshot(dir.path(), {Index(3), Term(1)}, "three").is_ok());
    const fs::path temp = dir.path() / (snapshot_file_name(Index(4)) + ".tmp");
    write_bytes(temp, "half a snapsh");
    std::vector<std::string> warnings;
    Result<std::optional<LoadedSnapshot>> r = load_newest_snapshot(dir.path(), &warnings);
    ASSERT_TRUE(r.has_value() && r->has_value()) << r.status().to_string();
    EXPECT_EQ((*r)->meta.index, Index(3));
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find(temp.string()), std::string::npos) << warnings[0];
    EXPECT_FALSE(fs::exists(temp));
}

TEST(SnapshotFile, NameMustMatchContents) {
    TempDir dir;
    write_bytes(dir.path() / snapshot_file_name(Index(8)),
                encode_snapshot({Index(7), Term(1)}, "x"));
    Result<std::optional<LoadedSnapshot>> r = load_newest_snapshot(dir.path(), nullptr);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Code::kCorruption);
}

raft::Membership members(std::set<std::uint64_t> voters, std::set<std::uint64_t> learners) {
    raft::Membership m;
    for (std::uint64_t id : voters) m.voters.insert(raft::NodeId(id));
    for (std::uint64_t id : learners) m.learners.insert(raft::NodeId(id));
    return m;
}

TEST(SnapshotFile, MembershipRoundTrips) {
    const raft::Membership cases[] = {
        {},
        members({1}, {}),
        members({1, 2, 3}, {7}),
        members({}, {4, 5}),
    };
    for (const raft::Membership& m : cases) {
        SCOPED_TRACE(m.voters.size() * 100 + m.learners.size());
        TempDir dir;
        const SnapshotMeta meta{.index = Index(42), .term = Term(3), .membership = m};
        ASSERT_TRUE(save_snapshot(dir.path(), meta, "image").is_ok());
        Result<std::optional<LoadedSnapshot>> r = load_newest_snapshot(dir.path(), nullptr);
        ASSERT_TRUE(r.has_value() && r->has_value()) << r.status().to_string();
        EXPECT_EQ((*r)->meta, meta);
        EXPECT_EQ((*r)->payload, "image");
        EXPECT_EQ((*r)->version, kSnapshotFormatVersion);
    }
}

TEST(SnapshotFile, Version1StillLoadsWithEmptyMembership) {
    TempDir dir;
    const SnapshotMeta meta{.index = Index(12), .term = Term(1)};
    write_bytes(dir.path() / snapshot_file_name(Index(12)), encode_snapshot_v1(meta, "old image"));
    Result<std::optional<LoadedSnapshot>> r = load_newest_snapshot(dir.path(), nullptr);
    ASSERT_TRUE(r.has_value() && r->has_value()) << r.status().to_string();
    EXPECT_EQ((*r)->meta, meta);
    EXPECT_TRUE((*r)->meta.membership.voters.empty());
    EXPECT_EQ((*r)->payload, "old image");
    EXPECT_EQ((*r)->version, 1u);

    Result<SnapshotFile> f = SnapshotFile::open(dir.path() / snapshot_file_name(Index(12)));
    ASSERT_TRUE(f.has_value()) << f.status().to_string();
    EXPECT_EQ(f->version(), 1u);
    EXPECT_EQ(f->meta(), meta);
    EXPECT_EQ(f->payload_bytes(), 9u);
    EXPECT_EQ(*f->read_payload(4, 100), "image");
    EXPECT_TRUE(f->verify_payload().is_ok());
}

TEST(SnapshotFile, Version1DamageIsStillCorruption) {
    std::string bytes = encode_snapshot_v1({Index(12), Term(1)}, "old image");
    bytes[kSnapshotV1HeaderBytes + 1] ^= 1;
    Result<LoadedSnapshot> r = decode_snapshot(bytes, "v1.snap");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Code::kCorruption);
}

// Rewrites the version 2 header checksum after an edit, so that validation
// of the fields behind it is reached.
void fix_header_checksum(std::string* bytes, std::size_t member_count) {
    Checksummer c;
    c.update(std::string_view(*bytes).substr(0, 56));
    c.update(std::string_view(*bytes).substr(kSnapshotHeaderBytes, member_count * 8));
    encode_u64(bytes->data() + 56, c.digest());
}

TEST(SnapshotFile, BadMembershipIsCorruption) {
    struct Case {
        std::string_view name;
        std::size_t offset;  // of a u64 or u32 to overwrite
        std::uint64_t value;
        bool is_u32;
        std::string_view want;
    };
    // Voters {2, 5}, learners {9}: ids at offsets 64, 72 and 80.
    const Case cases[] = {
        {"voters out of order", 64, 6, false, "ascending"},
        {"duplicate voter", 72, 2, false, "ascending"},
        {"id zero", 80, 0, false, "member id 0"},
        {"learner is a voter", 80, 5, false, "both voter and learner"},
        {"too many members", 32, kSnapshotMembersMax, true, "over the maximum"},
        {"count past the end of the file", 36, 100, true, "incomplete membership"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        std::string bytes = encode_snapshot(
            {.index = Index(4), .term = Term(2), .membership = members({2, 5}, {9})}, "payload");
        if (c.is_u32) {
            encode_u32(bytes.data() + c.offset, static_cast<std::uint32_t>(c.value));
        } else {
            encode_u64(bytes.data() + c.offset, c.value);
        }
        fix_header_checksum(&bytes, 3);
        Result<LoadedSnapshot> r = decode_snapshot(bytes, "bad.snap");
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code(), Code::kCorruption);
        EXPECT_NE(r.error().message().find(c.want), std::string::npos) << r.error().message();
    }
}

TEST(SnapshotFile, FlippedMemberByteFailsTheHeaderChecksum) {
    TempDir dir;
    std::string bytes = encode_snapshot(
        {.index = Index(4), .term = Term(2), .membership = members({1, 2, 3}, {})}, "p");
    bytes[kSnapshotHeaderBytes + 8] ^= 0x01;  // voter 2 becomes 3... or anything
    const fs::path path = dir.path() / snapshot_file_name(Index(4));
    write_bytes(path, bytes);
    Result<SnapshotFile> f = SnapshotFile::open(path);
    ASSERT_FALSE(f.has_value());
    EXPECT_EQ(f.error().code(), Code::kCorruption);
    EXPECT_NE(f.error().message().find("header checksum mismatch"), std::string::npos)
        << f.error().message();
}

TEST(SnapshotFile, PayloadReadInChunks) {
    const std::uint64_t seed = raftkv::testing::test_seed(0x5eed);
    SCOPED_TRACE(raftkv::testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    std::string payload(300000, '\0');
    for (char& ch : payload) ch = static_cast<char>(rng());
    TempDir dir;
    const SnapshotMeta meta{
        .index = Index(77), .term = Term(5), .membership = members({1, 2, 3}, {4})};
    ASSERT_TRUE(save_snapshot(dir.path(), meta, payload).is_ok());

    Result<SnapshotFile> f = SnapshotFile::open(dir.path() / snapshot_file_name(Index(77)));
    ASSERT_TRUE(f.has_value()) << f.status().to_string();
    EXPECT_EQ(f->meta(), meta);
    EXPECT_EQ(f->payload_bytes(), payload.size());
    EXPECT_TRUE(f->verify_payload().is_ok());
    for (std::uint64_t chunk : {1ull, 4096ull, 65536ull, 299999ull, 1ull << 20}) {
        SCOPED_TRACE(chunk);
        std::string whole;
        for (std::uint64_t off = 0; off < payload.size(); off += chunk) {
            Result<std::string> piece = f->read_payload(off, chunk);
            ASSERT_TRUE(piece.has_value()) << piece.status().to_string();
            ASSERT_EQ(piece->size(), std::min<std::uint64_t>(chunk, payload.size() - off));
            whole += *piece;
        }
        EXPECT_TRUE(whole == payload);
    }
    Result<std::string> at_end = f->read_payload(payload.size(), 10);
    ASSERT_TRUE(at_end.has_value());
    EXPECT_TRUE(at_end->empty());

    // A newer snapshot removes the file; the open one still reads.
    ASSERT_TRUE(save_snapshot(dir.path(), {Index(78), Term(5)}, "newer").is_ok());
    EXPECT_FALSE(fs::exists(dir.path() / snapshot_file_name(Index(77))));
    EXPECT_EQ(*f->read_payload(10, 5), payload.substr(10, 5));
}

TEST(SnapshotFile, DamagedPayloadFoundByVerifyNotByOpen) {
    TempDir dir;
    const fs::path path = dir.path() / snapshot_file_name(Index(3));
    std::string bytes = encode_snapshot({Index(3), Term(1)}, std::string(5000, 'a'));
    bytes[kSnapshotHeaderBytes + 4321] = 'b';
    write_bytes(path, bytes);
    Result<SnapshotFile> f = SnapshotFile::open(path);
    ASSERT_TRUE(f.has_value()) << f.status().to_string();
    Status s = f->verify_payload();
    EXPECT_EQ(s.code(), Code::kCorruption);
    EXPECT_NE(s.message().find(path.string()), std::string::npos) << s.message();
    EXPECT_EQ(SnapshotFile::open(dir.path() / "missing.snap").error().code(), Code::kNotFound);
}

TEST(SnapshotFile, TruncatedFileFailsToOpen) {
    TempDir dir;
    const fs::path path = dir.path() / snapshot_file_name(Index(3));
    std::string bytes = encode_snapshot({Index(3), Term(1)}, "payload");
    for (std::size_t keep : {std::size_t{0}, std::size_t{20}, std::size_t{60}, bytes.size() - 1}) {
        SCOPED_TRACE(keep);
        write_bytes(path, std::string_view(bytes).substr(0, keep));
        Result<SnapshotFile> f = SnapshotFile::open(path);
        ASSERT_FALSE(f.has_value());
        EXPECT_EQ(f.error().code(), Code::kCorruption);
    }
}

}  // namespace
}  // namespace raftkv::storage
