// raft_storage_test.cc — RaftStorage (server/raft_storage.h) behaves as
// raft::MemoryLogStorage does, with the snapshot image read from its file.
#include "server/raft_storage.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "storage/snapshot_file.h"
#include "testing/seed.h"
#include "testing/temp_dir.h"

namespace raftkv::server {
namespace {

using raft::Entry;
using raft::Index;
using raft::Term;

constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();

Entry entry(std::uint64_t index, std::uint64_t term, std::string data = "") {
    return Entry{.term = Term(term), .index = Index(index), .data = std::move(data)};
}

class RaftStorageTest : public ::testing::Test {
protected:
    // Saves a snapshot file for `meta` with `image` and opens it.
    std::unique_ptr<storage::SnapshotImage> snapshot_file(const raft::SnapshotMeta& meta,
                                                          const std::string& image) {
        const auto dir = tmp_.path() / "snapshots";
        Status s = storage::save_snapshot(dir, meta, image);
        EXPECT_TRUE(s.is_ok()) << s.to_string();
        Result<storage::SnapshotFile> f =
            storage::SnapshotFile::open(dir / storage::snapshot_file_name(meta.index));
        RAFTKV_ASSERT(f.has_value(), "{}", f.status().to_string());
        return std::make_unique<storage::SnapshotFile>(std::move(*f));
    }

    // Expects `got` to answer every query as `want` does.
    static void expect_same(const RaftStorage& got, const raft::MemoryLogStorage& want) {
        ASSERT_EQ(got.first_index(), want.first_index());
        ASSERT_EQ(got.last_index(), want.last_index());
        EXPECT_EQ(got.snapshot_meta(), want.snapshot_meta());
        EXPECT_EQ(got.snapshot_bytes(), want.snapshot_bytes());
        EXPECT_EQ(got.snapshot_chunk(0, kNoLimit), want.snapshot_chunk(0, kNoLimit));
        for (Index i = want.first_index().prev(); i <= want.last_index().next(); i = i.next()) {
            EXPECT_EQ(got.term(i), want.term(i)) << "index " << i.value;
        }
        EXPECT_EQ(got.entries(got.first_index(), got.last_index().next(), kNoLimit),
                  want.entries(want.first_index(), want.last_index().next(), kNoLimit));
        if (want.last_index() >= want.first_index()) {
            EXPECT_EQ(got.entries(got.first_index(), got.last_index().next(), 3),
                      want.entries(want.first_index(), want.last_index().next(), 3));
        }
    }

    raftkv::testing::TempDir tmp_;
};

TEST_F(RaftStorageTest, EmptyHasNoSnapshot) {
    RaftStorage s;
    EXPECT_EQ(s.first_index(), Index(1));
    EXPECT_EQ(s.last_index(), Index(0));
    EXPECT_EQ(s.term(Index(0)), Term(0));
    EXPECT_EQ(s.snapshot_bytes(), 0u);
    EXPECT_EQ(s.snapshot_chunk(0, 100), "");
    EXPECT_EQ(s.snapshot_image(), nullptr);
}

TEST_F(RaftStorageTest, AppendOverwritesFromTheFirstNewIndex) {
    struct Case {
        std::string_view name;
        std::vector<Entry> append;
    };
    // Starts as a snapshot at 3@1 followed by 4@1 5@2 6@2.
    const Case cases[] = {
        {"nothing", {}},
        {"same entries again", {entry(4, 1), entry(5, 2)}},
        {"extend", {entry(7, 3), entry(8, 3)}},
        {"replace a suffix", {entry(5, 3)}},
        {"replace everything", {entry(4, 4), entry(5, 4)}},
        {"entries in the snapshot are dropped", {entry(3, 1), entry(4, 5)}},
    };
    const raft::SnapshotMeta meta{
        .index = Index(3), .term = Term(1), .membership = {.voters = {raft::NodeId(1)}}};
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        RaftStorage s;
        raft::MemoryLogStorage model;
        s.apply_snapshot(meta, snapshot_file(meta, "three"));
        model.apply_snapshot(meta, "three");
        const std::vector<Entry> base = {entry(4, 1), entry(5, 2), entry(6, 2)};
        s.append(base);
        model.append(base);
        s.append(c.append);
        model.append(c.append);
        expect_same(s, model);
    }
}

TEST_F(RaftStorageTest, SnapshotChunksComeFromTheFile) {
    std::string image(100000, '\0');
    for (std::size_t i = 0; i < image.size(); ++i) image[i] = static_cast<char>(i * 7);
    const raft::SnapshotMeta meta{.index = Index(10), .term = Term(2)};
    RaftStorage s;
    s.append(std::vector<Entry>{entry(1, 1), entry(2, 1)});
    s.apply_snapshot(meta, snapshot_file(meta, image));
    ASSERT_NE(s.snapshot_image(), nullptr);
    EXPECT_EQ(s.snapshot_bytes(), image.size());
    std::string whole;
    for (std::uint64_t off = 0; off < s.snapshot_bytes(); off += 4096) {
        whole += s.snapshot_chunk(off, 4096);
    }
    EXPECT_TRUE(whole == image);
    EXPECT_EQ(s.snapshot_chunk(image.size(), 4096), "");
    EXPECT_EQ(s.first_index(), Index(11));
    EXPECT_EQ(s.last_index(), Index(10));
}

TEST_F(RaftStorageTest, AdoptMembershipFillsALegacySnapshot) {
    const raft::SnapshotMeta meta{.index = Index(5), .term = Term(1)};
    RaftStorage s;
    s.apply_snapshot(meta, snapshot_file(meta, "legacy"));
    s.append(std::vector<Entry>{entry(6, 1)});
    const raft::Membership founders{.voters = {raft::NodeId(1), raft::NodeId(2)}};
    s.adopt_membership(founders);
    EXPECT_EQ(s.snapshot_meta().membership, founders);
    EXPECT_EQ(s.snapshot_meta().index, Index(5));
    EXPECT_EQ(s.last_index(), Index(6));
    EXPECT_EQ(s.snapshot_chunk(0, 100), "legacy");
}

// Random appends (with overwrites), compactions and installed snapshots,
// applied to RaftStorage and to MemoryLogStorage: they must agree.
TEST_F(RaftStorageTest, AgreesWithMemoryLogStorage) {
    const std::uint64_t seed = raftkv::testing::test_seed();
    SCOPED_TRACE(raftkv::testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    RaftStorage s;
    raft::MemoryLogStorage model;
    std::uint64_t term = 1;
    for (int step = 0; step < 300; ++step) {
        const int op = static_cast<int>(rng() % 10);
        if (op < 6) {
            // Append from a random point at or after the first index.
            const std::uint64_t first = model.first_index().value;
            const std::uint64_t last = model.last_index().value;
            const std::uint64_t from = first + rng() % (last + 2 - first);
            if (rng() % 3 == 0) ++term;
            std::vector<Entry> batch;
            for (std::uint64_t i = 0, n = 1 + rng() % 5; i < n; ++i) {
                batch.push_back(entry(from + i, term, std::string(rng() % 8, 'a' + i)));
            }
            s.append(batch);
            model.append(batch);
        } else if (op < 9) {
            if (model.last_index() < model.first_index()) continue;
            const std::uint64_t first = model.snapshot_meta().index.value;
            const Index to(first + rng() % (model.last_index().value - first + 1));
            if (to == Index(0)) continue;  // no snapshot covers nothing
            const raft::SnapshotMeta meta{.index = to, .term = *model.term(to)};
            const std::string image = "compact at " + std::to_string(to.value);
            s.compact(meta, snapshot_file(meta, image));
            model.compact(meta, image);
        } else {
            ++term;
            const raft::SnapshotMeta meta{.index = Index(model.last_index().value + rng() % 4 + 1),
                                          .term = Term(term),
                                          .membership = {.voters = {raft::NodeId(1 + rng() % 5)}}};
            const std::string image = "installed at " + std::to_string(meta.index.value);
            s.apply_snapshot(meta, snapshot_file(meta, image));
            model.apply_snapshot(meta, image);
        }
        ASSERT_NO_FATAL_FAILURE(expect_same(s, model)) << "step " << step;
    }
}

}  // namespace
}  // namespace raftkv::server
