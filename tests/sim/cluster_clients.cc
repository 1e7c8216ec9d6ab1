// cluster_clients.cc — the clients and membership jobs of Cluster (see
// cluster.h): routing operations to the leader, learning their outcomes
// from what the node they went to applies, recording the history; adding
// and removing servers one step per tick.
#include <fmt/format.h>

#include <utility>

#include "base/assert.h"
#include "sim/cluster.h"
#include "sim/cluster_internal.h"

namespace raftkv::sim {

using raft::Index;
using raft::NodeId;

namespace {

// Jobs that make no progress for this long are dropped (their server may
// stay a learner, or stay a member).
constexpr std::uint64_t kJobTicksMax = 3000;

std::string describe(const KvCommand& c) {
    switch (c.kind) {
        case OpKind::kGet:
            return fmt::format("get {}", c.key);
        case OpKind::kSet:
            return fmt::format("set {} {}", c.key, c.value);
        case OpKind::kIncr:
            return fmt::format("incr {} {}", c.key, c.delta);
        case OpKind::kCas:
            return fmt::format("cas {} {} {}", c.key, format_value(c.expected), c.value);
        case OpKind::kDel:
            return fmt::format("del {}", c.key);
    }
    return "?";
}

}  // namespace

ClientOpId Cluster::start_op(KvCommand cmd, GetMode mode) {
    RAFTKV_ASSERT(!client_busy(cmd.client), "client {} already has an operation", cmd.client);
    const ClientOpId id = ops_.size() + 1;
    cmd.op = id;
    auto op = std::make_unique<ClientOp>();
    op->id = id;
    op->rec = Operation{.client = cmd.client,
                        .kind = cmd.kind,
                        .key = cmd.key,
                        .value = cmd.value,
                        .expected = cmd.expected,
                        .delta = cmd.delta,
                        .outcome = Outcome::kUnknown,
                        .reply = {},
                        .call_time = static_cast<std::int64_t>(now_),
                        .return_time = kNeverReturned};
    op->cmd = std::move(cmd);
    op->mode = mode;
    op->deadline = now_ + static_cast<SimTime>(options_.client_timeout_ticks) * kTickTime;
    ClientOp& ref = *op;
    ops_.push_back(std::move(op));
    busy_clients_[ref.rec.client] = id;
    trace(fmt::format("client {} op #{} call {}{}", ref.rec.client, id, describe(ref.cmd),
                      ref.cmd.kind == OpKind::kGet && mode == GetMode::kLog ? " (log)" : ""));
    try_op(ref);
    return id;
}

void Cluster::try_op(ClientOp& op) {
    if (op.state != ClientOp::State::kRouting || op.queued) return;
    op.next_try = now_ + kTickTime;  // unless accepted below
    const std::optional<NodeId> l = leader();
    if (!l) return;
    SimNode& n = sim(*l);
    if (n.ready) {
        // Its loop is in a sync: the request waits for it.
        op.queued = true;
        n.queued_ops.push_back(op.id);
        return;
    }
    submit_op(op, n);
}

void Cluster::submit_op(ClientOp& op, SimNode& n) {
    op.next_try = now_ + kTickTime;  // unless accepted below
    if (op.cmd.kind == OpKind::kGet && op.mode == GetMode::kReadIndex) {
        op.context = fmt::format("read#{}", op.id);
        const raft::Refusal r = n.core->read_index(op.context);
        if (r != raft::Refusal::kOk) return;
        op.state = ClientOp::State::kWaitRead;
        op.at = n.id;
        op.incarnation = n.incarnation;
        waiting_reads_[op.context] = op.id;
        trace(fmt::format("op #{} read_index at n{}", op.id, n.id.value));
    } else {
        const raft::Proposal p = n.core->propose(encode_command(op.cmd));
        if (!p.ok()) return;
        ++counters_.proposals;
        op.state = ClientOp::State::kWaitWrite;
        op.at = n.id;
        op.incarnation = n.incarnation;
        op.index = p.index;
        op.term = p.term;
        waiting_writes_[{n.id, p.index}] = op.id;
        trace(fmt::format("op #{} proposed at n{} as {}/{}", op.id, n.id.value, p.index.value,
                          p.term.value));
    }
    pump(n);
    check(n);
}

void Cluster::finish_op(ClientOp& op, Outcome outcome, Reply reply) {
    if (op.state == ClientOp::State::kDone) return;
    if (op.state == ClientOp::State::kWaitWrite) waiting_writes_.erase({op.at, op.index});
    if (op.state == ClientOp::State::kWaitRead) waiting_reads_.erase(op.context);
    op.state = ClientOp::State::kDone;
    op.rec.outcome = outcome;
    op.rec.reply = outcome == Outcome::kOk ? std::move(reply) : Reply{};
    op.rec.return_time = static_cast<std::int64_t>(now_);
    busy_clients_.erase(op.rec.client);
    switch (outcome) {
        case Outcome::kOk:
            ++counters_.ops_ok;
            break;
        case Outcome::kFailed:
            ++counters_.ops_failed;
            break;
        case Outcome::kUnknown:
            ++counters_.ops_unknown;
            break;
    }
    trace(fmt::format("op #{} return: {}", op.id, format_operation(op.rec)));
}

void Cluster::fail_ops_on(NodeId id, std::string_view why) {
    std::vector<ClientOpId> lost;
    for (const auto& [client, op_id] : busy_clients_) {
        const ClientOp& op = *ops_[op_id - 1];
        if (op.state != ClientOp::State::kRouting && op.at == id) lost.push_back(op_id);
    }
    for (ClientOpId op_id : lost) {
        trace(fmt::format("op #{} lost its connection to n{} ({})", op_id, id.value, why));
        finish_op(*ops_[op_id - 1], Outcome::kUnknown);
    }
}

void Cluster::run_clients() {
    std::vector<ClientOpId> active;
    for (const auto& [client, op_id] : busy_clients_) active.push_back(op_id);
    for (ClientOpId op_id : active) {
        ClientOp& op = *ops_[op_id - 1];
        if (op.state == ClientOp::State::kDone) continue;
        if (now_ >= op.deadline) {
            // Never accepted: certainly not in any log. Accepted: it may
            // still commit.
            finish_op(op,
                      op.state == ClientOp::State::kRouting ? Outcome::kFailed : Outcome::kUnknown);
        } else if (op.state == ClientOp::State::kRouting && !op.queued && op.next_try <= now_) {
            try_op(op);
        }
        if (!ok()) return;
    }
}

ClientOpId Cluster::client_set(std::uint64_t client, std::string key, std::string value) {
    return start_op(KvCommand{.kind = OpKind::kSet,
                              .client = client,
                              .key = std::move(key),
                              .value = std::move(value)},
                    GetMode::kLog);
}

ClientOpId Cluster::client_get(std::uint64_t client, std::string key, GetMode mode) {
    return start_op(KvCommand{.kind = OpKind::kGet, .client = client, .key = std::move(key)}, mode);
}

ClientOpId Cluster::client_incr(std::uint64_t client, std::string key, std::int64_t delta) {
    return start_op(
        KvCommand{.kind = OpKind::kIncr, .client = client, .key = std::move(key), .delta = delta},
        GetMode::kLog);
}

ClientOpId Cluster::client_cas(std::uint64_t client, std::string key, Value expected,
                               std::string value) {
    return start_op(KvCommand{.kind = OpKind::kCas,
                              .client = client,
                              .key = std::move(key),
                              .value = std::move(value),
                              .expected = std::move(expected)},
                    GetMode::kLog);
}

ClientOpId Cluster::client_del(std::uint64_t client, std::string key) {
    return start_op(KvCommand{.kind = OpKind::kDel, .client = client, .key = std::move(key)},
                    GetMode::kLog);
}

bool Cluster::client_busy(std::uint64_t client) const { return busy_clients_.contains(client); }

bool Cluster::is_done(ClientOpId id) const {
    RAFTKV_ASSERT(id >= 1 && id <= ops_.size(), "no operation #{}", id);
    return ops_[id - 1]->state == ClientOp::State::kDone;
}

const Operation& Cluster::op(ClientOpId id) const {
    RAFTKV_ASSERT(id >= 1 && id <= ops_.size(), "no operation #{}", id);
    return ops_[id - 1]->rec;
}

Index Cluster::op_index(ClientOpId id) const {
    RAFTKV_ASSERT(id >= 1 && id <= ops_.size(), "no operation #{}", id);
    return ops_[id - 1]->applied_index;
}

std::size_t Cluster::pending_ops() const { return busy_clients_.size(); }

History Cluster::history() const {
    History h{.time_unit = TimeUnit::kTicks, .ops = {}};
    h.ops.reserve(ops_.size());
    for (const auto& op : ops_) h.ops.push_back(op->rec);
    return h;
}

bool Cluster::check_acked_writes() {
    if (!ok()) return false;
    const raft::Membership m = membership();
    for (const auto& op : ops_) {
        if (op->rec.outcome != Outcome::kOk || op->applied_index == Index(0)) continue;
        const Index at = op->applied_index;
        if (!safety_.applied_at(at)) {
            fail(fmt::format("acknowledged op #{} at {}: no node applied that index", op->id,
                             at.value));
            return false;
        }
        for (const auto& [id, n] : nodes_) {
            if (!m.contains(id) || !n->core) continue;
            if (n->core->log().applied() < at) {
                fail(
                    fmt::format("acknowledged op #{} ({}) at index {} is not applied on member "
                                "n{} (applied {})",
                                op->id, format_operation(op->rec), at.value, id.value,
                                n->core->log().applied().value));
                return false;
            }
        }
    }
    return true;
}

// ---- membership jobs ------------------------------------------------------

void Cluster::add_node(NodeId id) {
    trace(fmt::format("job: add n{}", id.value));
    jobs_.push_back(Job{.kind = Job::Kind::kAdd, .id = id, .started_tick = counters_.ticks});
}

void Cluster::remove_node(NodeId id) {
    trace(fmt::format("job: remove n{}", id.value));
    jobs_.push_back(Job{.kind = Job::Kind::kRemove, .id = id, .started_tick = counters_.ticks});
}

bool Cluster::membership_busy() const { return !jobs_.empty(); }

void Cluster::run_jobs() {
    if (jobs_.empty()) return;
    Job& job = jobs_.front();
    if (run_job(job)) {
        trace(fmt::format("job done: {} n{}", job.kind == Job::Kind::kAdd ? "add" : "remove",
                          job.id.value));
        jobs_.erase(jobs_.begin());
    } else if (counters_.ticks - job.started_tick > kJobTicksMax) {
        trace(fmt::format("job abandoned: {} n{}", job.kind == Job::Kind::kAdd ? "add" : "remove",
                          job.id.value));
        jobs_.erase(jobs_.begin());
    }
}

bool Cluster::run_job(Job& job) {
    if (job.kind == Job::Kind::kAdd && !exists(job.id)) start_joining(job.id);
    const std::optional<NodeId> l = leader();
    if (!l || sim(*l).ready) return false;
    const raft::Node& lead = *sim(*l).core;
    const raft::Membership now = lead.membership();
    const Index committed = lead.log().committed();
    const raft::Membership at_commit = lead.membership_at(committed);
    if (job.kind == Job::Kind::kAdd) {
        if (!now.contains(job.id)) {
            change_membership(raft::MembershipChange::kAddLearner, job.id);
            return false;
        }
        if (now.learners.contains(job.id)) {
            if (lead.tracker().is_member(job.id) &&
                lead.tracker().progress(job.id).match() >= committed) {
                change_membership(raft::MembershipChange::kPromote, job.id);
            }
            return false;
        }
        return at_commit.voters.contains(job.id);
    }
    if (!exists(job.id)) return true;
    if (now.contains(job.id)) {
        const raft::Proposal p = change_membership(raft::MembershipChange::kRemove, job.id);
        // The last voter stays.
        return p.refusal == raft::Refusal::kLastVoter;
    }
    if (at_commit.contains(job.id)) return false;
    SimNode& n = sim(job.id);
    if (n.core) crash(job.id);
    n.removed = true;
    trace(fmt::format("n{} decommissioned", job.id.value));
    return true;
}

}  // namespace raftkv::sim
