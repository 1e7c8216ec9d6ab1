// wal_reader.h — validates one WAL segment file's bytes during recovery.
//
// Checks the segment header, then every record: header checksum, length,
// record checksum, type, index continuity and term order; hard state
// records (format 2) are checked and collected apart from the entries. Decides what a bad
// record means: in the last segment a torn tail (an incomplete record, a
// zero-filled tail, or a bad final record with nothing but zeros after it) is
// reported for cutting; anything else is kCorruption naming the file, byte
// offset and record number. Does not touch the disk: wal.cc reads the files,
// checks order across segments and truncates. Layout: docs/wal_format.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "raft/types.h"

namespace raftkv::storage {

struct SegmentScanOptions {
    std::filesystem::path path;  // names the file in messages
    raft::Index name_index;      // the first index the file name promises
    bool is_last = false;        // only the last segment may have a torn tail
    std::uint32_t payload_bytes_max = 0;
    raft::Term prev_term;  // term of the entry before this segment (0 if none)
};

struct SegmentScan {
    std::uint32_t version = 0;                  // of the segment header
    std::vector<raft::Entry> entries;           // in index order, contiguous
    std::vector<std::uint64_t> record_offsets;  // byte offset of entries[i]
    // The newest hard state record of the segment (format 2), if any
    // (storage::is_newer_hard_state decides; records only grow in that order).
    std::optional<raft::HardState> hard_state;
    std::size_t hard_state_records = 0;
    // Bytes from the start of the file to the end of the last good record
    // (or of the header when there is none). The file is valid up to here.
    std::uint64_t valid_bytes = 0;
    // Last segment only: its header is incomplete, zero-filled or damaged with
    // no record after it (a crash while creating it), so the file holds
    // nothing and should be removed.
    bool header_is_torn = false;
    // Last segment only: set when a torn tail starts at valid_bytes; says what
    // was found there, with file and offset.
    std::optional<std::string> torn_tail;
};

// Validates a whole segment file held in `bytes`. Errors are kCorruption.
Result<SegmentScan> scan_segment(std::string_view bytes, const SegmentScanOptions& options);

}  // namespace raftkv::storage
