// snapshot_file.cc — encoding, atomic save and newest-first load of snapshot
// files (snapshot_file.h, docs/snapshot_format.md).
#include "storage/snapshot_file.h"

#include <spdlog/spdlog.h>

#include "base/checksum.h"
#include "base/coding.h"
#include "storage/files.h"

namespace raftkv::storage {
namespace {

constexpr std::string_view kPrefix = "snap-";
constexpr std::string_view kSuffix = ".snap";
constexpr std::size_t kDigits = 20;
constexpr std::size_t kChecksumOffset = 40;

std::optional<raft::Index> parse_snapshot_file_name(std::string_view name) {
    if (name.size() != kPrefix.size() + kDigits + kSuffix.size()) return std::nullopt;
    if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : name.substr(kPrefix.size(), kDigits)) {
        if (c < '0' || c > '9') return std::nullopt;
        const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
        if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
        v = v * 10 + digit;
    }
    return raft::Index(v);
}

std::uint64_t snapshot_checksum(std::string_view header, std::string_view payload) {
    Checksummer c;
    c.update(header.substr(0, kChecksumOffset));
    c.update(payload);
    return c.digest();
}

void warn(std::vector<std::string>* warnings, std::string message) {
    spdlog::warn("snapshot: {}", message);
    if (warnings != nullptr) warnings->push_back(std::move(message));
}

}  // namespace

std::string snapshot_file_name(raft::Index last_index) {
    return fmt::format("{}{:020d}{}", kPrefix, last_index.value, kSuffix);
}

std::string encode_snapshot(const SnapshotMeta& meta, std::string_view payload) {
    std::string out;
    out.reserve(kSnapshotHeaderBytes + payload.size());
    out.append(kSnapshotMagic);
    put_u32(&out, kSnapshotFormatVersion);
    put_u32(&out, 0);
    put_u64(&out, meta.last_index.value);
    put_u64(&out, meta.last_term.value);
    put_u64(&out, payload.size());
    RAFTKV_ASSERT(out.size() == kChecksumOffset);
    put_u64(&out, snapshot_checksum(out, payload));
    RAFTKV_ASSERT(out.size() == kSnapshotHeaderBytes);
    out.append(payload);
    return out;
}

Result<LoadedSnapshot> decode_snapshot(std::string_view bytes, const std::filesystem::path& path) {
    auto corrupt = [&](std::string_view what) {
        return Status::errorf(Code::kCorruption, "{} in snapshot {} ({} bytes)", what,
                              path.string(), bytes.size());
    };
    if (bytes.size() < kSnapshotHeaderBytes) return corrupt("incomplete header");
    if (bytes.substr(0, kSnapshotMagic.size()) != kSnapshotMagic) return corrupt("bad magic");
    const std::uint32_t version = decode_u32(bytes.data() + 8);
    if (version != kSnapshotFormatVersion) {
        return corrupt(fmt::format("unsupported format version {} (this build reads {})", version,
                                   kSnapshotFormatVersion));
    }
    const std::uint64_t payload_bytes = decode_u64(bytes.data() + 32);
    if (payload_bytes != bytes.size() - kSnapshotHeaderBytes) {
        return corrupt(fmt::format("header says {} payload bytes but the file holds {}",
                                   payload_bytes, bytes.size() - kSnapshotHeaderBytes));
    }
    const std::string_view payload = bytes.substr(kSnapshotHeaderBytes);
    if (snapshot_checksum(bytes, payload) != decode_u64(bytes.data() + kChecksumOffset)) {
        return corrupt("checksum mismatch");
    }
    if (decode_u32(bytes.data() + 12) != 0) return corrupt("nonzero reserved field");
    LoadedSnapshot out;
    out.meta.last_index = raft::Index(decode_u64(bytes.data() + 16));
    out.meta.last_term = raft::Term(decode_u64(bytes.data() + 24));
    if (out.meta.last_index.value == 0) return corrupt("last index 0");
    out.payload = std::string(payload);
    return out;
}

Status save_snapshot(const std::filesystem::path& dir, const SnapshotMeta& meta,
                     std::string_view payload) {
    RAFTKV_ASSERT(meta.last_index.value >= 1);
    RAFTKV_RETURN_IF_ERROR(create_dirs(dir));
    const std::string bytes = encode_snapshot(meta, payload);
    RAFTKV_DEBUG_ASSERT(decode_snapshot(bytes, dir).has_value());
    RAFTKV_RETURN_IF_ERROR(write_file_atomic(dir / snapshot_file_name(meta.last_index), bytes));
    Result<std::vector<std::string>> names = list_dir(dir);
    if (!names) return names.error();
    bool removed = false;
    for (const std::string& name : *names) {
        const std::optional<raft::Index> index = parse_snapshot_file_name(name);
        if (!index || *index >= meta.last_index) continue;
        RAFTKV_RETURN_IF_ERROR(remove_file(dir / name));
        removed = true;
    }
    // Not needed for the new snapshot's durability, only so that old files
    // do not come back after a crash.
    if (removed) RAFTKV_RETURN_IF_ERROR(sync_dir(dir));
    return Status::ok();
}

Result<std::optional<LoadedSnapshot>> load_newest_snapshot(const std::filesystem::path& dir,
                                                           std::vector<std::string>* warnings) {
    Result<std::vector<std::string>> names = list_dir(dir);
    if (!names) {
        if (names.error().code() == Code::kNotFound) return std::optional<LoadedSnapshot>();
        return names.error();
    }
    std::optional<std::pair<raft::Index, std::string>> newest;
    bool removed = false;
    for (const std::string& name : *names) {
        if (name.ends_with(kTempSuffix) &&
            parse_snapshot_file_name(name.substr(0, name.size() - kTempSuffix.size()))) {
            warn(warnings, fmt::format("removed {}: left over from an interrupted save",
                                       (dir / name).string()));
            RAFTKV_RETURN_IF_ERROR(remove_file(dir / name));
            removed = true;
            continue;
        }
        const std::optional<raft::Index> index = parse_snapshot_file_name(name);
        if (index && (!newest || *index > newest->first)) newest.emplace(*index, name);
    }
    if (removed) RAFTKV_RETURN_IF_ERROR(sync_dir(dir));
    if (!newest) return std::optional<LoadedSnapshot>();
    const std::filesystem::path path = dir / newest->second;
    Result<std::string> bytes = read_file(path);
    if (!bytes) return bytes.error();
    Result<LoadedSnapshot> loaded = decode_snapshot(*bytes, path);
    if (!loaded) return loaded.error();
    if (loaded->meta.last_index != newest->first) {
        return Status::errorf(Code::kCorruption,
                              "snapshot {} holds index {}, not the one its name says",
                              path.string(), loaded->meta.last_index.value);
    }
    return std::optional<LoadedSnapshot>(std::move(*loaded));
}

}  // namespace raftkv::storage
