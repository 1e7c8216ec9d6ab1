// wal_format.h — the byte layout of WAL segment files: segment header, record
// header, file names, and their encoders and decoders.
//
// Pure functions over bytes; no I/O and no policy (what a bad record means is
// decided by wal_reader.cc). The spec, with a grammar, sizes and byte order, is
// docs/wal_format.md; a change to anything here bumps kWalFormatVersion.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "raft/types.h"

namespace raftkv::storage {

inline constexpr std::string_view kWalMagic = "RAFTKVWL";  // 8 bytes, not NUL-terminated
// Version 2 adds hard state records (type 4). Version 1 segments are still
// read; a WAL never appends to one (its next write starts a new segment).
inline constexpr std::uint32_t kWalFormatVersion = 2;
inline constexpr std::uint32_t kWalFormatVersionOldest = 1;
inline constexpr std::string_view kWalSuffix = ".wal";
inline constexpr std::size_t kWalNameDigits = 20;

// Segment header, 32 bytes:
//   0  magic          8 bytes "RAFTKVWL"
//   8  version        u32
//   12 reserved       u32, zero
//   16 first_index    u64, equals the index in the file name
//   24 checksum       u64, XXH3-64 of bytes [0, 24)
inline constexpr std::size_t kSegmentHeaderBytes = 32;

// Record header, 40 bytes, followed by payload_bytes of payload:
//   0  record_checksum u64, XXH3-64 of header bytes [8, 40) then the payload
//   8  header_checksum u32, low 32 bits of XXH3-64 of header bytes [12, 40)
//   12 payload_bytes   u32
//   16 type            u8, raft::EntryType (1, 2, 3), or 4: a hard state record
//   17 reserved        7 bytes, zero
//   24 term            u64
//   32 index           u64
inline constexpr std::size_t kRecordHeaderBytes = 40;
inline constexpr std::size_t kRecordChecksumOffset = 0;
inline constexpr std::size_t kHeaderChecksumOffset = 8;
inline constexpr std::size_t kPayloadBytesOffset = 12;
inline constexpr std::size_t kTypeOffset = 16;
inline constexpr std::size_t kReservedOffset = 17;
inline constexpr std::size_t kTermOffset = 24;
inline constexpr std::size_t kIndexOffset = 32;
static_assert(kSegmentHeaderBytes == kWalMagic.size() + 4 + 4 + 8 + 8);
static_assert(kRecordHeaderBytes == kIndexOffset + 8);
static_assert(kTermOffset == kReservedOffset + 7);
static_assert(kRecordHeaderBytes % 8 == 0, "keeps u64 fields aligned within a record header");

// A hard state record (version 2): term in the header's term field, the
// index of the last entry record before it in the header's index field
// (the segment's first index - 1 when none precedes it in its segment), and
// a 16-byte payload: vote u64, commit u64. Not an entry: it takes no index.
inline constexpr std::uint8_t kHardStateRecordType = 4;
inline constexpr std::size_t kHardStatePayloadBytes = 16;

struct SegmentHeader {
    std::uint32_t version = 0;
    raft::Index first_index;
};

// The decoded fixed part of a record. Only meaningful after
// record_header_checksum_ok() accepted the bytes it came from.
struct RecordHeader {
    std::uint64_t record_checksum = 0;
    std::uint32_t header_checksum = 0;
    std::uint32_t payload_bytes = 0;
    std::uint8_t type = 0;
    bool reserved_is_zero = false;
    raft::Term term;
    raft::Index index;
};

// "00000000000000000042.wal" for index 42.
std::string segment_file_name(raft::Index first_index);
// The index of a name segment_file_name() produced; nullopt for any other name.
std::optional<raft::Index> parse_segment_file_name(std::string_view name);

// Appends the 32-byte segment header to `out`.
void encode_segment_header(raft::Index first_index, std::string* out);
// Decodes exactly kSegmentHeaderBytes. On failure returns the reason (bad
// magic, bad checksum, unknown version) and leaves `header` unspecified.
std::optional<std::string> decode_segment_header(std::string_view bytes, SegmentHeader* header);

// True when the magic and the header checksum match (the version may still be
// one this build does not read).
bool segment_header_is_intact(std::string_view bytes);

// Appends one entry record (header and payload) to `out`.
void encode_record(const raft::Entry& entry, std::string* out);
// Appends one hard state record to `out`; `last_index` is the index of the
// entry record before it (see kHardStateRecordType).
void encode_hard_state_record(const raft::HardState& hs, raft::Index last_index, std::string* out);
// The hard state a record of kHardStateRecordType carries, from its decoded
// header and payload; nullopt when the payload is not kHardStatePayloadBytes.
std::optional<raft::HardState> decode_hard_state_record(const RecordHeader& header,
                                                        std::string_view payload);
// True when the header checksum of the kRecordHeaderBytes at `header` matches,
// so payload_bytes can be trusted.
bool record_header_checksum_ok(std::string_view header);
RecordHeader decode_record_header(std::string_view header);
// True when the record checksum covers `header` and `payload` correctly.
bool record_checksum_ok(std::string_view header, std::string_view payload);
// A type byte that names a known raft::EntryType.
bool is_known_entry_type(std::uint8_t type);

}  // namespace raftkv::storage
