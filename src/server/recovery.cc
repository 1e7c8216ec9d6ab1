// recovery.cc — snapshot, then log replay.
#include "server/recovery.h"

#include <spdlog/spdlog.h>

#include "kv/command_codec.h"
#include "resp/reply_writer.h"
#include "storage/snapshot_file.h"

namespace raftkv::server {

std::filesystem::path wal_dir(const std::filesystem::path& data_dir) { return data_dir / "wal"; }

std::filesystem::path snapshot_dir(const std::filesystem::path& data_dir) {
    return data_dir / "snapshots";
}

std::uint64_t entry_log_bytes(const raft::Entry& entry) {
    return entry.data.size() + 40;  // payload plus the record header (docs/wal_format.md)
}

Result<RecoveredState> recover_state(const std::filesystem::path& data_dir,
                                     std::uint64_t wal_segment_bytes) {
    RecoveredState r;

    // 1. The newest snapshot.
    std::vector<std::string> warnings;  // already logged by the loader
    auto snapshot = storage::load_newest_snapshot(snapshot_dir(data_dir), &warnings);
    if (!snapshot) return snapshot.error();
    if (snapshot->has_value()) {
        const storage::LoadedSnapshot& snap = **snapshot;
        if (Status s = r.state.restore(snap.payload); !s.is_ok()) {
            return Status::errorf(Code::kCorruption, "snapshot at index {} in {}: {}",
                                  snap.meta.last_index.value, snapshot_dir(data_dir).string(),
                                  s.message());
        }
        r.snapshot_index = snap.meta.last_index;
        r.applied = snap.meta.last_index;
        r.term = snap.meta.last_term;
    }

    // 2. The log after it.
    storage::WalRecovery recovery;
    auto wal = storage::Wal::open(
        storage::WalOptions{.dir = wal_dir(data_dir), .segment_bytes_max = wal_segment_bytes},
        &recovery);
    if (!wal) return wal.error();
    std::string scratch;
    for (const raft::Entry& entry : recovery.entries) {
        if (entry.index <= r.applied) continue;  // covered by the snapshot
        if (entry.index != r.applied.next()) {
            return Status::errorf(Code::kCorruption,
                                  "the log in {} resumes at index {} but the snapshot ends at "
                                  "index {}: entries are missing",
                                  wal_dir(data_dir).string(), entry.index.value, r.applied.value);
        }
        if (entry.type == raft::EntryType::kCommand) {
            Result<std::vector<std::string>> args = kv::decode_command(entry.data);
            if (!args) {
                return Status::errorf(Code::kCorruption, "log entry {} in {}: {}",
                                      entry.index.value, wal_dir(data_dir).string(),
                                      args.error().message());
            }
            scratch.clear();
            resp::ReplyWriter out(&scratch);
            r.state.apply(*args, out);
        }
        r.log_bytes_since_snapshot += entry_log_bytes(entry);
        r.term = std::max(r.term, entry.term);
        r.applied = entry.index;
        ++r.entries_replayed;
    }
    // A snapshot newer than the whole log (the log was compacted after it):
    // drop what is left so the next append follows the snapshot.
    if ((*wal)->last_index() < r.applied) {
        RAFTKV_RETURN_IF_ERROR((*wal)->compact_prefix(r.applied));
    }
    RAFTKV_ASSERT((*wal)->last_index() == r.applied, "log ends at {}, state at {}",
                  (*wal)->last_index().value, r.applied.value);
    r.wal = std::move(*wal);
    return r;
}

}  // namespace raftkv::server
