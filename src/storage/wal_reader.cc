// wal_reader.cc — segment validation and the torn-tail rules (wal_reader.h).
#include "storage/wal_reader.h"

#include <algorithm>

#include "storage/hard_state_file.h"
#include "storage/wal_format.h"

namespace raftkv::storage {
namespace {

bool all_zero(std::string_view bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

// True when some offset after `from` holds a record header whose header
// checksum matches: evidence that real records follow a bad one, so the bad
// one is not a torn tail. Only runs on the error path.
bool valid_header_follows(std::string_view bytes, std::size_t from) {
    for (std::size_t off = from; off + kRecordHeaderBytes <= bytes.size(); ++off) {
        const std::string_view h = bytes.substr(off, kRecordHeaderBytes);
        if (!all_zero(h) && record_header_checksum_ok(h)) return true;
    }
    return false;
}

class Scanner {
public:
    Scanner(std::string_view bytes, const SegmentScanOptions& options)
        : bytes_(bytes), o_(options) {}

    Result<SegmentScan> run() {
        if (Status s = check_header(); !s.is_ok()) return s;
        if (scan_.header_is_torn) return std::move(scan_);
        std::size_t off = kSegmentHeaderBytes;
        prev_term_ = o_.prev_term;
        while (off < bytes_.size()) {
            const Step step = read_record(off);
            if (!step.status.is_ok()) return step.status;
            if (step.torn) break;
            off = step.next_offset;
        }
        scan_.valid_bytes = static_cast<std::uint64_t>(off);
        return std::move(scan_);
    }

private:
    struct Step {
        Status status;
        bool torn = false;
        std::size_t next_offset = 0;
    };

    std::string where(std::size_t off) const {
        return fmt::format("in {} at offset {} (record {})", o_.path.string(), off, records_);
    }

    Status corrupt(std::string_view what, std::size_t off) const {
        return Status::errorf(Code::kCorruption, "{} {}", what, where(off));
    }

    // A bad record at `off`: a torn tail if this is the last segment and the
    // caller decided nothing real follows it, corruption otherwise.
    Step bad(std::string_view what, std::size_t off, bool nothing_follows) {
        if (o_.is_last && nothing_follows) {
            scan_.torn_tail = fmt::format("{} {}", what, where(off));
            return Step{.torn = true};
        }
        return Step{.status = corrupt(what, off)};
    }

    Status check_header() {
        if (bytes_.size() < kSegmentHeaderBytes || all_zero(bytes_)) {
            if (o_.is_last) {
                scan_.header_is_torn = true;
                return Status::ok();
            }
            return Status::errorf(Code::kCorruption, "incomplete segment header in {} ({} bytes)",
                                  o_.path.string(), bytes_.size());
        }
        // The header is written just before the segment's first record and
        // synced with it, never alone, so a damaged header with no record
        // after it is an unfinished segment.
        if (o_.is_last && !segment_header_is_intact(bytes_) &&
            !valid_header_follows(bytes_, kSegmentHeaderBytes)) {
            scan_.header_is_torn = true;
            return Status::ok();
        }
        SegmentHeader header;
        if (auto why = decode_segment_header(bytes_.substr(0, kSegmentHeaderBytes), &header)) {
            return Status::errorf(Code::kCorruption, "{} in {} at offset 0", *why,
                                  o_.path.string());
        }
        scan_.version = header.version;
        if (header.first_index != o_.name_index) {
            return Status::errorf(Code::kCorruption,
                                  "segment header says first index {} but the name says {} in {}",
                                  header.first_index.value, o_.name_index.value, o_.path.string());
        }
        return Status::ok();
    }

    Step read_record(std::size_t off) {
        const std::string_view rest = bytes_.substr(off);
        if (rest.size() < kRecordHeaderBytes) return bad("incomplete record header", off, true);
        if (all_zero(rest)) return bad("zero-filled tail", off, true);
        const std::string_view hbytes = rest.substr(0, kRecordHeaderBytes);
        if (!record_header_checksum_ok(hbytes)) {
            return bad("record header checksum mismatch", off,
                       o_.is_last && !valid_header_follows(bytes_, off + 1));
        }
        const RecordHeader h = decode_record_header(hbytes);
        if (h.payload_bytes > o_.payload_bytes_max) {
            return Step{.status = corrupt(fmt::format("payload of {} bytes exceeds the maximum {}",
                                                      h.payload_bytes, o_.payload_bytes_max),
                                          off)};
        }
        const std::size_t end = off + kRecordHeaderBytes + h.payload_bytes;
        if (end > bytes_.size()) return bad("incomplete record", off, true);
        const std::string_view payload = rest.substr(kRecordHeaderBytes, h.payload_bytes);
        if (!record_checksum_ok(hbytes, payload)) {
            return bad("checksum mismatch", off, all_zero(bytes_.substr(end)));
        }
        if (h.type == kHardStateRecordType) {
            if (Status s = read_hard_state(h, payload, off); !s.is_ok()) return Step{.status = s};
            ++records_;
            return Step{.next_offset = end};
        }
        if (Status s = check_fields(h, off); !s.is_ok()) return Step{.status = s};
        prev_term_ = h.term;
        ++records_;
        scan_.record_offsets.push_back(off);
        scan_.entries.push_back(raft::Entry{.term = h.term,
                                            .index = h.index,
                                            .type = static_cast<raft::EntryType>(h.type),
                                            .data = std::string(payload)});
        return Step{.next_offset = end};
    }

    // The second layer: a record whose checksums match but whose fields are
    // impossible was written wrong (or by another version), never torn.
    // A hard state record: known only from format 2; its index field names
    // the entry before it and its term is at least that entry's (a server's
    // term is never below its last entry's).
    Status read_hard_state(const RecordHeader& h, std::string_view payload, std::size_t off) {
        if (scan_.version < 2) {
            return corrupt(fmt::format("hard state record in a version {} segment", scan_.version),
                           off);
        }
        if (!h.reserved_is_zero) return corrupt("nonzero reserved bytes in record header", off);
        const raft::Index before =
            scan_.entries.empty() ? o_.name_index.prev() : scan_.entries.back().index;
        if (h.index != before) {
            return corrupt(fmt::format("hard state record after index {} says index {}",
                                       before.value, h.index.value),
                           off);
        }
        if (h.term < prev_term_) {
            return corrupt(fmt::format("hard state term {} below the log's term {}", h.term.value,
                                       prev_term_.value),
                           off);
        }
        std::optional<raft::HardState> hs = decode_hard_state_record(h, payload);
        if (!hs) {
            return corrupt(fmt::format("hard state record of {} bytes, expected {}", payload.size(),
                                       kHardStatePayloadBytes),
                           off);
        }
        if (scan_.hard_state && !is_newer_hard_state(*hs, *scan_.hard_state) &&
            *hs != *scan_.hard_state) {
            return corrupt(fmt::format("hard state went backwards: {} after {}", to_string(*hs),
                                       to_string(*scan_.hard_state)),
                           off);
        }
        scan_.hard_state = *hs;
        ++scan_.hard_state_records;
        return Status::ok();
    }

    Status check_fields(const RecordHeader& h, std::size_t off) const {
        raft::Term prev_term = prev_term_;
        if (!is_known_entry_type(h.type)) {
            return corrupt(fmt::format("unknown entry type {}", h.type), off);
        }
        if (!h.reserved_is_zero) return corrupt("nonzero reserved bytes in record header", off);
        const raft::Index want =
            scan_.entries.empty() ? o_.name_index : scan_.entries.back().index.next();
        if (h.index != want) {
            return corrupt(
                fmt::format("index gap: expected index {}, found {}", want.value, h.index.value),
                off);
        }
        if (h.term < prev_term) {
            return corrupt(
                fmt::format("term went backwards: {} after {}", h.term.value, prev_term.value),
                off);
        }
        return Status::ok();
    }

    std::string_view bytes_;
    const SegmentScanOptions& o_;
    SegmentScan scan_;
    raft::Term prev_term_;     // of the last entry record so far
    std::size_t records_ = 0;  // good records so far, of either kind
};

}  // namespace

Result<SegmentScan> scan_segment(std::string_view bytes, const SegmentScanOptions& options) {
    return Scanner(bytes, options).run();
}

}  // namespace raftkv::storage
