// cluster.cc — see cluster.h. The client and membership-job parts are in
// cluster_clients.cc.
#include "sim/cluster.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "base/assert.h"
#include "raft/membership.h"
#include "sim/cluster_internal.h"
#include "sim/linearizability.h"

namespace raftkv::sim {

using raft::Entry;
using raft::Index;
using raft::Message;
using raft::NodeId;
using raft::Role;
using raft::Term;

namespace {

const Cluster* g_live = nullptr;

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t stream) {
    NetworkRng rng(seed ^ (stream * 0x9e3779b97f4a7c15ull));
    return rng.next();
}

}  // namespace

std::uint64_t ClusterCounters::messages_sent() const {
    std::uint64_t n = 0;
    for (const auto& [type, count] : sent_by_type) n += count;
    return n;
}

std::string ClusterCounters::to_string() const {
    std::string by_type;
    for (const auto& [type, count] : sent_by_type) {
        by_type += fmt::format("{}{}={}", by_type.empty() ? "" : " ", raft::message_type_name(type),
                               count);
    }
    return fmt::format(
        "ticks={} messages={} ({}) readies={} faults={} crashes={} restarts={} proposals={} "
        "applied={} snapshots={}/{} membership={} transfers={} ops ok={} failed={} unknown={}",
        ticks, messages_sent(), by_type, readies, faults, crashes, restarts, proposals,
        entries_applied, snapshots_taken, snapshots_installed, membership_changes, transfers,
        ops_ok, ops_failed, ops_unknown);
}

Cluster::Cluster(ClusterOptions options)
    : options_(std::move(options)),
      trace_(options_.trace_capacity, kTickTime, options_.trace_sink),
      rng_(mix_seed(options_.seed, 1)),
      net_(NetworkOptions{.seed = mix_seed(options_.seed, 2),
                          .default_link = options_.link,
                          .fifo_per_link = options_.fifo_per_link,
                          .trace = {}}) {
    RAFTKV_ASSERT(options_.nodes >= 1 && options_.nodes <= kClusterNodesMax, "cluster of {} nodes",
                  options_.nodes);
    for (int i = 1; i <= options_.nodes; ++i) founding_.voters.insert(NodeId(i));
    trace(fmt::format("cluster of {} nodes, seed {}", options_.nodes, options_.seed));
    for (int i = 1; i <= options_.nodes; ++i) {
        auto n = std::make_unique<SimNode>(NodeId(i), founding_);
        SimNode& ref = *n;
        nodes_.emplace(NodeId(i), std::move(n));
        boot(ref);
    }
    g_live = this;
}

Cluster::~Cluster() {
    if (g_live == this) g_live = nullptr;
}

const Cluster* Cluster::live() { return g_live; }

void Cluster::trace(std::string text) { trace_.add(now_, std::move(text)); }
void Cluster::note(std::string text) { trace("note: " + std::move(text)); }

void Cluster::fail(std::string message) {
    if (ok()) trace("FAILED: " + message);
    safety_.fail(std::move(message));
}

Cluster::SimNode& Cluster::sim(NodeId id) {
    const auto it = nodes_.find(id);
    RAFTKV_ASSERT(it != nodes_.end(), "no node {}", id.value);
    return *it->second;
}

const Cluster::SimNode& Cluster::sim(NodeId id) const {
    const auto it = nodes_.find(id);
    RAFTKV_ASSERT(it != nodes_.end(), "no node {}", id.value);
    return *it->second;
}

bool Cluster::is_up(NodeId id) const {
    const auto it = nodes_.find(id);
    return it != nodes_.end() && it->second->core != nullptr;
}

bool Cluster::is_removed(NodeId id) const {
    const auto it = nodes_.find(id);
    return it != nodes_.end() && it->second->removed;
}

raft::Node& Cluster::node(NodeId id) {
    RAFTKV_ASSERT(is_up(id), "node {} is down", id.value);
    return *sim(id).core;
}

const raft::Node& Cluster::node(NodeId id) const {
    RAFTKV_ASSERT(is_up(id), "node {} is down", id.value);
    return *sim(id).core;
}

const KvMachine& Cluster::kv(NodeId id) const { return sim(id).kv; }
SimDisk& Cluster::disk(NodeId id) { return *sim(id).disk; }

std::vector<NodeId> Cluster::node_ids() const {
    std::vector<NodeId> ids;
    for (const auto& [id, n] : nodes_) ids.push_back(id);
    return ids;
}

std::vector<NodeId> Cluster::up_ids() const {
    std::vector<NodeId> ids;
    for (const auto& [id, n] : nodes_) {
        if (n->core) ids.push_back(id);
    }
    return ids;
}

std::optional<NodeId> Cluster::leader() const {
    std::optional<NodeId> best;
    Term best_term;
    for (const auto& [id, n] : nodes_) {
        if (!n->core || n->core->role() != Role::kLeader) continue;
        if (!best || n->core->term() > best_term) {
            best = id;
            best_term = n->core->term();
        }
    }
    return best;
}

raft::Membership Cluster::membership() const {
    if (const std::optional<NodeId> l = leader()) return node(*l).membership();
    return founding_;
}

std::string Cluster::status() const {
    std::string out;
    for (const auto& [id, n] : nodes_) {
        if (!n->core) {
            out += fmt::format("n{} {}\n", id.value, n->removed ? "removed" : "down");
            continue;
        }
        const raft::Node& c = *n->core;
        out += fmt::format(
            "n{} {} term={} vote={} lead={} commit={} applied={} last={} snap={} {}{}\n", id.value,
            raft::role_name(c.role()), c.term().value, c.vote().value, c.leader().value,
            c.log().committed().value, c.log().applied().value, c.log().last_index().value,
            n->storage->snapshot_meta().index.value, raft::to_string(c.membership()),
            n->ready ? " (syncing)" : "");
    }
    return out;
}

// ---- node lifecycle -------------------------------------------------------

raft::NodeOptions Cluster::node_options(const SimNode& n) const {
    raft::NodeOptions o;
    o.id = n.id;
    o.election_ticks = options_.election_ticks;
    o.heartbeat_ticks = options_.heartbeat_ticks;
    // Each incarnation draws its own election timeouts.
    o.seed = mix_seed(options_.seed, 1000 + n.incarnation);
    o.pre_vote = options_.pre_vote;
    o.check_quorum = options_.check_quorum;
    o.lease_reads = options_.lease_reads;
    o.append_entries_max = options_.append_entries_max;
    o.append_bytes_max = options_.append_bytes_max;
    o.inflights = options_.inflights;
    o.snapshot_chunk_bytes = options_.snapshot_chunk_bytes;
    o.initial_membership = n.initial_membership;
    return o;
}

void Cluster::boot(SimNode& n) {
    ++n.incarnation;
    const DiskImage& image = n.disk->current();
    n.storage = std::make_unique<raft::MemoryLogStorage>(image.log);
    n.kv = KvMachine();
    safety_.on_start(n.id, image);
    if (image.snapshot) {
        if (!n.kv.load_snapshot(image.snapshot->data)) {
            fail(fmt::format("node {}: snapshot on disk does not decode", n.id.value));
        }
        safety_.on_snapshot_loaded(n.id, image.snapshot->meta, image.snapshot->data);
    }
    n.core = std::make_unique<raft::Node>(node_options(n), n.storage.get(), image.hard_state,
                                          n.storage->snapshot_meta().index);
    n.ready.reset();
    n.inbox.clear();
    n.pending_ticks = 0;
    n.last_role = n.core->role();
    n.last_term = n.core->term();
    trace(fmt::format("n{} start #{}: {}", n.id.value, n.incarnation, image_summary(image)));
    pump(n);
    check(n);
}

void Cluster::start_joining(NodeId id) {
    if (nodes_.contains(id)) return;
    count_fault();
    auto n = std::make_unique<SimNode>(id, raft::Membership{});
    SimNode& ref = *n;
    nodes_.emplace(id, std::move(n));
    if (all_links_) {
        for (const auto& [other, o] : nodes_) {
            if (other == id) continue;
            net_.set_link_config(Link{.from = id, .to = other}, *all_links_);
            net_.set_link_config(Link{.from = other, .to = id}, *all_links_);
        }
    }
    boot(ref);
}

void Cluster::crash(NodeId id, bool torn) {
    SimNode& n = sim(id);
    RAFTKV_ASSERT(n.core != nullptr, "crash of node {}, which is down", id.value);
    count_fault();
    ++counters_.crashes;
    const std::size_t pending = n.disk->pending_writes();
    n.disk->crash(rng_, CrashOptions{.torn_writes = torn});
    net_.crash(id);
    trace(fmt::format("n{} CRASH{} with {} unsynced writes -> {}", id.value, torn ? " (torn)" : "",
                      pending, image_summary(n.disk->current())));
    n.core.reset();
    n.storage.reset();
    n.ready.reset();
    n.inbox.clear();
    n.pending_ticks = 0;
    for (ClientOpId op_id : n.queued_ops) ops_[op_id - 1]->queued = false;
    n.queued_ops.clear();
    fail_ops_on(id, "crash");
}

void Cluster::restart(NodeId id) {
    SimNode& n = sim(id);
    RAFTKV_ASSERT(n.core == nullptr && !n.removed, "restart of node {}, which is up or removed",
                  id.value);
    count_fault();
    ++counters_.restarts;
    net_.restart(id);
    boot(n);
}

// ---- the Ready loop -------------------------------------------------------

void Cluster::send(const Message& m) {
    ++counters_.sent_by_type[m.type];
    net_.send(Link{.from = m.from, .to = m.to}, m, now_);
}

void Cluster::pump(SimNode& n) {
    while (ok() && n.core && !n.ready && n.core->has_ready()) {
        raft::Ready rd = n.core->ready();
        ++counters_.readies;
        if (rd.empty()) {
            // A server loop would spin on this forever.
            fail(fmt::format("node {}: has_ready() was true but ready() returned nothing\n{}",
                             n.id.value, status()));
            return;
        }
        safety_.on_ready(n.id, rd);
        // 1. Messages that need nothing persisted leave at once.
        for (const Message& m : rd.messages) send(m);
        // 2. Persist: snapshot, entries, hard state (the sync is below).
        if (rd.snapshot) {
            trace(fmt::format("n{} persist snapshot {}/{} ({} bytes)", n.id.value,
                              rd.snapshot->meta.index.value, rd.snapshot->meta.term.value,
                              rd.snapshot->data.size()));
            const Status s = n.disk->save_snapshot(
                SimSnapshot{.meta = rd.snapshot->meta, .data = rd.snapshot->data});
            if (!s.is_ok()) fail(fmt::format("driver: node {}: {}", n.id.value, s.to_string()));
        }
        if (!rd.entries.empty()) {
            const Status s = n.disk->append(rd.entries);
            if (!s.is_ok()) fail(fmt::format("driver: node {}: {}", n.id.value, s.to_string()));
        }
        if (rd.hard_state) {
            const Status s = n.disk->save_hard_state(*rd.hard_state);
            if (!s.is_ok()) fail(fmt::format("driver: node {}: {}", n.id.value, s.to_string()));
        }
        // Nothing to sync (nothing written, or only a new commit index):
        // nothing to wait for. An unsynced commit index is lost by a crash
        // unless a later Ready's sync covers it.
        const bool must_wait = rd.must_sync;
        n.ready = std::move(rd);
        const SimTime latency =
            !must_wait || options_.disk_latency_max == 0
                ? 0
                : rng_.uniform(options_.disk_latency_min, options_.disk_latency_max);
        if (latency == 0) {
            finish_ready(n);
        } else {
            n.busy_until = now_ + latency;
        }
    }
}

void Cluster::finish_ready(SimNode& n) {
    RAFTKV_ASSERT(n.ready.has_value());
    raft::Ready rd = std::move(*n.ready);
    n.ready.reset();
    // 2. (end) The sync: everything above is durable now. A Ready that
    // changed only the commit index is not synced (raft/node.h, must_sync).
    if (rd.must_sync) {
        const Status s = n.disk->sync();
        if (!s.is_ok()) fail(fmt::format("driver: node {}: {}", n.id.value, s.to_string()));
    }
    if (rd.snapshot) n.storage->apply_snapshot(rd.snapshot->meta, rd.snapshot->data);
    if (!rd.entries.empty()) n.storage->append(rd.entries);
    // 3. Messages that promise what was just persisted.
    for (const Message& m : rd.messages_after_persist) send(m);
    // 4. Load the snapshot, apply committed entries in order.
    if (rd.snapshot) {
        ++counters_.snapshots_installed;
        if (!n.kv.load_snapshot(rd.snapshot->data)) {
            fail(fmt::format("node {}: received snapshot {} does not decode", n.id.value,
                             rd.snapshot->meta.index.value));
        }
        safety_.on_snapshot_loaded(n.id, rd.snapshot->meta, rd.snapshot->data);
        // Writes waiting here whose index the snapshot covers: their replies
        // are lost in it.
        std::vector<ClientOpId> covered;
        for (const auto& [key, op_id] : waiting_writes_) {
            if (key.first == n.id && key.second <= rd.snapshot->meta.index)
                covered.push_back(op_id);
        }
        for (ClientOpId id : covered) finish_op(*ops_[id - 1], Outcome::kUnknown);
    }
    for (const Entry& e : rd.committed_entries) apply_entry(n, e);
    // 5. Reads.
    for (const raft::ReadState& rs : rd.read_states) {
        const auto it = waiting_reads_.find(rs.context);
        if (it == waiting_reads_.end()) continue;
        ClientOp& op = *ops_[it->second - 1];
        if (op.at != n.id || op.incarnation != n.incarnation) continue;
        if (n.core->log().applied() < rs.index) {
            fail(fmt::format("node {} got read state at {} but applied only {}", n.id.value,
                             rs.index.value, n.core->log().applied().value));
        }
        finish_op(op, Outcome::kOk, n.kv.get(op.cmd.key));
    }
    for (const std::string& ctx : rd.failed_reads) {
        const auto it = waiting_reads_.find(ctx);
        if (it == waiting_reads_.end()) continue;
        ClientOp& op = *ops_[it->second - 1];
        if (op.at == n.id && op.incarnation == n.incarnation) finish_op(op, Outcome::kFailed);
    }
    // 6.
    n.core->advance(rd);
    run_inbox(n);
}

void Cluster::run_inbox(SimNode& n) {
    std::vector<Message> inbox = std::move(n.inbox);
    n.inbox.clear();
    for (const Message& m : inbox) n.core->step(m);
    for (; n.pending_ticks > 0; --n.pending_ticks) n.core->tick();
    // Client requests that arrived during the sync.
    std::vector<ClientOpId> queued = std::move(n.queued_ops);
    n.queued_ops.clear();
    for (ClientOpId id : queued) {
        ClientOp& op = *ops_[id - 1];
        op.queued = false;
        if (op.state == ClientOp::State::kRouting) submit_op(op, n);
    }
}

void Cluster::apply_entry(SimNode& n, const Entry& e) {
    ++counters_.entries_applied;
    safety_.on_apply(n.id, e);
    std::optional<Reply> reply;
    std::optional<KvCommand> cmd;
    if (e.type == raft::EntryType::kCommand) {
        cmd = decode_command(e.data);
        if (!cmd) {
            fail(fmt::format("node {} applied entry {} that does not decode", n.id.value,
                             e.index.value));
            return;
        }
        reply = n.kv.apply(*cmd);
    }
    const auto it = waiting_writes_.find({n.id, e.index});
    if (it == waiting_writes_.end()) return;
    ClientOp& op = *ops_[it->second - 1];
    if (op.incarnation != n.incarnation) return;
    if (e.term != op.term) {
        // Another entry (any type) was committed at its index: ours never will be.
        finish_op(op, Outcome::kFailed);
        return;
    }
    if (!cmd || cmd->op != op.id) {
        fail(fmt::format("node {} applied {} at {}/{} where op #{} was appended", n.id.value,
                         cmd ? fmt::format("op #{}", cmd->op) : std::string("a non-command"),
                         e.index.value, e.term.value, op.id));
        return;
    }
    op.applied_index = e.index;
    finish_op(op, Outcome::kOk, *reply);
}

void Cluster::deliver(Message m) {
    const auto it = nodes_.find(m.to);
    if (it == nodes_.end() || !it->second->core) return;  // not started yet
    SimNode& n = *it->second;
    trace_.add_delivery(now_, m);
    if (n.ready) {
        n.inbox.push_back(std::move(m));  // the loop is blocked in its sync
        return;
    }
    n.core->step(m);
    pump(n);
    check(n);
}

void Cluster::note_role(SimNode& n) {
    const raft::Node& c = *n.core;
    if (c.role() == n.last_role && c.term() == n.last_term) return;
    if (c.role() != n.last_role) {
        trace(fmt::format("n{} {} -> {} term={} commit={} last={}", n.id.value,
                          raft::role_name(n.last_role), raft::role_name(c.role()), c.term().value,
                          c.log().committed().value, c.log().last_index().value));
    }
    n.last_role = c.role();
    n.last_term = c.term();
}

void Cluster::check(SimNode& n) {
    if (!n.core || !ok()) return;
    note_role(n);
    if (n.ready) return;  // mid-Ready: checked once it is advanced
    safety_.check_node(*n.core, n.incarnation);
    if (!ok()) trace("FAILED: " + failure());
}

bool Cluster::step_event() {
    if (!ok()) return false;
    ++counters_.events;
    SimTime next = next_tick_at_;
    if (const std::optional<SimTime> d = net_.next_delivery_time()) next = std::min(next, *d);
    for (const auto& [id, n] : nodes_) {
        if (n->ready) next = std::min(next, n->busy_until);
    }
    now_ = next;
    for (auto& [id, n] : nodes_) {
        if (n->ready && n->busy_until <= now_) {
            finish_ready(*n);
            pump(*n);
            check(*n);
        }
    }
    for (auto& d : net_.deliver_due(now_)) {
        if (!ok()) break;
        deliver(std::move(d.msg));
    }
    if (ok() && now_ == next_tick_at_) on_tick();
    return ok();
}

void Cluster::on_tick() {
    ++counters_.ticks;
    next_tick_at_ += kTickTime;
    for (auto& [id, n] : nodes_) {
        if (!n->core) continue;
        if (n->ready) {
            ++n->pending_ticks;
            continue;
        }
        n->core->tick();
        pump(*n);
        check(*n);
    }
    run_clients();
    run_jobs();
}

bool Cluster::tick(int n) {
    const std::uint64_t until = counters_.ticks + static_cast<std::uint64_t>(n);
    while (ok() && counters_.ticks < until) step_event();
    return ok();
}

bool Cluster::run_until(const std::function<bool()>& pred, int max_ticks) {
    const std::uint64_t until = counters_.ticks + static_cast<std::uint64_t>(max_ticks);
    while (ok()) {
        if (pred()) return true;
        if (counters_.ticks >= until) return false;
        step_event();
    }
    return false;
}

// ---- faults ---------------------------------------------------------------

void Cluster::isolate(NodeId id) {
    count_fault();
    trace(fmt::format("isolate n{}", id.value));
    net_.isolate(id);
}

void Cluster::rejoin(NodeId id) {
    count_fault();
    trace(fmt::format("rejoin n{}", id.value));
    net_.rejoin(id);
}

void Cluster::split(const std::vector<std::vector<NodeId>>& groups) {
    count_fault();
    std::string text;
    for (const auto& g : groups) {
        text += text.empty() ? "" : " | ";
        for (NodeId id : g) text += fmt::format("{} ", id.value);
    }
    trace("split " + text);
    net_.split(groups);
}

void Cluster::block(Link link) {
    count_fault();
    trace(fmt::format("block {}->{}", link.from.value, link.to.value));
    net_.block(link);
}

void Cluster::unblock(Link link) {
    count_fault();
    trace(fmt::format("unblock {}->{}", link.from.value, link.to.value));
    net_.unblock(link);
}

void Cluster::heal() {
    count_fault();
    trace("heal");
    net_.heal();
}

void Cluster::set_link_config(Link link, LinkConfig config) {
    count_fault();
    net_.set_link_config(link, config);
}

void Cluster::set_all_links(LinkConfig config) {
    count_fault();
    trace(fmt::format("links: delay [{}, {}] tail {}ppm<{} loss {}ppm dup {}ppm", config.delay_min,
                      config.delay_max, config.tail_ppm, config.tail_delay_max, config.loss_ppm,
                      config.duplicate_ppm));
    all_links_ = config;
    for (const auto& [a, na] : nodes_) {
        for (const auto& [b, nb] : nodes_) {
            if (a != b) net_.set_link_config(Link{.from = a, .to = b}, config);
        }
    }
}

// ---- raft operations ------------------------------------------------------

raft::Proposal Cluster::propose(NodeId id, std::string data) {
    SimNode& n = sim(id);
    RAFTKV_ASSERT(n.core != nullptr, "propose on node {}, which is down", id.value);
    const raft::Proposal p = n.core->propose(std::move(data));
    if (p.ok()) ++counters_.proposals;
    trace(fmt::format("n{} propose -> {} {}/{}", id.value, raft::refusal_name(p.refusal),
                      p.index.value, p.term.value));
    if (!n.ready) {
        pump(n);
        check(n);
    }
    return p;
}

raft::Refusal Cluster::transfer_leadership(NodeId target) {
    const std::optional<NodeId> l = leader();
    if (!l) return raft::Refusal::kNotLeader;
    SimNode& n = sim(*l);
    if (n.ready) return raft::Refusal::kNotLeader;  // mid-sync: ask again later
    const raft::Refusal r = n.core->transfer_leadership(target);
    if (r == raft::Refusal::kOk) ++counters_.transfers;
    trace(fmt::format("transfer n{} -> n{}: {}", l->value, target.value, raft::refusal_name(r)));
    pump(n);
    check(n);
    return r;
}

raft::Proposal Cluster::change_membership(raft::MembershipChange change, NodeId target) {
    const std::optional<NodeId> l = leader();
    if (!l || sim(*l).ready) return raft::Proposal{.refusal = raft::Refusal::kNotLeader};
    SimNode& n = sim(*l);
    const raft::Proposal p = n.core->change_membership(change, target);
    if (p.ok()) ++counters_.membership_changes;
    static constexpr std::string_view kNames[] = {"?", "add-learner", "promote", "remove"};
    trace(fmt::format("n{} membership {} n{} -> {} {}/{}", l->value,
                      kNames[static_cast<int>(change)], target.value, raft::refusal_name(p.refusal),
                      p.index.value, p.term.value));
    pump(n);
    check(n);
    return p;
}

bool Cluster::compact(NodeId id) {
    SimNode& n = sim(id);
    if (!n.core || n.ready) return false;
    const Index applied = n.core->log().applied();
    if (applied <= n.storage->snapshot_meta().index) return false;
    const std::optional<Term> term = n.core->log().term(applied);
    RAFTKV_ASSERT(term.has_value(), "node {}: no term at applied {}", id.value, applied.value);
    const raft::SnapshotMeta meta{
        .index = applied, .term = *term, .membership = n.core->membership_at(applied)};
    std::string data = n.kv.encode_snapshot();
    safety_.on_snapshot_taken(id, meta, data);
    const Status saved = n.disk->save_snapshot(SimSnapshot{.meta = meta, .data = data});
    const Status synced = saved.is_ok() ? n.disk->sync() : saved;
    if (!synced.is_ok()) fail(fmt::format("driver: node {}: {}", id.value, synced.to_string()));
    n.storage->compact(meta, std::move(data));
    ++counters_.snapshots_taken;
    trace(fmt::format("n{} snapshot at {}/{} {}", id.value, meta.index.value, meta.term.value,
                      raft::to_string(meta.membership)));
    check(n);
    return true;
}

// ---- end checks -----------------------------------------------------------

bool Cluster::check_linearizable() {
    if (!ok()) return false;
    const CheckResult r = sim::check_linearizable(history());
    if (r.verdict == Verdict::kNotLinearizable) {
        fail("history not linearizable:\n" + r.report());
        return false;
    }
    if (r.verdict == Verdict::kUnknown) trace("linearizability: search gave up: " + r.report());
    return true;
}

bool Cluster::await_convergence(int max_ticks) {
    auto converged = [&] {
        const std::optional<NodeId> l = leader();
        if (!l) return false;
        const raft::Node& lead = node(*l);
        const raft::Membership m = lead.membership();
        const Index commit = lead.log().committed();
        for (const auto& [id, n] : nodes_) {
            if (!m.contains(id)) continue;
            if (!n->core || n->ready || n->core->log().applied() != commit) return false;
            if (n->kv != sim(*l).kv) return false;
        }
        return true;
    };
    if (run_until(converged, max_ticks)) return true;
    if (ok()) {
        fail(
            fmt::format("no convergence within {} ticks: members did not all apply the "
                        "leader's commit index with equal state\n{}",
                        max_ticks, status()));
    }
    return false;
}

}  // namespace raftkv::sim
