// tracker.cc — the leader's and a candidate's view of the whole
// configuration.
//
// See tracker.h. Configurations hold a handful of members (the simulation
// runs 1 to 7), so each question builds a small map and asks MajorityConfig;
// nothing is cached.
#include "raft/tracker.h"

#include <fmt/format.h>

#include <utility>

#include "base/assert.h"

namespace raftkv::raft {

namespace {

std::string id_list(const std::set<NodeId>& ids) {
    std::string out = "(";
    for (NodeId id : ids) {
        if (out.size() > 1) out += ' ';
        out += fmt::format("{}", id.value);
    }
    out += ')';
    return out;
}

}  // namespace

void Configuration::check_invariants() const {
    for (NodeId id : learners) {
        RAFTKV_ASSERT(id != NodeId(0), "node id 0 means 'no node', not a learner");
        RAFTKV_ASSERT(!voters.contains(id), "node {} is both voter and learner in {}", id.value,
                      to_string());
    }
}

std::string Configuration::to_string() const {
    return fmt::format("voters={} learners={}", voters.to_string(), id_list(learners));
}

std::size_t voters_changed(const Configuration& from, const Configuration& to) {
    std::size_t changed = 0;
    for (NodeId id : from.voters.voters()) {
        if (!to.voters.contains(id)) ++changed;
    }
    for (NodeId id : to.voters.voters()) {
        if (!from.voters.contains(id)) ++changed;
    }
    return changed;
}

ProgressTracker::ProgressTracker(InflightsLimits limits) : limits_(limits) {}

void ProgressTracker::apply_configuration(const Configuration& config, Index next_for_new_members) {
    config.check_invariants();
    // Drop the Progress of servers that leave; keep that of servers that stay
    // in either role, so a promoted learner keeps its match.
    std::erase_if(progress_, [&](const auto& entry) { return !config.is_member(entry.first); });
    auto add = [&](NodeId id) { progress_.try_emplace(id, next_for_new_members, limits_); };
    for (NodeId id : config.voters.voters()) add(id);
    for (NodeId id : config.learners) add(id);
    config_ = config;
    check_invariants();
}

void ProgressTracker::reset(Index last_index) {
    for (auto& [id, pr] : progress_) pr = Progress(last_index.next(), limits_);
    votes_.clear();
}

Index ProgressTracker::committed() const {
    RAFTKV_ASSERT(config_.voters.size() > 0, "no voters: nothing can commit");
    std::map<NodeId, Index> match;
    for (NodeId id : config_.voters.voters()) match.emplace(id, progress(id).match());
    return config_.voters.committed_index(match);
}

void ProgressTracker::record_vote(NodeId id, bool granted) { votes_.try_emplace(id, granted); }

VoteTally ProgressTracker::tally_votes() const {
    RAFTKV_ASSERT(config_.voters.size() > 0, "no voters: no election to win");
    VoteTally tally;
    for (NodeId id : config_.voters.voters()) {
        auto it = votes_.find(id);
        if (it == votes_.end()) continue;
        ++(it->second ? tally.granted : tally.rejected);
    }
    tally.result = config_.voters.vote_result(votes_);
    return tally;
}

bool ProgressTracker::quorum_active(NodeId self) {
    RAFTKV_ASSERT(config_.voters.size() > 0, "no voters: no quorum to be active");
    std::map<NodeId, bool> active;
    for (NodeId id : config_.voters.voters()) {
        active.emplace(id, id == self || progress(id).is_recent_active());
    }
    // Votes of "no" for silent voters: kLost and kPending both mean that a
    // majority was not heard from.
    const bool ok = config_.voters.vote_result(active) == VoteResult::kWon;
    for (auto& [id, pr] : progress_) {
        if (id != self) pr.set_recent_active(false);
    }
    return ok;
}

std::vector<NodeId> ProgressTracker::voter_ids() const {
    const std::set<NodeId>& voters = config_.voters.voters();
    return {voters.begin(), voters.end()};
}

std::vector<NodeId> ProgressTracker::learner_ids() const {
    return {config_.learners.begin(), config_.learners.end()};
}

Progress& ProgressTracker::progress(NodeId id) {
    auto it = progress_.find(id);
    RAFTKV_ASSERT(it != progress_.end(), "node {} is not a member of {}", id.value,
                  config_.to_string());
    return it->second;
}

const Progress& ProgressTracker::progress(NodeId id) const {
    auto it = progress_.find(id);
    RAFTKV_ASSERT(it != progress_.end(), "node {} is not a member of {}", id.value,
                  config_.to_string());
    return it->second;
}

std::string ProgressTracker::to_string() const {
    std::string out = config_.to_string();
    for (const auto& [id, pr] : progress_) {
        out += fmt::format("\n{}: {}", id.value, pr.to_string());
    }
    return out;
}

void ProgressTracker::check_invariants() const {
    RAFTKV_DEBUG_ASSERT(progress_.size() == config_.voters.size() + config_.learners.size(),
                        "{} progress entries for {}", progress_.size(), config_.to_string());
    for ([[maybe_unused]] const auto& [id, pr] : progress_) {
        RAFTKV_DEBUG_ASSERT(config_.is_member(id), "progress for non-member {} in {}", id.value,
                            config_.to_string());
    }
}

}  // namespace raftkv::raft
