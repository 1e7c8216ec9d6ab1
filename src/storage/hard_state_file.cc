// hard_state_file.cc — encode, save and load of the hard state file
// (hard_state_file.h, docs/snapshot_format.md).
#include "storage/hard_state_file.h"

#include <tuple>

#include "base/checksum.h"
#include "base/coding.h"
#include "storage/files.h"

namespace raftkv::storage {
namespace {

constexpr std::size_t kChecksumOffset = 40;

}  // namespace

bool is_newer_hard_state(const raft::HardState& a, const raft::HardState& b) {
    const auto key = [](const raft::HardState& hs) {
        return std::tuple(hs.term, hs.vote != raft::NodeId(0), hs.commit);
    };
    return key(a) > key(b);
}

std::string to_string(const raft::HardState& hs) {
    return fmt::format("term={} vote={} commit={}", hs.term.value, hs.vote.value, hs.commit.value);
}

std::string encode_hard_state(const raft::HardState& state) {
    std::string out;
    out.append(kHardStateMagic);
    put_u32(&out, kHardStateFormatVersion);
    put_u32(&out, 0);
    put_u64(&out, state.term.value);
    put_u64(&out, state.vote.value);
    put_u64(&out, state.commit.value);
    RAFTKV_ASSERT(out.size() == kChecksumOffset);
    put_u64(&out, checksum(out));
    RAFTKV_ASSERT(out.size() == kHardStateBytes);
    return out;
}

Result<raft::HardState> decode_hard_state(std::string_view bytes,
                                          const std::filesystem::path& path) {
    auto corrupt = [&](std::string_view what) {
        return Status::errorf(Code::kCorruption, "{} in hard state file {} ({} bytes)", what,
                              path.string(), bytes.size());
    };
    if (bytes.size() != kHardStateBytes) {
        return corrupt(fmt::format("wrong size, expected {} bytes", kHardStateBytes));
    }
    if (bytes.substr(0, kHardStateMagic.size()) != kHardStateMagic) return corrupt("bad magic");
    if (checksum(bytes.substr(0, kChecksumOffset)) != decode_u64(bytes.data() + kChecksumOffset)) {
        return corrupt("checksum mismatch");
    }
    const std::uint32_t version = decode_u32(bytes.data() + 8);
    if (version != kHardStateFormatVersion) {
        return corrupt(fmt::format("unsupported format version {} (this build reads {})", version,
                                   kHardStateFormatVersion));
    }
    if (decode_u32(bytes.data() + 12) != 0) return corrupt("nonzero reserved field");
    return raft::HardState{
        .term = raft::Term(decode_u64(bytes.data() + 16)),
        .vote = raft::NodeId(decode_u64(bytes.data() + 24)),
        .commit = raft::Index(decode_u64(bytes.data() + 32)),
    };
}

Status save_hard_state(const std::filesystem::path& dir, const raft::HardState& state) {
    RAFTKV_RETURN_IF_ERROR(create_dirs(dir));
    const std::string bytes = encode_hard_state(state);
    RAFTKV_DEBUG_ASSERT(decode_hard_state(bytes, dir).has_value());
    return write_file_atomic(dir / kHardStateFileName, bytes);
}

Result<raft::HardState> load_hard_state(const std::filesystem::path& dir) {
    const std::filesystem::path path = dir / kHardStateFileName;
    Result<std::string> bytes = read_file(path);
    if (!bytes) {
        if (bytes.error().code() == Code::kNotFound) return raft::HardState{};
        return bytes.error();
    }
    return decode_hard_state(*bytes, path);
}

}  // namespace raftkv::storage
