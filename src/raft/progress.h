// progress.h — one follower as the leader sees it: how much of the log it is
// known to hold (match), what to send it next (next), and how to send it.
//
// The flow-control state machine of replication, after etcd-io/raft
// tracker/progress.go:
//
//   kProbe      one append at a time until the follower accepts one: after
//               an election, a rejection, or a snapshot (§5.3, dissertation
//               §3.5: the leader backs next off until the logs match).
//   kReplicate  the logs match; appends are pipelined optimistically, next
//               running ahead of match, bounded by an Inflights window
//               (dissertation §10.2.2).
//   kSnapshot   the entries the follower needs are compacted away; a snapshot
//               is being sent in chunks (§7), and nothing else until it is
//               reported done. The send's state (SnapshotSend) lives here.
//
// Owns its transitions (STYLE.md section 1): the leader calls the methods
// below and never sets fields. Does not send messages, read the log, or know
// whether the follower votes: node code does, with these answers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "raft/inflights.h"
#include "raft/log_storage.h"
#include "raft/types.h"

namespace raftkv::raft {

enum class ProgressState : std::uint8_t {
    kProbe = 1,
    kReplicate = 2,
    kSnapshot = 3,
};

std::string_view progress_state_name(ProgressState state);

// A snapshot being sent to a follower in chunks (§7), as its Progress keeps
// it in kSnapshot.
struct SnapshotSend {
    SnapshotMeta meta;
    std::uint64_t bytes = 0;   // the image's size: a replaced image restarts the send
    std::uint64_t offset = 0;  // what the follower acknowledged; <= bytes
    int idle_ticks = 0;        // since the last chunk left
};

// Not thread-safe; owned by the leader's progress tracker, one per peer.
class Progress {
public:
    // A new leader's view of a follower: match 0, next = its own last index
    // + 1 (§5.3, Figure 2: "initialized to leader last log index + 1"), in
    // probe state.
    Progress(Index next, InflightsLimits limits = {});

    ProgressState state() const { return state_; }
    Index match() const { return match_; }
    Index next() const { return next_; }
    // The index of the snapshot being sent; Index(0) outside kSnapshot.
    Index pending_snapshot() const {
        return snapshot_send_ ? snapshot_send_->meta.index : Index(0);
    }
    // The send in progress. Requires state() == kSnapshot.
    const SnapshotSend& snapshot_send() const;
    const Inflights& inflights() const { return inflights_; }
    // In kProbe: an append has been sent and no answer has come yet.
    bool is_probe_sent() const { return probe_sent_; }

    // Whether the follower was heard from since the last check-quorum round
    // (dissertation §6.2). The leader sets it on every message from the
    // follower and clears it when it counts an election timeout's worth.
    bool is_recent_active() const { return recent_active_; }
    void set_recent_active(bool active) { recent_active_ = active; }

    // Whether the leader must not send this follower appends now: in kProbe
    // while a probe is outstanding, in kReplicate while the window is full,
    // always in kSnapshot. Heartbeats are sent regardless.
    bool is_paused() const;

    // Transitions. Each resets the window and the probe flag.
    //
    // To kProbe: next = match + 1, or just past a snapshot that was being
    // sent if that is further (the follower most likely installed it).
    void become_probe();
    // To kReplicate, after the follower accepted an append: next = match + 1.
    void become_replicate();
    // To kSnapshot: the follower needs entries at or below the log's
    // compaction point; the image `meta` describes, `bytes` long, is sent
    // from offset 0. Requires meta.index > match. next = meta.index + 1.
    // Also restarts a send in kSnapshot when the caller replaced the image.
    void become_snapshot(const SnapshotMeta& meta, std::uint64_t bytes);

    // The snapshot send (all require state() == kSnapshot). A chunk left:
    // the idle count restarts.
    void on_snapshot_chunk_sent();
    // One tick passed without a chunk leaving. Returns true once
    // `idle_ticks_max` passed: a chunk or its answer was lost, so the caller
    // sends again from the acknowledged offset.
    bool tick_snapshot_send(int idle_ticks_max);
    // The follower asks for the bytes from `offset` on (it holds those
    // before). Returns false for a duplicate of the answer to the chunk in
    // flight (offset unchanged), which changes nothing; else moves the send
    // to `offset` (at most the image's size) and returns true: the caller
    // sends the chunk there.
    bool maybe_snapshot_acked(std::uint64_t offset);

    // The leader sent an append with `entry_count` entries starting at
    // next() whose payloads total `bytes`. In kReplicate, next moves past
    // them at once (pipelining) and the message enters the window; in kProbe,
    // a probe is now outstanding (an empty append is a probe too). Requires
    // state() != kSnapshot and !is_paused().
    void update_on_entries_send(std::size_t entry_count, std::uint64_t bytes);

    // The follower acknowledged its log matches through `index` (§5.3:
    // "update nextIndex and matchIndex"). Returns true if match grew; a
    // stale or duplicated ack returns false and changes nothing but next,
    // which never falls below index + 1. Frees the window through index and
    // clears an outstanding probe. Does not change state: the caller moves
    // kProbe to kReplicate, and kSnapshot on once match reaches the log.
    bool maybe_update(Index index);

    // The follower rejected an append whose previous entry was `rejected`,
    // hinting that its log may match at most through `match_hint` (its last
    // index, or the fast-backtracking hint of RaftLog::find_conflict_by_term).
    // Returns false for a stale rejection, which changes nothing; else backs
    // next off (§5.3: "decrement nextIndex and retry", by more than one with
    // the hint) and returns true. The caller then enters kProbe from
    // kReplicate. Requires state() != kSnapshot.
    bool maybe_decr_to(Index rejected, Index match_hint);

    // A heartbeat response arrived: the follower is alive. Clears an
    // outstanding probe and, if the window is full, frees its oldest slot,
    // so that a lost append is discovered through the next one's rejection.
    void on_heartbeat_response();

    // "replicate match=5 next=9 inflight=3" — for traces and failures.
    std::string to_string() const;

private:
    void reset_state(ProgressState state);
    void check_invariants() const;

    ProgressState state_ = ProgressState::kProbe;
    // Invariant: match_ < next_.
    // match_ only grows while this object lives (a follower's acked entries
    // are durable on it and, being acked to this leader, never truncated
    // by it).
    Index match_;
    Index next_;
    // Invariant: present exactly when state_ == kSnapshot; its meta.index >
    // match_ on entering kSnapshot; its offset <= its bytes.
    std::optional<SnapshotSend> snapshot_send_;
    // Invariant: probe_sent_ implies state_ == kProbe.
    bool probe_sent_ = false;
    bool recent_active_ = false;
    // Invariant: inflights_.count() == 0 unless state_ == kReplicate.
    Inflights inflights_;
};

}  // namespace raftkv::raft
