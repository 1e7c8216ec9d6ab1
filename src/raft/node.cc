// node.cc — the Node's construction, its Ready hand-off (has_ready, ready,
// advance), the outbox of messages, what the caller reports back (persisted,
// applied), status and the whole-state invariants.
//
// The handlers live beside it by concern: node_election.cc,
// node_replication.cc, node_snapshot.cc, node_membership.cc,
// node_transfer.cc and node_read.cc. What the caller must do with a Ready,
// and in which order, is written in ready.h; this file only fills and
// drains it.
#include "raft/node.h"

#include <algorithm>
#include <cstdint>

#include "base/assert.h"
#include "raft/config_history.h"

namespace raftkv::raft {
namespace {

// The configurations a node starts with: the one at the storage's snapshot
// (at index 0, the one the cluster was founded with) and those of the log
// after it.
ConfigHistory initial_configs(const NodeOptions& options, const LogStorage& storage) {
    const SnapshotMeta snap = storage.snapshot_meta();
    ConfigHistory configs(snap.index,
                          snap.index == Index(0) ? options.initial_membership : snap.membership);
    if (storage.last_index() >= storage.first_index()) {
        configs.note_entries(
            storage.entries(storage.first_index(), storage.last_index().next(), UINT64_MAX));
    }
    return configs;
}

}  // namespace

std::string_view role_name(Role role) {
    switch (role) {
        case Role::kFollower:
            return "follower";
        case Role::kPreCandidate:
            return "pre-candidate";
        case Role::kCandidate:
            return "candidate";
        case Role::kLeader:
            return "leader";
    }
    return "?";
}

std::string_view refusal_name(Refusal r) {
    switch (r) {
        case Refusal::kOk:
            return "ok";
        case Refusal::kNotLeader:
            return "not leader";
        case Refusal::kTransferring:
            return "leadership transfer in progress";
        case Refusal::kConfigChangePending:
            return "a membership change is in progress";
        case Refusal::kInvalidMember:
            return "invalid member for this change";
        case Refusal::kLagging:
            return "the node is behind the leader";
        case Refusal::kLastVoter:
            return "would remove the last voter";
    }
    return "?";
}

Node::Node(const NodeOptions& options, const LogStorage* storage, const HardState& hs,
           Index applied)
    : options_(options),
      id_(options.id),
      storage_(storage),
      log_(storage),
      tracker_(options.inflights),
      rng_state_(options.seed ^ (options.id.value * 0x9e3779b97f4a7c15ull)),
      configs_(initial_configs(options, *storage)),
      reads_(ReadOnlyOptions{.lease_reads = options.lease_reads,
                             .election_ticks = options.election_ticks,
                             .lease_drift_ticks = options.lease_drift_ticks}) {
    RAFTKV_ASSERT(id_ != NodeId(0), "node id 0 is reserved");
    RAFTKV_ASSERT(
        options_.heartbeat_ticks > 0 && options_.heartbeat_ticks < options_.election_ticks,
        "heartbeat {} must be in (0, election {})", options_.heartbeat_ticks,
        options_.election_ticks);
    RAFTKV_ASSERT(!options_.lease_reads || options_.check_quorum, "lease reads need check-quorum");
    RAFTKV_ASSERT(!options_.lease_reads || (options_.lease_drift_ticks >= 0 &&
                                            options_.lease_drift_ticks < options_.election_ticks),
                  "lease drift {} must be below the election timeout", options_.lease_drift_ticks);
    RAFTKV_ASSERT(options_.append_entries_max > 0, "append_entries_max must be positive");
    RAFTKV_ASSERT(options_.snapshot_chunk_bytes > 0, "snapshot_chunk_bytes must be positive");

    term_ = hs.term;
    vote_ = hs.vote;
    RAFTKV_ASSERT(hs.commit <= log_.last_index(), "hard state commit {} past last index {}",
                  hs.commit.value, log_.last_index().value);
    if (hs.commit > log_.committed()) log_.commit_to(hs.commit);
    RAFTKV_ASSERT(applied <= log_.committed(), "applied {} past commit {}", applied.value,
                  log_.committed().value);
    if (applied > log_.applied()) log_.applied_to(applied);
    handed_ = log_.last_index();
    persisted_ = log_.last_index();
    apply_handed_ = log_.applied();
    last_hard_state_ = hard_state();
    max_committed_seen_ = log_.committed();

    apply_membership();
    become_follower(term_, NodeId(0));
}

void Node::send(Message m) {
    m.from = id_;
    if (m.term == Term(0)) m.term = term_;
    RAFTKV_ASSERT(m.to != id_, "message to self: {}", to_string(m));
    messages_.push_back(std::move(m));
}

void Node::send_after_persist(Message m) {
    m.from = id_;
    if (m.term == Term(0)) m.term = term_;
    RAFTKV_ASSERT(m.to != id_, "message to self: {}", to_string(m));
    messages_after_persist_.push_back(std::move(m));
}

void Node::on_persisted(Index index, Term term) {
    log_.stable_to(index, term);
    // A report for entries since replaced (truncated and rewritten) does not
    // count: the new ones are still to be persisted.
    if (index > handed_ || log_.term(index) != term) return;
    persisted_ = std::max(persisted_, index);
    if (role_ == Role::kLeader && tracker_.is_member(id_)) {
        // §d10.2.1: the leader's own copy counts once it is on its disk.
        tracker_.progress(id_).maybe_update(persisted_);
        if (maybe_commit()) on_commit_advanced();
    }
}

void Node::on_applied(Index index) {
    if (index > log_.applied()) log_.applied_to(index);
}

bool Node::has_ready() const {
    if (!messages_.empty() || !messages_after_persist_.empty() || pending_snapshot_ ||
        reads_.has_ready(log_.applied()) || hard_state() != last_hard_state_) {
        return true;
    }
    if (log_.last_index() > handed_) return true;
    if (!log_.unstable_snapshot() && log_.committed() > apply_handed_ && apply_handed_ < handed_) {
        return true;
    }
    if (role_ == Role::kLeader && reads_.has_waiting() && committed_entry_in_current_term()) {
        return true;
    }
    if (role_ == Role::kLeader) {
        bool any = false;
        tracker_.for_each([&](NodeId id, const Progress& pr) {
            if (id != id_ && !pr.is_paused() && pr.next() <= log_.last_index()) any = true;
        });
        return any;
    }
    return false;
}

Ready Node::ready() {
    Ready rd;
    if (role_ == Role::kLeader) {
        // One round for every read asked since the last Ready (batching).
        if (reads_.has_waiting()) {
            const std::uint64_t round = start_read_round();
            if (round != 0) send_heartbeats(round);
        }
        flush_appends();
        tell_commit();
    }
    if (pending_snapshot_) {
        rd.snapshot = std::move(pending_snapshot_);
        pending_snapshot_.reset();
    }
    for (const Entry& e : log_.unstable_entries()) {
        if (e.index > handed_) rd.entries.push_back(e);
    }
    if (!rd.entries.empty()) handed_ = rd.entries.back().index;
    const HardState hs = hard_state();
    if (hs != last_hard_state_) {
        rd.hard_state = hs;
        rd.must_sync = hs.term != last_hard_state_.term || hs.vote != last_hard_state_.vote;
        last_hard_state_ = hs;
    }
    if (rd.snapshot || !rd.entries.empty()) rd.must_sync = true;
    rd.messages = std::move(messages_);
    messages_.clear();
    rd.messages_after_persist = std::move(messages_after_persist_);
    messages_after_persist_.clear();
    if (!log_.unstable_snapshot() && !rd.snapshot && log_.has_next_committed_entries()) {
        for (Entry& e : log_.next_committed_entries(options_.apply_bytes_max)) {
            if (e.index <= apply_handed_) continue;
            if (e.index > handed_) break;  // persist first, then apply
            rd.committed_entries.push_back(std::move(e));
        }
        if (!rd.committed_entries.empty()) apply_handed_ = rd.committed_entries.back().index;
    }
    rd.read_states = reads_.take_read_states(log_.applied());
    rd.failed_reads = reads_.take_failed();
    RAFTKV_ASSERT(log_.committed() >= max_committed_seen_, "node {}: commit index went back",
                  id_.value);
    max_committed_seen_ = log_.committed();
    return rd;
}

void Node::advance(const Ready& rd) {
    if (rd.snapshot) on_snapshot_persisted(rd.snapshot->meta.index);
    if (!rd.entries.empty()) on_persisted(rd.entries.back().index, rd.entries.back().term);
    if (!rd.committed_entries.empty()) on_applied(rd.committed_entries.back().index);
    if (apply_handed_ < log_.applied()) apply_handed_ = log_.applied();
    // Snapshots the caller took may have moved the log's start.
    configs_.compact_to(storage_->snapshot_meta().index);
}

NodeStatus Node::status() const {
    NodeStatus s{.id = id_,
                 .role = role_,
                 .term = term_,
                 .vote = vote_,
                 .leader = lead_,
                 .committed = log_.committed(),
                 .applied = log_.applied(),
                 .last_index = log_.last_index(),
                 .membership = membership(),
                 .match = {},
                 .transferee = transferee_};
    if (role_ == Role::kLeader) {
        tracker_.for_each([&](NodeId id, const Progress& pr) { s.match[id] = pr.match(); });
    }
    return s;
}

void Node::check_invariants() const {
    log_.check_invariants();
    configs_.check_invariants();
    RAFTKV_ASSERT(log_.applied() <= log_.committed() && log_.committed() <= log_.last_index(),
                  "node {}: applied {} committed {} last {}", id_.value, log_.applied().value,
                  log_.committed().value, log_.last_index().value);
    RAFTKV_ASSERT(log_.committed() >= max_committed_seen_, "node {}: commit went back", id_.value);
    RAFTKV_ASSERT((role_ == Role::kLeader) == (lead_ == id_), "node {}: role {} but leader {}",
                  id_.value, role_name(role_), lead_.value);
    RAFTKV_ASSERT(role_ != Role::kCandidate || vote_ == id_, "node {}: candidate voted for {}",
                  id_.value, vote_.value);
    RAFTKV_ASSERT(handed_ <= log_.last_index(), "node {}: handed out {} past last {}", id_.value,
                  handed_.value, log_.last_index().value);
    if (role_ == Role::kLeader && tracker_.is_member(id_)) {
        RAFTKV_ASSERT(tracker_.progress(id_).match() <= handed_,
                      "node {}: own match {} counts entries not handed out to persist ({})",
                      id_.value, tracker_.progress(id_).match().value, handed_.value);
    }
}

}  // namespace raftkv::raft
