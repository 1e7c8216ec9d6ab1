// replica.h — the decisions one raftkv server makes around its raft core:
// what to propose, when an entry is persisted, applied and answered, which
// waiting client gets which reply, when to snapshot, and how a join, a
// removal or a leadership hand-over proceeds (DESIGN.md, "The replica").
//
// The write path (docs/architecture.md):
//   1. on the leader, a write command is checked and proposed to the raft
//      core (src/raft/node.h), which appends it to its log and sends it to
//      the followers while the leader's own disk write runs (DiskPort);
//   2. once a majority persisted it, the entry is committed; every server
//      applies committed entries in log order, and the leader answers the
//      client from the result;
// so a reply never reveals a write that a crash of a minority could lose.
// Reads are linearizable by ReadIndex (§6.4): a heartbeat round confirms the
// leadership, then the read runs on the applied state. A read waits for the
// earlier writes of its own client, so a pipeline sees its own writes.
// A follower answers kv commands with -MOVED to the leader, or -CLUSTERDOWN
// when none is known. A snapshot is taken when the log written since the
// last one passes snapshot_log_bytes.
//
// Deterministic: it reads no clock (the time comes with each input), draws
// no randomness but from its seed, and reaches disk, peers and clients only
// through the ports it is given (replica_ports.h). The server drives it with
// the real ones (server.cc); the tests and the simulation with fakes. It
// does not parse requests or own connections.
//
// Not thread-safe: one thread (the server's loop) calls it, and its ports
// call back on that thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "kv/commands.h"
#include "kv/state_machine.h"
#include "raft/node.h"
#include "raft/types.h"
#include "resp/reply_writer.h"
#include "server/command_table.h"
#include "server/config.h"
#include "server/raft_storage.h"
#include "server/replica_ports.h"

namespace raftkv::server {

// A write whose leader lost its place is answered -UNCERTAIN if its index is
// not decided within this time (the new leader may still commit it).
inline constexpr auto kWriteDecisionTimeout = std::chrono::seconds(10);
// Keys one RAFTKV.EXPIRE entry deletes at most (active expiry; one batch
// in flight at a time, proposed from the tick).
inline constexpr std::uint64_t kExpireBatchKeys = 1000;
// A ReadIndex read not confirmed within this time is answered -TRYAGAIN.
inline constexpr auto kReadTimeout = std::chrono::seconds(10);
// A persist job that found the disk full is handed to the disk again after this.
inline constexpr auto kDiskFullRetryDelay = std::chrono::milliseconds(100);
// A joining server that has heard from no leader this long asks again.
inline constexpr auto kJoinRetryDelay = std::chrono::seconds(5);
// The first join keeps asking this long before the server gives up; a later
// one (JoinRetry) this long before it waits kJoinRetryDelay again.
inline constexpr auto kJoinPatienceFirst = std::chrono::seconds(30);
inline constexpr auto kJoinPatienceLater = std::chrono::seconds(2);
// Between two attempts of one join (a refused connection, -TRYAGAIN).
inline constexpr auto kJoinAttemptDelay = std::chrono::milliseconds(200);
// A join request with no reply this long after it was sent counts as a failed
// attempt (the host's request may hang: name resolution is unbounded, and each
// of up to six hops may take its connect, write and read timeouts); a reply
// that comes later is ignored.
inline constexpr auto kJoinRequestTimeout = std::chrono::seconds(15);

// --join's target.
struct JoinTarget {
    std::string host;
    std::uint16_t port = 0;
    std::string to_string() const;  // "HOST:PORT"
};
// Parses --join's HOST:PORT. The error names the flag.
Result<JoinTarget> parse_join_target(std::string_view spec);

struct ReplicaOptions {
    // This server; its peer_port is the one actually bound (a joiner tells it).
    NodeAddress self;
    // --cluster: the founders' addresses (only its own for a joiner).
    std::vector<NodeAddress> cluster;
    // Set: ask this server to add us, while the replica is fresh.
    std::optional<JoinTarget> join;
    int election_ticks = 10;
    int tick_ms = 50;
    std::uint64_t snapshot_log_bytes = 64ull << 20;
    // Seeds the raft core's election timeouts.
    std::uint64_t seed = 1;
};

// What the replica starts from (raft_recovery.h's RecoveredRaft, and the
// founding configuration the server recorded).
struct ReplicaState {
    kv::StateMachine state;
    std::unique_ptr<RaftStorage> storage;
    raft::HardState hard_state;
    raft::Index applied;
    raft::Membership founding;
};

struct ReplicaPorts {
    DiskPort* disk = nullptr;
    Outbox* outbox = nullptr;
    ClientPort* clients = nullptr;
    HostPort* host = nullptr;
};

// One server's replica: owns the raft Node, the kv StateMachine and the log
// (RaftStorage); borrows its ports, which must outlive it.
class Replica {
public:
    Replica(ReplicaOptions options, ReplicaState initial, ReplicaPorts ports);
    Replica(const Replica&) = delete;
    Replica& operator=(const Replica&) = delete;

    // Starts serving: the only voter campaigns at once; a fresh joiner asks
    // to be added.
    void start(Now now);

    // ---- inputs ----
    // One client request (`args` may be moved from). Every request is
    // answered through ClientPort, now or later, unless its client goes.
    void on_request(ReplyTarget to, std::vector<std::string>& args, Now now);
    // The client is gone: its per-client state is dropped.
    void on_client_closed(std::uint64_t client);
    // A peer's message, as the transport received it from `from`.
    void on_peer_message(raft::NodeId from, std::string_view payload);
    // One raft tick (every tick_ms): timeouts, promotions, join retries.
    void tick(Now now);
    // The Ready hand-off (HostPort::post_pump asked for it).
    void pump(Now now);
    // HostPort::retry_persist_after's delay passed.
    void retry_persist(Now now);
    // The reply to the JoinRequest numbered `seq`, or why there was none.
    // Ignored unless `seq` is the request out now (a late reply to an
    // attempt already given up on tick).
    void on_join_reply(std::uint64_t seq, Result<resp::Reply> reply, Now now);

    // ---- shutdown ----
    // The server is stopping. With `hand_over`, a leader hands its
    // leadership to the most up-to-date voter first (is_idle waits at most
    // two election timeouts for it).
    void begin_shutdown(bool hand_over, Now now);
    // Nothing in flight: no pending write, persist, snapshot or hand-over.
    bool is_idle(Now now) const;
    // The disk failed for good: nothing more will be persisted.
    bool has_failed() const { return !fatal_error_.empty(); }
    // The server stops now: the writes still pending are answered -UNCERTAIN.
    void stop(Now now);

    // ---- introspection ----
    const raft::Node& node() const { return *node_; }
    const kv::StateMachine& state() const { return state_; }
    raft::Index applied() const { return applied_; }
    std::size_t pending_write_count() const { return pending_writes_.size(); }
    // The INFO text of `section` ("default", "all", "raft", ...).
    std::string info(std::string_view section) const;

private:
    // A write proposed here, waiting for its index to be applied.
    struct PendingWrite {
        raft::Term term;
        std::vector<std::string> args;
        ReplyTarget to;
        std::chrono::milliseconds deadline{0};
    };
    // A read waiting for its client's earlier writes, or for its ReadIndex.
    struct WaitingRead {
        std::vector<std::string> args;
        ReplyTarget to;
        std::chrono::milliseconds deadline{0};  // ReadIndex reads only
        // ReadIndex reads: the leader's clock when the read started, before
        // its heartbeat round; keys are expired as of it (docs/expiry.md).
        std::uint64_t time_ms = 0;
    };
    // What the replica keeps per client.
    struct ClientState {
        // The index of its last write proposed here.
        std::uint64_t last_write_index = 0;
        // READONLY was sent: kv reads run on this server even as a follower
        // (possibly stale), as Redis Cluster replicas do.
        bool readonly = false;
    };
    struct Stats {
        std::uint64_t commands_processed = 0;
        std::uint64_t writes_applied = 0;
        std::uint64_t write_batches_synced = 0;
        std::uint64_t writes_failed_disk_full = 0;
        std::uint64_t writes_uncertain = 0;
        std::uint64_t expiry_batches = 0;  // RAFTKV.EXPIRE proposed
        std::uint64_t redirects = 0;
        std::uint64_t snapshots_taken = 0;
        std::uint64_t snapshots_failed = 0;
        std::uint64_t snapshots_installed = 0;
        std::uint64_t elections_seen = 0;
        std::uint64_t peer_messages_bad = 0;
    };
    // A join in progress: asking until `give_up_at`.
    struct JoinAttempt {
        bool is_first = true;  // at start: giving up stops the server
        std::chrono::milliseconds give_up_at{0};
        std::optional<std::chrono::milliseconds> next_at;  // unset: a request is out
        // While a request is out: when it was sent; it counts as failed at
        // sent_at + kJoinRequestTimeout.
        std::chrono::milliseconds sent_at{0};
        std::string last_error;
    };

    // The Ready hand-offs (replica.cc).
    void schedule_pump();
    void on_persisted(raft::Ready rd, PersistResult result, Now now);
    // The completion of a Ready's job that only recorded the commit index.
    void on_commit_index_saved(PersistResult result, Now now);
    // A write or sync failed for good: fail what waits, and stop.
    void on_disk_failed(const Status& status, Now now);
    void finish_ready(raft::Ready& rd, Now now);
    void send_messages(std::vector<raft::Message>& messages);
    void apply(const raft::Entry& entry, Now now);
    void expire_pending_writes(Now now);
    void expire_reads(Now now);
    // Runs the reads that waited for a write no longer pending here (applied,
    // answered, or expired).
    void serve_unblocked_reads(Now now);
    // Answers -UNCERTAIN to the pending writes above `above` (all by default).
    void fail_pending_writes_uncertain(std::string_view why, Now now,
                                       raft::Index above = raft::Index(0));
    // Registers a client waiting for the entry at `index`; an older waiter
    // there (its entry overwritten, see the .cc) is answered -UNCERTAIN.
    void add_pending_write(raft::Index index, PendingWrite write);
    // Runs the reads waiting for an index <= ready_through, in index order.
    void serve_waiting_reads(std::uint64_t ready_through, Now now);
    // Answers a client that waits with an error, if it is still connected.
    void answer_error(ReplyTarget to, std::string_view error);
    void answer_simple(ReplyTarget to, std::string_view status);
    // Takes a snapshot when the log since the last one passed
    // snapshot_log_bytes, or now when `force`.
    void maybe_snapshot(bool force = false);
    void on_snapshot_saved(const raft::SnapshotMeta& meta, std::uint64_t log_bytes,
                           PersistResult result);

    // Commands (replica_commands.cc).
    bool has_pending_write(std::uint64_t client) const;
    // Runs one request now: a server command, a kv read, or a write proposed.
    // `info` is kv::find_client_command(name): null for internal commands,
    // which are refused.
    void execute(ReplyTarget to, std::string_view name, const kv::CommandInfo* info,
                 std::vector<std::string>& args, Now now);
    void propose(ReplyTarget to, std::vector<std::string>& args, Now now);
    void start_read(ReplyTarget to, std::vector<std::string>& args, Now now);
    // Writes -MOVED to the leader or -CLUSTERDOWN: the command was not run.
    void redirect(ReplyTarget to);
    // -MOVED to the leader, or -CLUSTERDOWN while none is known (without
    // the leading '-').
    std::string redirect_error() const;
    // The commands the replica answers itself (INFO, CLUSTER, RAFT,
    // READONLY, READWRITE). Returns false if `name` is not one of them.
    bool run_replica_command(ReplyTarget to, std::string_view name, std::vector<std::string>& args,
                             Now now);
    void cluster(const std::vector<std::string>& args, resp::ReplyWriter& out) const;
    // Returns true when the reply is deferred: RAFT REMOVENODE answers once
    // its configuration entry is applied (a pending write without a command).
    bool raft_command(ReplyTarget to, const std::vector<std::string>& args, resp::ReplyWriter& out,
                      Now now);
    void add_node(raft::NodeId id, const std::string& address, resp::ReplyWriter& out);

    // Membership, addresses, joining and hand-over (replica_membership.cc).
    void promote_caught_up_learners();
    std::optional<NodeAddress> address_of(raft::NodeId id) const;
    // Every member (voter or learner) whose address is known.
    std::vector<NodeAddress> member_addresses() const;
    void update_peers();
    void announce_addresses();
    // Proposes a command of the server's own (no client waits for it).
    // Without a time: a version 1 payload (the entry does not move the log
    // time).
    raft::Proposal propose_internal(std::vector<std::string> args,
                                    std::optional<std::uint64_t> time_ms = std::nullopt);
    // The leader's clock for stamping entries and reading (docs/expiry.md):
    // the wall clock, never below what it gave before or the log time.
    std::uint64_t clock_ms(Now now);
    // Active expiry: once the earliest deadline has passed by our clock,
    // propose one RAFTKV.EXPIRE batch at a time.
    void expire_keys(Now now);
    // Hands the leadership to `target` (RAFT TRANSFER-LEADER, a stop): first
    // an entry that carries our clock to it, and our clock stays there for
    // the rest of our term (docs/expiry.md).
    raft::Refusal hand_leadership_to(raft::NodeId target, Now now);
    // The time a leader read that arrived at `arrival_ms` runs at: not past
    // the stamp of any entry we proposed that is not applied yet (applied
    // after the read, such an entry must not bring back a key the read saw
    // expired), and not below the log time. docs/expiry.md.
    std::uint64_t read_time_ms(std::uint64_t arrival_ms) const;
    void start_join(bool is_first, Now now);
    void send_join_request(Now now);
    // A leader's log or a leader reached us: the join is done, whatever
    // became of our requests.
    bool has_joined() const;
    // A join attempt failed with `error`: try again shortly, or give up;
    // nothing if we have joined meanwhile.
    void join_attempt_failed(std::string error, Now now);
    void continue_join(Now now);
    void transfer_leadership_before_stop(Now now);

    const ReplicaOptions options_;
    const ReplicaPorts ports_;

    kv::StateMachine state_;
    std::unique_ptr<RaftStorage> storage_;
    std::unique_ptr<raft::Node> node_;
    bool pump_posted_ = false;
    bool update_peers_posted_ = false;
    bool is_fresh_ = false;  // no term and no log at start
    // Set while --join asks; join_retry_at_ once it was answered, until a
    // leader reaches us.
    std::optional<JoinAttempt> join_;
    std::optional<std::chrono::milliseconds> join_retry_at_;
    // The number of the last JoinRequest sent; only grows.
    std::uint64_t join_seq_ = 0;
    std::vector<NodeAddress> known_peers_;
    std::map<raft::NodeId, NodeAddress> join_addresses_;  // told by the leader at --join
    bool persisting_ = false;
    // A persist job that found the disk full, with its Ready, waiting for
    // retry_persist.
    std::optional<PersistJob> retry_job_;
    std::optional<raft::Ready> retry_ready_;
    // A snapshot from the leader is loaded into state_ but not yet durable:
    // no snapshot of ours may be taken from state_ meanwhile.
    bool installing_snapshot_ = false;
    raft::Role last_role_ = raft::Role::kFollower;

    raft::Index applied_;
    std::map<raft::Index, PendingWrite> pending_writes_;
    std::multimap<std::uint64_t, WaitingRead> waiting_reads_;       // by the index they wait for
    std::unordered_map<std::string, WaitingRead> reads_in_flight_;  // by ReadIndex context
    std::uint64_t next_read_id_ = 1;
    std::unordered_map<std::uint64_t, ClientState> clients_;

    std::uint64_t clock_ms_ = 0;
    // Set once we started a leadership transfer: clock_ms() stays here for
    // the rest of the term (frozen_term_).
    std::optional<std::uint64_t> frozen_clock_ms_;
    raft::Term frozen_term_;
    // The times stamped into entries we proposed, by index, until an entry
    // at that index is applied.
    std::map<raft::Index, std::uint64_t> stamps_in_flight_;
    // The RAFTKV.EXPIRE batch in flight: its index and term (0: none).
    raft::Index expiry_index_;
    raft::Term expiry_term_;

    raft::Index snapshot_index_;
    std::uint64_t log_bytes_since_snapshot_ = 0;
    bool is_snapshot_running_ = false;
    std::string last_write_error_;
    std::string disk_full_error_;  // set while the last persist found the disk full
    std::string fatal_error_;      // set once the disk fails for good

    bool is_shutting_down_ = false;
    std::chrono::milliseconds transfer_deadline_{0};
    Stats stats_;
};

}  // namespace raftkv::server
