// node_membership.cc — membership changes one server at a time (§d4.1,
// §d4.2): proposing a change (a new server first joins as a learner and is
// promoted once caught up), and putting the latest configuration of the log
// into effect on the tracker as soon as it is appended.
//
// The configurations themselves are kept by ConfigHistory
// (config_history.h); the kConfig payload is membership.h. Does not handle
// joint consensus.
#include "base/assert.h"
#include "raft/membership.h"
#include "raft/node.h"

namespace raftkv::raft {
namespace {

Configuration to_configuration(const Membership& m) {
    Configuration c;
    c.voters = MajorityConfig(m.voters);
    c.learners = m.learners;
    return c;
}

}  // namespace

Proposal Node::change_membership(MembershipChange change, NodeId node) {
    if (role_ != Role::kLeader) return Proposal{.refusal = Refusal::kNotLeader, .leader = lead_};
    if (transferee_ != NodeId(0))
        return Proposal{.refusal = Refusal::kTransferring, .leader = lead_};
    if (pending_config_index_ > log_.committed()) {
        return Proposal{.refusal = Refusal::kConfigChangePending, .leader = lead_};
    }
    if (node == NodeId(0)) return Proposal{.refusal = Refusal::kInvalidMember, .leader = lead_};
    Membership next = membership();
    switch (change) {
        case MembershipChange::kAddLearner:
            if (next.contains(node))
                return Proposal{.refusal = Refusal::kInvalidMember, .leader = lead_};
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
            if (!next.contains(node))
                return Proposal{.refusal = Refusal::kInvalidMember, .leader = lead_};
            if (next.voters.size() == 1 && next.voters.contains(node)) {
                return Proposal{.refusal = Refusal::kLastVoter, .leader = lead_};
            }
            next.voters.erase(node);
            next.learners.erase(node);
            break;
    }
    const Index index = log_.last_index().next();
    append_entries({Entry{.term = term_,
                          .index = index,
                          .type = EntryType::kConfig,
                          .data = encode_membership(next)}});
    pending_config_index_ = index;
    return Proposal{.index = index, .term = term_, .leader = id_};
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

}  // namespace raftkv::raft
