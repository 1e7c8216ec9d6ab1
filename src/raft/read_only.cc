// read_only.cc — a leader's ReadIndex rounds and lease; see read_only.h.
//
// The rules cited here are §6.4 (ReadIndex, steps 1-4) and §d6.4.1 (leases:
// a voter that heard from the leader will not vote for another for an
// election timeout of its own clock, §d4.2.3).
#include "raft/read_only.h"

#include <algorithm>
#include <utility>

#include "base/assert.h"

namespace raftkv::raft {

ReadOnly::ReadOnly(const ReadOnlyOptions& options) : options_(options) {}

void ReadOnly::add(std::string context, Index committed, std::uint64_t now, bool leader_settled) {
    if (lease_valid(now, leader_settled)) {
        confirmed_.push_back(ReadState{.index = committed, .context = std::move(context)});
        return;
    }
    waiting_.push_back(std::move(context));
}

bool ReadOnly::lease_valid(std::uint64_t now, bool leader_settled) const {
    return options_.lease_reads && leader_settled && !lease_forfeited_ && now < lease_until_;
}

std::uint64_t ReadOnly::start_round(Index committed, std::uint64_t now, NodeId self,
                                    const MajorityConfig& voters) {
    Round round{
        .id = next_round_++, .sent_at = now, .index = committed, .contexts = std::move(waiting_)};
    waiting_.clear();
    // Rounds without reads only renew the lease; keep few of them.
    while (!rounds_.empty() && rounds_.front().contexts.empty() &&
           rounds_.front().sent_at + static_cast<std::uint64_t>(options_.election_ticks) <= now) {
        rounds_.pop_front();
    }
    const std::uint64_t id = round.id;
    RAFTKV_ASSERT(rounds_.empty() || rounds_.back().id < id, "read round {} after round {}", id,
                  rounds_.back().id);
    rounds_.push_back(std::move(round));
    if (voters.contains(self)) acks_[self] = id;
    confirm_rounds(voters);
    return id;
}

void ReadOnly::on_ack(NodeId from, std::uint64_t round, const MajorityConfig& voters) {
    if (round == 0 || !voters.contains(from)) return;
    std::uint64_t& acked = acks_[from];
    if (round <= acked) return;  // a duplicate, or an answer to an older round
    acked = round;
    confirm_rounds(voters);
}

void ReadOnly::on_voters_changed(const MajorityConfig& voters) {
    std::erase_if(acks_, [&](const auto& a) { return !voters.contains(a.first); });
    confirm_rounds(voters);
}

void ReadOnly::confirm_rounds(const MajorityConfig& voters) {
    if (rounds_.empty()) return;
    // The newest round a quorum of voters answered confirms it and every
    // older one: their answers came after it was sent (§6.4 step 3).
    std::map<NodeId, Index> acks;
    for (NodeId v : voters.voters()) {
        const auto it = acks_.find(v);
        acks[v] = Index(it == acks_.end() ? 0 : it->second);
    }
    const std::uint64_t confirmed = voters.committed_index(acks).value;
    while (!rounds_.empty() && rounds_.front().id <= confirmed) {
        Round& r = rounds_.front();
        for (std::string& ctx : r.contexts) {
            confirmed_.push_back(ReadState{.index = r.index, .context = std::move(ctx)});
        }
        if (options_.lease_reads) {
            // Each voter that answered heard from us at or after sent_at and
            // will not vote for another before election_ticks of its own
            // clock pass (§d4.2.3); less the drift bound.
            lease_until_ = std::max(
                lease_until_, r.sent_at + static_cast<std::uint64_t>(options_.election_ticks -
                                                                     options_.lease_drift_ticks));
        }
        rounds_.pop_front();
    }
}

void ReadOnly::fail_unconfirmed() {
    for (std::string& ctx : waiting_) failed_.push_back(std::move(ctx));
    waiting_.clear();
    for (Round& r : rounds_) {
        for (std::string& ctx : r.contexts) failed_.push_back(std::move(ctx));
    }
    rounds_.clear();
    acks_.clear();
}

void ReadOnly::reset(bool new_term) {
    if (new_term) lease_forfeited_ = false;
    fail_unconfirmed();
    lease_until_ = 0;
}

void ReadOnly::forfeit_lease() {
    lease_until_ = 0;
    lease_forfeited_ = true;
}

bool ReadOnly::wants_round() const {
    return options_.lease_reads || !waiting_.empty() || !rounds_.empty();
}

bool ReadOnly::has_ready(Index applied) const {
    return !failed_.empty() || (!confirmed_.empty() && confirmed_.front().index <= applied);
}

std::vector<ReadState> ReadOnly::take_read_states(Index applied) {
    std::vector<ReadState> out;
    while (!confirmed_.empty() && confirmed_.front().index <= applied) {
        out.push_back(std::move(confirmed_.front()));
        confirmed_.pop_front();
    }
    return out;
}

std::vector<std::string> ReadOnly::take_failed() {
    std::vector<std::string> out = std::move(failed_);
    failed_.clear();
    return out;
}

}  // namespace raftkv::raft
