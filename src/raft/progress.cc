// progress.cc — one follower as the leader sees it.
//
// See progress.h for the states. Every mutator ends by checking the
// invariants stated next to the members.
#include "raft/progress.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/assert.h"

namespace raftkv::raft {

std::string_view progress_state_name(ProgressState state) {
    switch (state) {
        case ProgressState::kProbe:
            return "probe";
        case ProgressState::kReplicate:
            return "replicate";
        case ProgressState::kSnapshot:
            return "snapshot";
    }
    return "unknown";
}

Progress::Progress(Index next, InflightsLimits limits) : next_(next), inflights_(limits) {
    RAFTKV_ASSERT(next > Index(0), "next index starts at 1, got {}", next.value);
    check_invariants();
}

bool Progress::is_paused() const {
    switch (state_) {
        case ProgressState::kProbe:
            return probe_sent_;
        case ProgressState::kReplicate:
            return inflights_.is_full();
        case ProgressState::kSnapshot:
            return true;
    }
    return true;
}

void Progress::reset_state(ProgressState state) {
    state_ = state;
    probe_sent_ = false;
    snapshot_send_.reset();
    inflights_.reset();
}

void Progress::become_probe() {
    // Leaving kSnapshot, the follower has most likely installed the snapshot
    // (or is about to), so probe just past it rather than at match + 1, which
    // may be compacted on the leader and would send another snapshot.
    const Index after_snapshot =
        state_ == ProgressState::kSnapshot ? pending_snapshot().next() : Index(0);
    reset_state(ProgressState::kProbe);
    next_ = std::max(match_.next(), after_snapshot);
    check_invariants();
}

void Progress::become_replicate() {
    reset_state(ProgressState::kReplicate);
    next_ = match_.next();
    check_invariants();
}

void Progress::become_snapshot(const SnapshotMeta& meta, std::uint64_t bytes) {
    RAFTKV_ASSERT(meta.index > match_, "snapshot {} not past match {}", meta.index.value,
                  match_.value);
    reset_state(ProgressState::kSnapshot);
    snapshot_send_ = SnapshotSend{.meta = meta, .bytes = bytes};
    next_ = meta.index.next();
    check_invariants();
}

const SnapshotSend& Progress::snapshot_send() const {
    RAFTKV_ASSERT(snapshot_send_.has_value(), "no snapshot send in state {}",
                  progress_state_name(state_));
    return *snapshot_send_;
}

void Progress::on_snapshot_chunk_sent() {
    RAFTKV_ASSERT(snapshot_send_.has_value(), "snapshot chunk sent in state {}",
                  progress_state_name(state_));
    snapshot_send_->idle_ticks = 0;
}

bool Progress::tick_snapshot_send(int idle_ticks_max) {
    RAFTKV_ASSERT(snapshot_send_.has_value(), "snapshot send ticked in state {}",
                  progress_state_name(state_));
    return ++snapshot_send_->idle_ticks >= idle_ticks_max;
}

bool Progress::maybe_snapshot_acked(std::uint64_t offset) {
    RAFTKV_ASSERT(snapshot_send_.has_value(), "snapshot ack in state {}",
                  progress_state_name(state_));
    // The chunk at `offset` is the one in flight: this answer is a duplicate
    // (a lost chunk is sent again after idle ticks).
    if (offset == snapshot_send_->offset) return false;
    snapshot_send_->offset = std::min(offset, snapshot_send_->bytes);
    check_invariants();
    return true;
}

void Progress::update_on_entries_send(std::size_t entry_count, std::uint64_t bytes) {
    RAFTKV_ASSERT(!is_paused(), "append sent to a paused follower: {}", to_string());
    switch (state_) {
        case ProgressState::kReplicate:
            if (entry_count > 0) {
                // Pipelining: assume the append will succeed and send the
                // next one from past it without waiting (§10.2.2).
                next_ = Index(next_.value + entry_count);
                inflights_.add(next_.prev(), bytes);
            }
            break;
        case ProgressState::kProbe:
            // Any append in kProbe is a probe, even an empty one: wait for
            // its answer (or a heartbeat response) before sending another.
            probe_sent_ = true;
            break;
        case ProgressState::kSnapshot:
            RAFTKV_ASSERT(false, "append sent during a snapshot");
    }
    check_invariants();
}

bool Progress::maybe_update(Index index) {
    bool updated = false;
    if (match_ < index) {
        match_ = index;
        updated = true;
        probe_sent_ = false;
    }
    next_ = std::max(next_, index.next());
    inflights_.free_le(index);
    check_invariants();
    return updated;
}

bool Progress::maybe_decr_to(Index rejected, Index match_hint) {
    RAFTKV_ASSERT(state_ != ProgressState::kSnapshot, "rejection handled during a snapshot");
    if (state_ == ProgressState::kReplicate) {
        // An append at or below match cannot really have been rejected: the
        // rejection answers an older append and is stale.
        if (rejected <= match_) return false;
        // The pipeline is broken; restart right after what is known to match.
        // The caller enters kProbe, which keeps this next.
        next_ = match_.next();
        check_invariants();
        return true;
    }
    // In kProbe only the outstanding probe's rejection counts: it is for the
    // append just before next.
    if (next_.prev() != rejected) return false;
    // §5.3: back off, by more than one entry when the follower's hint allows,
    // but never to or below match (those entries are known to match).
    next_ = std::max(std::min(rejected, match_hint.next()), match_.next());
    probe_sent_ = false;
    check_invariants();
    return true;
}

void Progress::on_heartbeat_response() {
    recent_active_ = true;
    probe_sent_ = false;
    if (state_ == ProgressState::kReplicate && inflights_.is_full()) inflights_.free_first_one();
    check_invariants();
}

std::string Progress::to_string() const {
    std::string out =
        fmt::format("{} match={} next={}", progress_state_name(state_), match_.value, next_.value);
    if (state_ == ProgressState::kSnapshot) {
        out += fmt::format(" pending_snapshot={}", pending_snapshot().value);
    }
    if (probe_sent_) out += " probe_sent";
    if (inflights_.count() > 0) {
        out += fmt::format(" inflight={}", inflights_.count());
        if (inflights_.is_full()) out += "[full]";
    }
    if (!recent_active_) out += " inactive";
    return out;
}

void Progress::check_invariants() const {
    RAFTKV_ASSERT(match_ < next_, "match {} not below next {}", match_.value, next_.value);
    RAFTKV_ASSERT((state_ == ProgressState::kSnapshot) == snapshot_send_.has_value(),
                  "pending snapshot {} in state {}", pending_snapshot().value,
                  progress_state_name(state_));
    RAFTKV_ASSERT(!snapshot_send_ || snapshot_send_->offset <= snapshot_send_->bytes,
                  "snapshot offset {} past its {} bytes", snapshot_send_->offset,
                  snapshot_send_->bytes);
    RAFTKV_ASSERT(!probe_sent_ || state_ == ProgressState::kProbe, "probe flag in state {}",
                  progress_state_name(state_));
    RAFTKV_ASSERT(inflights_.count() == 0 || state_ == ProgressState::kReplicate,
                  "{} in flight in state {}", inflights_.count(), progress_state_name(state_));
}

}  // namespace raftkv::raft
