// node_read.cc — the Node's side of linearizable reads (§6.4, §d6.4.1): it
// checks the role, passes ReadOnly what it knows (commit index, tick,
// voters) and starts a round only once an entry of its term is committed.
//
// The rounds, acks and lease are ReadOnly's (read_only.h); the heartbeats
// that carry a round are sent by node_replication.cc.
#include <cstdint>
#include <string>

#include "raft/node.h"

namespace raftkv::raft {

Refusal Node::read_index(std::string context) {
    if (role_ != Role::kLeader) return Refusal::kNotLeader;
    reads_.add(std::move(context), log_.committed(), now_, is_leader_settled());
    return Refusal::kOk;
}

bool Node::is_leader_settled() const {
    return role_ == Role::kLeader && transferee_ == NodeId(0) && committed_entry_in_current_term();
}

std::uint64_t Node::start_read_round() {
    // §6.4 step 1: the read index is the commit index once an entry of this
    // term is committed (before that, our commit index may be stale).
    if (role_ != Role::kLeader || !committed_entry_in_current_term()) return 0;
    return reads_.start_round(log_.committed(), now_, id_, tracker_.config().voters);
}

}  // namespace raftkv::raft
