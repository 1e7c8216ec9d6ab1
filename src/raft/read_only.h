// read_only.h — a leader's linearizable reads: ReadIndex rounds (§6.4,
// §d6.4) and the optional leader lease (§d6.4.1).
//
// A read asked at commit index c is safe to serve once the leader knows it
// was still the leader after the read was asked: a quorum of voters answered
// a heartbeat sent after it (a "round"). Then it waits until the state
// machine applied c. With a lease, the leader skips the round while no other
// leader can have been elected. This class keeps the reads and the rounds and
// decides when each is confirmed; it does not send heartbeats, read the log
// or know the role: node_read.cc asks it and passes in what it knows. Pure
// and deterministic, like the rest of the core. Modeled on etcd-io/raft
// read_only.go.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "raft/quorum.h"
#include "raft/ready.h"
#include "raft/types.h"

namespace raftkv::raft {

struct ReadOnlyOptions {
    // §d6.4.1: serve reads under a lease (NodeOptions::lease_reads).
    bool lease_reads = false;
    // A round confirmed at sent_at gives a lease until sent_at +
    // election_ticks - lease_drift_ticks (NodeOptions).
    int election_ticks = 10;
    int lease_drift_ticks = 2;
};

// One node's reads, used while it leads. Owned by the Node; not thread-safe.
// Times are the node's ticks since start.
class ReadOnly {
public:
    explicit ReadOnly(const ReadOnlyOptions& options);

    // A read with `context` asked now. With a valid lease (lease_valid with
    // the same `now` and `leader_settled`) it is confirmed at once at
    // `committed`; else it waits for the next round.
    void add(std::string context, Index committed, std::uint64_t now, bool leader_settled);

    // Whether a read may be served from the lease at `now`. `leader_settled`
    // is the node's part: it leads, transfers no leadership, and has
    // committed an entry of its term.
    bool lease_valid(std::uint64_t now, bool leader_settled) const;

    // Starts a round at `now` for every waiting read, at read index
    // `committed` (§6.4 step 1: the caller guarantees an entry of its term
    // is committed). `self` acknowledges it at once if it is among `voters`.
    // Returns the round's id (> 0), to send in its heartbeats.
    std::uint64_t start_round(Index committed, std::uint64_t now, NodeId self,
                              const MajorityConfig& voters);
    // `from` answered round `round` (heartbeat responses echo it). Answers
    // from non-voters and older rounds change nothing.
    void on_ack(NodeId from, std::uint64_t round, const MajorityConfig& voters);
    // The voters changed: forgets the acks of those who left and confirms
    // what the new voters already confirm.
    void on_voters_changed(const MajorityConfig& voters);
    // Confirms every round a quorum of `voters` answered and every round
    // older than one (§6.4 step 3), renewing the lease.
    void confirm_rounds(const MajorityConfig& voters);

    // Leadership was lost, or is not held: every read not yet confirmed
    // fails. Confirmed reads stay valid: their index was current when they
    // were confirmed.
    void fail_unconfirmed();
    // The node starts over in a new role. `new_term`: the term moved, so a
    // lease forfeited in the old one may be kept again.
    void reset(bool new_term);
    // A TimeoutNow was sent (§d3.10): the target may be elected before the
    // lease would end, so no lease again in this term.
    void forfeit_lease();

    // Reads wait for a round to start.
    bool has_waiting() const { return !waiting_.empty(); }
    // The next heartbeat should carry a round: reads wait, a round is
    // unanswered, or a lease is kept.
    bool wants_round() const;
    // Ready bookkeeping: something to hand out given `applied`.
    bool has_ready(Index applied) const;
    // The confirmed reads at or below `applied`, in order, and forgets them.
    std::vector<ReadState> take_read_states(Index applied);
    // The contexts of the reads that failed since the last call.
    std::vector<std::string> take_failed();

    std::uint64_t lease_until() const { return lease_until_; }
    bool is_lease_forfeited() const { return lease_forfeited_; }
    std::size_t round_count() const { return rounds_.size(); }

private:
    struct Round {
        std::uint64_t id = 0;
        std::uint64_t sent_at = 0;  // when its heartbeats left
        Index index;                // the commit index when it started
        std::vector<std::string> contexts;
    };

    ReadOnlyOptions options_;
    std::vector<std::string> waiting_;  // for a round to start
    // Started, not yet confirmed. Invariant: ids strictly ascending.
    std::deque<Round> rounds_;
    // The highest round each voter answered. Invariant: only voters.
    std::map<NodeId, std::uint64_t> acks_;
    // Only grows: round ids are never reused within a node's life.
    std::uint64_t next_round_ = 1;
    // Waiting for applied >= index, served in order: those behind the front
    // wait with it (a lease read may be confirmed at a higher index before
    // an older round's reads are).
    std::deque<ReadState> confirmed_;
    std::vector<std::string> failed_;
    std::uint64_t lease_until_ = 0;  // the tick before which a lease read is safe
    bool lease_forfeited_ = false;   // sent a TimeoutNow in this term
};

}  // namespace raftkv::raft
