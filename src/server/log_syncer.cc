// log_syncer.cc — the group-commit thread.
#include "server/log_syncer.h"

#include <spdlog/spdlog.h>

namespace raftkv::server {

LogSyncer::LogSyncer(asio::any_io_executor loop, std::unique_ptr<storage::Wal> wal,
                     Callbacks callbacks)
    : loop_(std::move(loop)), wal_(std::move(wal)), callbacks_(std::move(callbacks)) {
    bytes_on_disk_ = wal_->bytes_on_disk();
    thread_ = std::thread([this] { run(); });
}

LogSyncer::~LogSyncer() { stop(); }

void LogSyncer::append(raft::Entry entry) {
    // Entries of one round of the event loop go over together: the hand-over
    // runs after the handlers that are ready now, so a batch holds every
    // write that arrived in this round (as Redis's beforeSleep does).
    staged_.push_back(std::move(entry));
    if (staged_.size() == 1) asio::post(loop_, [this] { hand_over(); });
}

void LogSyncer::hand_over() {
    if (staged_.empty()) return;
    {
        std::lock_guard lock(mu_);
        RAFTKV_ASSERT(!is_stopping_, "append after stop");
        if (pending_.empty()) {
            pending_.swap(staged_);
        } else {
            for (raft::Entry& e : staged_) pending_.push_back(std::move(e));
            staged_.clear();
        }
    }
    cv_.notify_one();
}

void LogSyncer::compact(raft::Index index) {
    {
        std::lock_guard lock(mu_);
        if (index > compact_to_) compact_to_ = index;
    }
    cv_.notify_one();
}

void LogSyncer::discard_and_resume() {
    staged_.clear();
    {
        std::lock_guard lock(mu_);
        pending_.clear();
        is_blocked_ = false;
    }
    cv_.notify_one();
}

void LogSyncer::stop() {
    hand_over();
    {
        std::lock_guard lock(mu_);
        is_stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
}

std::uint64_t LogSyncer::bytes_on_disk() const {
    std::lock_guard lock(mu_);
    return bytes_on_disk_;
}

void LogSyncer::run() {
    std::vector<raft::Entry> batch;
    raft::Index compacted;
    for (;;) {
        raft::Index compact_to;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] {
                return is_stopping_ || compact_to_ > compacted ||
                       (!pending_.empty() && !is_blocked_);
            });
            if (is_blocked_ || pending_.empty()) {
                if (is_stopping_ && compact_to_ <= compacted) return;
            } else {
                batch.swap(pending_);
            }
            compact_to = compact_to_;
        }

        if (compact_to > compacted) {
            compacted = compact_to;
            Status s = wal_->compact_prefix(compact_to);
            asio::post(loop_, [cb = callbacks_.on_compacted, compact_to, s] { cb(compact_to, s); });
        }
        if (batch.empty()) continue;

        const raft::Index first = batch.front().index;
        const raft::Index last = batch.back().index;
        Status s = wal_->append(batch);
        const bool append_ok = s.is_ok();
        if (append_ok) s = wal_->sync();
        batch.clear();
        {
            std::lock_guard lock(mu_);
            bytes_on_disk_ = wal_->bytes_on_disk();
            if (!s.is_ok()) is_blocked_ = true;
        }
        if (s.is_ok()) {
            asio::post(loop_, [cb = callbacks_.on_synced, last] { cb(last); });
            continue;
        }
        // Only a full disk during write(2) leaves the log usable: the Wal cut
        // the partial batch back. A failed fsync never is (fsync errors may
        // have dropped dirty pages; retrying could report success falsely).
        // The Wal's own failed state decides first: an append that failed
        // on a sync inside it (say, at a segment rotation) is not a clean
        // full disk even if errno was ENOSPC.
        const bool is_fatal =
            !wal_->failure().is_ok() || append_ok || s.code() != Code::kDiskFull;
        asio::post(loop_, [cb = callbacks_.on_failed, first, s, is_fatal] { cb(first, s, is_fatal); });
        if (is_fatal) {
            std::lock_guard lock(mu_);
            pending_.clear();
            // Stay blocked: nothing more is written. stop() ends the thread.
        }
    }
}

}  // namespace raftkv::server
