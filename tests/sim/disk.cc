// disk.cc — the simulated disk: the volatile and durable images, sync, the
// faults and what a crash keeps.
//
// The rules (what survives a crash, what each write replaces) are in disk.h.
#include "sim/disk.h"

#include <fmt/format.h>

#include <utility>

#include "base/assert.h"

namespace raftkv::sim {

using raft::Entry;
using raft::Index;
using raft::SnapshotMeta;

std::string DiskCounters::to_string() const {
    return fmt::format(
        "writes={} (hs={} appends={} entries={} snapshots={}) refused={} syncs={} "
        "sync_failures={} crashes={} lost={} survived={} torn={}",
        writes, hard_state_writes, appends, entries_appended, snapshot_writes, writes_refused,
        syncs, sync_failures, crashes, writes_lost, writes_survived, torn_appends);
}

std::string image_summary(const DiskImage& image) {
    const raft::MemoryLogStorage& log = image.log;
    const SimHardState& hs = image.hard_state;
    return fmt::format(
        "hs=(term={} vote={} commit={}) snapshot=(index={} term={} bytes={}) "
        "log=[{}, {}) last_term={}",
        hs.term.value, hs.vote.value, hs.commit.value, log.snapshot_meta().index.value,
        log.snapshot_meta().term.value, image.snapshot ? image.snapshot->data.size() : 0,
        log.first_index().value, log.last_index().next().value, log.term(log.last_index())->value);
}

namespace {

using Write = std::variant<SimHardState, std::vector<Entry>, SimSnapshot>;

std::string range_text(std::span<const Entry> entries) {
    return fmt::format("[{}, {})", entries.front().index.value, entries.back().index.next().value);
}

std::string write_text(const Write& write) {
    if (const auto* hs = std::get_if<SimHardState>(&write)) {
        return fmt::format("hard state term={} vote={} commit={}", hs->term.value, hs->vote.value,
                           hs->commit.value);
    }
    if (const auto* entries = std::get_if<std::vector<Entry>>(&write)) {
        return fmt::format("append {} last_term={}", range_text(*entries),
                           entries->back().term.value);
    }
    const SimSnapshot& s = std::get<SimSnapshot>(write);
    return fmt::format("snapshot index={} term={} bytes={}", s.meta.index.value, s.meta.term.value,
                       s.data.size());
}

// A snapshot this node took keeps the entries after it; one that disagrees
// with the log (received from a leader) replaces the whole log.
bool is_compaction(const raft::MemoryLogStorage& log, SnapshotMeta meta) {
    return meta.index <= log.last_index() && log.term(meta.index) == meta.term;
}

void apply_snapshot(DiskImage& image, const SimSnapshot& s) {
    if (is_compaction(image.log, s.meta)) {
        image.log.compact(s.meta, s.data);
    } else {
        image.log.apply_snapshot(s.meta, s.data);
    }
    image.snapshot = s;
    RAFTKV_ASSERT(image.log.snapshot_meta() == s.meta);
}

// Applies the first `entry_count` entries of an append, or the whole of any
// other write. Entries are one unit each; the other writes are atomic.
void apply_write(DiskImage& image, const Write& write, std::size_t entry_count) {
    if (const auto* hs = std::get_if<SimHardState>(&write)) {
        image.hard_state = *hs;
    } else if (const auto* entries = std::get_if<std::vector<Entry>>(&write)) {
        RAFTKV_ASSERT(entry_count <= entries->size());
        image.log.append(std::span<const Entry>(*entries).first(entry_count));
    } else {
        apply_snapshot(image, std::get<SimSnapshot>(write));
    }
}

std::size_t unit_count(const Write& write) {
    if (const auto* entries = std::get_if<std::vector<Entry>>(&write)) return entries->size();
    return 1;
}

void apply_whole(DiskImage& image, const Write& write) {
    apply_write(image, write, unit_count(write));
}

}  // namespace

SimDisk::SimDisk(DiskOptions options) : options_(std::move(options)) {}

Status SimDisk::check_writable(std::string_view what) {
    if (has_failed_) {
        ++counters_.writes_refused;
        if (options_.trace) emit(fmt::format("refused {}: failed after a sync error", what));
        return Status::errorf(Code::kIoError,
                              "{} on the simulated disk of node {}: disk failed after a sync "
                              "error; crash and restart the node",
                              what, options_.node.value);
    }
    if (is_full_) {
        ++counters_.writes_refused;
        if (options_.trace) emit(fmt::format("refused {}: disk full", what));
        return Status::errorf(Code::kDiskFull,
                              "{} on the simulated disk of node {}: no space left (simulated)",
                              what, options_.node.value);
    }
    return Status::ok();
}

Status SimDisk::save_hard_state(const SimHardState& hs) {
    const SimHardState& now = current_.hard_state;
    RAFTKV_ASSERT(hs.term >= now.term, "node {}: term {} -> {} went back", options_.node.value,
                  now.term.value, hs.term.value);
    RAFTKV_ASSERT(hs.term > now.term || now.vote == NodeId(0) || hs.vote == now.vote,
                  "node {}: vote in term {} changed {} -> {}", options_.node.value, hs.term.value,
                  now.vote.value, hs.vote.value);
    RAFTKV_ASSERT(hs.commit >= now.commit, "node {}: commit {} -> {} went back",
                  options_.node.value, now.commit.value, hs.commit.value);
    Write write = hs;
    RAFTKV_RETURN_IF_ERROR(check_writable(write_text(write)));
    ++counters_.hard_state_writes;
    push(std::move(write));
    return Status::ok();
}

Status SimDisk::append(std::span<const Entry> entries) {
    RAFTKV_ASSERT(!entries.empty(), "node {}: empty append", options_.node.value);
    RAFTKV_ASSERT(entries.front().index <= current_.log.last_index().next(),
                  "node {}: append at {} leaves a gap after {}", options_.node.value,
                  entries.front().index.value, current_.log.last_index().value);
    Write write = std::vector<Entry>(entries.begin(), entries.end());
    RAFTKV_RETURN_IF_ERROR(check_writable(write_text(write)));
    ++counters_.appends;
    counters_.entries_appended += entries.size();
    push(std::move(write));
    return Status::ok();
}

Status SimDisk::save_snapshot(const SimSnapshot& snapshot) {
    const SnapshotMeta held = current_.log.snapshot_meta();
    RAFTKV_ASSERT(snapshot.meta.index > held.index, "node {}: snapshot {} not newer than {}",
                  options_.node.value, snapshot.meta.index.value, held.index.value);
    Write write = snapshot;
    RAFTKV_RETURN_IF_ERROR(check_writable(write_text(write)));
    ++counters_.snapshot_writes;
    push(std::move(write));
    return Status::ok();
}

void SimDisk::push(Write write) {
    RAFTKV_ASSERT(pending_.size() < kPendingWritesMax, "node {}: {} writes pending",
                  options_.node.value, pending_.size());
    if (options_.trace) {
        std::string line = write_text(write);
        const auto* entries = std::get_if<std::vector<Entry>>(&write);
        if (entries != nullptr && entries->front().index <= current_.log.last_index()) {
            line += fmt::format(" replaces [{}, {})", entries->front().index.value,
                                current_.log.last_index().next().value);
        }
        emit(line);
    }
    apply_whole(current_, write);
    pending_.push_back(std::move(write));
    ++counters_.writes;
}

Status SimDisk::sync() {
    if (has_failed_) {
        ++counters_.sync_failures;
        if (options_.trace) emit("sync refused: failed after a sync error");
        return Status::errorf(Code::kIoError,
                              "sync on the simulated disk of node {}: disk failed after a sync "
                              "error; crash and restart the node",
                              options_.node.value);
    }
    if (must_fail_next_sync_) {
        must_fail_next_sync_ = false;
        has_failed_ = true;
        ++counters_.sync_failures;
        if (options_.trace) emit(fmt::format("sync failed (injected), {} writes", pending_.size()));
        return Status::errorf(Code::kIoError,
                              "sync on the simulated disk of node {}: input/output error "
                              "(injected), {} writes not durable",
                              options_.node.value, pending_.size());
    }
    for (const Write& write : pending_) apply_whole(durable_, write);
    const std::size_t write_count = pending_.size();
    pending_.clear();
    ++counters_.syncs;
    if (options_.trace)
        emit(fmt::format("sync {} writes: {}", write_count, image_summary(durable_)));
    return Status::ok();
}

void SimDisk::crash(NetworkRng& rng, CrashOptions options) {
    ++counters_.crashes;
    std::size_t unit_total = 0;
    for (const Write& write : pending_) unit_total += unit_count(write);
    // The number of units that reached the platter, in write order.
    std::size_t cut = 0;
    if (options.torn_writes && unit_total > 0) cut = rng.uniform(0, unit_total);

    std::string torn_text;
    std::size_t survived = 0;
    for (const Write& write : pending_) {
        const std::size_t units = unit_count(write);
        if (cut >= units) {
            apply_whole(durable_, write);
            cut -= units;
            ++survived;
            continue;
        }
        if (cut > 0) {  // only an append has more than one unit
            apply_write(durable_, write, cut);
            ++counters_.torn_appends;
            torn_text =
                fmt::format(", torn {} kept {} of {} entries", write_text(write), cut, units);
        }
        break;
    }
    counters_.writes_survived += survived;
    counters_.writes_lost += pending_.size() - survived;
    if (options_.trace)
        emit(fmt::format("crash{} kept {} of {} unsynced writes{}: {}",
                         options.torn_writes ? " torn" : "", survived, pending_.size(), torn_text,
                         image_summary(durable_)));
    pending_.clear();
    current_ = durable_;
    has_failed_ = false;
    must_fail_next_sync_ = false;
}

// Callers check options_.trace first, so an untraced run formats nothing.
void SimDisk::emit(std::string_view line) const {
    if (options_.trace) options_.trace(fmt::format("disk {}: {}", options_.node.value, line));
}

}  // namespace raftkv::sim
