// raft_disk.cc — the persistence thread (raft_disk.h).
#include "server/raft_disk.h"

#include <spdlog/spdlog.h>

#include <span>
#include <utility>

#include "server/raft_recovery.h"
#include "server/raft_storage.h"
#include "server/recovery.h"

namespace raftkv::server {

RaftDisk::RaftDisk(asio::any_io_executor loop, RaftDiskOptions options,
                   std::unique_ptr<storage::Wal> wal)
    : loop_(std::move(loop)),
      options_(std::move(options)),
      wal_(std::move(wal)),
      snapshot_index_(options_.snapshot_index) {
    RAFTKV_ASSERT(wal_ != nullptr);
    bytes_on_disk_ = wal_->bytes_on_disk();
    thread_ = std::thread([this] { run(); });
}

RaftDisk::~RaftDisk() { stop(); }

void RaftDisk::persist(PersistJob job, std::function<void(PersistResult)> done) {
    enqueue(Task{.persist = std::move(job), .done = std::move(done)});
}

void RaftDisk::save_snapshot(raft::SnapshotMeta meta, std::string image,
                             std::function<void(PersistResult)> done) {
    RAFTKV_ASSERT(meta.index > raft::Index(0), "a snapshot at index 0");
    enqueue(Task{.meta = std::move(meta), .image = std::move(image), .done = std::move(done)});
}

void RaftDisk::enqueue(Task task) {
    RAFTKV_ASSERT(task.done != nullptr);
    {
        std::lock_guard lock(mu_);
        RAFTKV_ASSERT(!is_stopping_, "a job queued after stop");
        tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
}

void RaftDisk::stop() {
    {
        std::lock_guard lock(mu_);
        is_stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
}

std::uint64_t RaftDisk::bytes_on_disk() const {
    std::lock_guard lock(mu_);
    return bytes_on_disk_;
}

std::uint64_t RaftDisk::wal_syncs() const {
    std::lock_guard lock(mu_);
    return wal_syncs_;
}

Status RaftDisk::sync_wal() {
    Status s = wal_->sync();
    std::lock_guard lock(mu_);
    ++wal_syncs_;
    return s;
}

void RaftDisk::run() {
    for (;;) {
        Task task;
        {
            std::unique_lock lock(mu_);
            const auto has_work = [&] { return is_stopping_ || !tasks_.empty(); };
            if (wal_->needs_sync() && failure_.is_ok()) {
                // A job that needed no sync (only the commit index moved)
                // left bytes unsynced. The next job's sync covers them; if
                // none comes soon, sync them here, so that an idle server
                // does not keep an unsynced tail for the kernel's writeback
                // to reorder (docs/wal_format.md, torn tails).
                if (!cv_.wait_for(lock, options_.idle_sync_delay, has_work)) {
                    lock.unlock();
                    // A failure is sticky: the next job completes with it,
                    // and the server stops then.
                    if (Status s = sync_wal(); !s.is_ok()) fail(std::move(s)).ignore();
                    continue;
                }
            }
            cv_.wait(lock, has_work);
            if (tasks_.empty()) return;  // stopping, and everything queued ran
            task = std::move(tasks_.front());
            tasks_.pop_front();
        }
        PersistResult result =
            task.persist ? run_persist(*task.persist) : run_save_snapshot(task.meta, task.image);
        if (task.persist && result.status.code() == Code::kDiskFull) {
            // Handed back for a retry: the caller need not keep a copy (a
            // received snapshot's image is only held once).
            result.job = std::move(*task.persist);
        }
        {
            std::lock_guard lock(mu_);
            bytes_on_disk_ = wal_->bytes_on_disk();
        }
        asio::post(loop_, [done = std::move(task.done), result = std::move(result)]() mutable {
            done(std::move(result));
        });
    }
}

Status RaftDisk::fail(Status status) {
    RAFTKV_ASSERT(!status.is_ok());
    if (failure_.is_ok()) {
        spdlog::error("raft disk: failed, refusing further writes: {}", status.to_string());
        failure_ = std::move(status);
    }
    return failure_;
}

// A full disk that left nothing half done (the WAL undid its append; a file
// replacement leaves the old file) fails this job alone: the caller may hand
// the same job again once there is room, as every step is idempotent. Any
// other failure makes the disk failed.
Status RaftDisk::fail_unless_full(Status status) {
    if (status.code() == Code::kDiskFull && wal_->failure().is_ok()) {
        spdlog::warn("raft disk: {}; the job may be retried", status.to_string());
        return status;
    }
    return fail(std::move(status));
}

PersistResult RaftDisk::run_persist(PersistJob& job) {
    if (!failure_.is_ok()) {
        return PersistResult{.status = Status::errorf(failure_.code(),
                                                      "not written: an earlier write failed: {}",
                                                      failure_.message())};
    }
    PersistResult result;
    // 1. The snapshot, then the log restarts after it.
    if (job.snapshot) {
        const raft::SnapshotMeta& meta = job.snapshot->meta;
        Result<storage::SnapshotFile> file = write_snapshot(meta, job.snapshot->data);
        if (!file) return PersistResult{.status = fail_unless_full(file.error())};
        if (Status s = empty_wal_after(meta.index); !s.is_ok()) {
            return PersistResult{.status = fail_unless_full(std::move(s))};
        }
        result.snapshot_image = std::make_unique<storage::SnapshotFile>(std::move(*file));
    }
    // 2. The entries, then the hard state (its commit index may point into
    // them), in one WAL batch: a full disk undoes both.
    if (Status s = append_entries(job.entries, job.hard_state); !s.is_ok()) {
        return PersistResult{.status = fail_unless_full(std::move(s))};
    }
    // 3. One sync for all of it.
    if (job.must_sync) {
        if (Status s = sync_wal(); !s.is_ok()) return PersistResult{.status = fail(std::move(s))};
    }
    return result;
}

Result<storage::SnapshotFile> RaftDisk::write_snapshot(const raft::SnapshotMeta& meta,
                                                       std::string_view image) {
    const std::filesystem::path dir = snapshot_dir(options_.data_dir);
    RAFTKV_RETURN_IF_ERROR(storage::save_snapshot(dir, meta, image));
    snapshot_index_ = meta.index;
    return storage::SnapshotFile::open(dir / storage::snapshot_file_name(meta.index));
}

// Drops every entry of the WAL and makes it continue at index + 1: a
// snapshot from the leader replaces the whole log (raft::MemoryLogStorage::
// apply_snapshot does the same in memory). Segments go newest first, so a
// crash part way leaves a prefix, which recovery reconciles with the
// snapshot (raft_recovery.cc).
Status RaftDisk::empty_wal_after(raft::Index index) {
    if (wal_->last_index() >= wal_->first_index()) {
        RAFTKV_RETURN_IF_ERROR(wal_->truncate_suffix(wal_->first_index()));
    }
    // Drops any segment still there (all of them when the WAL ends at or
    // before `index`) and continues at index + 1.
    RAFTKV_RETURN_IF_ERROR(wal_->compact_prefix(index));
    if (wal_->last_index() != index) wal_->reset_next_index(index.next());
    return Status::ok();
}

Status RaftDisk::append_entries(const std::vector<raft::Entry>& entries,
                                const std::optional<raft::HardState>& hard_state) {
    std::size_t skip = 0;
    while (skip < entries.size() && entries[skip].index <= snapshot_index_) ++skip;
    const std::span<const raft::Entry> fresh = std::span<const raft::Entry>(entries).subspan(skip);
    if (!fresh.empty() && fresh.front().index <= wal_->last_index()) {
        // A conflict: the leader's entries replace our suffix from there.
        RAFTKV_RETURN_IF_ERROR(wal_->truncate_suffix(fresh.front().index));
    }
    return wal_->append(fresh, hard_state);
}

PersistResult RaftDisk::run_save_snapshot(const raft::SnapshotMeta& meta,
                                          const std::string& image) {
    if (!failure_.is_ok()) {
        return PersistResult{.status = Status::errorf(failure_.code(),
                                                      "not written: an earlier write failed: {}",
                                                      failure_.message())};
    }
    if (meta.index < snapshot_index_) {
        return PersistResult{.status = Status::errorf(
                                 Code::kInvalid,
                                 "snapshot at index {} not saved: the one on disk is newer ({})",
                                 meta.index.value, snapshot_index_.value)};
    }
    // A failure here leaves the older snapshot and the log as they were.
    Result<storage::SnapshotFile> file = write_snapshot(meta, image);
    if (!file) return PersistResult{.status = file.error()};
    if (Status s = wal_->compact_prefix(meta.index); !s.is_ok()) {
        if (s.code() != Code::kDiskFull || !wal_->failure().is_ok()) {
            return PersistResult{.status = fail(std::move(s))};
        }
        // The snapshot is durable; the log keeps its old segments until the
        // next snapshot compacts it (a restart skips what the snapshot covers).
        spdlog::warn("raft disk: snapshot at index {} saved but the log not compacted: {}",
                     meta.index.value, s.to_string());
    }
    return PersistResult{.snapshot_image =
                             std::make_unique<storage::SnapshotFile>(std::move(*file))};
}

}  // namespace raftkv::server
