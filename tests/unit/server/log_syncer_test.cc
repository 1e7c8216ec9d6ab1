// log_syncer_test.cc — group commit (server/log_syncer.h): batches, order,
// a full disk that leaves the log usable, and stop() flushing what is queued.
#include "server/log_syncer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <chrono>

#include "testing/temp_dir.h"

namespace raftkv::server {
namespace {

using std::chrono::steady_clock;

raft::Entry entry(std::uint64_t index, std::size_t bytes = 16) {
    return raft::Entry{
        .term = raft::Term(1), .index = raft::Index(index), .data = std::string(bytes, 'x')};
}

// Runs the loop until `done` holds, failing the test after a deadline.
template <typename Pred>
void run_until(asio::io_context& io, Pred done) {
    const auto deadline = steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
        ASSERT_LT(steady_clock::now(), deadline) << "timed out";
        io.restart();
        io.run_one_for(std::chrono::milliseconds(10));
    }
}

class LogSyncerTest : public ::testing::Test {
protected:
    std::unique_ptr<LogSyncer> make_syncer() {
        storage::WalRecovery rec;
        auto wal = storage::Wal::open(storage::WalOptions{.dir = dir_}, &rec);
        EXPECT_TRUE(wal) << wal.error().to_string();
        return std::make_unique<LogSyncer>(
            io_.get_executor(), std::move(*wal),
            LogSyncer::Callbacks{
                .on_synced = [this](raft::Index last) { synced_.push_back(last.value); },
                .on_failed =
                    [this](raft::Index first, const Status& s, bool is_fatal) {
                        failed_first_ = first.value;
                        failed_status_ = s;
                        failed_fatal_ = is_fatal;
                    },
                .on_compacted = [](raft::Index, const Status&) {},
            });
    }
    std::vector<raft::Entry> reopen() {
        storage::WalRecovery rec;
        auto wal = storage::Wal::open(storage::WalOptions{.dir = dir_}, &rec);
        EXPECT_TRUE(wal) << wal.error().to_string();
        return rec.entries;
    }

    raftkv::testing::TempDir tmp_;
    const std::filesystem::path dir_ = tmp_.path();
    asio::io_context io_;
    std::vector<std::uint64_t> synced_;
    std::uint64_t failed_first_ = 0;
    Status failed_status_;
    bool failed_fatal_ = false;
};

TEST_F(LogSyncerTest, OneRoundOfAppendsIsOneSyncedBatch) {
    auto syncer = make_syncer();
    for (std::uint64_t i = 1; i <= 100; ++i) syncer->append(entry(i));
    run_until(io_, [&] { return !synced_.empty() && synced_.back() == 100; });
    EXPECT_EQ(synced_, std::vector<std::uint64_t>{100});  // one batch, one fsync
    syncer->stop();
    EXPECT_EQ(reopen().size(), 100u);
}

TEST_F(LogSyncerTest, LaterRoundsContinueInOrder) {
    auto syncer = make_syncer();
    std::uint64_t next = 1;
    for (int round = 0; round < 20; ++round) {
        for (int i = 0; i < 5; ++i) syncer->append(entry(next++));
        run_until(io_, [&] { return !synced_.empty() && synced_.back() == next - 1; });
    }
    for (std::size_t i = 1; i < synced_.size(); ++i) EXPECT_LT(synced_[i - 1], synced_[i]);
    syncer->stop();
    const auto entries = reopen();
    ASSERT_EQ(entries.size(), 100u);
    EXPECT_EQ(entries.back().index, raft::Index(100));
}

TEST_F(LogSyncerTest, StopWritesWhatIsQueued) {
    auto syncer = make_syncer();
    for (std::uint64_t i = 1; i <= 10; ++i) syncer->append(entry(i));
    syncer->stop();  // before the loop ran the hand-over
    EXPECT_EQ(reopen().size(), 10u);
}

// RLIMIT_FSIZE makes write(2) fail with EFBIG, which the log treats as a full disk.
TEST_F(LogSyncerTest, FullDiskFailsTheBatchAndTheLogStaysUsable) {
    auto syncer = make_syncer();
    syncer->append(entry(1));
    run_until(io_, [&] { return !synced_.empty(); });

    auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
    rlimit lim = old;
    lim.rlim_cur = 4096;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
    for (std::uint64_t i = 2; i <= 4; ++i) syncer->append(entry(i, 4096));
    run_until(io_, [&] { return failed_first_ != 0; });
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
    ::signal(SIGXFSZ, old_handler);

    EXPECT_EQ(failed_first_, 2u);
    EXPECT_EQ(failed_status_.code(), Code::kDiskFull) << failed_status_.to_string();
    EXPECT_FALSE(failed_fatal_);

    // Space is back: the same indexes go in again.
    syncer->discard_and_resume();
    syncer->append(entry(2));
    run_until(io_, [&] { return synced_.back() == 2; });
    syncer->stop();
    const auto entries = reopen();
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[1].data.size(), 16u);  // nothing of the failed batch remains
}

}  // namespace
}  // namespace raftkv::server
