// hard_state_file_test.cc — the hard state file: defaults when absent, round
// trip, and corruption reported, never defaulted.
#include "storage/hard_state_file.h"

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

using raftkv::testing::TempDir;

TEST(HardStateFile, MissingFileGivesDefaults) {
    TempDir dir;
    Result<raft::HardState> r = load_hard_state(dir.path());
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    EXPECT_EQ(*r, raft::HardState{});
}

TEST(HardStateFile, SaveLoadRoundTrip) {
    TempDir dir;
    const raft::HardState states[] = {
        {raft::Term(1), raft::NodeId(0), raft::Index(0)},
        {raft::Term(5), raft::NodeId(3), raft::Index(42)},
        {raft::Term(UINT64_MAX), raft::NodeId(UINT64_MAX), raft::Index(UINT64_MAX)},
    };
    for (const raft::HardState& s : states) {
        ASSERT_TRUE(save_hard_state(dir.path(), s).is_ok());
        Result<raft::HardState> r = load_hard_state(dir.path());
        ASSERT_TRUE(r.has_value()) << r.status().to_string();
        EXPECT_EQ(*r, s);
    }
    EXPECT_FALSE(fs::exists(dir.path() / "hard_state.tmp"));
}

TEST(HardStateFile, DamageIsCorruption) {
    TempDir dir;
    ASSERT_TRUE(
        save_hard_state(dir.path(), {raft::Term(5), raft::NodeId(2), raft::Index(9)}).is_ok());
    const fs::path path = dir.path() / kHardStateFileName;
    const std::string good = *read_file(path);
    for (std::size_t i = 0; i <= good.size(); ++i) {
        SCOPED_TRACE(i);
        std::string bad = good;
        if (i == good.size()) {
            bad.pop_back();  // truncated
        } else {
            bad[i] ^= 0x01;
        }
        std::ofstream(path, std::ios::binary | std::ios::trunc) << bad;
        Result<raft::HardState> r = load_hard_state(dir.path());
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code(), Code::kCorruption);
        EXPECT_NE(r.error().message().find(path.string()), std::string::npos);
    }
}

}  // namespace
}  // namespace raftkv::storage
