// snapshot_file_test.cc — snapshot files: save/load round trip, newest wins,
// a damaged newest file is an error (no fallback), leftover temp files.
#include "storage/snapshot_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "storage/files.h"
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
        const SnapshotMeta meta{.last_index = Index(100), .last_term = Term(7)};
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
    EXPECT_EQ((*r)->meta.last_index, Index(20));
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
    EXPECT_EQ((*r)->meta.last_index, Index(3));
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

}  // namespace
}  // namespace raftkv::storage
