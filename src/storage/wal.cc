// wal.cc — the segmented log (wal.h): recovery, append with rotation and
// disk-full rollback, group sync, suffix truncation and prefix compaction.
#include "storage/wal.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>

#include "storage/hard_state_file.h"
#include "storage/wal_format.h"
#include "storage/wal_reader.h"

namespace raftkv::storage {
namespace {

Status fdatasync_status(int fd, const std::filesystem::path& path) {
    if (::fdatasync(fd) != 0)
        return errno_status(errno, fmt::format("fdatasync {}", path.string()));
    return Status::ok();
}

void warn(WalRecovery* recovery, std::string message) {
    spdlog::warn("wal: {}", message);
    recovery->warnings.push_back(std::move(message));
}

}  // namespace

Wal::Wal(const WalOptions& options) : options_(options) {}

Wal::~Wal() = default;

Result<std::unique_ptr<Wal>> Wal::open(const WalOptions& options, WalRecovery* recovery) {
    RAFTKV_ASSERT(recovery != nullptr);
    RAFTKV_ASSERT(options.segment_bytes_max > 0);
    RAFTKV_RETURN_IF_ERROR(create_dirs(options.dir));
    std::unique_ptr<Wal> wal(new Wal(options));
    if (!options.hard_state_dir.empty()) {
        Result<raft::HardState> file = load_hard_state(options.hard_state_dir);
        if (!file) return file.error();
        wal->hard_state_ = *file;
        wal->spilled_ = *file;
    }
    RAFTKV_RETURN_IF_ERROR(wal->recover(recovery));
    recovery->hard_state = wal->hard_state_;
    return wal;
}

raft::Index Wal::first_index() const {
    return segments_.empty() ? next_index_ : segments_.front().first_index;
}

raft::Index Wal::last_index() const { return next_index_.prev(); }

Status Wal::recover(WalRecovery* recovery) {
    Result<std::vector<std::string>> names = list_dir(options_.dir);
    if (!names) return names.error();
    std::vector<std::pair<raft::Index, std::filesystem::path>> found;
    for (const std::string& name : *names) {
        if (!name.ends_with(kWalSuffix)) continue;
        const std::optional<raft::Index> index = parse_segment_file_name(name);
        if (!index) {
            warn(recovery, fmt::format("ignoring {}: not a segment name", name));
            continue;
        }
        found.emplace_back(*index, options_.dir / name);
    }
    // Names are fixed-width, so list_dir's bytewise order is index order.
    raft::Term prev_term;
    for (std::size_t i = 0; i < found.size(); ++i) {
        const auto& [first, path] = found[i];
        const bool is_last = i + 1 == found.size();
        Result<std::string> bytes = read_file(path);
        if (!bytes) return bytes.error();
        Result<SegmentScan> scan =
            scan_segment(*bytes, SegmentScanOptions{
                                     .path = path,
                                     .name_index = first,
                                     .is_last = is_last,
                                     .payload_bytes_max = options_.payload_bytes_max,
                                     .prev_term = prev_term,
                                 });
        if (!scan) return scan.error();
        // An unfinished last segment goes before the gap check: it holds no
        // record, so whatever index its name says does not matter. A
        // segment of hard state records only is a real one (the log
        // continues at its name's index).
        if (scan->header_is_torn || (scan->entries.empty() && scan->hard_state_records == 0)) {
            if (!is_last) {
                return Status::errorf(Code::kCorruption, "segment {} holds no records",
                                      path.string());
            }
            warn(recovery,
                 fmt::format("removed {}: an unfinished segment with no records ({} bytes)",
                             path.string(), bytes->size()));
            RAFTKV_RETURN_IF_ERROR(remove_file(path));
            continue;
        }
        if (!segments_.empty() && first != segments_.back().end_index) {
            return Status::errorf(Code::kCorruption,
                                  "index gap: {} ends before index {} but {} starts at {}",
                                  segments_.back().path.string(), segments_.back().end_index.value,
                                  path.string(), first.value);
        }
        if (scan->torn_tail) {
            warn(recovery, fmt::format("cut off a torn tail: {}; removed {} bytes",
                                       *scan->torn_tail, bytes->size() - scan->valid_bytes));
            UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
            if (!fd.is_open()) return errno_status(errno, fmt::format("open {}", path.string()));
            RAFTKV_RETURN_IF_ERROR(truncate_and_sync(fd.get(), scan->valid_bytes, path));
        }
        if (scan->entries.empty() && !is_last) {
            return Status::errorf(Code::kCorruption, "segment {} holds no entries", path.string());
        }
        const raft::Index end = scan->entries.empty() ? first : scan->entries.back().index.next();
        if (!scan->entries.empty()) prev_term = scan->entries.back().term;
        if (scan->hard_state && is_newer_hard_state(*scan->hard_state, hard_state_)) {
            hard_state_ = *scan->hard_state;
        }
        segments_.push_back(Segment{first, end, scan->valid_bytes, path, scan->version});
        bytes_on_disk_ += scan->valid_bytes;
        for (raft::Entry& e : scan->entries) recovery->entries.push_back(std::move(e));
    }
    last_term_ = prev_term;
    if (!options_.hard_state_dir.empty()) {
        // The hard state file may be renamed into place but its directory
        // not yet synced (a crash of the process that wrote it).
        RAFTKV_RETURN_IF_ERROR(sync_dir(options_.hard_state_dir));
    }
    // What was read may be only in the page cache (the previous process
    // crashed before its sync): make it durable before anything is built on
    // it, such as a vote granted again from a recovered vote, or a segment
    // created after the last one without syncing it first.
    dir_needs_sync_ = true;
    if (segments_.empty()) return sync();
    next_index_ = segments_.back().end_index;
    RAFTKV_RETURN_IF_ERROR(open_last_segment_for_append());
    segment_needs_sync_ = true;
    return sync();
}

Status Wal::open_last_segment_for_append() {
    RAFTKV_ASSERT(!segments_.empty());
    const std::filesystem::path& path = segments_.back().path;
    fd_.reset(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd_.is_open()) return errno_status(errno, fmt::format("open {}", path.string()));
    return Status::ok();
}

Status Wal::fail(Status status) {
    RAFTKV_ASSERT(!status.is_ok());
    if (failure_.is_ok()) {
        // A sticky failure is never reported as kDiskFull, whatever errno
        // said (an fsync can fail with ENOSPC): callers read kDiskFull as
        // "nothing was written, retry when there is space".
        if (status.code() == Code::kDiskFull) {
            status = Status::error(Code::kIoError, status.message());
        }
        spdlog::error("wal: failed, refusing further writes: {}", status.to_string());
        failure_ = std::move(status);
    }
    return failure_;
}

Status Wal::append(std::span<const raft::Entry> entries,
                   const std::optional<raft::HardState>& hard_state) {
    if (!failure_.is_ok()) return failure_;
    raft::Index want = next_index_;
    raft::Term term = last_term_;
    for (const raft::Entry& e : entries) {
        RAFTKV_ASSERT(e.index == want, "append of index {} but the next index is {}", e.index.value,
                      want.value);
        RAFTKV_ASSERT(e.term >= term, "term went backwards: {} after {}", e.term.value, term.value);
        RAFTKV_ASSERT(is_known_entry_type(static_cast<std::uint8_t>(e.type)));
        if (e.data.size() > options_.payload_bytes_max) {
            return Status::errorf(Code::kInvalid, "entry {} has {} bytes, over the maximum of {}",
                                  e.index.value, e.data.size(), options_.payload_bytes_max);
        }
        want = want.next();
        term = e.term;
    }
    const bool writes_hard_state = hard_state && *hard_state != hard_state_;
    if (hard_state) {
        RAFTKV_ASSERT(!options_.hard_state_dir.empty(), "a hard state without a hard_state_dir");
        RAFTKV_ASSERT(!is_newer_hard_state(hard_state_, *hard_state),
                      "hard state went backwards: {} after {}", to_string(*hard_state),
                      to_string(hard_state_));
        RAFTKV_ASSERT(hard_state->term >= term, "hard state term {} below the log's term {}",
                      hard_state->term.value, term.value);
    }
    if (entries.empty() && !writes_hard_state) return Status::ok();

    // One batch, one write per segment touched: undone whole on kDiskFull.
    const UndoPoint undo = undo_point();
    Status s = [&]() -> Status {
        std::string buf;
        for (const raft::Entry& e : entries) {
            const bool rotate = needs_new_segment() ||
                                (segments_.back().end_index > segments_.back().first_index &&
                                 segments_.back().bytes + buf.size() >= options_.segment_bytes_max);
            if (rotate) {
                RAFTKV_RETURN_IF_ERROR(write_to_open_segment(buf));
                buf.clear();
                RAFTKV_RETURN_IF_ERROR(start_segment(e.index));
            }
            encode_record(e, &buf);
            segments_.back().end_index = e.index.next();
        }
        if (writes_hard_state) {
            if (needs_new_segment()) RAFTKV_RETURN_IF_ERROR(start_segment(want));
            encode_hard_state_record(*hard_state, want.prev(), &buf);
        }
        return write_to_open_segment(buf);
    }();
    if (s.is_ok()) {
        next_index_ = want;
        last_term_ = term;
        if (writes_hard_state) hard_state_ = *hard_state;
        return s;
    }
    const std::string what =
        entries.empty() ? "hard state record " + to_string(*hard_state)
                        : fmt::format("append of entries {}..{}", entries.front().index.value,
                                      entries.back().index.value);
    return undo_or_fail(std::move(s), undo, what);
}

Status Wal::save_hard_state(const raft::HardState& hs) { return append({}, hs); }

bool Wal::needs_new_segment() const {
    return segments_.empty() || segments_.back().version < kWalFormatVersion;
}

Wal::UndoPoint Wal::undo_point() const {
    return UndoPoint{
        .segment_count = segments_.size(),
        .last_segment_bytes = segments_.empty() ? 0 : segments_.back().bytes,
        .next_index = next_index_,
        .last_term = last_term_,
        .bytes_on_disk = bytes_on_disk_,
        .hard_state = hard_state_,
    };
}

Status Wal::undo_or_fail(Status s, const UndoPoint& undo, std::string_view what) {
    if (!failure_.is_ok()) return failure_;  // a sync on rotation failed
    if (s.code() != Code::kDiskFull) return fail(std::move(s));
    if (Status u = undo_append(undo); !u.is_ok()) return fail(std::move(u));
    spdlog::warn("wal: {} undone: {}", what, s.to_string());
    return s;
}

Status Wal::spill_hard_state() {
    if (hard_state_ == spilled_) return Status::ok();
    RAFTKV_ASSERT(!options_.hard_state_dir.empty());
    if (Status s = storage::save_hard_state(options_.hard_state_dir, hard_state_); !s.is_ok()) {
        // A full disk left the old file in place and nothing was removed:
        // the caller may try again.
        if (s.code() == Code::kDiskFull) return s;
        return fail(std::move(s));
    }
    spilled_ = hard_state_;
    return Status::ok();
}

Status Wal::write_to_open_segment(std::string_view bytes) {
    if (bytes.empty()) return Status::ok();
    Segment& seg = segments_.back();
    RAFTKV_RETURN_IF_ERROR(write_at(fd_.get(), seg.bytes, bytes, seg.path));
    seg.bytes += bytes.size();
    bytes_on_disk_ += bytes.size();
    segment_needs_sync_ = true;
    return Status::ok();
}

// The open segment is synced before the next is created: afterwards only the
// last segment can hold unsynced bytes, which is what lets recovery treat a
// bad record anywhere else as corruption.
Status Wal::start_segment(raft::Index first_index) {
    if (fd_.is_open() && segment_needs_sync_) {
        if (Status s = fdatasync_status(fd_.get(), segments_.back().path); !s.is_ok()) {
            return fail(std::move(s));
        }
        segment_needs_sync_ = false;
    }
    const std::filesystem::path path = options_.dir / segment_file_name(first_index);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.is_open()) return errno_status(errno, fmt::format("create {}", path.string()));
    fd_ = std::move(fd);
    segments_.push_back(Segment{first_index, first_index, 0, path, kWalFormatVersion});
    dir_needs_sync_ = true;
    std::string header;
    encode_segment_header(first_index, &header);
    return write_to_open_segment(header);
}

Status Wal::undo_append(const UndoPoint& undo) {
    const bool removes_segments = segments_.size() > undo.segment_count;
    while (segments_.size() > undo.segment_count) {
        fd_.reset();
        RAFTKV_RETURN_IF_ERROR(remove_segment_file(segments_.back()));
        segments_.pop_back();
    }
    if (removes_segments) {
        // Make the removal durable now: a segment of the undone batch that
        // came back after a power loss would bring back writes that were
        // answered "not applied".
        RAFTKV_RETURN_IF_ERROR(sync_dir(options_.dir));
        dir_needs_sync_ = false;
    }
    next_index_ = undo.next_index;
    last_term_ = undo.last_term;
    bytes_on_disk_ = undo.bytes_on_disk;
    hard_state_ = undo.hard_state;
    if (segments_.empty()) {
        // The open segment went with the batch: nothing is left to sync.
        fd_.reset();
        segment_needs_sync_ = false;
        return Status::ok();
    }
    Segment& seg = segments_.back();
    RAFTKV_RETURN_IF_ERROR(open_last_segment_for_append());
    RAFTKV_RETURN_IF_ERROR(truncate_and_sync(fd_.get(), undo.last_segment_bytes, seg.path));
    seg.bytes = undo.last_segment_bytes;
    seg.end_index = undo.next_index;
    segment_needs_sync_ = false;  // truncate_and_sync synced what is left
    return Status::ok();
}

Status Wal::remove_segment_file(const Segment& segment) {
    Status s = remove_file(segment.path);
    if (!s.is_ok() && s.code() != Code::kNotFound) return s;
    dir_needs_sync_ = true;
    return Status::ok();
}

Status Wal::sync() {
    if (!failure_.is_ok()) return failure_;
    RAFTKV_ASSERT(!segment_needs_sync_ || (fd_.is_open() && !segments_.empty()),
                  "unsynced bytes but no open segment");
    if (segment_needs_sync_) {
        if (Status s = fdatasync_status(fd_.get(), segments_.back().path); !s.is_ok()) {
            return fail(std::move(s));
        }
        segment_needs_sync_ = false;
    }
    if (dir_needs_sync_) {
        if (Status s = sync_dir(options_.dir); !s.is_ok()) return fail(std::move(s));
        dir_needs_sync_ = false;
    }
    return Status::ok();
}

Status Wal::truncate_suffix(raft::Index first) {
    if (!failure_.is_ok()) return failure_;
    RAFTKV_ASSERT(first >= first_index(), "truncate_suffix({}) below the first index {}",
                  first.value, first_index().value);
    if (first > last_index()) return sync();
    // The records cut may hold the newest hard state.
    RAFTKV_RETURN_IF_ERROR(spill_hard_state());
    // Whole segments go first, newest first, and durably: a crash before the
    // cut into the remaining segment below then leaves a shorter but
    // contiguous log, never a gap.
    bool removed = false;
    while (!segments_.empty() && segments_.back().first_index >= first) {
        fd_.reset();
        if (Status s = remove_segment_file(segments_.back()); !s.is_ok()) return fail(std::move(s));
        bytes_on_disk_ -= segments_.back().bytes;
        segments_.pop_back();
        removed = true;
    }
    if (removed) {
        // The removed open segment took any unsynced bytes with it.
        segment_needs_sync_ = false;
        if (Status s = sync_dir(options_.dir); !s.is_ok()) return fail(std::move(s));
        dir_needs_sync_ = false;
    }
    next_index_ = first;
    if (segments_.empty()) {
        last_term_ = raft::Term();
        return sync();
    }
    // Rare (a leader overwriting our uncommitted suffix), so rereading the
    // segment to find the cut offset is cheaper than keeping offsets in memory.
    Segment& seg = segments_.back();
    Result<std::string> bytes = read_file(seg.path);
    if (!bytes) return fail(bytes.error());
    Result<SegmentScan> scan =
        scan_segment(*bytes, SegmentScanOptions{
                                 .path = seg.path,
                                 .name_index = seg.first_index,
                                 .is_last = true,
                                 .payload_bytes_max = options_.payload_bytes_max,
                             });
    if (!scan) return fail(scan.error());
    const std::uint64_t kept = first.value - seg.first_index.value;
    RAFTKV_ASSERT(kept >= 1 && kept <= scan->entries.size(), "keeping {} of {} entries of {}", kept,
                  scan->entries.size(), seg.path.string());
    last_term_ = scan->entries[kept - 1].term;
    if (!fd_.is_open()) {
        if (Status s = open_last_segment_for_append(); !s.is_ok()) return fail(std::move(s));
    }
    if (kept < scan->entries.size()) {
        const std::uint64_t cut = scan->record_offsets[kept];
        if (Status s = truncate_and_sync(fd_.get(), cut, seg.path); !s.is_ok()) {
            return fail(std::move(s));
        }
        bytes_on_disk_ -= seg.bytes - cut;
        seg.bytes = cut;
    }
    seg.end_index = first;
    return sync();
}

Status Wal::compact_prefix(raft::Index index) {
    if (!failure_.is_ok()) return failure_;
    const bool remove_all = index >= last_index();
    if (remove_all || (segments_.size() > 1 && segments_.front().end_index.prev() <= index)) {
        // The segments removed may hold the newest hard state.
        RAFTKV_RETURN_IF_ERROR(spill_hard_state());
    }
    bool removed = false;
    // Oldest first: a crash part way leaves a contiguous suffix of the log.
    while (!segments_.empty() &&
           (remove_all || (segments_.size() > 1 && segments_.front().end_index.prev() <= index))) {
        if (segments_.size() == 1) fd_.reset();
        if (Status s = remove_segment_file(segments_.front()); !s.is_ok())
            return fail(std::move(s));
        bytes_on_disk_ -= segments_.front().bytes;
        segments_.erase(segments_.begin());
        removed = true;
    }
    if (remove_all) {
        segment_needs_sync_ = false;
        next_index_ = index.next();
    }
    if (removed) {
        if (Status s = sync_dir(options_.dir); !s.is_ok()) return fail(std::move(s));
        dir_needs_sync_ = false;
    }
    return Status::ok();
}

void Wal::reset_next_index(raft::Index next) {
    RAFTKV_ASSERT(segments_.empty(), "reset_next_index({}) with {} segments on disk", next.value,
                  segments_.size());
    RAFTKV_ASSERT(next.value >= 1);
    next_index_ = next;
}

}  // namespace raftkv::storage
