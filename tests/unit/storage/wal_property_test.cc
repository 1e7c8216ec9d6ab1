// wal_property_test.cc — the WAL against a dumb model (STYLE.md section 7):
// random appends, syncs, suffix truncations, compactions and crashes; after
// every crash the recovered log must be a slice of what was written that
// reaches at least the last synced entry, and the recovered hard state one
// that was written, no older than the last one synced (or spilled before a
// truncation or compaction).
//
// A crash keeps everything synced and cuts a random amount of the unsynced
// bytes off the last segment (sometimes leaving zeros in their place), which
// is what a lost page cache leaves behind. Seeded: prints seed=0x... and
// reruns from RAFTKV_SEED.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "storage/files.h"
#include "storage/hard_state_file.h"
#include "storage/wal.h"
#include "testing/seed.h"
#include "testing/temp_dir.h"

namespace raftkv::storage {
namespace {

namespace fs = std::filesystem;
using raft::Entry;
using raft::Index;
using raft::Term;

using raftkv::testing::TempDir;

using raftkv::testing::seed_trace;
using raftkv::testing::test_seed;

class Harness {
public:
    Harness(std::uint64_t seed, const fs::path& dir)
        : rng_(seed),
          options_{
              .dir = dir / "wal", .segment_bytes_max = 150 + rng_() % 600, .hard_state_dir = dir} {
        reopen();
    }

    void step() {
        const std::uint64_t r = rng_() % 100;
        if (r < 50) {
            append();
        } else if (r < 65) {
            ASSERT_TRUE(wal_->sync().is_ok());
            mark_durable();
        } else if (r < 75) {
            truncate();
        } else if (r < 82) {
            compact();
        } else if (r < 88) {
            crash();
        } else if (r < 96) {
            save_hard_state();
        }
    }

    void crash() {
        wal_.reset();
        chop_unsynced_tail();
        reopen();
    }

private:
    std::uint64_t last() const { return model_.size(); }

    void append() {
        if (rng_() % 8 == 0) ++term_;
        std::vector<Entry> batch;
        const std::uint64_t n = 1 + rng_() % 5;
        for (std::uint64_t i = 0; i < n; ++i) {
            std::string data(rng_() % 90, '\0');
            for (char& c : data) c = static_cast<char>(rng_());
            batch.push_back(
                Entry{.term = Term(term_),
                      .index = Index(last() + 1 + i),
                      .type = rng_() % 5 == 0 ? raft::EntryType::kNoop : raft::EntryType::kCommand,
                      .data = std::move(data)});
        }
        ASSERT_TRUE(wal_->append(batch).is_ok());
        model_.insert(model_.end(), batch.begin(), batch.end());
    }

    // A newer hard state: a higher commit, a vote in this term, or a new term
    // (whose entries follow with it).
    void save_hard_state() {
        raft::HardState hs = wal_->hard_state();
        switch (rng_() % 3) {
            case 0:
                hs.commit = Index(hs.commit.value + rng_() % 4);
                break;
            case 1:
                if (hs.vote == raft::NodeId(0)) hs.vote = raft::NodeId(1 + rng_() % 3);
                break;
            case 2:
                ++term_;
                hs.vote = raft::NodeId(0);
                break;
        }
        hs.term = Term(term_);
        ASSERT_TRUE(wal_->save_hard_state(hs).is_ok());
        written_hs_.push_back(hs);
    }

    void truncate() {
        // Raft never truncates what a snapshot covers.
        const std::uint64_t lo = std::max(wal_->first_index().value, compacted_ + 1);
        if (lo > last() + 1) return;
        const std::uint64_t first = lo + rng_() % (last() + 2 - lo);
        ASSERT_TRUE(wal_->truncate_suffix(Index(first)).is_ok());
        model_.resize(std::min(model_.size(), first - 1));
        mark_durable();  // synced, and the hard state spilled
    }

    void compact() {
        std::uint64_t index;
        if (rng_() % 4 == 0) {
            index = last() + rng_() % 4;  // a snapshot from the leader, at or past our end
        } else {
            if (durable_last_ <= compacted_) return;
            index = compacted_ + rng_() % (durable_last_ - compacted_ + 1);
        }
        ASSERT_TRUE(wal_->compact_prefix(Index(index)).is_ok());
        // Durable if spilled (before any segment went); a compaction that
        // removed nothing spilled nothing.
        const Result<raft::HardState> file = load_hard_state(options_.hard_state_dir);
        ASSERT_TRUE(file.has_value()) << file.status().to_string();
        if (is_newer_hard_state(*file, durable_hs_)) durable_hs_ = *file;
        while (model_.size() < index) {
            model_.push_back(Entry{.term = Term(term_), .index = Index(model_.size() + 1)});
        }
        compacted_ = std::max(compacted_, index);
        if (index >= last()) synced_name_.clear();  // every segment went
    }

    std::string last_segment_name() const {
        const Result<std::vector<std::string>> names = list_dir(options_.dir);
        std::string out;
        for (const std::string& n : *names) {
            if (n.ends_with(".wal")) out = n;
        }
        return out;
    }

    void mark_durable() {
        durable_last_ = last();
        durable_hs_ = wal_->hard_state();
        synced_name_ = last_segment_name();
        synced_bytes_ = synced_name_.empty() ? 0 : *file_bytes(options_.dir / synced_name_);
    }

    void chop_unsynced_tail() {
        const std::string name = last_segment_name();
        if (name.empty()) return;
        const fs::path path = options_.dir / name;
        const std::uint64_t size = *file_bytes(path);
        const std::uint64_t keep_min = name == synced_name_ ? synced_bytes_ : 0;
        RAFTKV_ASSERT(size >= keep_min);
        const std::uint64_t keep = keep_min + rng_() % (size - keep_min + 1);
        fs::resize_file(path, keep);
        if (keep < size && rng_() % 3 == 0)
            fs::resize_file(path, keep + rng_() % (size - keep + 1));
    }

    void reopen() {
        WalRecovery rec;
        Result<std::unique_ptr<Wal>> wal = Wal::open(options_, &rec);
        ASSERT_TRUE(wal.has_value()) << wal.status().to_string();
        wal_ = std::move(wal).value();
        const raft::HardState& hs = rec.hard_state;
        ASSERT_FALSE(is_newer_hard_state(durable_hs_, hs))
            << "lost the synced hard state " << to_string(durable_hs_) << ": got " << to_string(hs);
        ASSERT_TRUE(hs == raft::HardState{} ||
                    std::find(written_hs_.begin(), written_hs_.end(), hs) != written_hs_.end())
            << "a hard state never written: " << to_string(hs);
        const std::vector<Entry>& got = rec.entries;
        if (got.empty()) {
            ASSERT_LE(durable_last_, compacted_) << "lost synced entries";
            // A segment of hard state records only may continue the log
            // after the snapshot already; otherwise the caller restarts it.
            if (wal_->last_index().value != compacted_)
                wal_->reset_next_index(Index(compacted_ + 1));
            model_.resize(compacted_);
        } else {
            ASSERT_LE(got.front().index.value, compacted_ + 1) << "lost entries after the snapshot";
            ASSERT_GE(got.back().index.value, durable_last_) << "lost synced entries";
            ASSERT_LE(got.back().index.value, last()) << "entries that were never written";
            for (const Entry& e : got) {
                ASSERT_EQ(e, model_[e.index.value - 1]) << "at index " << e.index.value;
            }
            model_.resize(got.back().index.value);
        }
        ASSERT_EQ(wal_->last_index().value, last());
        mark_durable();
    }

    std::mt19937_64 rng_;
    WalOptions options_;
    std::unique_ptr<Wal> wal_;
    std::vector<Entry> model_;                 // model_[i] is entry i + 1, compacted ones included
    std::uint64_t term_ = 1;                   // only grows
    std::uint64_t compacted_ = 0;              // highest compact_prefix index
    std::uint64_t durable_last_ = 0;           // last entry known synced
    std::string synced_name_;                  // last segment at the last sync
    std::uint64_t synced_bytes_ = 0;           // its size then
    std::vector<raft::HardState> written_hs_;  // every one saved, in order
    raft::HardState durable_hs_;               // the newest known durable
};

TEST(WalProperty, RecoveredLogIsSyncedPrefixOfWritten) {
    const std::uint64_t seed = test_seed();
    SCOPED_TRACE(seed_trace(seed));
    for (std::uint64_t round = 0; round < 4; ++round) {
        TempDir dir;
        Harness h(seed + round, dir.path());
        for (int i = 0; i < 250 && !::testing::Test::HasFatalFailure(); ++i) h.step();
        if (::testing::Test::HasFatalFailure()) return;
        h.crash();
    }
}

}  // namespace
}  // namespace raftkv::storage
