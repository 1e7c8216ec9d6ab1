// raft_disk.h — the replicated server's persistence thread: writes what a
// raft Ready asks to be durable (snapshot, entries, hard state, in that
// order; raft/ready.h), and the snapshots the server takes, then reports back
// on the loop.
//
// The loop thread hands over jobs; RaftDisk's own thread runs them in
// order, at most one WAL fsync per job (the server gathers a whole Ready
// into one job, so group commit happens by itself; the hard state is a WAL
// record, covered by the same fsync), and posts each completion to the
// loop executor. It owns the Wal (and through it the hard state file) and
// the snapshot directory; nothing else writes there while it runs. It does not decide
// anything Raft: the server does, from the completions. Layouts: docs/wal_format.md,
// docs/snapshot_format.md; the data directory: raft_recovery.h.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "raft/log_storage.h"
#include "raft/node.h"
#include "raft/types.h"
#include "server/replica_ports.h"
#include "storage/snapshot_file.h"
#include "storage/wal.h"

namespace raftkv::server {

// A job that needed no sync leaves its bytes unsynced; the disk thread
// syncs them itself once it has been idle this long.
inline constexpr auto kIdleSyncDelay = std::chrono::milliseconds(50);

struct RaftDiskOptions {
    // The data directory (raft_recovery.h): snapshots go in
    // snapshot_dir(data_dir). The Wal comes open, from recover_raft().
    std::filesystem::path data_dir;
    // The index of the newest snapshot on disk (0: none), as recovered.
    raft::Index snapshot_index;
    // How long the disk thread waits, idle, before syncing what a job that
    // needed no sync left unsynced.
    std::chrono::milliseconds idle_sync_delay = kIdleSyncDelay;
};

// Threading: persist/save_snapshot/stop/bytes_on_disk are called from the
// loop thread only (bytes_on_disk from any thread); completions run on
// the loop executor, in the order the jobs were handed over.
//
// Failures. A persist job that finds the disk full (Code::kDiskFull) fails
// alone, and what it did leave done is harmless to do again (a snapshot file
// written, a conflicting suffix cut; the WAL's own kDiskFull paths change
// nothing): the caller may hand the same job again later. Any other failed persist job (a write or
// fsync error) makes the disk failed: every later job, of either kind,
// completes with an error saying so and writes nothing, because a later
// write would leave a hole behind the one that failed. A failed fsync is
// fatal anyway (STYLE.md section 4): the server should stop. A save_snapshot whose
// snapshot file cannot be written (say, a full disk) fails alone: nothing
// depends on it, and the older snapshot and the log stay as they were. Its
// WAL compaction failing does make the disk failed (the Wal is, too).
class RaftDisk {
public:
    RaftDisk(asio::any_io_executor loop, RaftDiskOptions options,
             std::unique_ptr<storage::Wal> wal);
    // stop().
    ~RaftDisk();
    RaftDisk(const RaftDisk&) = delete;
    RaftDisk& operator=(const RaftDisk&) = delete;

    // Queues `job`; `done` runs on the loop once it is durable or failed.
    void persist(PersistJob job, std::function<void(PersistResult)> done);

    // A snapshot the server took at `meta.index` (applied there, so every
    // entry through it is in the WAL): writes snap-<index>.snap, fsyncs,
    // renames, removes older snapshot files, then drops the WAL segments
    // wholly at or below meta.index (storage::Wal::compact_prefix). A
    // snapshot older than the newest on disk (one received from the leader
    // meanwhile) is refused with kInvalid and changes nothing.
    void save_snapshot(raft::SnapshotMeta meta, std::string image,
                       std::function<void(PersistResult)> done);

    // Runs what is queued, then joins the thread. Idempotent; nothing may be
    // queued after it. Completions of the jobs it ran are posted but only
    // run if the loop runs again.
    void stop();

    // The WAL's segment files, in bytes (the log size on disk for INFO; the
    // snapshot's size is RaftStorage::snapshot_bytes()). As of the last
    // completed job.
    std::uint64_t bytes_on_disk() const;
    // WAL syncs so far: one per job that must sync, plus the idle syncs.
    // Any thread.
    std::uint64_t wal_syncs() const;

private:
    struct Task {
        std::optional<PersistJob> persist;  // set: a persist job; unset: a save_snapshot
        raft::SnapshotMeta meta;            // save_snapshot only
        std::string image;                  // save_snapshot only
        std::function<void(PersistResult)> done;
    };

    void enqueue(Task task);
    void run();
    // Disk thread only.
    PersistResult run_persist(PersistJob& job);
    PersistResult run_save_snapshot(const raft::SnapshotMeta& meta, const std::string& image);
    Result<storage::SnapshotFile> write_snapshot(const raft::SnapshotMeta& meta,
                                                 std::string_view image);
    Status empty_wal_after(raft::Index index);
    Status fail_unless_full(Status status);
    Status append_entries(const std::vector<raft::Entry>& entries,
                          const std::optional<raft::HardState>& hard_state);
    Status fail(Status status);
    Status sync_wal();  // counted in wal_syncs_

    asio::any_io_executor loop_;
    const RaftDiskOptions options_;

    // Disk thread only (handed over before the thread starts).
    std::unique_ptr<storage::Wal> wal_;
    // The newest snapshot on disk. Only grows.
    raft::Index snapshot_index_;
    // Sticky: once set, every later job completes with it.
    Status failure_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Task> tasks_;           // guarded by mu_
    bool is_stopping_ = false;         // guarded by mu_
    std::uint64_t bytes_on_disk_ = 0;  // guarded by mu_
    std::uint64_t wal_syncs_ = 0;      // guarded by mu_
    std::thread thread_;
};

}  // namespace raftkv::server
