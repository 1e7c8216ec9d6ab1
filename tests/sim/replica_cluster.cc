// replica_cluster.cc — the ReplicaCluster's servers, events, faults and end
// checks (replica_cluster.h); the clients are in replica_clients.cc.
#include "sim/replica_cluster.h"

#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <span>
#include <string>

#include "kv/command_codec.h"
#include "raft/message_codec.h"
#include "server/raft_storage.h"
#include "sim/linearizability.h"
#include "sim/replica_node.h"
#include "storage/snapshot_image.h"

namespace raftkv::sim {
namespace {

using raft::Index;
using raft::NodeId;

// Simulated time per millisecond of the replicas' clock: a tick is tick_ms.
constexpr int kTickMs = 50;
constexpr SimTime kTimePerMs = kTickTime / kTickMs;
static_assert(kTickTime % kTickMs == 0);
// The wall clock at simulated time 0 (log time for session expiry).
constexpr std::int64_t kWallStartMs = 1'700'000'000'000;

const ReplicaCluster* g_live = nullptr;

// The replicas log through spdlog; during a run their lines go to the
// cluster's trace instead of stderr.
class TraceSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
public:
    explicit TraceSink(ReplicaCluster* c) : cluster_(c) {}

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        cluster_->note(
            fmt::format("log: {}", std::string_view(msg.payload.data(), msg.payload.size())));
    }
    void flush_() override {}

private:
    ReplicaCluster* cluster_;
};

server::NodeAddress address_of(std::uint64_t id) {
    return server::NodeAddress{NodeId(id), fmt::format("10.0.0.{}", id),
                               static_cast<std::uint16_t>(7000 + id),
                               static_cast<std::uint16_t>(17000 + id)};
}

}  // namespace

// ---- one server's ports ---------------------------------------------------------

server::Now ReplicaCluster::Node::now() const {
    const std::int64_t ms = static_cast<std::int64_t>(cluster->now_ / kTimePerMs);
    return server::Now{.steady = std::chrono::milliseconds(ms),
                       .wall = std::chrono::milliseconds(kWallStartMs + ms)};
}

void ReplicaCluster::Node::persist(server::PersistJob job, Done done) {
    DiskJob j{.job = std::move(job), .done = std::move(done)};
    if (j.job.snapshot) {
        j.meta = j.job.snapshot->meta;
        j.image = j.job.snapshot->data;
    }
    disk_jobs.push_back(std::move(j));
    start_disk_job();
}

void ReplicaCluster::Node::save_snapshot(raft::SnapshotMeta meta, std::string image, Done done) {
    cluster->safety_.on_snapshot_taken(id, meta, image);
    ++cluster->counters_.snapshots_taken;
    disk_jobs.push_back(DiskJob{.is_snapshot = true,
                                .meta = std::move(meta),
                                .image = std::move(image),
                                .done = std::move(done)});
    start_disk_job();
}

void ReplicaCluster::Node::start_disk_job() {
    if (disk_jobs.empty() || disk_jobs.front().started) return;
    DiskJob& j = disk_jobs.front();
    j.started = true;
    ++cluster->counters_.disk_jobs;
    const auto& o = cluster->options_;
    j.done_at = cluster->now_ + cluster->rng_.uniform(o.disk_latency_min, o.disk_latency_max);
    const Index on_disk = disk->snapshot() ? disk->snapshot()->meta.index : Index(0);
    if (j.is_snapshot) {
        // As RaftDisk: a snapshot older than the one on disk is refused.
        j.write_status = j.meta.index <= on_disk
                             ? Status::errorf(Code::kInvalid,
                                              "snapshot at index {} not saved: the one on disk "
                                              "is at {}",
                                              j.meta.index.value, on_disk.value)
                             : disk->save_snapshot(SimSnapshot{.meta = j.meta, .data = j.image});
        return;
    }
    Status s = Status::ok();
    if (j.job.snapshot) s = disk->save_snapshot(SimSnapshot{.meta = j.meta, .data = j.image});
    if (s.is_ok() && !j.job.entries.empty()) s = disk->append(j.job.entries);
    if (s.is_ok() && j.job.hard_state) s = disk->save_hard_state(*j.job.hard_state);
    j.write_status = std::move(s);
}

void ReplicaCluster::Node::complete_disk_job() {
    DiskJob j = std::move(disk_jobs.front());
    disk_jobs.pop_front();
    server::PersistResult result{.status = std::move(j.write_status)};
    const bool must_sync = j.is_snapshot || j.job.must_sync;
    if (result.status.is_ok() && must_sync) {
        result.status = disk->sync();
        if (result.status.is_ok()) cluster->safety_.on_synced(id, j.job.entries);
    }
    if (result.status.is_ok() && (j.is_snapshot || j.job.snapshot)) {
        result.snapshot_image =
            std::make_unique<storage::MemorySnapshotImage>(j.meta, std::move(j.image));
    }
    if (!j.is_snapshot && result.status.code() == Code::kDiskFull) result.job = std::move(j.job);
    // The next job starts before this completion runs, as the disk thread
    // goes on while the loop handles it.
    start_disk_job();
    j.done(std::move(result), now());
}

void ReplicaCluster::Node::send(const raft::Message& m) {
    ++cluster->counters_.messages;
    cluster->safety_.on_sent(id, m);
    cluster->net_.send(Link{.from = id, .to = m.to}, raft::encode_message(m), cluster->now_);
}

std::string* ReplicaCluster::Node::reply_buffer(server::ReplyTarget to) {
    if (!is_connected(to.client)) return nullptr;
    return &writing[{to.client, to.slot}];
}

void ReplicaCluster::Node::finish(server::ReplyTarget to) {
    auto it = writing.find({to.client, to.slot});
    RAFTKV_ASSERT(it != writing.end(), "finish without a reply buffer");
    replies.push_back(Finished{.to = to, .bytes = std::move(it->second)});
    writing.erase(it);
}

void ReplicaCluster::Node::retry_persist_after(std::chrono::milliseconds delay) {
    retry_persist_at = cluster->now_ + static_cast<SimTime>(delay.count()) * kTimePerMs;
}

void ReplicaCluster::Node::send_join_request(server::JoinRequest request) {
    const std::uint64_t to = request.port > 7000 ? request.port - 7000u : 0;
    cluster->send_join(JoinMessage{.joiner = id,
                                   .incarnation = incarnation,
                                   .to = NodeId(to),
                                   .seq = request.seq,
                                   .args = std::move(request.args)});
}

void ReplicaCluster::Node::drop_volatile() {
    replica.reset();
    pump_posted = false;
    retry_persist_at.reset();
    stopped.reset();
    disk_jobs.clear();
    conns.clear();
    writing.clear();
    replies.clear();
    peers_.clear();
}

// ---- the cluster ----------------------------------------------------------------

std::string ReplicaClusterCounters::to_string() const {
    return fmt::format(
        "ticks={} events={} messages={} faults={} (crashes={} restarts={}) disk_jobs={} "
        "requests={} redirects={} sessions={} session_retries={} applied={} snapshots taken={} "
        "installed={} ops ok={} failed={} unknown={}",
        ticks, events, messages, faults, crashes, restarts, disk_jobs, requests, redirects,
        sessions_registered, session_retries, entries_applied, snapshots_taken, snapshots_installed,
        ops_ok, ops_failed, ops_unknown);
}

ReplicaCluster::ReplicaCluster(ReplicaClusterOptions options)
    : options_(std::move(options)),
      trace_(options_.trace_capacity, kTickTime, options_.trace_sink),
      rng_(options_.seed * 0x9e3779b97f4a7c15ull + 3),
      net_(NetworkOptions{.seed = options_.seed ^ 0x5bd1e995ull,
                          .default_link = options_.link,
                          .fifo_per_link = options_.fifo_per_link,
                          .trace = {}}) {
    RAFTKV_ASSERT(options_.nodes >= 1 && options_.nodes <= kClusterNodesMax, "{} nodes",
                  options_.nodes);
    g_live = this;
    auto logger = std::make_shared<spdlog::logger>("sim", std::make_shared<TraceSink>(this));
    logger->set_level(spdlog::level::info);
    saved_logger_ = spdlog::default_logger();
    spdlog::set_default_logger(std::move(logger));
    for (int i = 1; i <= options_.nodes; ++i) {
        founding_.voters.insert(NodeId(i));
        addresses_.push_back(address_of(i));
    }
    for (int i = 1; i <= options_.nodes; ++i) {
        auto n = std::make_unique<Node>(this, NodeId(i));
        Node& ref = *n;
        nodes_.emplace(NodeId(i), std::move(n));
        boot(ref);
    }
}

ReplicaCluster::~ReplicaCluster() {
    for (auto& [id, n] : nodes_) n->drop_volatile();
    spdlog::set_default_logger(saved_logger_);
    if (g_live == this) g_live = nullptr;
}

const ReplicaCluster* ReplicaCluster::live() { return g_live; }

ReplicaCluster::Node& ReplicaCluster::node(NodeId id) {
    auto it = nodes_.find(id);
    RAFTKV_ASSERT(it != nodes_.end(), "no node {}", id.value);
    return *it->second;
}

const ReplicaCluster::Node& ReplicaCluster::node(NodeId id) const {
    auto it = nodes_.find(id);
    RAFTKV_ASSERT(it != nodes_.end(), "no node {}", id.value);
    return *it->second;
}

void ReplicaCluster::trace(std::string text) { trace_.add(now_, std::move(text)); }
void ReplicaCluster::note(std::string text) { trace(std::move(text)); }

void ReplicaCluster::fail(std::string message) {
    if (!ok()) return;
    trace("FAIL: " + message);
    safety_.fail(std::move(message));
}

// Builds the replica from what the disk kept, as the server's recovery does
// (server/raft_recovery.cc): the newest snapshot, the log after it, the
// hard state with its term raised to the last entry's.
void ReplicaCluster::boot(Node& n) {
    const DiskImage& image = n.disk->current();
    kv::StateMachine state;
    auto storage = std::make_unique<server::RaftStorage>();
    Index applied;
    if (image.snapshot) {
        const SimSnapshot& snap = *image.snapshot;
        if (Status s = state.restore(snap.data); !s.is_ok()) {
            fail(fmt::format("node {}: its snapshot at {} does not load: {}", n.id.value,
                             snap.meta.index.value, s.to_string()));
            return;
        }
        storage->apply_snapshot(
            snap.meta, std::make_unique<storage::MemorySnapshotImage>(snap.meta, snap.data));
        applied = snap.meta.index;
    }
    if (image.log.last_index() >= image.log.first_index()) {
        storage->append(
            image.log.entries(image.log.first_index(), image.log.last_index().next(), UINT64_MAX));
    }
    raft::HardState hs = image.hard_state;
    const raft::Term last_term = *storage->term(storage->last_index());
    if (hs.term < last_term) {
        hs.term = last_term;
        hs.vote = NodeId(0);
    }
    if (hs.commit > storage->last_index()) {
        fail(fmt::format("node {}: its hard state says {} is committed but its log ends at {}",
                         n.id.value, hs.commit.value, storage->last_index().value));
        return;
    }
    const Index last = storage->last_index();
    // The entries above the commit index may yet be replaced.
    n.fed_terms.clear();
    for (Index i = std::max(hs.commit, applied).next(); i <= last; i = i.next()) {
        n.fed_terms.emplace(i, *storage->term(i));
    }
    server::ReplicaOptions options{
        .self = address_of(n.id.value),
        .cluster = n.join ? std::vector<server::NodeAddress>{address_of(n.id.value)} : addresses_,
        .join = n.join,
        .election_ticks = options_.election_ticks,
        .tick_ms = kTickMs,
        .snapshot_log_bytes = options_.snapshot_log_bytes,
        .seed = options_.seed * 1000003 + n.id.value * 131 + n.incarnation,
    };
    n.replica = std::make_unique<server::Replica>(
        std::move(options),
        server::ReplicaState{.state = std::move(state),
                             .storage = std::move(storage),
                             .hard_state = hs,
                             .applied = applied,
                             .founding = n.join ? raft::Membership{} : founding_},
        server::ReplicaPorts{.disk = &n, .outbox = &n, .clients = &n, .host = &n});
    safety_.on_start(n.id, image);
    if (image.snapshot) {
        safety_.on_snapshot_loaded(n.id, image.snapshot->meta, image.snapshot->data);
    }
    n.observed = applied;
    n.fed_last = last;
    n.fed_snap = applied;
    trace(fmt::format("n{} starts: {}", n.id.value, image_summary(image)));
    n.replica->start(n.now());
    after_input(n);
}

// After every input to n's replica: its pumps, the replies it finished,
// a stop it asked for, and the checks.
void ReplicaCluster::after_input(Node& n) {
    ++counters_.events;
    while (n.replica && n.pump_posted) {
        n.pump_posted = false;
        n.replica->pump(n.now());
    }
    if (!n.replica) return;
    take_replies(n);
    observe(n);
    if (n.stopped) {
        trace(fmt::format("n{} stops: {}", n.id.value, n.stopped->to_string()));
        crash(n.id);
    }
}

// The entries n applied since the last look, into the safety checker and
// the registry of applied tags; then every per-node safety check.
void ReplicaCluster::observe(Node& n) {
    const raft::Node& core = n.replica->node();
    const Index applied = n.replica->applied();
    while (n.observed < applied && ok()) {
        const Index next = n.observed.next();
        if (next < core.log().first_index()) {
            // The entries from `next` are gone from the log: a snapshot
            // covers them, the one on disk. Usually one from the leader,
            // installed (at first_index - 1); but within one input the
            // replica may also have applied further, taken a snapshot of its
            // own there, and then received the leader's, which it installs
            // only once its disk has it: then the disk's is its own, at
            // `applied`, and the leader's is observed next time.
            const std::optional<SimSnapshot>& s = n.disk->snapshot();
            if (!s || s->meta.index < next || s->meta.index > applied) {
                // Or no snapshot on disk matches: the replica applied
                // entries of a Ready taken before the leader's snapshot
                // replaced its log (the install waits for a full disk), or
                // the disk already holds a newer one while the older is
                // what was applied. Those entries cannot be checked here;
                // the apply order check goes on after them.
                trace(fmt::format("n{} applied [{}, {}] unseen (gone from its log)", n.id.value,
                                  next.value, applied.value));
                safety_.skip_applied(n.id, applied);
                n.observed = applied;
                continue;
            }
            safety_.on_snapshot_loaded(n.id, s->meta, s->data);
            if (s->meta.index == core.log().first_index().prev()) ++counters_.snapshots_installed;
            n.observed = s->meta.index;
            continue;
        }
        for (const raft::Entry& e : core.log().slice(next, applied.next(), UINT64_MAX)) {
            safety_.on_apply(n.id, e);
            record_applied(n, e);
            n.observed = e.index;
        }
    }
    feed_safety(n);
    safety_.check_node(core, n.incarnation);
}

// The safety checker follows each core's log as the core holds it (the
// replica proposes while a persist is out, so the log runs ahead of what
// was handed to the disk): a Ready of the entries new since the last look.
void ReplicaCluster::feed_safety(Node& n) {
    const raft::RaftLog& log = n.replica->node().log();
    const Index last = log.last_index();
    const Index snap = log.first_index().prev();
    // Where the log differs from what the checker saw: the first entry
    // since replaced (a follower overwriting a conflicting suffix), or the
    // first new one.
    Index from = n.fed_last.next();
    for (const auto& [index, term] : n.fed_terms) {
        if (index > last || log.term(index) != term) {
            from = index;
            break;
        }
    }
    raft::Ready rd;
    if (snap != n.fed_snap) {
        n.fed_snap = snap;
        if (from <= snap || n.fed_last < snap || last < n.fed_last) {
            // A snapshot from the leader replaced the log.
            rd.snapshot = raft::Snapshot{
                .meta = raft::SnapshotMeta{.index = snap, .term = *log.term(snap)}, .data = {}};
            from = snap.next();
            n.fed_terms.clear();
        }
    }
    if (from <= last) rd.entries = log.slice(from, last.next(), UINT64_MAX);
    if (rd.snapshot || !rd.entries.empty()) safety_.on_ready(n.id, rd);
    n.fed_terms.erase(n.fed_terms.lower_bound(from), n.fed_terms.end());
    for (const raft::Entry& e : rd.entries) n.fed_terms.emplace(e.index, e.term);
    // Committed entries never change: only the rest is compared next time.
    n.fed_terms.erase(n.fed_terms.begin(), n.fed_terms.upper_bound(log.committed()));
    n.fed_last = last;
}

void ReplicaCluster::record_applied(Node& n, const raft::Entry& e) {
    ++counters_.entries_applied;
    if (e.type != raft::EntryType::kCommand || applied_at_.contains(e.index)) return;
    Result<kv::LoggedCommand> cmd = kv::decode_logged_command(e.data);
    if (!cmd) {
        fail(fmt::format("node {} applied an undecodable entry {}", n.id.value, e.index.value));
        return;
    }
    std::span<const std::string> args = cmd->args;
    if (args.size() >= 7 && server::ascii_lower(args[0]) == "session" &&
        server::ascii_lower(args[1]) == "run") {
        // SESSION RUN <id> <seq> <command>: only the first entry of an
        // (id, seq) may take effect; a later one is a retry, which the
        // state machine answers from the saved reply.
        const std::pair<std::uint64_t, std::uint64_t> id_seq{std::stoull(args[2]),
                                                             std::stoull(args[3])};
        if (!session_entries_.emplace(id_seq, e.index).second) return;
        args = args.subspan(4);
    }
    if (args.size() < 3) return;
    const std::string name = server::ascii_lower(args[0]);
    if (name != "set" && name != "incrby" && name != "del") return;
    const std::string& tag = args[2];
    applied_at_.emplace(e.index, tag);
    const auto [it, inserted] = applied_tags_.emplace(tag, e.index);
    if (!inserted) {
        fail(
            fmt::format("exactly once: the write tagged {} was applied at index {} and again at {}",
                        tag, it->second.value, e.index.value));
    }
}

// ---- time -----------------------------------------------------------------------

bool ReplicaCluster::step_event() {
    if (!ok()) return false;
    SimTime t = next_tick_at_;
    if (auto d = net_.next_delivery_time()) t = std::min(t, *d);
    for (auto& [id, n] : nodes_) {
        if (!n->replica) continue;
        if (!n->disk_jobs.empty()) t = std::min(t, n->disk_jobs.front().done_at);
        if (n->retry_persist_at) t = std::min(t, *n->retry_persist_at);
    }
    if (!requests_.empty()) t = std::min(t, requests_.begin()->first);
    if (!joins_.empty()) t = std::min(t, joins_.begin()->first);
    now_ = std::max(now_, t);
    deliver_messages();
    run_disks();
    run_timers();
    deliver_requests();
    deliver_joins();
    if (now_ >= next_tick_at_) {
        next_tick_at_ += kTickTime;
        on_tick();
    }
    return ok();
}

void ReplicaCluster::deliver_messages() {
    for (auto& d : net_.deliver_due(now_)) {
        if (!ok()) return;
        Node& n = node(d.link.to);
        if (!n.replica) continue;
        if (Result<raft::Message> m = raft::decode_message(d.msg); m) {
            trace_.add_delivery(now_, *m);
        }
        n.replica->on_peer_message(d.link.from, d.msg);
        after_input(n);
    }
}

void ReplicaCluster::run_disks() {
    for (auto& [id, n] : nodes_) {
        while (ok() && n->replica && !n->disk_jobs.empty() &&
               n->disk_jobs.front().done_at <= now_) {
            n->complete_disk_job();
            after_input(*n);
        }
    }
}

void ReplicaCluster::run_timers() {
    for (auto& [id, n] : nodes_) {
        if (!ok() || !n->replica || !n->retry_persist_at || *n->retry_persist_at > now_) continue;
        n->retry_persist_at.reset();
        n->replica->retry_persist(n->now());
        after_input(*n);
    }
}

void ReplicaCluster::on_tick() {
    ++counters_.ticks;
    for (auto& [id, n] : nodes_) {
        if (!ok()) return;
        if (!n->replica) continue;
        n->replica->tick(n->now());
        after_input(*n);
    }
    expire_ops();
}

bool ReplicaCluster::tick(int n) {
    const std::uint64_t until = counters_.ticks + static_cast<std::uint64_t>(n);
    while (ok() && counters_.ticks < until) step_event();
    return ok();
}

bool ReplicaCluster::run_until(const std::function<bool()>& pred, int max_ticks) {
    const std::uint64_t until = counters_.ticks + static_cast<std::uint64_t>(max_ticks);
    while (ok() && !pred()) {
        if (counters_.ticks >= until) return false;
        step_event();
    }
    return ok();
}

// ---- state ----------------------------------------------------------------------

std::optional<NodeId> ReplicaCluster::leader() const {
    std::optional<NodeId> best;
    raft::Term best_term;
    for (const auto& [id, n] : nodes_) {
        if (!n->replica || n->replica->node().role() != raft::Role::kLeader) continue;
        if (!best || n->replica->node().term() > best_term) {
            best = id;
            best_term = n->replica->node().term();
        }
    }
    return best;
}

std::vector<NodeId> ReplicaCluster::node_ids() const {
    std::vector<NodeId> out;
    for (const auto& [id, n] : nodes_) out.push_back(id);
    return out;
}

std::vector<NodeId> ReplicaCluster::up_ids() const {
    std::vector<NodeId> out;
    for (const auto& [id, n] : nodes_) {
        if (n->replica) out.push_back(id);
    }
    return out;
}

bool ReplicaCluster::is_up(NodeId id) const { return node(id).replica != nullptr; }

const server::Replica& ReplicaCluster::replica(NodeId id) const {
    const Node& n = node(id);
    RAFTKV_ASSERT(n.replica != nullptr, "node {} is down", id.value);
    return *n.replica;
}

SimDisk& ReplicaCluster::disk(NodeId id) { return *node(id).disk; }

std::string ReplicaCluster::status() const {
    std::string s;
    for (const auto& [id, n] : nodes_) {
        if (!n->replica) {
            s += fmt::format("n{}: down; disk {}\n", id.value, image_summary(n->disk->current()));
            continue;
        }
        const raft::Node& core = n->replica->node();
        s += fmt::format(
            "n{}: {} term={} leader={} commit={} applied={} last={} snapshot={} pending={} "
            "disk_jobs={}\n",
            id.value, raft::role_name(core.role()), core.term().value, core.leader().value,
            core.log().committed().value, n->replica->applied().value,
            core.log().last_index().value, core.log().first_index().prev().value,
            n->replica->pending_write_count(), n->disk_jobs.size());
    }
    return s;
}

// ---- faults ---------------------------------------------------------------------

void ReplicaCluster::crash(NodeId id, bool torn) {
    Node& n = node(id);
    RAFTKV_ASSERT(n.replica != nullptr, "crash of node {}, which is down", id.value);
    ++counters_.faults;
    ++counters_.crashes;
    trace(fmt::format("crash n{}{}", id.value, torn ? " (torn writes)" : ""));
    lose_ops_on(n);
    n.drop_volatile();
    net_.crash(id);
    n.disk->crash(rng_, CrashOptions{.torn_writes = torn});
    // What never became durable and nobody else saw is gone (safety.h).
    safety_.on_crash(id, n.disk->current());
}

void ReplicaCluster::restart(NodeId id) {
    Node& n = node(id);
    RAFTKV_ASSERT(n.replica == nullptr, "restart of node {}, which is up", id.value);
    ++counters_.faults;
    ++counters_.restarts;
    ++n.incarnation;
    net_.restart(id);
    boot(n);
}

void ReplicaCluster::isolate(NodeId id) {
    ++counters_.faults;
    trace(fmt::format("isolate n{}", id.value));
    net_.isolate(id);
}

void ReplicaCluster::rejoin(NodeId id) {
    ++counters_.faults;
    trace(fmt::format("rejoin n{}", id.value));
    net_.rejoin(id);
}

void ReplicaCluster::split(const std::vector<std::vector<NodeId>>& groups) {
    ++counters_.faults;
    std::string text = "split";
    for (const auto& g : groups) {
        text += " |";
        for (NodeId id : g) text += fmt::format(" n{}", id.value);
    }
    trace(std::move(text));
    net_.split(groups);
}

void ReplicaCluster::block(Link link) {
    ++counters_.faults;
    trace(fmt::format("block n{} -> n{}", link.from.value, link.to.value));
    net_.block(link);
}

void ReplicaCluster::unblock(Link link) { net_.unblock(link); }

void ReplicaCluster::heal() {
    trace("heal");
    net_.heal();
}

void ReplicaCluster::set_all_links(LinkConfig config) {
    ++counters_.faults;
    trace(fmt::format("links: delay [{}, {}] loss={}ppm dup={}ppm", config.delay_min,
                      config.delay_max, config.loss_ppm, config.duplicate_ppm));
    for (const auto& [a, na] : nodes_) {
        for (const auto& [b, nb] : nodes_) {
            if (a != b) net_.set_link_config(Link{.from = a, .to = b}, config);
        }
    }
}

// ---- end checks -----------------------------------------------------------------

bool ReplicaCluster::check_linearizable() {
    if (!ok()) return false;
    const CheckResult r = sim::check_linearizable(history());
    if (r.verdict == Verdict::kNotLinearizable) {
        fail("the history is not linearizable:\n" + r.report());
        return false;
    }
    if (r.verdict == Verdict::kUnknown) trace("linearizability: unknown (search budget)");
    return true;
}

bool ReplicaCluster::await_convergence(int max_ticks) {
    std::string why;
    const auto converged = [&] {
        const std::optional<NodeId> l = leader();
        if (!l) {
            why = "no leader";
            return false;
        }
        const server::Replica& lead = replica(*l);
        const Index commit = lead.node().log().committed();
        for (NodeId id : up_ids()) {
            const server::Replica& r = replica(id);
            if (r.applied() != commit) {
                why = fmt::format("n{} applied {}, the leader n{} committed {}", id.value,
                                  r.applied().value, l->value, commit.value);
                return false;
            }
            if (!(r.state() == lead.state())) {
                why = fmt::format("n{} and the leader n{} applied {} but their states differ",
                                  id.value, l->value, commit.value);
                return false;
            }
        }
        return true;
    };
    if (run_until(converged, max_ticks)) return true;
    if (ok())
        fail(fmt::format("convergence: not within {} ticks: {}\n{}", max_ticks, why, status()));
    return false;
}

}  // namespace raftkv::sim
