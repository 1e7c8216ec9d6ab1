// wal_reader.cc — segment validation and the torn-tail rules (wal_reader.h).
#include "storage/wal_reader.h"

#include <algorithm>

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
        raft::Term prev_term = o_.prev_term;
        while (off < bytes_.size()) {
            const Step step = read_record(off, prev_term);
            if (!step.status.is_ok()) return step.status;
            if (step.torn) break;
            off = step.next_offset;
            prev_term = scan_.entries.back().term;
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
        return fmt::format("in {} at offset {} (record {})", o_.path.string(), off,
                           scan_.entries.size());
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
        // The header goes out in the same write as the first record, so a
        // damaged header with no record after it is an unfinished segment.
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
        if (header.first_index != o_.name_index) {
            return Status::errorf(Code::kCorruption,
                                  "segment header says first index {} but the name says {} in {}",
                                  header.first_index.value, o_.name_index.value, o_.path.string());
        }
        return Status::ok();
    }

    Step read_record(std::size_t off, raft::Term prev_term) {
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
        if (Status s = check_fields(h, off, prev_term); !s.is_ok()) return Step{.status = s};
        scan_.record_offsets.push_back(off);
        scan_.entries.push_back(raft::Entry{.term = h.term,
                                            .index = h.index,
                                            .type = static_cast<raft::EntryType>(h.type),
                                            .data = std::string(payload)});
        return Step{.next_offset = end};
    }

    // The second layer: a record whose checksums match but whose fields are
    // impossible was written wrong (or by another version), never torn.
    Status check_fields(const RecordHeader& h, std::size_t off, raft::Term prev_term) const {
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
};

}  // namespace

Result<SegmentScan> scan_segment(std::string_view bytes, const SegmentScanOptions& options) {
    return Scanner(bytes, options).run();
}

}  // namespace raftkv::storage
