// replica_cluster.h — a whole raftkv cluster of server::Replicas in one
// process: the server's own decisions (proposing, persisting, applying,
// answering, redirecting, snapshots) around each raft core, with the real
// kv::StateMachine, on simulated disks, network and time (issue 10 item 2).
//
// Each replica gets the ports of replica_ports.h implemented over the
// simulation (replica_node.h): its DiskPort writes PersistJobs and
// snapshots to its SimDisk (writes when the job starts, the sync when it
// completes, after a drawn latency; a job with must_sync=false is not
// synced, so a crash may lose it), its Outbox encodes messages with
// raft/message_codec.h and sends the bytes over SimNetwork, its ClientPort
// collects the RESP replies for the simulated clients, and its HostPort runs
// pumps after each event. Time comes from the simulated clock as Now. A
// crash drops the replica and all that is volatile; a restart rebuilds it
// from what the SimDisk kept, by the server's recovery rules (the snapshot,
// then the log after it; the hard state, its term raised to the last
// entry's).
//
// Clients speak the real command set through Replica::on_request: SET,
// SET NX, SET IFEQ, INCRBY, DEL and GET, following -MOVED within an
// operation. Every write attempt carries a tag no other attempt has (the
// value written, the increment, or a never-set extra key of DEL), so the
// end checks can tell which attempts were applied: an error that promises
// "not applied" (-MOVED, -TRYAGAIN, -CLUSTERDOWN, "write not applied") was
// never applied anywhere; no tag was applied twice; every acknowledged
// write was applied. Plus the history (sim/history.h) is linearizable and
// live replicas converge to equal states. Raft's safety (sim/safety.h) is
// checked after every event, on the core each replica owns.
//
// Administration (admin()): RAFT commands sent straight to one replica's
// on_request, on a connection of their own; the run (replica_run.cc) uses
// them for REMOVENODE and TRANSFER-LEADER under faults. add_joiner starts a
// fresh server under a new id with --join; its RAFT ADDNODE requests travel
// like a client's (a delay, -MOVED followed) and the replies come back
// through Replica::on_join_reply.
//
// Sessions (ReplicaClusterOptions::sessions): odd-numbered clients register
// a session (SESSION REGISTER) and send each write as SESSION RUN <id>
// <seq> <command>, with the same tag on every attempt. Such a client does
// not give up on -UNCERTAIN, a lost connection or an attempt left
// unanswered: it sends the same (id, seq) again, elsewhere, until a reply
// tells it what happened or its operation's deadline passes. The checks
// then are that only the first log entry of an (id, seq) may take effect
// (record_applied: a later one must be answered from the saved reply,
// which the linearizability check holds the replies and reads to: a write
// that ran twice shows as an increment counted twice or a value coming
// back), that a session is never unknown to the cluster (no
// SESSIONEXPIRED: runs are far shorter than the session timeout, so one
// would mean sessions lost across a snapshot, restart or leader change),
// and that an operation whose every attempt was refused "not applied" was
// not applied.
//
// Disk faults are the caller's, on disk(id): a full SimDisk refuses the
// replica's writes (it answers writes "not applied" and retries its job), a
// failed sync makes it stop, which the cluster turns into a crash.
//
// Does not (yet): READONLY reads by the simulated clients.
//
// Everything follows from the seed and the calls made; the replicas' log
// lines go to the trace, never to stderr. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply_parser.h"
#include "server/replica.h"
#include "sim/cluster.h"
#include "sim/disk.h"
#include "sim/history.h"
#include "sim/network.h"
#include "sim/safety.h"
#include "sim/trace.h"

namespace spdlog {
class logger;
}

namespace raftkv::sim {

// Ids of servers added by add_joiner go up to this (addresses 10.0.0.id:7000+id).
inline constexpr std::uint64_t kReplicaNodeIdMax = 200;

struct ReplicaClusterOptions {
    int nodes = 3;  // founding voters, ids 1..nodes; 1..kClusterNodesMax
    std::uint64_t seed = 1;
    LinkConfig link{.delay_min = 100, .delay_max = 1000};
    bool fifo_per_link = false;
    // A disk job completes a uniform draw in [min, max] after it starts.
    SimTime disk_latency_min = 0;
    SimTime disk_latency_max = 0;
    int election_ticks = 10;
    // Small, so that runs take snapshots and send them.
    std::uint64_t snapshot_log_bytes = 4096;
    // A client request reaches its server after a draw in [min, max].
    SimTime client_delay_min = 50;
    SimTime client_delay_max = 500;
    // An operation with no final reply this many ticks after its call ends
    // unknown (or failed, if no attempt reached a server).
    int client_timeout_ticks = 100;
    // Odd-numbered clients use exactly-once sessions (see above).
    bool sessions = false;
    std::size_t trace_capacity = 300;
    std::function<void(std::string_view)> trace_sink;
};

struct ReplicaClusterCounters {
    std::uint64_t ticks = 0;
    std::uint64_t events = 0;
    std::uint64_t messages = 0;
    std::uint64_t faults = 0;
    std::uint64_t crashes = 0;
    std::uint64_t restarts = 0;
    std::uint64_t disk_jobs = 0;
    std::uint64_t requests = 0;  // attempts that reached a replica
    std::uint64_t redirects = 0;
    std::uint64_t sessions_registered = 0;
    std::uint64_t session_retries = 0;  // an (id, seq) sent again after a doubt
    std::uint64_t entries_applied = 0;
    std::uint64_t snapshots_taken = 0;
    std::uint64_t snapshots_installed = 0;
    std::uint64_t ops_ok = 0;
    std::uint64_t ops_failed = 0;
    std::uint64_t ops_unknown = 0;

    std::string to_string() const;
};

class ReplicaCluster {
public:
    explicit ReplicaCluster(ReplicaClusterOptions options);
    ~ReplicaCluster();
    ReplicaCluster(const ReplicaCluster&) = delete;
    ReplicaCluster& operator=(const ReplicaCluster&) = delete;

    // The cluster most recently constructed and not yet destroyed (for an
    // abort handler); nullptr if none.
    static const ReplicaCluster* live();

    // ---- time ----
    SimTime now() const { return now_; }
    std::uint64_t ticks() const { return counters_.ticks; }
    // Processes everything due at the next event time. False once a check failed.
    bool step_event();
    bool tick(int n = 1);
    bool run_until(const std::function<bool()>& pred, int max_ticks);

    // ---- state ----
    bool ok() const { return safety_.ok(); }
    const std::string& failure() const { return safety_.failure(); }
    // The up replica leading the highest term, if any.
    std::optional<raft::NodeId> leader() const;
    std::vector<raft::NodeId> node_ids() const;
    std::vector<raft::NodeId> up_ids() const;
    bool is_up(raft::NodeId id) const;
    // Requires is_up(id).
    const server::Replica& replica(raft::NodeId id) const;
    SimDisk& disk(raft::NodeId id);
    std::string status() const;

    // ---- faults ----
    void crash(raft::NodeId id, bool torn = false);  // requires is_up(id)
    void restart(raft::NodeId id);                   // requires !is_up(id)
    void isolate(raft::NodeId id);
    void rejoin(raft::NodeId id);
    void split(const std::vector<std::vector<raft::NodeId>>& groups);
    void block(Link link);
    void unblock(Link link);
    void heal();
    void set_all_links(LinkConfig config);

    // ---- clients (one operation per client at a time) ----
    // The value written (or the increment) is made by the cluster, unique
    // per attempt; recent_values() lists those sent for a key.
    ClientOpId client_set(std::uint64_t client, std::string key);
    ClientOpId client_set_nx(std::uint64_t client, std::string key);
    ClientOpId client_set_ifeq(std::uint64_t client, std::string key, std::string expected);
    ClientOpId client_incr(std::uint64_t client, std::string key);
    ClientOpId client_del(std::uint64_t client, std::string key);
    ClientOpId client_get(std::uint64_t client, std::string key);
    bool client_busy(std::uint64_t client) const;
    bool is_done(ClientOpId id) const;
    const Operation& op(ClientOpId id) const;
    std::size_t pending_ops() const;
    History history() const;
    // The last few values write attempts sent for `key`, oldest first.
    const std::vector<std::string>& recent_values(const std::string& key) const;

    // ---- administration ----
    // Sends `args` (e.g. RAFT REMOVENODE 3) to up replica `at` now. The
    // reply, once the replica finished it, is admin_reply(id); a crash of
    // `at` before that loses it (admin_lost(id)).
    std::uint64_t admin(NodeId at, std::vector<std::string> args);
    const std::optional<resp::Reply>& admin_reply(std::uint64_t id) const;
    bool admin_lost(std::uint64_t id) const;
    // Starts a fresh server under the next unused id that joins through
    // `via` (--join via's address): its join requests (RAFT ADDNODE) reach
    // their server after a client delay, -MOVED is followed, and the reply
    // (or "connection refused") goes back to it.
    NodeId add_joiner(NodeId via);
    // A joiner that is down will join through `via` when restarted.
    void set_join_via(NodeId joiner, NodeId via);

    // ---- end checks (each fails the cluster when false) ----
    bool check_linearizable();
    // Every up replica applied what the leader committed, with equal states.
    bool await_convergence(int max_ticks);
    // Errors that promise "not applied" were not; no tag applied twice;
    // every acknowledged write applied.
    bool check_replies();

    // ---- reporting ----
    const ReplicaClusterCounters& counters() const { return counters_; }
    const NetworkCounters& network_counters() const { return net_.counters(); }
    std::string trace_dump() const { return trace_.dump(); }
    void note(std::string text);
    void fail(std::string message);

    struct Node;  // replica_node.h

private:
    struct ClientOp;
    struct Attempt;
    struct AdminRequest {
        NodeId at;
        std::uint64_t conn = 0;
        std::optional<resp::Reply> reply;
        bool lost = false;
    };
    // A join request on its way to `to`, or (answer set) its reply on its
    // way back to the joiner.
    struct JoinMessage {
        NodeId joiner;
        std::uint64_t incarnation = 0;
        NodeId to;
        std::uint64_t seq = 0;  // the replica's request number (JoinRequest::seq)
        std::vector<std::string> args;
        std::optional<Result<resp::Reply>> answer;
        int redirects = 0;
        std::uint64_t conn = 0;  // at `to`, once delivered
    };
    struct PendingRequest {
        ClientOpId op = 0;
        raft::NodeId to;
    };

    friend struct Node;

    Node& node(raft::NodeId id);
    const Node& node(raft::NodeId id) const;
    void boot(Node& n);
    void after_input(Node& n);
    void observe(Node& n);
    void feed_safety(Node& n);
    void record_applied(Node& n, const raft::Entry& e);
    void on_tick();
    void run_disks();
    void run_timers();
    void deliver_messages();
    void trace(std::string text);

    // Clients (replica_clients.cc).
    ClientOpId start_op(Operation rec, std::optional<std::string> ifeq);
    std::vector<std::string> next_attempt_args(ClientOp& op);
    std::vector<std::string> attempt_args(ClientOp& op);
    void retry_session_op(ClientOp& op);
    void finish_in_doubt(ClientOp& op);
    void send_attempt(ClientOp& op, raft::NodeId to);
    void deliver_requests();
    void arrive(ClientOp& op, raft::NodeId to);
    void take_replies(Node& n);
    void on_reply(ClientOp& op, Attempt& a, std::string_view bytes);
    void finish_op(ClientOp& op, Outcome outcome, Reply reply = {});
    void expire_ops();
    void lose_ops_on(Node& n);
    bool take_admin_reply(Node& n, std::uint64_t conn, std::string_view bytes);
    void send_join(JoinMessage m);
    void deliver_joins();
    void take_join_reply(Node& n, std::uint64_t conn, resp::Reply r);
    void lose_joins_on(Node& n);
    std::string next_tag(std::string_view prefix);

    ReplicaClusterOptions options_;
    std::shared_ptr<spdlog::logger> saved_logger_;  // restored at the end
    TraceRing trace_;
    NetworkRng rng_;
    SimNetwork<std::string> net_;
    SafetyChecker safety_;
    ReplicaClusterCounters counters_;
    SimTime now_ = 0;
    SimTime next_tick_at_ = kTickTime;
    raft::Membership founding_;
    std::vector<server::NodeAddress> addresses_;
    std::map<raft::NodeId, std::unique_ptr<Node>> nodes_;

    std::vector<std::unique_ptr<ClientOp>> ops_;  // by id - 1
    std::map<std::uint64_t, ClientOpId> busy_clients_;
    std::map<std::uint64_t, raft::NodeId> leader_hint_;  // by client
    std::multimap<SimTime, PendingRequest> requests_;    // in transit to a server
    std::uint64_t next_tag_ = 0;
    std::uint64_t next_conn_ = 1;
    std::map<std::string, std::vector<std::string>> recent_values_;
    // Every write attempt, and the tags applied (tag -> index, first seen).
    std::vector<std::unique_ptr<Attempt>> attempts_;
    std::map<std::string, raft::Index> applied_tags_;
    std::map<raft::Index, std::string> applied_at_;  // tag of the write at an index
    // Sessions: each client's (its id, the last sequence number used), and
    // the first index each (id, seq) was applied at.
    std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> sessions_;
    std::map<std::pair<std::uint64_t, std::uint64_t>, raft::Index> session_entries_;
    std::vector<AdminRequest> admin_;                // by id - 1
    std::multimap<SimTime, JoinMessage> joins_;      // in transit
    std::vector<JoinMessage> join_waits_;            // delivered, unanswered
};

}  // namespace raftkv::sim
