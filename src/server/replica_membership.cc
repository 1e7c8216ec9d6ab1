// replica_membership.cc — membership administration around the core:
// promoting caught-up learners, the address table and the peers it gives
// the outbox, joining a cluster (--join), and handing over the leadership
// before a stop.
#include <spdlog/spdlog.h>

#include <charconv>

#include "kv/command_codec.h"
#include "raft/membership.h"
#include "server/replica.h"

namespace raftkv::server {

std::string JoinTarget::to_string() const { return fmt::format("{}:{}", host, port); }

Result<JoinTarget> parse_join_target(std::string_view spec) {
    const std::size_t colon = spec.rfind(':');
    int port = 0;
    if (colon != std::string_view::npos) {
        const std::string_view digits = spec.substr(colon + 1);
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
        if (ec != std::errc() || end != digits.data() + digits.size()) port = 0;
    }
    if (colon == std::string_view::npos || port <= 0 || port > 65535) {
        return Status::errorf(Code::kInvalid, "--join {} is not HOST:PORT", spec);
    }
    return JoinTarget{.host = std::string(spec.substr(0, colon)),
                      .port = static_cast<std::uint16_t>(port)};
}

// §d4.2.1: a server added as a learner becomes a voter once it has caught
// up with the commit index (the core refuses it before; retried every tick).
void Replica::promote_caught_up_learners() {
    if (node_->role() != raft::Role::kLeader) return;
    for (raft::NodeId id : node_->membership().learners) {
        const raft::Proposal p = node_->change_membership(raft::MembershipChange::kPromote, id);
        if (p.ok()) {
            spdlog::info("node {} caught up: promoting it to voter (entry {})", id.value,
                         p.index.value);
            schedule_pump();
            return;
        }
    }
}

std::optional<NodeAddress> Replica::address_of(raft::NodeId id) const {
    if (id == raft::NodeId(0)) return std::nullopt;
    // The replicated table first (RAFTKV.ADDRESS): it is what the cluster
    // agreed on; then --cluster, then what a join was told.
    const auto& table = state_.addresses();
    if (auto it = table.find(id.value); it != table.end()) {
        return NodeAddress{id, it->second.host, it->second.port, it->second.peer_port};
    }
    for (const NodeAddress& node : options_.cluster) {
        if (node.id == id) return node;
    }
    if (auto it = join_addresses_.find(id); it != join_addresses_.end()) return it->second;
    return std::nullopt;
}

std::vector<NodeAddress> Replica::member_addresses() const {
    std::vector<NodeAddress> out;
    const raft::Membership m = node_->membership();
    std::set<raft::NodeId> ids = m.voters;
    ids.insert(m.learners.begin(), m.learners.end());
    for (raft::NodeId id : ids) {
        if (std::optional<NodeAddress> a = address_of(id)) out.push_back(std::move(*a));
    }
    return out;
}

namespace {

// The peers as the transport knows them: the client port plays no part.
bool same_peers(const std::vector<NodeAddress>& a, const std::vector<NodeAddress>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const NodeAddress& x, const NodeAddress& y) {
                          return x.id == y.id && x.host == y.host && x.peer_port == y.peer_port;
                      });
}

}  // namespace

void Replica::update_peers() {
    // A joining server has no configuration until the leader's log or
    // snapshot reaches it; until then its peers are the ones the join reply
    // named. Dropping them would leave it unable to answer the leader, which
    // then never brings it up to date (seen in a fault run: a joiner that
    // removed every peer 14 ms after joining and was never promoted).
    const raft::Membership m = node_->membership();
    if (m.voters.empty() && m.learners.empty()) return;
    std::vector<NodeAddress> peers;
    for (const NodeAddress& a : member_addresses()) {
        if (a.id != options_.self.id) peers.push_back(a);
    }
    // A server being removed still hears from us until it learns it (and
    // the leader keeps talking to a joiner it just added).
    if (same_peers(peers, known_peers_)) return;
    known_peers_ = peers;
    ports_.outbox->set_peers(std::move(peers));
}

// The first leader records every founder's address in the log, so that a
// server joining later learns them (it only knows its own and the leader's).
void Replica::announce_addresses() {
    const auto& table = state_.addresses();
    for (const NodeAddress& node : options_.cluster) {
        if (!node_->membership().contains(node.id) || table.contains(node.id.value)) continue;
        propose_internal({"RAFTKV.ADDRESS", std::to_string(node.id.value), node.host,
                          std::to_string(node.port), std::to_string(node.peer_port)});
    }
}

raft::Proposal Replica::propose_internal(std::vector<std::string> args,
                                         std::optional<std::uint64_t> time_ms) {
    const raft::Proposal p =
        node_->propose(time_ms ? kv::encode_command(args, *time_ms) : kv::encode_command(args));
    if (p.ok()) {
        if (time_ms) stamps_in_flight_[p.index] = *time_ms;
        schedule_pump();
    }
    return p;
}

// ---- joining ------------------------------------------------------------------
//
// --join: a fresh server asks the cluster at options_.join to add it (RAFT
// ADDNODE, which any server redirects to the leader), one request at a time,
// kJoinAttemptDelay apart, for kJoinPatienceFirst; failing that, the server
// stops. A request unanswered for kJoinRequestTimeout counts as a failed
// attempt; requests are numbered, so a late reply to one is ignored. Once a
// leader answered, the leader may still lose its place before the addition
// commits: unless a leader's log reached us within kJoinRetryDelay, we ask
// again (for kJoinPatienceLater, then wait again).
//
// We are in (has_joined) once a configuration that holds us is committed, as
// far as we know (our commit index covers it), whatever our requests' fate:
// the addition may have committed though its reply was lost. Then the join
// ends quietly; it never stops a server that is a member. A leader's log
// reaching us is not enough: that leader may lose its place before our
// addition commits, and a server nobody has in its configuration is never
// contacted again (found by the replica simulation, seed 486). So a server
// started with --join that is not in a committed configuration asks, also
// after a restart, and also if it was removed: remove --join (or wipe the
// data) to keep a removed server out.

void Replica::start_join(bool is_first, Now now) {
    join_ = JoinAttempt{
        .is_first = is_first,
        .give_up_at = now.steady + (is_first ? std::chrono::milliseconds(kJoinPatienceFirst)
                                             : std::chrono::milliseconds(kJoinPatienceLater)),
    };
    send_join_request(now);
}

void Replica::send_join_request(Now now) {
    RAFTKV_ASSERT(join_.has_value(), "a join request without a join");
    join_->next_at.reset();
    join_->sent_at = now.steady;
    ++join_seq_;
    const NodeAddress& self = options_.self;
    ports_.host->send_join_request(JoinRequest{
        .seq = join_seq_,
        .host = options_.join->host,
        .port = options_.join->port,
        .args = {"RAFT", "ADDNODE", std::to_string(self.id.value),
                 fmt::format("{}:{}@{}", self.host, self.port, self.peer_port)},
    });
}

bool Replica::has_joined() const {
    return node_->membership_at(node_->log().committed()).contains(options_.self.id);
}

void Replica::on_join_reply(std::uint64_t seq, Result<resp::Reply> reply, Now now) {
    if (!join_ || join_->next_at) return;  // no request is out
    if (seq != join_seq_) return;          // a late reply to an attempt timed out
    if (has_joined()) {
        // Issue: a lost ADDNODE reply followed by failed retries used to stop
        // a server the leader had already added.
        spdlog::info("joined the cluster through {} (a leader reached us)",
                     options_.join->to_string());
        join_.reset();
        return;
    }
    if (!reply) {
        join_attempt_failed(reply.error().to_string(), now);
        return;
    }
    if (reply->type == resp::Reply::Type::kError) {
        const std::string& error = reply->str;
        if (error.rfind("TRYAGAIN", 0) != 0 && error.rfind("CLUSTERDOWN", 0) != 0) {
            const Status refused = Status::errorf(Code::kInvalid, "joining through {}: {}",
                                                  options_.join->to_string(), error);
            const bool is_first = join_->is_first;
            join_.reset();
            if (is_first) {
                ports_.host->stop(refused);
            } else {
                spdlog::warn("still joining: {}", refused.to_string());
                join_retry_at_ = now.steady + kJoinRetryDelay;
            }
            return;
        }
        join_attempt_failed(error, now);
        return;
    }
    if (reply->type != resp::Reply::Type::kArray) {
        join_attempt_failed(
            fmt::format("RAFT ADDNODE answered a {} reply", resp::reply_type_name(reply->type)),
            now);
        return;
    }
    for (const resp::Reply& e : reply->elements) {
        auto parsed = parse_cluster(e.str);
        if (parsed && (*parsed)[0].id != options_.self.id) {
            join_addresses_[(*parsed)[0].id] = (*parsed)[0];
        }
    }
    std::vector<NodeAddress> peers;
    for (const auto& [id, a] : join_addresses_) peers.push_back(a);
    known_peers_ = peers;
    ports_.outbox->set_peers(std::move(peers));
    spdlog::info("asked to join the cluster through {}: {} other members",
                 options_.join->to_string(), join_addresses_.size());
    join_.reset();
    // The leader may lose its place before the addition commits; ask again
    // until its log reaches us (continue_join).
    join_retry_at_ = now.steady + kJoinRetryDelay;
}

void Replica::join_attempt_failed(std::string error, Now now) {
    RAFTKV_ASSERT(join_.has_value(), "a failed join attempt without a join");
    if (has_joined()) {
        spdlog::info("joined the cluster through {} (a leader reached us; last attempt: {})",
                     options_.join->to_string(), error);
        join_.reset();
        return;
    }
    join_->last_error = std::move(error);
    if (now.steady < join_->give_up_at) {
        join_->next_at = now.steady + kJoinAttemptDelay;
        return;
    }
    const auto patience = std::chrono::duration_cast<std::chrono::seconds>(
        join_->is_first ? kJoinPatienceFirst : kJoinPatienceLater);
    const Status failed =
        Status::errorf(Code::kIoError, "could not join the cluster through {} in {} s: {}",
                       options_.join->to_string(), patience.count(), join_->last_error);
    const bool is_first = join_->is_first;
    join_.reset();
    if (is_first) {
        ports_.host->stop(failed);
    } else {
        spdlog::warn("still joining: {}", failed.to_string());
        join_retry_at_ = now.steady + kJoinRetryDelay;
    }
}

// From every tick: sends the next attempt of a join when its delay passed,
// gives up on a request unanswered for kJoinRequestTimeout, and asks again
// when no leader reached us kJoinRetryDelay after a join.
void Replica::continue_join(Now now) {
    if (join_ && join_->next_at && now.steady >= *join_->next_at) {
        send_join_request(now);
    } else if (join_ && !join_->next_at && now.steady - join_->sent_at >= kJoinRequestTimeout) {
        join_attempt_failed(
            fmt::format(
                "no reply in {} s",
                std::chrono::duration_cast<std::chrono::seconds>(kJoinRequestTimeout).count()),
            now);
    }
    if (join_retry_at_ && now.steady >= *join_retry_at_) {
        join_retry_at_.reset();
        if (!has_joined()) start_join(/*is_first=*/false, now);
        // Otherwise a leader reached us: we are in.
    }
}

// ---- handing over -------------------------------------------------------------

// Issue 4 item 7: a leader that stops hands over first, so that a rolling
// restart has no election-timeout gap: it picks the voter furthest along and
// waits (at most two election timeouts) until the transfer took effect.
void Replica::transfer_leadership_before_stop(Now now) {
    if (node_->role() != raft::Role::kLeader) return;
    raft::NodeId best;
    raft::Index best_match;
    const raft::NodeStatus st = node_->status();
    for (const auto& [id, match] : st.match) {
        if (id == options_.self.id || !st.membership.voters.contains(id)) continue;
        if (best == raft::NodeId(0) || match > best_match) {
            best = id;
            best_match = match;
        }
    }
    if (best == raft::NodeId(0)) return;
    const raft::Refusal r = hand_leadership_to(best, now);
    if (r != raft::Refusal::kOk) {
        spdlog::warn("stopping: cannot hand the leadership to node {}: {}", best.value,
                     raft::refusal_name(r));
        return;
    }
    spdlog::info("stopping: handing the leadership to node {} first", best.value);
    transfer_deadline_ =
        now.steady + 2 * options_.election_ticks * std::chrono::milliseconds(options_.tick_ms);
    schedule_pump();
}

}  // namespace raftkv::server
