// replica_run.cc — see replica_run.h.
#include "sim/replica_run.h"

#include <fmt/format.h>

#include <map>
#include <optional>
#include <set>
#include <vector>

#include "sim/random_run.h"

namespace raftkv::sim {
namespace {

using raft::NodeId;

constexpr int kKeys = 4;
constexpr int kCounters = 2;

class ReplicaRun {
public:
    explicit ReplicaRun(const ReplicaRunOptions& o)
        : options_(o), rng_(o.seed * 0x2545f4914f6cdd1dull + 11) {}

    ReplicaRunResult run() {
        ReplicaClusterOptions co = draw_cluster();
        ReplicaCluster c(co);
        c_ = &c;
        chaos();
        if (c.ok()) finish();
        ReplicaRunResult r;
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

    ReplicaClusterOptions draw_cluster() {
        ReplicaClusterOptions co;
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
        co.snapshot_log_bytes = chance(0.7) ? uniform(512, 8192) : (64u << 20);
        // Often past the replica's kWriteDecisionTimeout (200 ticks), so that
        // clients see its -UNCERTAIN replies.
        co.client_timeout_ticks = static_cast<int>(uniform(100, 400));
        co.trace_sink = options_.trace_sink;
        co.sessions = options_.sessions;
        clients_ = static_cast<int>(uniform(1, 4));
        chaos_ticks_ = static_cast<int>(uniform(300, 800));
        fault_ppm_ = static_cast<std::uint32_t>(uniform(5000, 60000));
        op_ppm_ = static_cast<std::uint32_t>(uniform(100000, 600000));
        election_ticks_ = co.election_ticks;
        client_timeout_ticks_ = co.client_timeout_ticks;
        config_ = fmt::format(
            "nodes={} link=[{},{}] tail={}ppm loss={}ppm dup={}ppm fifo={} disk=[{},{}] "
            "election={} snapshot_bytes={} clients={} chaos_ticks={} faults={}ppm ops={}ppm",
            co.nodes, co.link.delay_min, co.link.delay_max, co.link.tail_ppm, co.link.loss_ppm,
            co.link.duplicate_ppm, co.fifo_per_link, co.disk_latency_min, co.disk_latency_max,
            co.election_ticks, co.snapshot_log_bytes, clients_, chaos_ticks_, fault_ppm_, op_ppm_);
        return co;
    }

    // ---- clients ----
    void client_step() {
        for (int i = 1; i <= clients_; ++i) {
            const auto client = static_cast<std::uint64_t>(i);
            if (c_->client_busy(client) || !rng_.chance_ppm(op_ppm_)) continue;
            // Strings in k*, counters in n* (INCRBY of a string changes nothing).
            const std::string k = fmt::format("k{}", uniform(0, kKeys - 1));
            const std::string counter = fmt::format("n{}", uniform(0, kCounters - 1));
            const std::uint64_t kind = uniform(0, 99);
            if (kind < 30) {
                c_->client_set(client, k);
            } else if (kind < 55) {
                c_->client_get(client, chance(0.3) ? counter : k);
            } else if (kind < 70) {
                c_->client_incr(client, chance(0.9) ? counter : k);
            } else if (kind < 90) {
                const std::vector<std::string>& seen = c_->recent_values(k);
                if (!seen.empty() && chance(0.8)) {
                    c_->client_set_ifeq(client, k, pick(seen));
                } else {
                    c_->client_set_nx(client, k);
                }
            } else {
                c_->client_del(client, chance(0.3) ? counter : k);
            }
        }
    }

    // ---- faults ----
    NodeId some_node(bool prefer_leader) {
        const std::optional<NodeId> l = c_->leader();
        if (prefer_leader && l) return *l;
        return pick(c_->node_ids());
    }

    void start_partition() {
        const std::vector<NodeId> nodes = c_->node_ids();
        if (nodes.size() < 2) return;
        partition_until_ = c_->ticks() + uniform(5, 150);
        switch (uniform(0, 3)) {
            case 0:
                c_->isolate(some_node(true));
                break;
            case 1:
                c_->isolate(some_node(false));
                break;
            case 2: {
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
            case 3: {
                const NodeId center = some_node(true);
                const bool outgoing = chance(0.5);
                for (NodeId id : nodes) {
                    if (id == center || chance(0.4)) continue;
                    c_->block(outgoing ? Link{.from = center, .to = id}
                                       : Link{.from = id, .to = center});
                }
                break;
            }
        }
    }

    void end_partition() {
        partition_until_ = 0;
        c_->heal();
    }

    void crash_one() {
        const std::vector<NodeId> up = c_->up_ids();
        if (up.empty()) return;
        const std::optional<NodeId> l = c_->leader();
        const NodeId victim = l && chance(0.3) ? *l : pick(up);
        c_->crash(victim, chance(0.5));
        restart_at_[victim] = c_->ticks() + uniform(1, 120);
    }

    // ---- disk faults (options_.disk_faults) ----
    // A full disk for a while: the server refuses writes ("write not
    // applied"), retries its job, and goes on once there is room. Or the
    // next sync fails: the server stops (a failed fsync is final) and is
    // restarted later, from what its disk kept.
    void disk_fault() {
        const std::vector<NodeId> up = c_->up_ids();
        if (up.empty()) return;
        const std::optional<NodeId> l = c_->leader();
        const NodeId victim = l && chance(0.4) ? *l : pick(up);
        if (chance(0.7)) {
            c_->note(fmt::format("n{}'s disk is full", victim.value));
            c_->disk(victim).set_full(true);
            full_until_[victim] = c_->ticks() + uniform(5, 100);
        } else {
            c_->note(fmt::format("n{}'s next sync fails", victim.value));
            c_->disk(victim).fail_next_sync();
        }
    }

    // The faults healed: every disk has room and no sync failure is armed.
    void heal_disks() {
        disk_space_back(/*all=*/true);
        for (NodeId id : c_->node_ids()) c_->disk(id).cancel_sync_failure();
    }

    void disk_space_back(bool all) {
        for (auto it = full_until_.begin(); it != full_until_.end();) {
            if (all || it->second <= c_->ticks()) {
                c_->note(fmt::format("n{}'s disk has room again", it->first.value));
                c_->disk(it->first).set_full(false);
                it = full_until_.erase(it);
            } else {
                ++it;
            }
        }
    }

    // A server that stopped itself (its sync failed) is started again later.
    void schedule_restarts_of_stopped() {
        for (NodeId id : c_->node_ids()) {
            if (!c_->is_up(id) && !removed_.contains(id) && !restart_at_.contains(id)) {
                restart_at_[id] = c_->ticks() + uniform(1, 120);
            }
        }
    }

    void fault() {
        const std::uint64_t what = uniform(0, 99);
        if (what < 40) {
            if (partition_until_ == 0) start_partition();
        } else if (what < 75) {
            crash_one();
        } else if (what < 90) {
            c_->set_all_links(chance(0.3) ? benign_link() : draw_link());
        } else if (!restart_at_.empty()) {
            restart_at_.begin()->second = c_->ticks();
        }
    }

    // ---- membership (options_.membership) ----
    static bool is_error(const resp::Reply& r, std::string_view prefix) {
        return r.type == resp::Reply::Type::kError && r.str.starts_with(prefix);
    }

    void membership_fault() {
        const std::optional<NodeId> l = c_->leader();
        if (!l) return;
        const raft::Membership m = c_->replica(*l).node().membership();
        std::vector<NodeId> others;
        for (NodeId id : m.voters) {
            if (id != *l) others.push_back(id);
        }
        if (chance(0.4)) {
            if (others.empty()) return;
            c_->admin(*l, {"RAFT", "TRANSFER-LEADER", std::to_string(pick(others).value)});
            return;
        }
        if (removal_) return;
        if (!maybe_removed_.empty()) {
            // Settles a removal in doubt: +OK, or "invalid member" (only
            // when no change is pending and it is out of the configuration).
            const NodeId victim = *maybe_removed_.begin();
            ask_removal(*l, victim, /*again=*/true);
            return;
        }
        if (m.voters.size() < 3 || !m.learners.empty()) return;
        const std::vector<NodeId> voters(m.voters.begin(), m.voters.end());
        ask_removal(*l, pick(voters), /*again=*/false);
    }

    void ask_removal(NodeId leader, NodeId victim, bool again) {
        refused_.erase(victim);
        removal_ = Removal{
            .victim = victim,
            .admin = c_->admin(leader, {"RAFT", "REMOVENODE", std::to_string(victim.value)}),
            .deadline = c_->ticks() + uniform(250, 400),
            .again = again,
        };
    }

    void settle_removal(bool at_end) {
        if (!removal_) return;
        const Removal r = *removal_;
        const std::optional<resp::Reply>& reply = c_->admin_reply(r.admin);
        if (reply) {
            removal_.reset();
            if (reply->type == resp::Reply::Type::kSimple && reply->str == "OK") {
                remove_for_good(r.victim);
            } else if (r.again && is_error(*reply, "ERR cannot remove") &&
                       reply->str.find("invalid member") != std::string::npos) {
                remove_for_good(r.victim);
            } else if (is_error(*reply, "UNCERTAIN")) {
                maybe_removed_.insert(r.victim);
            } else if (!r.again) {
                refused_.insert(r.victim);  // the error promises it was not removed
            }
            return;
        }
        if (at_end || c_->admin_lost(r.admin) || c_->ticks() >= r.deadline) {
            removal_.reset();
            maybe_removed_.insert(r.victim);
        }
    }

    void remove_for_good(NodeId victim) {
        c_->note(fmt::format("n{} is out of the configuration: stopped for good", victim.value));
        removed_.insert(victim);
        maybe_removed_.erase(victim);
        restart_at_.erase(victim);
        if (c_->is_up(victim)) c_->crash(victim);
        // Its replacement: a fresh server under a new id, joining through a
        // member (raftkv_faults.py's membership nemesis).
        std::vector<NodeId> members;
        for (NodeId id : c_->node_ids()) {
            if (!removed_.contains(id) && !maybe_removed_.contains(id)) members.push_back(id);
        }
        if (!members.empty() && c_->node_ids().back().value < kReplicaNodeIdMax) {
            const NodeId joiner = c_->add_joiner(pick(members));
            joiners_.insert(joiner);
            c_->note(fmt::format("n{} replaces n{}", joiner.value, victim.value));
        }
    }

    // Every server not removed is a voter and no learner is left.
    bool members_settled() {
        const std::optional<NodeId> l = c_->leader();
        if (!l) return false;
        const raft::Membership m = c_->replica(*l).node().membership();
        if (!m.learners.empty()) return false;
        for (NodeId id : c_->node_ids()) {
            if (!removed_.contains(id) && !maybe_removed_.contains(id) && !m.voters.contains(id))
                return false;
        }
        return true;
    }

    // After a write of the current leader's term was acknowledged: every
    // configuration change before it is committed.
    void resolve_removals_at_end() {
        const std::optional<NodeId> l = c_->leader();
        if (!l) return;
        const raft::Membership m = c_->replica(*l).node().membership();
        const std::set<NodeId> doubt = maybe_removed_;
        for (NodeId id : doubt) {
            if (!m.contains(id)) remove_for_good(id);
        }
    }

    bool check_members() {
        const std::optional<NodeId> l = c_->leader();
        if (!l) return true;
        const raft::Membership m = c_->replica(*l).node().membership();
        std::set<NodeId> want;
        for (NodeId id : c_->node_ids()) {
            if (!removed_.contains(id)) want.insert(id);
        }
        std::string why;
        if (!m.learners.empty()) {
            why = "learners remain";
        } else if (m.voters != want) {
            why = "the voters are not every server not removed";
        }
        for (NodeId id : refused_) {
            if (!m.voters.contains(id)) {
                why = fmt::format(
                    "the removal of n{} was answered with an error that promises it was not "
                    "applied, but n{} is out",
                    id.value, id.value);
            }
        }
        if (why.empty()) return true;
        std::string have;
        for (NodeId id : m.voters) have += fmt::format(" {}", id.value);
        std::string removed;
        for (NodeId id : removed_) removed += fmt::format(" {}", id.value);
        c_->fail(fmt::format("membership: {}: voters [{} ] (removed [{} ])\n{}", why, have, removed,
                             c_->status()));
        return false;
    }

    // A joiner not in the configuration may have given up (its join refused,
    // or its server removed since): as an operator would, start it again
    // joining through a member that stays.
    void rejoin_strays() {
        const std::optional<NodeId> l = c_->leader();
        if (!l) return;  // who is in is not known
        const raft::Membership m = c_->replica(*l).node().membership();
        std::vector<NodeId> members;
        for (NodeId id : c_->node_ids()) {
            if (removed_.contains(id) || maybe_removed_.contains(id)) continue;
            if (m.voters.contains(id)) members.push_back(id);
        }
        for (NodeId id : joiners_) {
            if (removed_.contains(id) || m.contains(id) || members.empty()) continue;
            if (c_->is_up(id)) c_->crash(id);
            c_->set_join_via(id, pick(members));
        }
    }

    void restarts() {
        for (auto it = restart_at_.begin(); it != restart_at_.end();) {
            if (it->second <= c_->ticks()) {
                if (!c_->is_up(it->first) && !removed_.contains(it->first)) {
                    c_->restart(it->first);
                }
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
            if (options_.membership) settle_removal(/*at_end=*/false);
            if (partition_until_ != 0 && c_->ticks() >= partition_until_) end_partition();
            if (options_.disk_faults) {
                disk_space_back(/*all=*/false);
                schedule_restarts_of_stopped();
            }
            if (rng_.chance_ppm(fault_ppm_)) {
                if (options_.membership && chance(0.3)) {
                    membership_fault();
                } else if (options_.disk_faults && chance(0.3)) {
                    disk_fault();
                } else {
                    fault();
                }
            }
        }
    }

    // ---- the end ----
    void finish() {
        c_->note("chaos over: heal, restart, check liveness");
        end_partition();
        c_->set_all_links(benign_link());
        heal_disks();
        if (options_.membership) {
            settle_removal(/*at_end=*/true);
            rejoin_strays();
        }
        for (NodeId id : c_->node_ids()) {
            if (!c_->is_up(id) && !removed_.contains(id)) c_->restart(id);
        }
        restart_at_.clear();
        const int leader_bound = kLeaderBoundElections * election_ticks_;
        if (!c_->run_until([&] { return c_->leader().has_value(); }, leader_bound)) {
            if (c_->ok())
                c_->fail(fmt::format("liveness: no leader within {} ticks after healing\n{}",
                                     leader_bound, c_->status()));
            return;
        }
        c_->run_until([&] { return c_->pending_ops() == 0; }, client_timeout_ticks_ + 10);
        const int commit_bound = kCommitBoundElections * election_ticks_ + client_timeout_ticks_;
        const std::uint64_t deadline = c_->ticks() + static_cast<std::uint64_t>(commit_bound);
        std::optional<ClientOpId> probe;
        while (c_->ok() && c_->ticks() < deadline) {
            probe = c_->client_set(1000, "probe");
            c_->run_until([&] { return c_->is_done(*probe); },
                          static_cast<int>(deadline - c_->ticks()));
            if (c_->is_done(*probe) && c_->op(*probe).outcome == Outcome::kOk) break;
            if (!c_->is_done(*probe)) break;
            c_->tick(1);
        }
        if (!c_->ok()) return;
        if (!probe || c_->op(*probe).outcome != Outcome::kOk) {
            c_->fail(fmt::format(
                "liveness: no write acknowledged within {} ticks after healing{}\n{}", commit_bound,
                probe ? " (last try: " + format_operation(c_->op(*probe)) + ")" : "",
                c_->status()));
            return;
        }
        if (options_.membership) {
            // The leader may have changed since the probe (a leader that
            // removed itself steps down): ask the next one.
            c_->run_until([&] { return c_->leader().has_value(); },
                          kLeaderBoundElections * election_ticks_);
            resolve_removals_at_end();
            // A joiner may have been asking through a server just removed.
            rejoin_strays();
            for (NodeId id : c_->node_ids()) {
                if (!c_->is_up(id) && !removed_.contains(id)) c_->restart(id);
            }
            // Joiners still catching up are promoted once they have the log.
            c_->run_until([&] { return members_settled(); }, 40 * election_ticks_);
        }
        if (!c_->await_convergence(300)) return;
        if (options_.membership && !check_members()) return;
        if (!c_->check_replies()) return;
        c_->check_linearizable();
    }

    ReplicaRunOptions options_;
    NetworkRng rng_;
    ReplicaCluster* c_ = nullptr;
    std::string config_;
    int clients_ = 1;
    int chaos_ticks_ = 0;
    int election_ticks_ = 10;
    int client_timeout_ticks_ = 100;
    std::uint32_t fault_ppm_ = 0;
    std::uint32_t op_ppm_ = 0;
    std::map<NodeId, std::uint64_t> restart_at_;
    std::map<NodeId, std::uint64_t> full_until_;  // disks full until then
    struct Removal {
        NodeId victim;
        std::uint64_t admin = 0;
        std::uint64_t deadline = 0;
        bool again = false;  // asked before, the fate unknown
    };
    std::optional<Removal> removal_;  // asked, not settled
    std::set<NodeId> removed_;        // out of the configuration, stopped for good
    std::set<NodeId> joiners_;        // added by add_joiner
    std::set<NodeId> maybe_removed_;  // asked, fate unknown
    std::set<NodeId> refused_;        // refused with a "not applied" error, not asked again
    std::uint64_t partition_until_ = 0;
};

}  // namespace

ReplicaRunResult run_replica_random(const ReplicaRunOptions& options) {
    return ReplicaRun(options).run();
}

}  // namespace raftkv::sim
