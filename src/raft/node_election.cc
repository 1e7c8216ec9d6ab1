// node_election.cc — leader election (§5.2, Figure 2 "Rules for Servers"):
// the role transitions, the election and heartbeat timers, the term rules
// every message passes through in step(), and vote requests and answers,
// with pre-vote (§d9.6) and check-quorum (§d6.2, §d4.2.3).
//
// Does not replicate or commit (node_replication.cc) or decide when a
// leadership transfer starts (node_transfer.cc); it only campaigns when told
// to by a TimeoutNow.
#include <cstdint>

#include "base/assert.h"
#include "raft/node.h"

namespace raftkv::raft {
namespace {

// SplitMix64: the core's only source of randomness, from the seed it is given.
std::uint64_t next_random(std::uint64_t* state) {
    std::uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

}  // namespace

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
    commit_told_ = log_.committed();  // the first appends carry it
    if (tracker_.is_member(id_)) {
        // Our own entries count when we persist them (on_persisted).
        Progress& self = tracker_.progress(id_);
        self.maybe_update(persisted_);
        self.become_replicate();
    }
    // No membership change until an entry of this term commits (§d4.1's
    // fix for one-at-a-time changes across leader changes).
    // §5.4.2 / §d6.4: commit an entry of our own term at once.
    append_entries({Entry{
        .term = term_, .index = log_.last_index().next(), .type = EntryType::kNoop, .data = {}}});
    pending_config_index_ = log_.last_index();
}

bool Node::promotable() const { return tracker_.is_voter(id_) && !log_.unstable_snapshot(); }

void Node::reset_randomized_election_timeout() {
    randomized_election_timeout_ =
        options_.election_ticks +
        static_cast<int>(next_random(&rng_state_) %
                         static_cast<std::uint64_t>(options_.election_ticks));
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
             ((options_.lease_reads || options_.lease_after_start) &&
              now_ < static_cast<std::uint64_t>(options_.election_ticks)));
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
    const bool can_vote =
        vote_ == m.from || (vote_ == NodeId(0) && lead_ == NodeId(0)) || (pre && m.term > term_);
    const MessageType reply = pre ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
    if (can_vote && log_.is_up_to_date(m.index, m.log_term)) {
        if (!pre) {
            RAFTKV_ASSERT(vote_ == NodeId(0) || vote_ == m.from,
                          "second vote in term {}: {} then {}", term_.value, vote_.value,
                          m.from.value);
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

}  // namespace raftkv::raft
