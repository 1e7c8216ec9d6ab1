// disk.h — the simulated disk of one simulated server: what a raft node
// persists (hard state, log entries, latest snapshot), and what a power loss
// leaves of it.
//
// Writes land in a volatile layer first (the page cache); sync() makes every
// write so far durable. crash() models power loss: the durable state always
// survives; of the writes not yet synced, by default none survive, and with
// CrashOptions::torn_writes a seeded-random prefix of them does, possibly
// ending in the middle of a log append (a prefix of its entries survives).
//
// The model is a single write-ahead log in which every write is one record
// group: a hard-state record, a batch of entry records, or a snapshot marker
// whose payload file was written, synced and renamed into place before the
// marker (DESIGN.md "Storage": files are replaced atomically). So the states
// a crash may leave are exactly those such a design can: a prefix of the
// writes in order, never anything after a gap; a hard state or snapshot all
// or nothing; a log append cut only between entries (each entry record
// carries its own checksum, so a torn record is cut off at recovery).
//
// Overwrite from an index (a follower truncating a conflicting suffix, §5.3)
// is part of its append, not a separate write: the old suffix is gone from
// the durable state only once the first new entry is. A crash before that
// brings the old suffix back, as replaying a WAL would.
//
// Everything follows from the caller's calls and the generator it passes to
// crash(): no clock, no global randomness. Spec: DESIGN.md "Testing", issue 3.
//
// Does not: model latency, sizes or capacity in bytes (a full disk is a
// switch), corruption of synced data, or reads failing; print anything
// (trace lines go to the sink the caller gives).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/status.h"
#include "raft/log_storage.h"
#include "raft/types.h"
#include "sim/network.h"

namespace raftkv::sim {

// What raft persists besides entries: current term, vote in it, commit index.
using SimHardState = raft::HardState;

// The latest snapshot: its metadata and the opaque state machine image.
struct SimSnapshot {
    raft::SnapshotMeta meta;
    std::string data;

    bool operator==(const SimSnapshot&) const = default;
};

// One state of the disk, durable or as the running node sees it.
// Invariant: log.snapshot_meta() == (snapshot ? snapshot->meta : SnapshotMeta{}).
struct DiskImage {
    SimHardState hard_state;
    raft::MemoryLogStorage log;
    std::optional<SimSnapshot> snapshot;
};

// "hs=(term=3 vote=1 commit=5) snapshot=(index=0 term=0 bytes=0) log=[1, 8) last_term=3"
std::string image_summary(const DiskImage& image);

// A runaway simulation stops here rather than eating memory.
inline constexpr std::size_t kPendingWritesMax = 1'000'000;

struct DiskOptions {
    NodeId node;  // names the disk in trace lines and errors
    // Receives one line per write, sync, refusal, fault and crash. May be empty.
    std::function<void(std::string_view)> trace;
};

struct CrashOptions {
    // false: every unsynced write is lost. true: a random prefix of the
    // unsynced writes survives, cut at a uniform point among the writes'
    // units (an entry of an append is one unit; a hard state or snapshot is
    // one), so the last surviving append may keep only some of its entries.
    bool torn_writes = false;
};

// Only grow, across crashes.
struct DiskCounters {
    std::uint64_t writes = 0;  // accepted writes of all three kinds
    std::uint64_t hard_state_writes = 0;
    std::uint64_t appends = 0;
    std::uint64_t entries_appended = 0;
    std::uint64_t snapshot_writes = 0;
    std::uint64_t writes_refused = 0;  // full or failed disk
    std::uint64_t syncs = 0;           // sync() calls that returned ok
    std::uint64_t sync_failures = 0;   // sync() calls that returned an error
    std::uint64_t crashes = 0;
    std::uint64_t writes_lost = 0;      // unsynced writes no crash kept (a torn one counts)
    std::uint64_t writes_survived = 0;  // unsynced writes a torn crash kept whole
    std::uint64_t torn_appends = 0;     // appends a crash cut inside their batch

    // "writes=5 (hs=1 appends=3 entries=9 snapshots=1) refused=0 syncs=2 ..."
    std::string to_string() const;
};

// The simulated disk of one server. Owned by the simulation, which gives the
// node the views below; survives the node's crash and restart. Not
// thread-safe.
//
// Faults (both simple switches):
// - set_full(true): every later write is refused with Code::kDiskFull and
//   changes nothing, until set_full(false). sync() still works: it allocates
//   nothing.
// - fail_next_sync(): the next sync() returns Code::kIoError and makes
//   nothing durable; the disk is then failed: every write and sync returns
//   kIoError until crash(). A failed fsync is final (STYLE.md section 4):
//   the node must stop, and the simulation crashes and restarts it. Its
//   unsynced writes are still subject to the crash rules (some may have
//   reached the platter before the error).
class SimDisk {
public:
    explicit SimDisk(DiskOptions options);

    // Writes. Each returns ok, or an error and changes nothing (see Faults).
    //
    // Replaces the hard state. Requires term not lower than the current one,
    // and, within a term, no change of a vote once cast; commit never lower.
    Status save_hard_state(const SimHardState& hs);
    // Appends entries with consecutive indexes, the first at or below
    // last_index() + 1; held entries from the first new index on are
    // replaced. Entries at or below the snapshot's index are dropped (as
    // MemoryLogStorage::append). Requires a non-empty batch.
    Status append(std::span<const raft::Entry> entries);
    // Replaces the snapshot; requires snapshot.meta.index above the current
    // one. Entries through meta.index are dropped; those after it are kept
    // when the log holds meta.index with meta.term (a snapshot this node
    // took: compaction), else the whole log is dropped (a snapshot received
    // from the leader supersedes a log that disagrees with it).
    Status save_snapshot(const SimSnapshot& snapshot);

    // Makes every write so far durable. Errors: see Faults.
    Status sync();

    // Power loss: the node's volatile state goes; see CrashOptions for what
    // of the unsynced writes survives. Draws from `rng` only in torn mode
    // with unsynced writes (one uniform draw), so a crash with nothing at
    // stake leaves the caller's random sequence unchanged. Clears
    // fail_next_sync(), armed or failed; a full disk stays full.
    void crash(NetworkRng& rng, CrashOptions options);

    // The state as the running node sees it: every write, synced or not (reads
    // go through the page cache). After crash(), exactly what survived. The
    // references are valid until the next write, sync or crash; a restarted
    // node that keeps a LogStorage of its own copies log().
    const raft::MemoryLogStorage& log() const { return current_.log; }
    const SimHardState& hard_state() const { return current_.hard_state; }
    const std::optional<SimSnapshot>& snapshot() const { return current_.snapshot; }
    const DiskImage& current() const { return current_; }
    // What a crash now would keep at least.
    const DiskImage& durable() const { return durable_; }

    // Writes since the last successful sync (or crash).
    std::size_t pending_writes() const { return pending_.size(); }

    void set_full(bool full) { is_full_ = full; }
    bool is_full() const { return is_full_; }
    void fail_next_sync() { must_fail_next_sync_ = true; }
    // Disarms a fail_next_sync() that has not fired yet (a fault healed).
    void cancel_sync_failure() { must_fail_next_sync_ = false; }
    bool has_failed() const { return has_failed_; }

    const DiskCounters& counters() const { return counters_; }

private:
    // One write not yet durable. The vector is one append's batch.
    using Write = std::variant<SimHardState, std::vector<raft::Entry>, SimSnapshot>;

    Status check_writable(std::string_view what);
    void push(Write write);
    void emit(std::string_view line) const;

    DiskOptions options_;
    DiskCounters counters_;
    // Invariant: current_ == durable_ with pending_ applied in order.
    DiskImage durable_;
    DiskImage current_;
    std::vector<Write> pending_;
    bool is_full_ = false;
    bool must_fail_next_sync_ = false;
    bool has_failed_ = false;  // a sync failed; cleared by crash()
};

}  // namespace raftkv::sim
