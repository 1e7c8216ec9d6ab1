// log_syncer.h — group commit: the thread that writes log entries and
// fsyncs them, many client writes per fsync.
//
// The event loop hands entries over with append(); the syncer thread takes
// everything queued so far as one batch, writes it, fsyncs once, and posts
// the result back to the loop. While one fsync runs, the next batch gathers:
// the more clients write, the more each fsync covers. The syncer owns the
// Wal; no other thread touches it.
//
// Failures: a full disk (kDiskFull from append) leaves the Wal usable; the
// syncer reports the batch as failed and then waits, appending nothing, until
// the loop calls discard_and_resume(), so no entry is written after a hole.
// Any other failure, or any failed fsync, is fatal (STYLE.md section 4).
//
// Thread rule: append/compact/discard_and_resume/stop are called from the loop
// thread only; callbacks run on the loop thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <asio.hpp>

#include "base/status.h"
#include "raft/types.h"
#include "storage/wal.h"

namespace raftkv::server {

class LogSyncer {
public:
    struct Callbacks {
        // Every entry with index <= last is durable.
        std::function<void(raft::Index last)> on_synced;
        // The batch starting at `first` and everything queued after it were
        // not written. `is_fatal` means the log cannot take more writes.
        std::function<void(raft::Index first, const Status& status, bool is_fatal)> on_failed;
        // The log is now compacted through `index` (or failed to be).
        std::function<void(raft::Index index, const Status& status)> on_compacted;
    };

    LogSyncer(asio::any_io_executor loop, std::unique_ptr<storage::Wal> wal, Callbacks callbacks);
    ~LogSyncer();
    LogSyncer(const LogSyncer&) = delete;
    LogSyncer& operator=(const LogSyncer&) = delete;

    void append(raft::Entry entry);
    // Drop log segments wholly at or below `index` (a snapshot covers them).
    void compact(raft::Index index);
    // After a non-fatal failure: forget what is queued and accept appends again.
    void discard_and_resume();
    // Writes and syncs what is queued, then joins the thread. Idempotent.
    void stop();

    // Sampled from the loop thread, for INFO.
    std::uint64_t bytes_on_disk() const;

private:
    void run();
    void hand_over();  // loop thread: moves staged_ to pending_

    asio::any_io_executor loop_;
    std::unique_ptr<storage::Wal> wal_;
    Callbacks callbacks_;

    std::vector<raft::Entry> staged_;  // loop thread only: this round's entries

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<raft::Entry> pending_;  // guarded by mu_
    raft::Index compact_to_;            // guarded by mu_; 0 = nothing asked
    bool is_blocked_ = false;           // guarded by mu_: after a failure, until resumed
    bool is_stopping_ = false;          // guarded by mu_
    std::uint64_t bytes_on_disk_ = 0;   // guarded by mu_
    std::thread thread_;
};

}  // namespace raftkv::server
