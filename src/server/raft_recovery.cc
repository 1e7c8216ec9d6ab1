// raft_recovery.cc — snapshot, hard state and log into a RaftStorage
// (raft_recovery.h).
#include "server/raft_recovery.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/recovery.h"
#include "storage/hard_state_file.h"
#include "storage/snapshot_file.h"

namespace raftkv::server {
namespace {

void warn(RecoveredRaft* r, std::string message) {
    spdlog::warn("recovery: {}", message);
    r->warnings.push_back(std::move(message));
}

// Loads the newest snapshot into r->state and r->storage; sets r->applied.
Status recover_snapshot(const std::filesystem::path& data_dir, RecoveredRaft* r) {
    const std::filesystem::path dir = snapshot_dir(data_dir);
    auto loaded = storage::load_newest_snapshot(dir, &r->warnings);
    if (!loaded) return loaded.error();
    if (!loaded->has_value()) return Status::ok();
    const storage::LoadedSnapshot& snap = **loaded;
    if (Status s = r->state.restore(snap.payload); !s.is_ok()) {
        return Status::errorf(Code::kCorruption, "snapshot at index {} in {}: {}",
                              snap.meta.index.value, dir.string(), s.message());
    }
    // Opened again for chunked reads: RaftStorage serves the image from the
    // file, and the copy loaded above goes with this function.
    Result<storage::SnapshotFile> file =
        storage::SnapshotFile::open(dir / storage::snapshot_file_name(snap.meta.index));
    if (!file) return file.error();
    RAFTKV_ASSERT(file->meta() == snap.meta, "{} changed while recovering", file->path().string());
    r->storage->apply_snapshot(snap.meta,
                               std::make_unique<storage::SnapshotFile>(std::move(*file)));
    r->applied = snap.meta.index;
    r->snapshot_version = snap.version;
    return Status::ok();
}

// The WAL entries after the snapshot at `snap` go into r->storage. The WAL
// may still hold entries at or below it (compaction keeps a segment that
// also holds newer ones). If its entry at the snapshot index has another
// term, the log after it belongs to a history the snapshot replaced (a
// crash while RaftDisk emptied the WAL for a snapshot from the leader):
// those entries are dropped.
Status recover_log(const std::filesystem::path& data_dir, const raft::SnapshotMeta& snap,
                   std::vector<raft::Entry> entries, RecoveredRaft* r) {
    storage::Wal& wal = *r->wal;
    const std::string where = wal_dir(data_dir).string();
    auto at = std::find_if(entries.begin(), entries.end(),
                           [&](const raft::Entry& e) { return e.index == snap.index; });
    if (snap.index > raft::Index(0) && at != entries.end() && at->term != snap.term) {
        warn(r, fmt::format("dropped log entries {}..{} in {}: entry {} has term {} but the "
                            "snapshot there has term {}",
                            snap.index.value, wal.last_index().value, where, snap.index.value,
                            at->term.value, snap.term.value));
        RAFTKV_RETURN_IF_ERROR(wal.truncate_suffix(snap.index.next()));
        entries.erase(at + 1, entries.end());
    }
    std::erase_if(entries, [&](const raft::Entry& e) { return e.index <= snap.index; });
    if (!entries.empty() && entries.front().index != snap.index.next()) {
        return Status::errorf(Code::kCorruption,
                              "the log in {} resumes at index {} but the snapshot ends at index "
                              "{}: entries are missing",
                              where, entries.front().index.value, snap.index.value);
    }
    if (!entries.empty() && entries.front().term < snap.term) {
        return Status::errorf(
            Code::kCorruption, "log entry {} in {} has term {}, below the snapshot's term {}",
            entries.front().index.value, where, entries.front().term.value, snap.term.value);
    }
    // A snapshot at or past the end of the log: drop what is left (a crash
    // came before RaftDisk compacted it) so that the next append follows it.
    // (A log of hard state records only that continues right after the
    // snapshot, first index snap.index + 1, is kept as it is.)
    if (snap.index > raft::Index(0) && wal.last_index() <= snap.index &&
        wal.first_index() <= snap.index) {
        RAFTKV_RETURN_IF_ERROR(wal.compact_prefix(snap.index));
    }
    if (entries.empty() && wal.last_index() > snap.index) {
        return Status::errorf(Code::kCorruption,
                              "the log in {} continues at index {} but the snapshot ends at index "
                              "{}: entries are missing",
                              where, wal.last_index().next().value, snap.index.value);
    }
    const raft::Index want_last = entries.empty() ? snap.index : entries.back().index;
    RAFTKV_ASSERT(wal.last_index() == want_last, "the log ends at {}, not {}",
                  wal.last_index().value, want_last.value);
    r->storage->append(entries);
    return Status::ok();
}

}  // namespace

std::filesystem::path hard_state_dir(const std::filesystem::path& data_dir) { return data_dir; }

Result<RecoveredRaft> recover_raft(const std::filesystem::path& data_dir,
                                   std::uint64_t wal_segment_bytes) {
    RecoveredRaft r;
    r.storage = std::make_unique<RaftStorage>();

    // 1. The newest snapshot: the state machine starts from its image.
    RAFTKV_RETURN_IF_ERROR(recover_snapshot(data_dir, &r));
    const raft::SnapshotMeta snap = r.storage->snapshot_meta();

    // 2. The log after it, into the storage, not applied.
    storage::WalRecovery wal_recovery;
    auto wal = storage::Wal::open(storage::WalOptions{.dir = wal_dir(data_dir),
                                                      .segment_bytes_max = wal_segment_bytes,
                                                      .hard_state_dir = hard_state_dir(data_dir)},
                                  &wal_recovery);
    if (!wal) return wal.error();
    r.wal = std::move(*wal);
    for (std::string& w : wal_recovery.warnings) r.warnings.push_back(std::move(w));
    RAFTKV_RETURN_IF_ERROR(recover_log(data_dir, snap, std::move(wal_recovery.entries), &r));

    // 3. The hard state: the newest of the WAL's records and the hard state
    // file (storage/wal.h).
    r.hard_state = wal_recovery.hard_state;
    const raft::Term last_term = *r.storage->term(r.storage->last_index());
    if (r.hard_state.term < last_term) {
        r.hard_state.term = last_term;
        r.hard_state.vote = raft::NodeId(0);
    }
    if (r.hard_state.commit > r.storage->last_index()) {
        return Status::errorf(Code::kCorruption,
                              "the hard state ({}) says index {} is committed but the log in {} "
                              "ends at index {}",
                              storage::to_string(r.hard_state), r.hard_state.commit.value,
                              wal_dir(data_dir).string(), r.storage->last_index().value);
    }
    return r;
}

}  // namespace raftkv::server
