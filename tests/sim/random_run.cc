// random_run.cc — see random_run.h.
#include "sim/random_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

namespace raftkv::sim {
namespace {

using raft::NodeId;

// The highest node id a run may add (ids are never reused).
constexpr std::uint64_t kNodeIdMax = 12;
constexpr int kKeys = 4;

class RandomRun {
public:
    explicit RandomRun(const RandomRunOptions& o)
        : options_(o), rng_(o.seed * 0x2545f4914f6cdd1dull + 7) {}

    RandomRunResult run() {
        ClusterOptions co = draw_cluster();
        Cluster c(co);
        c_ = &c;
        chaos();
        if (c.ok()) finish();
        RandomRunResult r;
        r.ok = c.ok();
        r.failure = c.failure();
        r.config = config_;
        if (!r.ok) r.trace = c.trace_dump();
        r.status = c.status();
        r.counters = c.counters();
        r.network = c.network_counters();
        r.ops = c.history().ops.size();
        c_ = nullptr;
        return r;
    }

private:
    // ---- draws ----
    std::uint64_t uniform(std::uint64_t lo, std::uint64_t hi) { return rng_.uniform(lo, hi); }
    bool chance(double p) { return rng_.chance_ppm(static_cast<std::uint32_t>(p * kPpmMax)); }
    template <typename T>
    const T& pick(const std::vector<T>& v) {
        return v[uniform(0, v.size() - 1)];
    }

    LinkConfig draw_link() {
        LinkConfig l;
        l.delay_min = uniform(50, 500);
        l.delay_max = l.delay_min + (chance(0.3) ? uniform(0, 300) : uniform(0, 3000));
        if (chance(0.3)) {
            l.tail_ppm = static_cast<std::uint32_t>(uniform(1000, 50000));
            l.tail_delay_max = l.delay_max + uniform(1000, 15000);
        }
        if (chance(0.5))
            l.loss_ppm = static_cast<std::uint32_t>(uniform(1000, chance(0.3) ? 200000 : 50000));
        if (chance(0.3)) l.duplicate_ppm = static_cast<std::uint32_t>(uniform(1000, 50000));
        return l;
    }

    static LinkConfig benign_link() { return LinkConfig{.delay_min = 100, .delay_max = 1000}; }

    ClusterOptions draw_cluster() {
        ClusterOptions co;
        co.seed = options_.seed;
        static const std::vector<int> kSizes = {1, 2, 3, 3, 3, 3, 3, 3, 3, 4,
                                                5, 5, 5, 5, 5, 5, 6, 7, 7};
        co.nodes = options_.nodes > 0 ? options_.nodes : pick(kSizes);
        co.link = draw_link();
        co.fifo_per_link = chance(0.3);
        if (chance(0.8)) {
            co.disk_latency_min = uniform(0, 300);
            co.disk_latency_max = co.disk_latency_min + uniform(0, 1500);
        }
        co.election_ticks = static_cast<int>(uniform(8, 15));
        co.heartbeat_ticks = static_cast<int>(uniform(1, 3));
        co.pre_vote = chance(0.8);
        co.check_quorum = chance(0.8);
        co.lease_reads = co.check_quorum && chance(0.3);
        co.append_entries_max = chance(0.3) ? uniform(1, 4) : uniform(8, 64);
        co.snapshot_chunk_bytes = uniform(16, 2048);
        co.inflights.appends_max = uniform(1, 16);
        co.client_timeout_ticks = static_cast<int>(uniform(40, 150));
        co.trace_sink = options_.trace_sink;
        clients_ = static_cast<int>(uniform(1, 4));
        chaos_ticks_ = static_cast<int>(uniform(300, 800));
        fault_ppm_ = static_cast<std::uint32_t>(uniform(10000, 60000));
        op_ppm_ = static_cast<std::uint32_t>(uniform(200000, 700000));
        next_id_ = static_cast<std::uint64_t>(co.nodes) + 1;
        election_ticks_ = co.election_ticks;
        client_timeout_ticks_ = co.client_timeout_ticks;
        config_ = fmt::format(
            "nodes={} link=[{},{}] tail={}ppm<{} loss={}ppm dup={}ppm fifo={} disk=[{},{}] "
            "election={} heartbeat={} pre_vote={} check_quorum={} lease={} append_max={} "
            "chunk={} inflight={} clients={} chaos={} faults={}ppm",
            co.nodes, co.link.delay_min, co.link.delay_max, co.link.tail_ppm,
            co.link.tail_delay_max, co.link.loss_ppm, co.link.duplicate_ppm, co.fifo_per_link,
            co.disk_latency_min, co.disk_latency_max, co.election_ticks, co.heartbeat_ticks,
            co.pre_vote, co.check_quorum, co.lease_reads, co.append_entries_max,
            co.snapshot_chunk_bytes, co.inflights.appends_max, clients_, chaos_ticks_, fault_ppm_);
        return co;
    }

    // ---- clients ----
    std::string key() { return fmt::format("k{}", uniform(0, kKeys - 1)); }

    void client_step() {
        for (int i = 1; i <= clients_; ++i) {
            const auto client = static_cast<std::uint64_t>(i);
            if (c_->client_busy(client) || !rng_.chance_ppm(op_ppm_)) continue;
            const std::uint64_t kind = uniform(0, 99);
            const std::string k = key();
            if (kind < 30) {
                std::string v = fmt::format("v{}", ++values_);
                recent_[k].push_back(v);
                c_->client_set(client, k, v);
            } else if (kind < 60) {
                c_->client_get(client, k, chance(0.7) ? GetMode::kReadIndex : GetMode::kLog);
            } else if (kind < 78) {
                c_->client_incr(client, k, static_cast<std::int64_t>(uniform(1, 5)));
            } else if (kind < 95) {
                Value expected;
                std::vector<std::string>& seen = recent_[k];
                if (!seen.empty() && chance(0.8)) expected = seen[uniform(0, seen.size() - 1)];
                std::string v = fmt::format("v{}", ++values_);
                seen.push_back(v);
                if (seen.size() > 8) seen.erase(seen.begin());
                c_->client_cas(client, k, expected, v);
            } else {
                c_->client_del(client, k);
            }
        }
    }

    // ---- faults ----
    std::vector<NodeId> up_members() const {
        std::vector<NodeId> out;
        const raft::Membership m = c_->membership();
        for (NodeId id : c_->up_ids()) {
            if (m.contains(id)) out.push_back(id);
        }
        return out;
    }

    std::vector<NodeId> live_nodes() const {
        std::vector<NodeId> out;
        for (NodeId id : c_->node_ids()) {
            if (!c_->is_removed(id)) out.push_back(id);
        }
        return out;
    }

    NodeId some_node(bool prefer_leader) {
        const std::optional<NodeId> l = c_->leader();
        if (prefer_leader && l) return *l;
        return pick(live_nodes());
    }

    void start_partition() {
        const std::vector<NodeId> nodes = live_nodes();
        if (nodes.size() < 2) return;
        partition_until_ = c_->ticks() + uniform(5, 150);
        switch (uniform(0, 5)) {
            case 0:
                c_->isolate(some_node(true));
                break;
            case 1:
                c_->isolate(some_node(false));
                break;
            case 2: {  // majority / minority (or any two groups)
                std::vector<NodeId> shuffled = nodes;
                for (std::size_t i = shuffled.size(); i > 1; --i) {
                    std::swap(shuffled[i - 1], shuffled[uniform(0, i - 1)]);
                }
                const std::size_t cut = uniform(1, shuffled.size() - 1);
                c_->split({std::vector<NodeId>(shuffled.begin(),
                                               shuffled.begin() + static_cast<long>(cut)),
                           std::vector<NodeId>(shuffled.begin() + static_cast<long>(cut),
                                               shuffled.end())});
                break;
            }
            case 3: {  // bridge: two sides that only one node hears both of
                if (nodes.size() < 3) return c_->isolate(some_node(true));
                const NodeId bridge = pick(nodes);
                std::vector<NodeId> a, b;
                for (NodeId id : nodes) {
                    if (id == bridge) continue;
                    (chance(0.5) ? a : b).push_back(id);
                }
                for (NodeId x : a) {
                    for (NodeId y : b) {
                        c_->block(Link{.from = x, .to = y});
                        c_->block(Link{.from = y, .to = x});
                    }
                }
                c_->note(fmt::format("bridge n{}", bridge.value));
                break;
            }
            case 4: {  // one-way: the leader cannot send to, or hear from, some
                const NodeId center = some_node(true);
                const bool outgoing = chance(0.5);
                for (NodeId id : nodes) {
                    if (id == center || chance(0.4)) continue;
                    c_->block(outgoing ? Link{.from = center, .to = id}
                                       : Link{.from = id, .to = center});
                }
                break;
            }
            case 5:  // flapping
                flapping_ = some_node(chance(0.5));
                flap_every_ = uniform(1, 8);
                break;
        }
    }

    void end_partition() {
        partition_until_ = 0;
        flapping_.reset();
        c_->heal();
    }

    void crash_one() {
        std::vector<NodeId> up;
        for (NodeId id : c_->up_ids()) {
            if (!c_->is_removed(id)) up.push_back(id);
        }
        if (up.empty()) return;
        const std::optional<NodeId> l = c_->leader();
        const NodeId victim = l && chance(0.3) ? *l : pick(up);
        c_->crash(victim, chance(0.5));
        restart_at_[victim] = c_->ticks() + uniform(1, 120);
    }

    void membership_change() {
        if (c_->membership_busy() || !c_->leader()) return;
        const raft::Membership m = c_->membership();
        const std::size_t members = m.voters.size() + m.learners.size();
        if (members < kClusterNodesMax && next_id_ <= kNodeIdMax && (members <= 2 || chance(0.5))) {
            c_->add_node(NodeId(next_id_++));
        } else if (members > 1) {
            std::vector<NodeId> ids(m.voters.begin(), m.voters.end());
            ids.insert(ids.end(), m.learners.begin(), m.learners.end());
            c_->remove_node(pick(ids));
        }
    }

    void fault() {
        const std::uint64_t what = uniform(0, 99);
        if (what < 30) {
            if (partition_until_ == 0) start_partition();
        } else if (what < 55) {
            crash_one();
        } else if (what < 70) {
            if (c_->leader()) {
                const raft::Membership m = c_->membership();
                c_->transfer_leadership(
                    pick(std::vector<NodeId>(m.voters.begin(), m.voters.end())));
            }
        } else if (what < 82) {
            membership_change();
        } else if (what < 92) {
            c_->set_all_links(chance(0.3) ? benign_link() : draw_link());
        } else {
            // Restart someone early.
            if (!restart_at_.empty()) restart_at_.begin()->second = c_->ticks();
        }
    }

    void restarts() {
        for (auto it = restart_at_.begin(); it != restart_at_.end();) {
            if (it->second <= c_->ticks()) {
                if (!c_->is_up(it->first) && !c_->is_removed(it->first)) c_->restart(it->first);
                it = restart_at_.erase(it);
            } else {
                ++it;
            }
        }
    }

    void chaos() {
        for (int t = 0; t < chaos_ticks_ && c_->ok(); ++t) {
            if (!c_->tick(1)) return;
            client_step();
            restarts();
            if (partition_until_ != 0 && c_->ticks() >= partition_until_) end_partition();
            if (flapping_ && c_->ticks() % flap_every_ == 0) {
                if ((c_->ticks() / flap_every_) % 2 == 0) {
                    c_->isolate(*flapping_);
                } else {
                    c_->rejoin(*flapping_);
                }
            }
            if (chance(0.01)) {
                const std::vector<NodeId> up = c_->up_ids();
                if (!up.empty()) c_->compact(pick(up));
            }
            if (rng_.chance_ppm(fault_ppm_)) fault();
        }
    }

    // ---- the end ----
    void finish() {
        c_->note("chaos over: heal, restart, check liveness");
        end_partition();
        c_->set_all_links(benign_link());
        for (NodeId id : c_->node_ids()) {
            if (!c_->is_up(id) && !c_->is_removed(id)) c_->restart(id);
        }
        restart_at_.clear();
        const int leader_bound = kLeaderBoundElections * election_ticks_;
        if (!c_->run_until([&] { return c_->leader().has_value(); }, leader_bound)) {
            if (c_->ok())
                c_->fail(fmt::format("liveness: no leader within {} ticks after healing\n{}",
                                     leader_bound, c_->status()));
            return;
        }
        // Let the clients' operations end (ok, failed or timed out).
        c_->run_until([&] { return c_->pending_ops() == 0; }, 200);
        // A write commits: the probe is retried while its attempts fail or
        // end unknown (say, at a leader that removed itself meanwhile).
        // A first attempt may land on a leader that loses its place in the
        // elections right after the heal; the client learns that only when
        // its attempt times out, and then retries.
        const int commit_bound = kCommitBoundElections * election_ticks_ + client_timeout_ticks_;
        const std::uint64_t deadline = c_->ticks() + static_cast<std::uint64_t>(commit_bound);
        std::optional<ClientOpId> probe;
        while (c_->ok() && c_->ticks() < deadline) {
            probe = c_->client_set(1000, "probe", fmt::format("p{}", c_->ticks()));
            c_->run_until([&] { return c_->is_done(*probe); },
                          static_cast<int>(deadline - c_->ticks()));
            if (c_->is_done(*probe) && c_->op(*probe).outcome == Outcome::kOk) break;
        }
        if (!c_->ok()) return;
        if (!probe || c_->op(*probe).outcome != Outcome::kOk) {
            c_->fail(fmt::format(
                "liveness: no write committed within {} ticks after healing{}\n{}", commit_bound,
                probe ? " (last try: " + format_operation(c_->op(*probe)) + ")" : "",
                c_->status()));
            return;
        }
        c_->run_until([&] { return !c_->membership_busy(); }, 500);
        if (!c_->await_convergence(300)) return;
        if (!c_->check_acked_writes()) return;
        c_->check_linearizable();
    }

    RandomRunOptions options_;
    NetworkRng rng_;
    Cluster* c_ = nullptr;
    std::string config_;
    int clients_ = 1;
    int chaos_ticks_ = 0;
    int election_ticks_ = 10;
    int client_timeout_ticks_ = 100;
    std::uint32_t fault_ppm_ = 0;
    std::uint32_t op_ppm_ = 0;
    std::uint64_t values_ = 0;
    std::uint64_t next_id_ = 1;
    std::map<std::string, std::vector<std::string>> recent_;
    std::map<NodeId, std::uint64_t> restart_at_;
    std::uint64_t partition_until_ = 0;
    std::optional<NodeId> flapping_;
    std::uint64_t flap_every_ = 1;
};

}  // namespace

RandomRunResult run_random(const RandomRunOptions& options) { return RandomRun(options).run(); }

}  // namespace raftkv::sim
