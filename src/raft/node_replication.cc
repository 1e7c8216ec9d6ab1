// node_replication.cc — log replication (§5.3) and commit (§5.4.2): the
// follower's side of appends and heartbeats, and the leader's: proposing,
// sending appends with batching, pipelining and flow control (Progress,
// §d10.2.2), fast backtracking on rejections, heartbeats, and advancing the
// commit index by quorum for entries of its own term only (Figure 8).
//
// Does not send or receive snapshots (node_snapshot.cc) or confirm reads
// (node_read.cc; a heartbeat here only carries the read round it is given).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>

#include "base/assert.h"
#include "raft/node.h"

namespace raftkv::raft {

Proposal Node::propose(std::string data) {
    if (role_ != Role::kLeader) return Proposal{.refusal = Refusal::kNotLeader, .leader = lead_};
    if (transferee_ != NodeId(0))
        return Proposal{.refusal = Refusal::kTransferring, .leader = lead_};
    const Index index = log_.last_index().next();
    append_entries({Entry{
        .term = term_, .index = index, .type = EntryType::kCommand, .data = std::move(data)}});
    return Proposal{.index = index, .term = term_, .leader = id_};
}

void Node::append_entries(std::vector<Entry> entries) {
    RAFTKV_ASSERT(role_ == Role::kLeader);
    log_.append(entries);
    configs_.note_entries(entries);
    bool config = false;
    for (const Entry& e : entries) config |= e.type == EntryType::kConfig;
    if (config) apply_membership();
    // A single voter commits as soon as it persisted; others when they answer.
}

void Node::handle_append(const Message& m) {
    if (m.index < log_.committed()) {
        // Everything through our commit index matches the leader's log
        // (Log Matching); the entries below it may be compacted here.
        send_after_persist(
            Message{.type = MessageType::kAppendResponse, .to = m.from, .index = log_.committed()});
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
            configs_.note_entries(
                std::span<const Entry>(&*first, static_cast<std::size_t>(m.entries.end() - first)));
        }
        const std::optional<Index> last =
            log_.maybe_append(m.index, m.log_term, m.commit, m.entries);
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
    send_after_persist(
        Message{.type = MessageType::kHeartbeatResponse, .to = m.from, .read_round = m.read_round});
}

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

bool Node::maybe_commit() { return log_.maybe_commit(tracker_.committed(), term_); }

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

// Issue 10 item 6: a follower learns a new commit index with this Ready,
// not only at the next heartbeat (up to a tick later), so that its
// READONLY reads, and its start should it lead next, see recent writes.
// One empty append per follower per Ready, and none to a follower whose
// append in this Ready already carries the commit index; a paused follower
// (a full window, a probe in flight, a snapshot) learns it from the next
// heartbeat or append.
void Node::tell_commit() {
    if (log_.committed() <= commit_told_) return;
    const auto told = [&](NodeId to) {
        return std::any_of(messages_.begin(), messages_.end(), [&](const Message& m) {
            return m.to == to && m.type == MessageType::kAppend && m.commit >= log_.committed();
        });
    };
    for (NodeId to : tracker_.voter_ids()) {
        if (!told(to)) maybe_send_append(to, true);
    }
    for (NodeId to : tracker_.learner_ids()) {
        if (!told(to)) maybe_send_append(to, true);
    }
    commit_told_ = log_.committed();
}

bool Node::committed_entry_in_current_term() const { return log_.term(log_.committed()) == term_; }

}  // namespace raftkv::raft
