// node.cc — see node.h.
#include "raft/node.h"

#include <fmt/format.h>

#include <algorithm>
#include <span>

#include "base/assert.h"
#include "raft/config_history.h"
#include "raft/membership.h"

namespace raftkv::raft {
namespace {

// SplitMix64: the core's only source of randomness, from the seed it is given.
std::uint64_t next_random(std::uint64_t* state) {
    std::uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

Configuration to_configuration(const Membership& m) {
    Configuration c;
    c.voters = MajorityConfig(m.voters);
    c.learners = m.learners;
    return c;
}

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
        case Role::kFollower: return "follower";
        case Role::kPreCandidate: return "pre-candidate";
        case Role::kCandidate: return "candidate";
        case Role::kLeader: return "leader";
    }
    return "?";
}

std::string_view refusal_name(Refusal r) {
    switch (r) {
        case Refusal::kOk: return "ok";
        case Refusal::kNotLeader: return "not leader";
        case Refusal::kTransferring: return "leadership transfer in progress";
        case Refusal::kConfigChangePending: return "a membership change is in progress";
        case Refusal::kInvalidMember: return "invalid member for this change";
        case Refusal::kLagging: return "the node is behind the leader";
        case Refusal::kLastVoter: return "would remove the last voter";
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
    RAFTKV_ASSERT(options_.heartbeat_ticks > 0 && options_.heartbeat_ticks < options_.election_ticks,
                  "heartbeat {} must be in (0, election {})", options_.heartbeat_ticks,
                  options_.election_ticks);
    RAFTKV_ASSERT(!options_.lease_reads || options_.check_quorum, "lease reads need check-quorum");
    RAFTKV_ASSERT(!options_.lease_reads ||
                      (options_.lease_drift_ticks >= 0 &&
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

// ---- transitions ----------------------------------------------------------

void Node::reset(Term term) {
    const bool new_term = term != term_;
    if (new_term) {
        RAFTKV_ASSERT(term > term_, "term going back from {} to {}", term_.value, term.value);
        term_ = term;
        vote_ = NodeId(0);
    }
    lead_ = NodeId(0);
    election_elapsed_ = 0;
    heartbeat_elapsed_ = 0;
    reset_randomized_election_timeout();
    abort_transfer();
    tracker_.reset_votes();
    tracker_.reset(log_.last_index());
    reads_.reset(new_term);
}

void Node::become_follower(Term term, NodeId lead) {
    reset(term);
    role_ = Role::kFollower;
    lead_ = lead;
}

void Node::become_pre_candidate() {
    RAFTKV_ASSERT(role_ != Role::kLeader, "a leader cannot become a pre-candidate");
    // Keeps the term and vote (§d9.6): nothing is persisted for a pre-vote.
    tracker_.reset_votes();
    role_ = Role::kPreCandidate;
    lead_ = NodeId(0);
    reads_.fail_unconfirmed();
}

void Node::become_candidate() {
    RAFTKV_ASSERT(role_ != Role::kLeader, "a leader cannot become a candidate");
    reset(term_.next());
    vote_ = id_;
    role_ = Role::kCandidate;
}

void Node::become_leader() {
    RAFTKV_ASSERT(role_ == Role::kCandidate, "only a candidate becomes leader");
    reset(term_);
    role_ = Role::kLeader;
    lead_ = id_;
    if (tracker_.is_member(id_)) {
        // Our own entries count when we persist them (on_persisted).
        Progress& self = tracker_.progress(id_);
        self.maybe_update(persisted_);
        self.become_replicate();
    }
    // No membership change until an entry of this term commits (§d4.1's
    // fix for one-at-a-time changes across leader changes).
    // §5.4.2 / §d6.4: commit an entry of our own term at once.
    append_entries({Entry{.term = term_, .index = log_.last_index().next(),
                          .type = EntryType::kNoop, .data = {}}});
    pending_config_index_ = log_.last_index();
}

bool Node::promotable() const {
    return tracker_.is_voter(id_) && !log_.unstable_snapshot();
}

void Node::reset_randomized_election_timeout() {
    randomized_election_timeout_ =
        options_.election_ticks +
        static_cast<int>(next_random(&rng_state_) % static_cast<std::uint64_t>(options_.election_ticks));
}

void Node::campaign(CampaignKind kind) {
    if (!promotable()) return;
    MessageType type;
    Term vote_term;
    if (kind == CampaignKind::kPreVote) {
        become_pre_candidate();
        type = MessageType::kPreVote;
        vote_term = term_.next();
    } else {
        become_candidate();
        type = MessageType::kVote;
        vote_term = term_;
    }
    // Our own vote: for a real election it is in the hard state of this
    // Ready, and the requests below leave only after it is persisted.
    tracker_.record_vote(id_, true);
    const VoteResult result = tracker_.tally_votes().result;
    if (result == VoteResult::kWon) {
        if (kind == CampaignKind::kPreVote) {
            campaign(CampaignKind::kElection);
        } else {
            become_leader();
        }
        return;
    }
    for (NodeId to : tracker_.voter_ids()) {
        if (to == id_) continue;
        send_after_persist(Message{.type = type,
                                   .to = to,
                                   .term = vote_term,
                                   .index = log_.last_index(),
                                   .log_term = log_.last_term(),
                                   .transfer = kind == CampaignKind::kTransfer});
    }
}

void Node::campaign_now() {
    if (role_ == Role::kLeader) return;
    campaign(options_.pre_vote ? CampaignKind::kPreVote : CampaignKind::kElection);
}

// ---- time -----------------------------------------------------------------

void Node::tick() {
    ++now_;
    if (role_ == Role::kLeader) {
        tick_heartbeat();
    } else {
        tick_election();
    }
}

void Node::tick_election() {
    ++election_elapsed_;
    if (promotable() && election_elapsed_ >= randomized_election_timeout_) {
        election_elapsed_ = 0;
        campaign(options_.pre_vote ? CampaignKind::kPreVote : CampaignKind::kElection);
    }
}

void Node::tick_heartbeat() {
    ++heartbeat_elapsed_;
    ++election_elapsed_;
    if (election_elapsed_ >= options_.election_ticks) {
        election_elapsed_ = 0;
        if (options_.check_quorum && tracker_.config().voters.size() > 0 &&
            !tracker_.quorum_active(id_)) {
            // §d6.2: we may be partitioned away; let the majority elect.
            become_follower(term_, NodeId(0));
            return;
        }
        if (transferee_ != NodeId(0)) abort_transfer();
    }
    if (transferee_ != NodeId(0) && ++transfer_elapsed_ >= options_.election_ticks) {
        abort_transfer();
    }
    tracker_.for_each([&](NodeId to, Progress& pr) {
        // A chunk or its answer was lost: send it again from what the
        // follower acknowledged.
        if (pr.state() != ProgressState::kSnapshot) return;
        if (pr.tick_snapshot_send(options_.election_ticks)) send_snapshot_chunk(to);
    });
    if (heartbeat_elapsed_ >= options_.heartbeat_ticks) {
        heartbeat_elapsed_ = 0;
        broadcast_heartbeat();
    }
}

// ---- messages -------------------------------------------------------------

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

void Node::step(const Message& m) {
    if (m.from == id_ || m.from == NodeId(0)) return;
    const bool vote_request = m.type == MessageType::kPreVote || m.type == MessageType::kVote;
    if (m.term > term_) {
        // §d9.6 asks the same of pre-votes even without check-quorum.
        const bool in_lease =
            (options_.check_quorum || (options_.pre_vote && m.type == MessageType::kPreVote)) &&
            ((lead_ != NodeId(0) && election_elapsed_ < options_.election_ticks) ||
             // A restarted node forgot whom it heard from: with lease reads
             // on, it keeps the promise for an election timeout after start.
             (options_.lease_reads && now_ < static_cast<std::uint64_t>(options_.election_ticks)));
        if (vote_request && !m.transfer && in_lease) {
            // §d4.2.3: we heard from a leader within the minimum election
            // timeout, so this candidate (perhaps a removed server) must not
            // disrupt it. Not even our term moves.
            return;
        }
        if (m.type == MessageType::kPreVote) {
            // A pre-vote never changes the voter's term.
        } else if (m.type == MessageType::kPreVoteResponse && !m.reject) {
            // Granted pre-votes carry the term we would campaign in.
        } else if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
                   m.type == MessageType::kSnapshot) {
            become_follower(m.term, m.from);
        } else {
            become_follower(m.term, NodeId(0));
        }
    } else if (m.term < term_) {
        if ((options_.check_quorum || options_.pre_vote) &&
            (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat)) {
            // A stale leader (perhaps back from a partition, where pre-vote
            // kept our term from reaching it) learns our term and steps down.
            send_after_persist(Message{.type = MessageType::kAppendResponse, .to = m.from});
        } else if (m.type == MessageType::kPreVote || m.type == MessageType::kVote) {
            // Figure 2: the answer carries our term "for candidate to update
            // itself". Without it, a candidate with the better log but a
            // lower term may never learn the term it must exceed, if the
            // voter (stale log, old configuration) never writes to it.
            send_after_persist(Message{.type = m.type == MessageType::kVote
                                                   ? MessageType::kVoteResponse
                                                   : MessageType::kPreVoteResponse,
                                       .to = m.from,
                                       .reject = true});
        }
        return;
    }

    switch (m.type) {
        case MessageType::kPreVote:
        case MessageType::kVote:
            step_vote_request(m);
            return;
        case MessageType::kPreVoteResponse:
        case MessageType::kVoteResponse:
            step_vote_response(m);
            return;
        case MessageType::kAppend:
        case MessageType::kHeartbeat:
        case MessageType::kSnapshot:
            RAFTKV_ASSERT(role_ != Role::kLeader, "two leaders in term {}: {} and {}", term_.value,
                          id_.value, m.from.value);
            if (role_ != Role::kFollower) become_follower(term_, m.from);
            election_elapsed_ = 0;
            lead_ = m.from;
            if (m.type == MessageType::kAppend) {
                handle_append(m);
            } else if (m.type == MessageType::kHeartbeat) {
                handle_heartbeat(m);
            } else {
                handle_snapshot(m);
            }
            return;
        case MessageType::kAppendResponse:
        case MessageType::kHeartbeatResponse:
        case MessageType::kSnapshotResponse:
            if (role_ != Role::kLeader || !tracker_.is_member(m.from)) return;
            tracker_.progress(m.from).set_recent_active(true);
            if (m.type == MessageType::kAppendResponse) {
                handle_append_response(m);
            } else if (m.type == MessageType::kHeartbeatResponse) {
                handle_heartbeat_response(m);
            } else {
                handle_snapshot_response(m);
            }
            return;
        case MessageType::kTimeoutNow:
            // §d3.10: the leader chose us; skip the pre-vote, which the
            // others would refuse while they still hear from it.
            if (role_ != Role::kLeader && m.from == lead_) campaign(CampaignKind::kTransfer);
            return;
    }
    RAFTKV_ASSERT(false, "unknown message type {}", static_cast<int>(m.type));
}

void Node::step_vote_request(const Message& m) {
    const bool pre = m.type == MessageType::kPreVote;
    // Figure 2, RequestVote: one vote per term, for a candidate whose log is
    // at least as up to date as ours (§5.4.1). A pre-vote for a later term
    // promises nothing and is granted on the log alone.
    const bool can_vote = vote_ == m.from || (vote_ == NodeId(0) && lead_ == NodeId(0)) ||
                          (pre && m.term > term_);
    const MessageType reply = pre ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
    if (can_vote && log_.is_up_to_date(m.index, m.log_term)) {
        if (!pre) {
            RAFTKV_ASSERT(vote_ == NodeId(0) || vote_ == m.from, "second vote in term {}: {} then {}",
                          term_.value, vote_.value, m.from.value);
            vote_ = m.from;
            election_elapsed_ = 0;
        }
        send_after_persist(Message{.type = reply, .to = m.from, .term = m.term});
    } else {
        send_after_persist(Message{.type = reply, .to = m.from, .reject = true});
    }
}

void Node::step_vote_response(const Message& m) {
    const bool pre = m.type == MessageType::kPreVoteResponse;
    if ((pre && role_ != Role::kPreCandidate) || (!pre && role_ != Role::kCandidate)) return;
    tracker_.record_vote(m.from, !m.reject);
    switch (tracker_.tally_votes().result) {
        case VoteResult::kWon:
            if (pre) {
                campaign(CampaignKind::kElection);
            } else {
                become_leader();
                flush_appends();
            }
            return;
        case VoteResult::kLost:
            become_follower(term_, NodeId(0));
            return;
        case VoteResult::kPending:
            return;
    }
}

// ---- follower side --------------------------------------------------------

void Node::handle_append(const Message& m) {
    if (m.index < log_.committed()) {
        // Everything through our commit index matches the leader's log
        // (Log Matching); the entries below it may be compacted here.
        send_after_persist(Message{.type = MessageType::kAppendResponse,
                                   .to = m.from,
                                   .index = log_.committed()});
        return;
    }
    if (log_.match_term(m.index, m.log_term)) {
        const Index conflict = log_.find_conflict(m.entries);
        if (conflict != Index(0)) {
            // Entries from `conflict` on are new or replace ours: they must
            // be (re)persisted, and configurations from there re-read.
            if (conflict <= handed_) handed_ = conflict.prev();
            if (conflict <= persisted_) persisted_ = conflict.prev();
            const auto first = std::find_if(m.entries.begin(), m.entries.end(),
                                            [&](const Entry& e) { return e.index >= conflict; });
            configs_.truncate_from(conflict);
            RAFTKV_ASSERT(conflict > log_.committed(), "truncating at {} below commit {}",
                          conflict.value, log_.committed().value);
            configs_.note_entries(std::span<const Entry>(&*first, static_cast<std::size_t>(m.entries.end() - first)));
        }
        const std::optional<Index> last = log_.maybe_append(m.index, m.log_term, m.commit, m.entries);
        RAFTKV_ASSERT(last.has_value(), "append matched but was not taken");
        if (conflict != Index(0)) apply_membership();
        send_after_persist(
            Message{.type = MessageType::kAppendResponse, .to = m.from, .index = *last});
        return;
    }
    // §5.3: no entry at m.index with m.log_term. Tell the leader where our log
    // could match, skipping a whole divergent term at a time.
    const ConflictHint hint =
        log_.find_conflict_by_term(std::min(m.index, log_.last_index()), m.log_term);
    send_after_persist(Message{.type = MessageType::kAppendResponse,
                               .to = m.from,
                               .index = m.index,
                               .reject = true,
                               .hint = hint});
}

void Node::handle_heartbeat(const Message& m) {
    // The leader caps m.commit at our match index, so we hold those entries.
    const Index commit = std::min(m.commit, log_.last_index());
    if (commit > log_.committed()) log_.commit_to(commit);
    send_after_persist(Message{.type = MessageType::kHeartbeatResponse,
                               .to = m.from,
                               .read_round = m.read_round});
}

void Node::handle_snapshot(const Message& m) {
    const SnapshotMeta& meta = m.snapshot;
    if (meta.index <= log_.committed()) {
        // Stale, or we caught up meanwhile: tell the leader where we are.
        incoming_snapshot_.reset();
        send_after_persist(Message{.type = MessageType::kAppendResponse,
                                   .to = m.from,
                                   .index = log_.committed()});
        return;
    }
    const bool same = incoming_snapshot_ && incoming_snapshot_->meta.index == meta.index &&
                      incoming_snapshot_->meta.term == meta.term;
    if (m.offset == 0 && !(same && !incoming_snapshot_->data.empty())) {
        incoming_snapshot_ = IncomingSnapshot{.meta = meta, .data = m.data};
    } else if (same && m.offset == incoming_snapshot_->data.size()) {
        incoming_snapshot_->data += m.data;
    } else {
        // A chunk we cannot use (we lost one before it, or we restarted and
        // forgot the start), or a duplicate of one we have: ask for what
        // follows what we hold, or for the beginning.
        const std::uint64_t want = same ? incoming_snapshot_->data.size() : 0;
        if (!same) incoming_snapshot_.reset();
        send_after_persist(
            Message{.type = MessageType::kSnapshotResponse, .to = m.from, .offset = want});
        return;
    }
    if (!m.done) {
        send_after_persist(Message{.type = MessageType::kSnapshotResponse,
                                   .to = m.from,
                                   .offset = incoming_snapshot_->data.size()});
        return;
    }
    IncomingSnapshot snap = std::move(*incoming_snapshot_);
    incoming_snapshot_.reset();
    if (log_.match_term(snap.meta.index, snap.meta.term)) {
        // We have the entry the snapshot ends at: the log after it is the
        // leader's too (Log Matching). Commit instead of discarding the log.
        log_.commit_to(snap.meta.index);
    } else {
        log_.restore(snap.meta);
        handed_ = snap.meta.index;
        persisted_ = Index(0);  // until the caller reports the snapshot persisted
        apply_handed_ = snap.meta.index;
        configs_.restore(snap.meta.index, snap.meta.membership);
        apply_membership();
        pending_snapshot_ = Snapshot{.meta = snap.meta, .data = std::move(snap.data)};
    }
    // Vouch for the snapshot's last entry only: after the fast-forward our
    // log may go on with entries the leader never sent.
    send_after_persist(Message{.type = MessageType::kAppendResponse,
                               .to = m.from,
                               .index = snap.meta.index});
}

// ---- leader side ----------------------------------------------------------

void Node::handle_append_response(const Message& m) {
    Progress& pr = tracker_.progress(m.from);
    if (m.reject) {
        if (pr.state() == ProgressState::kSnapshot) return;  // answers an older append
        // §5.3 fast backtracking: the follower matches at most at hint.index;
        // the largest index of ours there with a term <= its term is the
        // next candidate.
        Index probe = m.hint.index;
        if (m.hint.term > Term(0) && m.hint.index <= log_.last_index()) {
            probe = log_.find_conflict_by_term(m.hint.index, m.hint.term).index;
        }
        if (pr.maybe_decr_to(m.index, std::min(probe, log_.last_index()))) {
            if (pr.state() == ProgressState::kReplicate) pr.become_probe();
            maybe_send_append(m.from, true);
        }
        return;
    }
    const bool was_paused = pr.is_paused();
    if (!pr.maybe_update(m.index)) {
        if (was_paused && !pr.is_paused()) maybe_send_append(m.from, false);
        return;
    }
    switch (pr.state()) {
        case ProgressState::kProbe:
            pr.become_replicate();
            break;
        case ProgressState::kSnapshot:
            if (pr.match().next() >= log_.first_index()) {
                pr.become_probe();
                pr.become_replicate();
            }
            break;
        case ProgressState::kReplicate:
            break;  // maybe_update freed the acknowledged appends

    }
    if (maybe_commit()) {
        on_commit_advanced();
        if (role_ != Role::kLeader) return;
    }
    while (maybe_send_append(m.from, false)) {
    }
    if (m.from == transferee_ && pr.match() == log_.last_index()) send_timeout_now(m.from);
}

void Node::handle_heartbeat_response(const Message& m) {
    Progress& pr = tracker_.progress(m.from);
    pr.on_heartbeat_response();
    if (pr.match() < log_.last_index()) maybe_send_append(m.from, true);
    reads_.on_ack(m.from, m.read_round, tracker_.config().voters);
}

void Node::handle_snapshot_response(const Message& m) {
    Progress& pr = tracker_.progress(m.from);
    if (pr.state() != ProgressState::kSnapshot) return;
    if (pr.maybe_snapshot_acked(m.offset)) send_snapshot_chunk(m.from);
}

bool Node::maybe_send_append(NodeId to, bool send_if_empty) {
    if (to == id_) return false;
    Progress& pr = tracker_.progress(to);
    if (pr.is_paused()) return false;
    const Index prev = pr.next().prev();
    const std::optional<Term> prev_term = log_.term(prev);
    if (!prev_term) {
        // Compacted: the follower needs the snapshot (§7).
        if (!pr.is_recent_active()) return false;
        pr.become_snapshot(storage_->snapshot_meta(), storage_->snapshot_bytes());
        send_snapshot_chunk(to);
        return false;
    }
    std::vector<Entry> entries;
    if (pr.next() <= log_.last_index()) {
        const Index end = std::min(log_.last_index().next(),
                                   Index(pr.next().value + options_.append_entries_max));
        entries = log_.slice(pr.next(), end, options_.append_bytes_max);
    }
    if (entries.empty() && !send_if_empty) return false;
    std::uint64_t bytes = 0;
    for (const Entry& e : entries) bytes += entry_payload_bytes(e);
    pr.update_on_entries_send(entries.size(), bytes);
    send(Message{.type = MessageType::kAppend,
                 .to = to,
                 .index = prev,
                 .log_term = *prev_term,
                 .entries = std::move(entries),
                 .commit = log_.committed()});
    return true;
}

void Node::send_snapshot_chunk(NodeId to) {
    Progress& pr = tracker_.progress(to);
    const SnapshotMeta current = storage_->snapshot_meta();
    const std::uint64_t size = storage_->snapshot_bytes();
    if (current != pr.snapshot_send().meta || size != pr.snapshot_send().bytes) {
        // The caller took a newer snapshot meanwhile: send that one.
        pr.become_snapshot(current, size);
    }
    const SnapshotSend& s = pr.snapshot_send();
    std::string chunk = storage_->snapshot_chunk(s.offset, options_.snapshot_chunk_bytes);
    const bool done = s.offset + chunk.size() == size;
    pr.on_snapshot_chunk_sent();
    send(Message{.type = MessageType::kSnapshot,
                 .to = to,
                 .commit = log_.committed(),
                 .snapshot = s.meta,
                 .offset = s.offset,
                 .data = std::move(chunk),
                 .done = done});
}

void Node::flush_appends() {
    if (role_ != Role::kLeader) return;
    for (NodeId to : tracker_.voter_ids()) {
        while (maybe_send_append(to, false)) {
        }
    }
    for (NodeId to : tracker_.learner_ids()) {
        while (maybe_send_append(to, false)) {
        }
    }
}

void Node::broadcast_heartbeat() {
    // Every heartbeat is a read round when reads wait or a lease is kept: an
    // answer to it also confirms any older round still unanswered.
    std::uint64_t round = 0;
    if (reads_.wants_round()) round = start_read_round();
    send_heartbeats(round);
}

void Node::send_heartbeats(std::uint64_t round) {
    tracker_.for_each([&](NodeId to, const Progress& pr) {
        if (to == id_) return;
        send(Message{.type = MessageType::kHeartbeat,
                     .to = to,
                     .commit = std::min(pr.match(), log_.committed()),
                     .read_round = round});
    });
}

bool Node::maybe_commit() {
    return log_.maybe_commit(tracker_.committed(), term_);
}

void Node::on_commit_advanced() {
    RAFTKV_ASSERT(role_ == Role::kLeader);
    // §d4.2.2: a leader removed from the voters leads until the change
    // commits, then steps down; it will not campaign (not promotable).
    if (!tracker_.is_voter(id_) && log_.committed() >= pending_config_index_) {
        flush_appends();  // let the others learn the commit index
        for (NodeId to : tracker_.voter_ids()) maybe_send_append(to, true);
        become_follower(term_, NodeId(0));
        return;
    }
    // Reads waiting for an entry of this term to commit may start now.
    for (NodeId to : tracker_.voter_ids()) maybe_send_append(to, false);
    for (NodeId to : tracker_.learner_ids()) maybe_send_append(to, false);
}

bool Node::committed_entry_in_current_term() const {
    return log_.term(log_.committed()) == term_;
}

void Node::send_timeout_now(NodeId to) {
    send(Message{.type = MessageType::kTimeoutNow, .to = to});
    // The target will be elected without waiting for our lease to end, and
    // its vote requests may arrive late, after this transfer is abandoned:
    // no lease again in this term.
    reads_.forfeit_lease();
}

void Node::abort_transfer() {
    transferee_ = NodeId(0);
    transfer_elapsed_ = 0;
}

// ---- requests -------------------------------------------------------------

Proposal Node::propose(std::string data) {
    if (role_ != Role::kLeader) return Proposal{.refusal = Refusal::kNotLeader, .leader = lead_};
    if (transferee_ != NodeId(0)) return Proposal{.refusal = Refusal::kTransferring, .leader = lead_};
    const Index index = log_.last_index().next();
    append_entries({Entry{.term = term_, .index = index, .type = EntryType::kCommand,
                          .data = std::move(data)}});
    return Proposal{.index = index, .term = term_, .leader = id_};
}

Refusal Node::read_index(std::string context) {
    if (role_ != Role::kLeader) return Refusal::kNotLeader;
    reads_.add(std::move(context), log_.committed(), now_, is_leader_settled());
    return Refusal::kOk;
}

Refusal Node::transfer_leadership(NodeId target) {
    if (role_ != Role::kLeader) return Refusal::kNotLeader;
    if (target == id_) return Refusal::kOk;
    if (!tracker_.is_voter(target)) return Refusal::kInvalidMember;
    if (transferee_ == target) return Refusal::kOk;
    Progress& pr = tracker_.progress(target);
    // A target that needs a snapshot cannot catch up within an election
    // timeout on any sizeable state; refuse rather than stall writes.
    if (pr.state() == ProgressState::kSnapshot) return Refusal::kLagging;
    transferee_ = target;
    transfer_elapsed_ = 0;
    election_elapsed_ = 0;
    if (pr.match() == log_.last_index()) {
        send_timeout_now(target);
    } else {
        maybe_send_append(target, true);
    }
    return Refusal::kOk;
}

Proposal Node::change_membership(MembershipChange change, NodeId node) {
    if (role_ != Role::kLeader) return Proposal{.refusal = Refusal::kNotLeader, .leader = lead_};
    if (transferee_ != NodeId(0)) return Proposal{.refusal = Refusal::kTransferring, .leader = lead_};
    if (pending_config_index_ > log_.committed()) {
        return Proposal{.refusal = Refusal::kConfigChangePending, .leader = lead_};
    }
    if (node == NodeId(0)) return Proposal{.refusal = Refusal::kInvalidMember, .leader = lead_};
    Membership next = membership();
    switch (change) {
        case MembershipChange::kAddLearner:
            if (next.contains(node)) return Proposal{.refusal = Refusal::kInvalidMember, .leader = lead_};
            next.learners.insert(node);
            break;
        case MembershipChange::kPromote: {
            if (!next.learners.contains(node)) {
                return Proposal{.refusal = Refusal::kInvalidMember, .leader = lead_};
            }
            // §d4.2.1: a voter that cannot keep up would stall commits.
            if (tracker_.progress(node).match() < log_.committed()) {
                return Proposal{.refusal = Refusal::kLagging, .leader = lead_};
            }
            next.learners.erase(node);
            next.voters.insert(node);
            break;
        }
        case MembershipChange::kRemove:
            if (!next.contains(node)) return Proposal{.refusal = Refusal::kInvalidMember, .leader = lead_};
            if (next.voters.size() == 1 && next.voters.contains(node)) {
                return Proposal{.refusal = Refusal::kLastVoter, .leader = lead_};
            }
            next.voters.erase(node);
            next.learners.erase(node);
            break;
    }
    const Index index = log_.last_index().next();
    append_entries({Entry{.term = term_, .index = index, .type = EntryType::kConfig,
                          .data = encode_membership(next)}});
    pending_config_index_ = index;
    return Proposal{.index = index, .term = term_, .leader = id_};
}

// ---- log and membership ---------------------------------------------------

void Node::append_entries(std::vector<Entry> entries) {
    RAFTKV_ASSERT(role_ == Role::kLeader);
    log_.append(entries);
    configs_.note_entries(entries);
    bool config = false;
    for (const Entry& e : entries) config |= e.type == EntryType::kConfig;
    if (config) apply_membership();
    // A single voter commits as soon as it persisted; others when they answer.
}

Membership Node::membership() const { return configs_.latest(); }

Membership Node::membership_at(Index index) const { return configs_.at(index); }

void Node::apply_membership() {
    const Membership m = membership();
    tracker_.apply_configuration(to_configuration(m), log_.last_index().next());
    if (role_ == Role::kLeader) {
        if (tracker_.is_member(id_)) {
            Progress& self = tracker_.progress(id_);
            if (self.state() == ProgressState::kProbe) self.become_replicate();
        }
        if (transferee_ != NodeId(0) && !tracker_.is_voter(transferee_)) abort_transfer();
        reads_.on_voters_changed(tracker_.config().voters);
    }
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

void Node::on_snapshot_persisted(Index index) {
    log_.stable_snapshot_to(index);
    log_.applied_to(index);
    persisted_ = std::max(persisted_, index);
}

void Node::on_applied(Index index) {
    if (index > log_.applied()) log_.applied_to(index);
}

// ---- reads ----------------------------------------------------------------

bool Node::is_leader_settled() const {
    return role_ == Role::kLeader && transferee_ == NodeId(0) && committed_entry_in_current_term();
}

std::uint64_t Node::start_read_round() {
    // §6.4 step 1: the read index is the commit index once an entry of this
    // term is committed (before that, our commit index may be stale).
    if (role_ != Role::kLeader || !committed_entry_in_current_term()) return 0;
    return reads_.start_round(log_.committed(), now_, id_, tracker_.config().voters);
}

// ---- ready ----------------------------------------------------------------

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
        last_hard_state_ = hs;
    }
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

// ---- status ---------------------------------------------------------------

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
