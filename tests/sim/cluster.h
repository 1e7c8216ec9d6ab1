// cluster.h — a whole raftkv cluster in one process: 1 to 7 raft cores, each
// with its own simulated disk and the real kv::StateMachine (sim/kv_machine.h), joined by
// the simulated network, under simulated time, with clients that record a
// history (issue 3, "The simulation").
//
// Drives each core exactly by the Ready contract of raft/ready.h, as one
// server loop would: take a Ready; send rd.messages at once; write the
// snapshot, entries and hard state to the SimDisk; sync; only then send
// rd.messages_after_persist, load the snapshot, apply committed entries,
// answer read states and failed reads, and advance. The sync takes
// simulated time (ClusterOptions::disk_latency_*): meanwhile the node's loop
// is blocked, so messages for it wait in its inbox and its ticks are counted
// and run afterwards, and a crash in that window loses what was not synced
// (with torn writes, a random prefix survives). A crash drops the core, its
// state machine and its inbox; a restart builds a new core from what the
// disk kept (hard state, log, snapshot; the state machine reloads the
// snapshot and the core re-applies the committed entries after it).
//
// After every event (a delivery, a finished sync, a tick) the node it
// touched is checked by SafetyChecker (sim/safety.h); the first violation
// stops the cluster: ok() turns false, every later step does nothing, and
// failure() says what broke. The end checks (linearizable history, no
// acknowledged write lost, convergence) are methods the caller runs.
//
// Time: SimTime units, kTickTime of them per tick; network delays and disk
// latencies are sub-tick. History times are in the same units (the history
// says ticks; divide by kTickTime).
//
// Everything follows from ClusterOptions::seed and the calls made: no clock,
// no global randomness, no unordered iteration. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "raft/node.h"
#include "sim/disk.h"
#include "sim/history.h"
#include "sim/kv_machine.h"
#include "sim/network.h"
#include "sim/safety.h"
#include "sim/trace.h"

namespace raftkv::sim {

inline constexpr SimTime kTickTime = 1000;
inline constexpr int kClusterNodesMax = 7;

struct ClusterOptions {
    int nodes = 3;  // founding voters, ids 1..nodes; 1..kClusterNodesMax
    std::uint64_t seed = 1;
    LinkConfig link{.delay_min = 100, .delay_max = 1000};  // every link at start
    bool fifo_per_link = false;
    // Each Ready's sync completes after a uniform draw in [min, max]; 0
    // means at once (no crash can fall between a write and its sync).
    SimTime disk_latency_min = 0;
    SimTime disk_latency_max = 0;
    // The cores' options (raft::NodeOptions).
    int election_ticks = 10;
    int heartbeat_ticks = 1;
    bool pre_vote = true;
    bool check_quorum = true;
    bool lease_reads = false;
    std::size_t append_entries_max = 64;
    std::uint64_t append_bytes_max = 1 << 20;
    std::uint64_t snapshot_chunk_bytes = 1024;
    raft::InflightsLimits inflights;
    // A client operation not accepted by a leader within this many ticks is
    // failed; one accepted but not answered is unknown.
    int client_timeout_ticks = 100;
    // Last events kept for a failure report, and a sink for every event.
    std::size_t trace_capacity = 200;
    std::function<void(std::string_view)> trace_sink;
};

struct ClusterCounters {
    std::uint64_t ticks = 0;
    std::uint64_t events = 0;
    std::map<raft::MessageType, std::uint64_t> sent_by_type;
    std::uint64_t readies = 0;
    std::uint64_t faults = 0;  // crashes, restarts, partitions, heals, link changes
    std::uint64_t crashes = 0;
    std::uint64_t restarts = 0;
    std::uint64_t proposals = 0;  // accepted
    std::uint64_t entries_applied = 0;
    std::uint64_t snapshots_taken = 0;
    std::uint64_t snapshots_installed = 0;
    std::uint64_t membership_changes = 0;  // accepted proposals
    std::uint64_t transfers = 0;           // accepted requests
    std::uint64_t ops_ok = 0;
    std::uint64_t ops_failed = 0;
    std::uint64_t ops_unknown = 0;

    std::uint64_t messages_sent() const;
    // "ticks=.. messages=.. (append=.. ...) faults=.. ..."
    std::string to_string() const;
};

using ClientOpId = std::uint64_t;

enum class GetMode : std::uint8_t {
    kReadIndex,  // raft::Node::read_index, served from the leader's state machine
    kLog,        // a log entry that changes nothing
};

class Cluster {
public:
    explicit Cluster(ClusterOptions options);
    ~Cluster();
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    // The cluster most recently constructed and not yet destroyed: for an
    // abort handler that dumps its trace. nullptr if none.
    static const Cluster* live();

    // ---- time ----
    SimTime now() const { return now_; }
    std::uint64_t ticks() const { return counters_.ticks; }
    // Processes the next event time (deliveries, finished syncs, a tick).
    // False once a check failed.
    bool step_event();
    // Runs until `n` more ticks have passed. False once a check failed.
    bool tick(int n = 1);
    // Runs until pred() holds (tested after every event) or max_ticks pass.
    // True if it held, false on timeout or failure.
    bool run_until(const std::function<bool()>& pred, int max_ticks);

    // ---- state ----
    bool ok() const { return safety_.ok(); }
    const std::string& failure() const { return safety_.failure(); }
    // The up node that leads the highest term, if any.
    std::optional<raft::NodeId> leader() const;
    // Every node ever started (ascending), and those up now.
    std::vector<raft::NodeId> node_ids() const;
    std::vector<raft::NodeId> up_ids() const;
    bool exists(raft::NodeId id) const { return nodes_.contains(id); }
    bool is_up(raft::NodeId id) const;
    bool is_removed(raft::NodeId id) const;  // decommissioned after its removal
    // Requires is_up(id).
    raft::Node& node(raft::NodeId id);
    const raft::Node& node(raft::NodeId id) const;
    const KvMachine& kv(raft::NodeId id) const;
    SimDisk& disk(raft::NodeId id);
    // The configuration the current leader has (or, without a leader, the
    // founding one updated by finished membership jobs).
    raft::Membership membership() const;
    // One line per node: role, term, commit, applied, last, snapshot, busy.
    std::string status() const;

    // ---- faults ----
    // Power loss: see the file comment. Requires is_up(id).
    void crash(raft::NodeId id, bool torn = false);
    // A new core over what the disk kept. Requires an existing node that is
    // down and not removed.
    void restart(raft::NodeId id);
    void isolate(raft::NodeId id);
    void rejoin(raft::NodeId id);
    void split(const std::vector<std::vector<raft::NodeId>>& groups);
    void block(Link link);  // one direction
    void unblock(Link link);
    void heal();  // every cut link open again; does not restart nodes
    void set_link_config(Link link, LinkConfig config);
    // Every link between existing nodes, and those of nodes added later.
    void set_all_links(LinkConfig config);

    // ---- raft operations ----
    // Directly on a node (any node; the core decides). Requires is_up(id).
    raft::Proposal propose(raft::NodeId id, std::string data);
    // Through the current leader; kNotLeader when there is none.
    raft::Refusal transfer_leadership(raft::NodeId target);
    raft::Proposal change_membership(raft::MembershipChange change, raft::NodeId target);
    // Takes a snapshot of the node's state machine at its applied index and
    // compacts its log there (saved to its disk and synced). False when the
    // node is down, mid-sync, or has applied nothing past its snapshot.
    bool compact(raft::NodeId id);
    // Starts a fresh server with an empty disk that waits to be added.
    void start_joining(raft::NodeId id);

    // Membership jobs, run one at a time in order, each retried every tick
    // through whoever leads: add = start the server, add it as learner, and
    // promote it once its match reaches the leader's commit; remove =
    // propose the removal, and once it is committed stop the server for good.
    void add_node(raft::NodeId id);
    void remove_node(raft::NodeId id);
    bool membership_busy() const;

    // ---- clients ----
    // Starts one operation; it goes to the current leader, retrying every
    // tick while there is none or the leader refuses. One operation per
    // client at a time (client_busy).
    ClientOpId client_set(std::uint64_t client, std::string key, std::string value);
    ClientOpId client_get(std::uint64_t client, std::string key,
                          GetMode mode = GetMode::kReadIndex);
    ClientOpId client_incr(std::uint64_t client, std::string key, std::int64_t delta);
    ClientOpId client_cas(std::uint64_t client, std::string key, Value expected, std::string value);
    ClientOpId client_del(std::uint64_t client, std::string key);
    bool client_busy(std::uint64_t client) const;
    bool is_done(ClientOpId id) const;
    // The operation's history record (outcome kUnknown while pending).
    const Operation& op(ClientOpId id) const;
    // The index an ok write was applied at (Index(0) otherwise).
    raft::Index op_index(ClientOpId id) const;
    std::size_t pending_ops() const;
    // Every operation so far; pending ones as unknown with kNeverReturned.
    History history() const;

    // ---- end checks (each fails the cluster with a message when false) ----
    // check_linearizable: the history, by sim/linearizability.h; a verdict
    // of "unknown" (search budget) passes with a trace note.
    bool check_linearizable();
    // Every up member applied everything the leader committed and all their
    // state machines are equal. Runs until so, at most max_ticks.
    bool await_convergence(int max_ticks);
    // Every ok write's index is applied on every up member with that write.
    bool check_acked_writes();

    // ---- reporting ----
    const ClusterCounters& counters() const { return counters_; }
    const NetworkCounters& network_counters() const { return net_.counters(); }
    const SafetyChecker& safety() const { return safety_; }
    std::string trace_dump() const { return trace_.dump(); }
    // Adds a line to the trace (scenarios narrate their steps).
    void note(std::string text);
    // Records a violation found by the caller.
    void fail(std::string message);

private:
    struct SimNode;
    struct ClientOp;
    struct Job;

    SimNode& sim(raft::NodeId id);
    const SimNode& sim(raft::NodeId id) const;
    void boot(SimNode& n);
    raft::NodeOptions node_options(const SimNode& n) const;
    void pump(SimNode& n);
    void finish_ready(SimNode& n);
    void run_inbox(SimNode& n);
    void apply_entry(SimNode& n, const raft::Entry& e);
    void send(const raft::Message& m);
    void deliver(raft::Message m);
    void check(SimNode& n);
    void on_tick();
    void note_role(SimNode& n);

    ClientOpId start_op(KvCommand cmd, GetMode mode);
    void try_op(ClientOp& op);
    void submit_op(ClientOp& op, SimNode& n);
    void finish_op(ClientOp& op, Outcome outcome, Reply reply = {});
    void fail_ops_on(raft::NodeId id, std::string_view why);
    void run_clients();
    void run_jobs();
    bool run_job(Job& job);
    void trace(std::string text);
    void count_fault() { ++counters_.faults; }

    ClusterOptions options_;
    TraceRing trace_;
    NetworkRng rng_;
    SimNetwork<raft::Message> net_;
    SafetyChecker safety_;
    ClusterCounters counters_;
    SimTime now_ = 0;
    SimTime next_tick_at_ = kTickTime;
    raft::Membership founding_;
    std::map<raft::NodeId, std::unique_ptr<SimNode>> nodes_;
    std::optional<LinkConfig> all_links_;

    std::vector<std::unique_ptr<ClientOp>> ops_;  // by id - 1
    std::map<std::uint64_t, ClientOpId> busy_clients_;
    std::map<std::pair<raft::NodeId, raft::Index>, ClientOpId> waiting_writes_;
    std::map<std::string, ClientOpId> waiting_reads_;  // by read context
    std::vector<Job> jobs_;
};

}  // namespace raftkv::sim
