// node_transfer.cc — leadership transfer (§d3.10): the leader catches the
// target up, sends it TimeoutNow, and refuses proposals meanwhile; the
// transfer is abandoned after an election timeout.
//
// The target's campaign is in node_election.cc (step, kTimeoutNow); giving
// up the lease for the term is ReadOnly::forfeit_lease (read_only.h).
#include "base/assert.h"
#include "raft/node.h"

namespace raftkv::raft {

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

}  // namespace raftkv::raft
