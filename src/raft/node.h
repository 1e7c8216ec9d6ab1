// node.h — one Raft server's consensus core: elections, replication, commit,
// snapshots, membership, leadership transfer and linearizable reads, as a
// deterministic state machine with no I/O (DESIGN.md, "The raft core").
//
// Sections of the Raft paper (Ongaro & Ousterhout 2014) and of Ongaro's
// dissertation (2014) are cited as §N (paper) and §dN (dissertation).
// Modeled on etcd-io/raft (raft.go, rawnode.go).
//
// The Ready it hands out, and the order in which the caller must act on it,
// are in ready.h. The class is implemented by concern in node.cc (Ready,
// status, invariants), node_election.cc, node_replication.cc,
// node_snapshot.cc, node_membership.cc, node_transfer.cc and node_read.cc;
// the state with rules of its own is in its own unit: ConfigHistory
// (config_history.h), ReadOnly (read_only.h), and each follower's Progress
// with its snapshot send (progress.h).
//
// Invariants kept and checked here (check_invariants, and asserts where
// they are kept): at most one vote per term; the commit index never
// decreases; the log is never truncated at or below the commit index;
// applied <= committed <= last index; a leader's own match index counts only
// entries it persisted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "raft/config_history.h"
#include "raft/inflights.h"
#include "raft/log_storage.h"
#include "raft/message.h"
#include "raft/raft_log.h"
#include "raft/read_only.h"
#include "raft/ready.h"
#include "raft/tracker.h"
#include "raft/types.h"

namespace raftkv::raft {

enum class Role : std::uint8_t {
    kFollower = 1,
    kPreCandidate = 2,
    kCandidate = 3,
    kLeader = 4,
};
std::string_view role_name(Role role);

struct NodeOptions {
    NodeId id;
    // A follower starts an election after a random timeout in
    // [election_ticks, 2 * election_ticks) without hearing from a leader; a
    // leader sends heartbeats every heartbeat_ticks. heartbeat < election.
    int election_ticks = 10;
    int heartbeat_ticks = 1;
    // Seeds the election timeouts; mixed with the id so that nodes of one
    // cluster given one seed still draw different timeouts.
    std::uint64_t seed = 1;
    // §d9.6: a candidate first asks whether it could win, without raising its
    // term, so a node back from a partition does not depose a working leader.
    bool pre_vote = true;
    // §d6.2: a leader that has not heard from a majority for an election
    // timeout steps down; followers that heard from a leader within the
    // minimum election timeout ignore vote requests (§d4.2.3).
    bool check_quorum = true;
    // §d6.4.1: serve reads under a leader lease, without a heartbeat round.
    // Requires check_quorum. Safe only if clocks drift less than
    // lease_drift_ticks per election timeout: the lease ends that many ticks
    // before the earliest moment a quorum could elect another leader.
    bool lease_reads = false;
    int lease_drift_ticks = 2;
    // Like lease_reads, a node keeps the promise of check_quorum (ignore
    // vote requests) for an election timeout after it starts, as it has
    // forgotten whom it heard from. The server needs it for key expiry:
    // no leader is elected until an election timeout after the last one
    // confirmed a read (docs/expiry.md).
    bool lease_after_start = false;
    // Batching: one append carries at most this many entries and bytes of
    // payload (the first entry goes regardless of size).
    std::size_t append_entries_max = 256;
    std::uint64_t append_bytes_max = 1 << 20;
    // Pipelining: unacknowledged appends per follower (count and bytes).
    InflightsLimits inflights;
    // Snapshot chunks sent to a follower (§7).
    std::uint64_t snapshot_chunk_bytes = 1 << 20;
    // Committed entries handed out per Ready (bytes of payload; one at least).
    std::uint64_t apply_bytes_max = 64 << 20;
    // The configuration the cluster was founded with: in effect at index 0,
    // before the first kConfig entry. Pass the same one on every start (the
    // caller persists it); it is unused once a snapshot is taken. Empty for a
    // server that joins an existing cluster (it learns the configuration
    // from the leader's log or snapshot).
    Membership initial_membership;
};

// Why the core refused a request. kOk means accepted: for a proposal, that it
// was appended at `index` in `term` and may still be lost if leadership is.
enum class Refusal : std::uint8_t {
    kOk = 0,
    kNotLeader = 1,            // see `leader` for a hint (NodeId(0): unknown)
    kTransferring = 2,         // a leadership transfer is in progress
    kConfigChangePending = 3,  // one membership change at a time (§d4.1)
    kInvalidMember = 4,        // not a member, already one, or not a learner
    kLagging = 5,              // the learner or transfer target is behind
    kLastVoter = 6,            // removing it would leave no voter
};
std::string_view refusal_name(Refusal r);

struct Proposal {
    Refusal refusal = Refusal::kOk;
    Index index;
    Term term;
    NodeId leader;  // a hint when refusal == kNotLeader
    bool ok() const { return refusal == Refusal::kOk; }
};

enum class MembershipChange : std::uint8_t {
    kAddLearner = 1,  // a new server receives the log but does not vote
    kPromote = 2,     // a caught-up learner becomes a voter
    kRemove = 3,      // a voter or learner leaves
};

// What INFO and the simulation's traces show.
struct NodeStatus {
    NodeId id;
    Role role = Role::kFollower;
    Term term;
    NodeId vote;
    NodeId leader;
    Index committed;
    Index applied;
    Index last_index;
    Membership membership;
    std::map<NodeId, Index> match;  // leaders only: each member's match index
    NodeId transferee;
};

class Node {
public:
    // A node over what `storage` holds (borrowed; see log_storage.h), with
    // the hard state it persisted and the index its state machine has
    // applied through (at least the snapshot's). A new server passes an
    // empty storage and a zero hard state.
    Node(const NodeOptions& options, const LogStorage* storage, const HardState& hard_state,
         Index applied);

    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    // One tick of logical time.
    void tick();
    // A message from a peer. Messages from the past (lower terms), from
    // unknown nodes, duplicated or reordered are handled safely.
    void step(const Message& m);

    // Leader only: appends a command. The caller learns its fate from the
    // committed entries: applied at `index` with `term` means committed; a
    // different term there means it was lost.
    Proposal propose(std::string data);
    // Leader only: a linearizable read (§6.4). Its ReadState comes out of a
    // later Ready (with `context`) once a heartbeat round confirmed the
    // leadership and the state machine applied the read index; batched: one
    // round serves every read asked before it started. Lease reads skip
    // the round.
    Refusal read_index(std::string context);
    // Leader only (§d3.10): catches `target` up, then tells it to campaign.
    // Proposals are refused meanwhile; abandoned after an election timeout.
    Refusal transfer_leadership(NodeId target);
    // Leader only (§d4.1-4.2): one change at a time, each a kConfig entry
    // that takes effect on every server as soon as it is appended.
    Proposal change_membership(MembershipChange change, NodeId node);

    // Starts an election now instead of at the election timeout (with a
    // pre-vote first when enabled): a server that is the only voter calls
    // it at start so that it leads at once. Does nothing on a leader or a
    // non-voter.
    void campaign_now();

    // Drains the pending outputs; see the contract in ready.h.
    bool has_ready() const;
    Ready ready();
    // The caller did everything `rd` asked (steps 1-5 of ready.h).
    void advance(const Ready& rd);

    // The configuration in effect at `index` (>= the storage's snapshot
    // index, <= last index): what a snapshot taken there must record.
    Membership membership_at(Index index) const;

    NodeId id() const { return id_; }
    Role role() const { return role_; }
    Term term() const { return term_; }
    NodeId leader() const { return lead_; }
    NodeId vote() const { return vote_; }
    const RaftLog& log() const { return log_; }
    const ProgressTracker& tracker() const { return tracker_; }
    Membership membership() const;
    NodeStatus status() const;
    // Aborts with a message if a stated invariant does not hold.
    void check_invariants() const;

private:
    struct IncomingSnapshot {
        SnapshotMeta meta;
        std::string data;
    };
    enum class CampaignKind { kPreVote, kElection, kTransfer };

    // node.cc: the outbox and what the caller reports back.
    void send(Message m);
    void send_after_persist(Message m);
    void on_persisted(Index index, Term term);
    void on_applied(Index index);

    // node_election.cc: transitions (Figure 2, "Rules for Servers"), timers
    // and votes.
    void become_follower(Term term, NodeId lead);
    void become_pre_candidate();
    void become_candidate();
    void become_leader();
    void reset(Term term);
    void campaign(CampaignKind kind);
    void tick_election();
    void tick_heartbeat();
    bool promotable() const;
    void reset_randomized_election_timeout();
    void step_vote_request(const Message& m);
    void step_vote_response(const Message& m);

    // node_replication.cc: appends, heartbeats and commit.
    void append_entries(std::vector<Entry> entries);
    void handle_append(const Message& m);
    void handle_heartbeat(const Message& m);
    void handle_append_response(const Message& m);
    void handle_heartbeat_response(const Message& m);
    bool maybe_send_append(NodeId to, bool send_if_empty);
    void flush_appends();
    void tell_commit();
    void broadcast_heartbeat();
    void send_heartbeats(std::uint64_t round);
    bool maybe_commit();
    void on_commit_advanced();
    bool committed_entry_in_current_term() const;

    // node_snapshot.cc: InstallSnapshot, both sides.
    void handle_snapshot(const Message& m);
    void handle_snapshot_response(const Message& m);
    void send_snapshot_chunk(NodeId to);
    void on_snapshot_persisted(Index index);

    // node_membership.cc.
    void apply_membership();

    // node_transfer.cc.
    void send_timeout_now(NodeId to);
    void abort_transfer();

    // node_read.cc.
    std::uint64_t start_read_round();  // its id, or 0 when none can start yet
    // The node's part of a lease's validity: it leads, transfers no
    // leadership, and has committed an entry of its term.
    bool is_leader_settled() const;

    HardState hard_state() const { return HardState{term_, vote_, log_.committed()}; }

    NodeOptions options_;
    NodeId id_;
    const LogStorage* storage_;
    RaftLog log_;
    ProgressTracker tracker_;

    Term term_;
    NodeId vote_;
    NodeId lead_;
    Role role_ = Role::kFollower;

    std::uint64_t now_ = 0;  // ticks since start
    int election_elapsed_ = 0;
    int heartbeat_elapsed_ = 0;
    int randomized_election_timeout_ = 0;
    std::uint64_t rng_state_;

    NodeId transferee_;
    int transfer_elapsed_ = 0;

    // The configurations of the log: the base is in effect at the storage's
    // snapshot (moved on by advance() when the caller compacts), the latest
    // entry's is in effect now (§d4.1: on append, not on commit).
    ConfigHistory configs_;
    // The index of the latest kConfig entry a leader appended; another
    // change waits until it is committed.
    Index pending_config_index_;
    // Leader: the commit index its followers were last sent (tell_commit).
    Index commit_told_;

    // The Ready bookkeeping. Entries through handed_ were handed out to
    // persist; committed entries through apply_handed_ to apply.
    Index handed_;
    Index apply_handed_;
    // The caller reported entries through persisted_ on disk (those of our
    // log now: a truncation lowers it).
    Index persisted_;
    HardState last_hard_state_;
    std::optional<Snapshot> pending_snapshot_;
    std::vector<Message> messages_;
    std::vector<Message> messages_after_persist_;
    Index max_committed_seen_;  // for the monotonic-commit check

    // Reads (leader only): ReadIndex rounds and the lease.
    ReadOnly reads_;

    std::optional<IncomingSnapshot> incoming_snapshot_;  // follower
};

}  // namespace raftkv::raft
