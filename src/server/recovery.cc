// recovery.cc — see recovery.h.
#include "server/recovery.h"

namespace raftkv::server {

std::filesystem::path wal_dir(const std::filesystem::path& data_dir) { return data_dir / "wal"; }

std::filesystem::path snapshot_dir(const std::filesystem::path& data_dir) {
    return data_dir / "snapshots";
}

std::uint64_t entry_log_bytes(const raft::Entry& entry) {
    return entry.data.size() + 40;  // payload plus the record header (docs/wal_format.md)
}

}  // namespace raftkv::server
