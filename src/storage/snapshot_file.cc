// snapshot_file.cc — encoding (version 2, and version 1 for tests), atomic
// save, newest-first load and chunked reads of snapshot files
// (snapshot_file.h, docs/snapshot_format.md).
#include "storage/snapshot_file.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "base/checksum.h"
#include "base/coding.h"
#include "storage/files.h"

namespace raftkv::storage {
namespace {

constexpr std::string_view kPrefix = "snap-";
constexpr std::string_view kSuffix = ".snap";
constexpr std::size_t kDigits = 20;

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

void warn(std::vector<std::string>* warnings, std::string message) {
    spdlog::warn("snapshot: {}", message);
    if (warnings != nullptr) warnings->push_back(std::move(message));
}

// Version 1 field offsets (docs/snapshot_format.md).
constexpr std::size_t kV1PayloadBytesOffset = 32;
constexpr std::size_t kV1ChecksumOffset = 40;
// Version 2 field offsets.
constexpr std::size_t kVoterCountOffset = 32;
constexpr std::size_t kLearnerCountOffset = 36;
constexpr std::size_t kPayloadBytesOffset = 40;
constexpr std::size_t kPayloadChecksumOffset = 48;
constexpr std::size_t kHeaderChecksumOffset = 56;
static_assert(kHeaderChecksumOffset + 8 == kSnapshotHeaderBytes);
static_assert(kV1ChecksumOffset + 8 == kSnapshotV1HeaderBytes);
constexpr std::size_t kMemberIdBytes = 8;
// The most bytes decode_head() can need: a version 2 header and the largest membership.
constexpr std::size_t kHeadBytesMax = kSnapshotHeaderBytes + kSnapshotMembersMax * kMemberIdBytes;
// Payload bytes read at a time by verify_payload().
constexpr std::uint64_t kVerifyChunkBytes = 1 << 20;

// Version 1: XXH3-64 of the header before the checksum, then the payload.
std::uint64_t v1_checksum(std::string_view header, std::string_view payload) {
    Checksummer c;
    c.update(header.substr(0, kV1ChecksumOffset));
    c.update(payload);
    return c.digest();
}

// Version 2: XXH3-64 of the header before its checksum, then the member ids.
std::uint64_t v2_header_checksum(std::string_view header, std::string_view members) {
    Checksummer c;
    c.update(header.substr(0, kHeaderChecksumOffset));
    c.update(members);
    return c.digest();
}

void put_members(const std::set<raft::NodeId>& ids, std::string* out) {
    for (raft::NodeId id : ids) put_u64(out, id.value);
}

// What the start of a snapshot file says about it.
struct Head {
    std::uint32_t version = 0;
    SnapshotMeta meta;
    std::uint64_t payload_offset = 0;
    std::uint64_t payload_bytes = 0;
    // Version 2: the payload's checksum. Version 1: the whole file's.
    std::uint64_t checksum = 0;
};

// Reads `count` ids from `bytes` into `out`: nonzero, strictly ascending.
std::optional<std::string> get_members(std::string_view bytes, std::uint32_t count,
                                       std::set<raft::NodeId>* out) {
    std::uint64_t prev = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::uint64_t id = decode_u64(bytes.data() + i * kMemberIdBytes);
        if (id == 0) return "member id 0";
        if (id <= prev) return "member ids not in ascending order";
        prev = id;
        out->insert(raft::NodeId(id));
    }
    return std::nullopt;
}

// Validates the header (and, for version 2, the membership) of a snapshot
// file that is `file_bytes` long; `bytes` is its start, at least
// min(file_bytes, kHeadBytesMax) bytes of it. Does not check the payload.
Result<Head> decode_head(std::string_view bytes, std::uint64_t file_bytes,
                         const std::filesystem::path& path) {
    RAFTKV_ASSERT(bytes.size() >= std::min<std::uint64_t>(file_bytes, kHeadBytesMax),
                  "decode_head given {} of {} bytes", bytes.size(), file_bytes);
    auto corrupt = [&](std::string_view what) {
        return Status::errorf(Code::kCorruption, "{} in snapshot {} ({} bytes)", what,
                              path.string(), file_bytes);
    };
    if (file_bytes < kSnapshotV1HeaderBytes) return corrupt("incomplete header");
    if (bytes.substr(0, kSnapshotMagic.size()) != kSnapshotMagic) return corrupt("bad magic");
    Head head;
    head.version = decode_u32(bytes.data() + 8);
    head.meta.index = raft::Index(decode_u64(bytes.data() + 16));
    head.meta.term = raft::Term(decode_u64(bytes.data() + 24));
    if (head.version == 1) {
        head.payload_offset = kSnapshotV1HeaderBytes;
        head.payload_bytes = decode_u64(bytes.data() + kV1PayloadBytesOffset);
        head.checksum = decode_u64(bytes.data() + kV1ChecksumOffset);
    } else if (head.version == 2) {
        if (file_bytes < kSnapshotHeaderBytes) return corrupt("incomplete header");
        const std::uint32_t voters = decode_u32(bytes.data() + kVoterCountOffset);
        const std::uint32_t learners = decode_u32(bytes.data() + kLearnerCountOffset);
        if (voters > kSnapshotMembersMax || learners > kSnapshotMembersMax - voters) {
            return corrupt(fmt::format("{} voters and {} learners, over the maximum of {}", voters,
                                       learners, kSnapshotMembersMax));
        }
        const std::uint64_t members_bytes = (voters + learners) * kMemberIdBytes;
        if (file_bytes < kSnapshotHeaderBytes + members_bytes) {
            return corrupt("incomplete membership");
        }
        const std::string_view members = bytes.substr(kSnapshotHeaderBytes, members_bytes);
        if (v2_header_checksum(bytes, members) !=
            decode_u64(bytes.data() + kHeaderChecksumOffset)) {
            return corrupt("header checksum mismatch");
        }
        if (auto why = get_members(members, voters, &head.meta.membership.voters)) {
            return corrupt(*why);
        }
        if (auto why = get_members(members.substr(voters * kMemberIdBytes), learners,
                                   &head.meta.membership.learners)) {
            return corrupt(*why);
        }
        for (raft::NodeId id : head.meta.membership.learners) {
            if (head.meta.membership.voters.contains(id)) {
                return corrupt(fmt::format("node {} is both voter and learner", id.value));
            }
        }
        head.payload_offset = kSnapshotHeaderBytes + members_bytes;
        head.payload_bytes = decode_u64(bytes.data() + kPayloadBytesOffset);
        head.checksum = decode_u64(bytes.data() + kPayloadChecksumOffset);
    } else {
        return corrupt(fmt::format("unsupported format version {} (this build reads 1 and {})",
                                   head.version, kSnapshotFormatVersion));
    }
    if (head.payload_bytes != file_bytes - head.payload_offset) {
        return corrupt(fmt::format("header says {} payload bytes but the file holds {}",
                                   head.payload_bytes, file_bytes - head.payload_offset));
    }
    if (decode_u32(bytes.data() + 12) != 0) return corrupt("nonzero reserved field");
    if (head.meta.index.value == 0) return corrupt("last index 0");
    return head;
}

}  // namespace

std::string snapshot_file_name(raft::Index last_index) {
    return fmt::format("{}{:020d}{}", kPrefix, last_index.value, kSuffix);
}

std::string encode_snapshot(const SnapshotMeta& meta, std::string_view payload) {
    const raft::Membership& m = meta.membership;
    RAFTKV_ASSERT(m.voters.size() + m.learners.size() <= kSnapshotMembersMax,
                  "{} voters and {} learners", m.voters.size(), m.learners.size());
    RAFTKV_ASSERT(!m.voters.contains(raft::NodeId(0)) && !m.learners.contains(raft::NodeId(0)),
                  "member id 0");
    std::string out;
    out.reserve(kSnapshotHeaderBytes + (m.voters.size() + m.learners.size()) * kMemberIdBytes +
                payload.size());
    out.append(kSnapshotMagic);
    put_u32(&out, kSnapshotFormatVersion);
    put_u32(&out, 0);
    put_u64(&out, meta.index.value);
    put_u64(&out, meta.term.value);
    put_u32(&out, static_cast<std::uint32_t>(m.voters.size()));
    put_u32(&out, static_cast<std::uint32_t>(m.learners.size()));
    put_u64(&out, payload.size());
    put_u64(&out, checksum(payload));
    RAFTKV_ASSERT(out.size() == kHeaderChecksumOffset);
    std::string members;
    put_members(m.voters, &members);
    put_members(m.learners, &members);
    put_u64(&out, v2_header_checksum(out, members));
    RAFTKV_ASSERT(out.size() == kSnapshotHeaderBytes);
    out.append(members);
    out.append(payload);
    return out;
}

std::string encode_snapshot_v1(const SnapshotMeta& meta, std::string_view payload) {
    RAFTKV_ASSERT(meta.membership == raft::Membership{}, "a version 1 file has no membership");
    std::string out;
    out.reserve(kSnapshotV1HeaderBytes + payload.size());
    out.append(kSnapshotMagic);
    put_u32(&out, 1);
    put_u32(&out, 0);
    put_u64(&out, meta.index.value);
    put_u64(&out, meta.term.value);
    put_u64(&out, payload.size());
    RAFTKV_ASSERT(out.size() == kV1ChecksumOffset);
    put_u64(&out, v1_checksum(out, payload));
    RAFTKV_ASSERT(out.size() == kSnapshotV1HeaderBytes);
    out.append(payload);
    return out;
}

Result<LoadedSnapshot> decode_snapshot(std::string_view bytes, const std::filesystem::path& path) {
    Result<Head> head = decode_head(bytes, bytes.size(), path);
    if (!head) return head.error();
    const std::string_view payload = bytes.substr(head->payload_offset);
    const std::uint64_t sum = head->version == 1 ? v1_checksum(bytes, payload) : checksum(payload);
    if (sum != head->checksum) {
        return Status::errorf(Code::kCorruption, "checksum mismatch in snapshot {} ({} bytes)",
                              path.string(), bytes.size());
    }
    return LoadedSnapshot{
        .meta = std::move(head->meta), .payload = std::string(payload), .version = head->version};
}

Status save_snapshot(const std::filesystem::path& dir, const SnapshotMeta& meta,
                     std::string_view payload) {
    RAFTKV_ASSERT(meta.index.value >= 1);
    RAFTKV_RETURN_IF_ERROR(create_dirs(dir));
    const std::string bytes = encode_snapshot(meta, payload);
    RAFTKV_DEBUG_ASSERT(decode_snapshot(bytes, dir).has_value());
    RAFTKV_RETURN_IF_ERROR(write_file_atomic(dir / snapshot_file_name(meta.index), bytes));
    Result<std::vector<std::string>> names = list_dir(dir);
    if (!names) return names.error();
    bool removed = false;
    for (const std::string& name : *names) {
        const std::optional<raft::Index> index = parse_snapshot_file_name(name);
        if (!index || *index >= meta.index) continue;
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
    if (loaded->meta.index != newest->first) {
        return Status::errorf(Code::kCorruption,
                              "snapshot {} holds index {}, not the one its name says",
                              path.string(), loaded->meta.index.value);
    }
    return std::optional<LoadedSnapshot>(std::move(*loaded));
}

namespace {

// pread(2) of up to `bytes` at `offset`, retrying on EINTR and short reads;
// fewer bytes only at the end of the file.
Result<std::string> pread_upto(int fd, std::uint64_t offset, std::uint64_t bytes,
                               const std::filesystem::path& path) {
    std::string out(bytes, '\0');
    std::uint64_t got = 0;
    while (got < bytes) {
        const ssize_t n =
            ::pread(fd, out.data() + got, bytes - got, static_cast<off_t>(offset + got));
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_status(errno,
                                fmt::format("read {} at offset {}", path.string(), offset + got));
        }
        if (n == 0) break;
        got += static_cast<std::uint64_t>(n);
    }
    out.resize(got);
    return out;
}

}  // namespace

Result<SnapshotFile> SnapshotFile::open(const std::filesystem::path& path) {
    SnapshotFile f;
    f.path_ = path;
    f.fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!f.fd_.is_open()) {
        if (errno == ENOENT) {
            return Status::errorf(Code::kNotFound, "open {}: no such file", path.string());
        }
        return errno_status(errno, fmt::format("open {}", path.string()));
    }
    struct stat st;
    if (::fstat(f.fd_.get(), &st) != 0) {
        return errno_status(errno, fmt::format("stat {}", path.string()));
    }
    const auto file_bytes = static_cast<std::uint64_t>(st.st_size);
    Result<std::string> start =
        pread_upto(f.fd_.get(), 0, std::min<std::uint64_t>(file_bytes, kHeadBytesMax), path);
    if (!start) return start.error();
    if (start->size() < std::min<std::uint64_t>(file_bytes, kHeadBytesMax)) {
        return Status::errorf(Code::kIoError, "{} shrank while being opened", path.string());
    }
    Result<Head> head = decode_head(*start, file_bytes, path);
    if (!head) return head.error();
    f.meta_ = std::move(head->meta);
    f.version_ = head->version;
    f.payload_offset_ = head->payload_offset;
    f.payload_bytes_ = head->payload_bytes;
    f.payload_checksum_ = head->checksum;
    if (f.version_ == 1) f.v1_header_ = start->substr(0, kV1ChecksumOffset);
    return f;
}

Result<std::string> SnapshotFile::read_payload(std::uint64_t offset,
                                               std::uint64_t bytes_max) const {
    RAFTKV_ASSERT(offset <= payload_bytes_, "payload read at {} past its {} bytes", offset,
                  payload_bytes_);
    const std::uint64_t want = std::min(bytes_max, payload_bytes_ - offset);
    Result<std::string> bytes = pread_upto(fd_.get(), payload_offset_ + offset, want, path_);
    if (!bytes) return bytes.error();
    if (bytes->size() != want) {
        return Status::errorf(Code::kIoError,
                              "snapshot {} shrank: {} bytes at payload offset {}, wanted {}",
                              path_.string(), bytes->size(), offset, want);
    }
    return bytes;
}

Status SnapshotFile::verify_payload() const {
    Checksummer c;
    if (version_ == 1) c.update(v1_header_);
    for (std::uint64_t offset = 0; offset < payload_bytes_; offset += kVerifyChunkBytes) {
        Result<std::string> chunk = read_payload(offset, kVerifyChunkBytes);
        if (!chunk) return chunk.error();
        c.update(*chunk);
    }
    if (c.digest() != payload_checksum_) {
        return Status::errorf(Code::kCorruption, "checksum mismatch in snapshot {} ({} bytes)",
                              path_.string(), payload_offset_ + payload_bytes_);
    }
    return Status::ok();
}

}  // namespace raftkv::storage
