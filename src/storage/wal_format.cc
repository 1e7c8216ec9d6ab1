// wal_format.cc — encoders and decoders for the layout in wal_format.h.
#include "storage/wal_format.h"

#include <fmt/format.h>

#include "base/assert.h"
#include "base/checksum.h"
#include "base/coding.h"

namespace raftkv::storage {
namespace {

std::uint32_t header_checksum_of(std::string_view header) {
    return static_cast<std::uint32_t>(
        checksum(header.substr(kPayloadBytesOffset, kRecordHeaderBytes - kPayloadBytesOffset)));
}

std::uint64_t record_checksum_of(std::string_view header, std::string_view payload) {
    Checksummer c;
    c.update(header.substr(kHeaderChecksumOffset, kRecordHeaderBytes - kHeaderChecksumOffset));
    c.update(payload);
    return c.digest();
}

void encode_record_of(std::uint8_t type, raft::Term term, raft::Index index,
                      std::string_view payload, std::string* out) {
    RAFTKV_ASSERT(payload.size() <= UINT32_MAX, "payload of {} bytes", payload.size());
    const std::size_t start = out->size();
    out->append(kRecordHeaderBytes, '\0');
    char* h = out->data() + start;
    encode_u32(h + kPayloadBytesOffset, static_cast<std::uint32_t>(payload.size()));
    h[kTypeOffset] = static_cast<char>(type);
    encode_u64(h + kTermOffset, term.value);
    encode_u64(h + kIndexOffset, index.value);
    const std::string_view header(h, kRecordHeaderBytes);
    encode_u32(h + kHeaderChecksumOffset, header_checksum_of(header));
    encode_u64(h + kRecordChecksumOffset, record_checksum_of(header, payload));
    out->append(payload);
    RAFTKV_DEBUG_ASSERT(record_header_checksum_ok(std::string_view(*out).substr(start)));
}

}  // namespace

std::string segment_file_name(raft::Index first_index) {
    return fmt::format("{:020d}{}", first_index.value, kWalSuffix);
}

std::optional<raft::Index> parse_segment_file_name(std::string_view name) {
    if (name.size() != kWalNameDigits + kWalSuffix.size()) return std::nullopt;
    if (name.substr(kWalNameDigits) != kWalSuffix) return std::nullopt;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < kWalNameDigits; ++i) {
        const char c = name[i];
        if (c < '0' || c > '9') return std::nullopt;
        const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
        if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
        v = v * 10 + digit;
    }
    if (v == 0) return std::nullopt;  // index 0 means "none"
    return raft::Index(v);
}

void encode_segment_header(raft::Index first_index, std::string* out) {
    const std::size_t start = out->size();
    out->append(kWalMagic);
    put_u32(out, kWalFormatVersion);
    put_u32(out, 0);
    put_u64(out, first_index.value);
    put_u64(out, checksum(std::string_view(*out).substr(start, 24)));
    RAFTKV_ASSERT(out->size() - start == kSegmentHeaderBytes);
}

std::optional<std::string> decode_segment_header(std::string_view bytes, SegmentHeader* header) {
    RAFTKV_ASSERT(bytes.size() == kSegmentHeaderBytes);
    if (bytes.substr(0, kWalMagic.size()) != kWalMagic) return "bad segment magic";
    const std::uint64_t want = decode_u64(bytes.data() + 24);
    if (checksum(bytes.substr(0, 24)) != want) return "segment header checksum mismatch";
    header->version = decode_u32(bytes.data() + 8);
    if (header->version < kWalFormatVersionOldest || header->version > kWalFormatVersion) {
        return fmt::format("unsupported segment format version {} (this build reads {} to {})",
                           header->version, kWalFormatVersionOldest, kWalFormatVersion);
    }
    if (decode_u32(bytes.data() + 12) != 0) return "nonzero reserved field in segment header";
    header->first_index = raft::Index(decode_u64(bytes.data() + 16));
    return std::nullopt;
}

bool segment_header_is_intact(std::string_view bytes) {
    RAFTKV_ASSERT(bytes.size() >= kSegmentHeaderBytes);
    return bytes.substr(0, kWalMagic.size()) == kWalMagic &&
           checksum(bytes.substr(0, 24)) == decode_u64(bytes.data() + 24);
}

void encode_record(const raft::Entry& entry, std::string* out) {
    encode_record_of(static_cast<std::uint8_t>(entry.type), entry.term, entry.index, entry.data,
                     out);
}

void encode_hard_state_record(const raft::HardState& hs, raft::Index last_index, std::string* out) {
    std::string payload;
    put_u64(&payload, hs.vote.value);
    put_u64(&payload, hs.commit.value);
    static_assert(kHardStatePayloadBytes == 16);
    encode_record_of(kHardStateRecordType, hs.term, last_index, payload, out);
}

std::optional<raft::HardState> decode_hard_state_record(const RecordHeader& header,
                                                        std::string_view payload) {
    RAFTKV_ASSERT(header.type == kHardStateRecordType);
    if (payload.size() != kHardStatePayloadBytes) return std::nullopt;
    return raft::HardState{.term = header.term,
                           .vote = raft::NodeId(decode_u64(payload.data())),
                           .commit = raft::Index(decode_u64(payload.data() + 8))};
}

bool record_header_checksum_ok(std::string_view header) {
    RAFTKV_ASSERT(header.size() >= kRecordHeaderBytes);
    return decode_u32(header.data() + kHeaderChecksumOffset) == header_checksum_of(header);
}

RecordHeader decode_record_header(std::string_view header) {
    RAFTKV_ASSERT(header.size() >= kRecordHeaderBytes);
    const char* h = header.data();
    RecordHeader r;
    r.record_checksum = decode_u64(h + kRecordChecksumOffset);
    r.header_checksum = decode_u32(h + kHeaderChecksumOffset);
    r.payload_bytes = decode_u32(h + kPayloadBytesOffset);
    r.type = static_cast<std::uint8_t>(h[kTypeOffset]);
    r.reserved_is_zero = true;
    for (std::size_t i = kReservedOffset; i < kTermOffset; ++i) {
        if (h[i] != 0) r.reserved_is_zero = false;
    }
    r.term = raft::Term(decode_u64(h + kTermOffset));
    r.index = raft::Index(decode_u64(h + kIndexOffset));
    return r;
}

bool record_checksum_ok(std::string_view header, std::string_view payload) {
    return decode_u64(header.data() + kRecordChecksumOffset) ==
           record_checksum_of(header.substr(0, kRecordHeaderBytes), payload);
}

bool is_known_entry_type(std::uint8_t type) {
    return type == static_cast<std::uint8_t>(raft::EntryType::kCommand) ||
           type == static_cast<std::uint8_t>(raft::EntryType::kNoop) ||
           type == static_cast<std::uint8_t>(raft::EntryType::kConfig);
}

}  // namespace raftkv::storage
