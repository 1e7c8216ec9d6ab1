// server.h — one raftkv server: accepts clients, runs their commands against
// the state machine, and replicates every write with Raft before it is
// answered.
//
// The write path (docs/architecture.md):
//   1. on the leader, a write command is checked and proposed to the raft
//      core (src/raft/node.h), which appends it to its log and sends it to
//      the followers while the leader's own disk write runs (RaftDisk);
//   2. once a majority persisted it, the entry is committed; every server
//      applies committed entries in log order, and the leader answers the
//      client from the result;
// so a reply never reveals a write that a crash of a minority could lose.
// Reads are linearizable by ReadIndex (§6.4): a heartbeat round confirms the
// leadership, then the read runs on the applied state. A read waits for the
// earlier writes of its own connection, so a pipeline sees its own writes.
// A follower answers kv commands with -MOVED to the leader, or -CLUSTERDOWN
// when none is known.
//
// Start-up: the newest snapshot, then the raft core re-applies the committed
// entries after it and catches up from the leader. A snapshot is taken when
// the log written since the last one passes --snapshot-log-bytes.
//
// Not thread-safe: everything runs on the event loop thread except the
// RaftDisk's own thread.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "kv/commands.h"
#include "kv/state_machine.h"
#include "net/client_connection.h"
#include "net/peer_transport.h"
#include "raft/node.h"
#include "raft/types.h"
#include "resp/reply_writer.h"
#include "server/config.h"
#include "server/raft_disk.h"
#include "server/raft_storage.h"

namespace raftkv::server {

// A write whose leader lost its place is answered -UNCERTAIN if its index is
// not decided within this time (the new leader may still commit it).
inline constexpr auto kWriteDecisionTimeout = std::chrono::seconds(10);

// Command names are case-insensitive: "SET", "set" and "Set" are one command.
std::string ascii_lower(std::string_view s);

class Server : public net::RequestHandler {
public:
    // Locks the data directory, recovers the state and binds the client and
    // peer ports. Errors name the file or address at fault.
    static Result<std::unique_ptr<Server>> open(ServerConfig config);
    ~Server() override;

    // Serves until SIGINT/SIGTERM (then finishes in-flight writes, syncs and
    // returns ok) or until the disk fails (returns the error).
    Status run();

    // The ports actually bound (useful with port 0 in tests).
    std::uint16_t port() const;
    std::uint16_t peer_port() const;

    void on_request(net::ClientConnection& conn, std::uint64_t slot,
                    std::vector<std::string>& args) override;
    void on_close(net::ClientConnection& conn) override;

private:
    // A write proposed here, waiting for its index to be applied.
    struct PendingWrite {
        raft::Term term;
        std::vector<std::string> args;
        std::weak_ptr<net::ClientConnection> conn;
        std::uint64_t slot = 0;
        std::chrono::steady_clock::time_point deadline;
    };
    // A read waiting for its connection's earlier writes, or for its ReadIndex.
    struct WaitingRead {
        std::vector<std::string> args;
        std::weak_ptr<net::ClientConnection> conn;
        std::uint64_t slot = 0;
        std::chrono::steady_clock::time_point deadline;  // ReadIndex reads only
    };
    struct Stats {
        std::uint64_t connections_received = 0;
        std::uint64_t connections_rejected = 0;
        std::uint64_t commands_processed = 0;
        std::uint64_t writes_applied = 0;
        std::uint64_t write_batches_synced = 0;
        std::uint64_t writes_failed_disk_full = 0;
        std::uint64_t writes_uncertain = 0;
        std::uint64_t redirects = 0;
        std::uint64_t snapshots_taken = 0;
        std::uint64_t snapshots_failed = 0;
        std::uint64_t snapshots_installed = 0;
        std::uint64_t elections_seen = 0;
        std::uint64_t peer_messages_bad = 0;
    };

    Server(ServerConfig config, NodeAddress self);
    Status recover();
    Status bind();
    Status open_peers();

    void accept_next();
    void on_signal();
    void begin_shutdown(Status exit_status);
    void check_shutdown_done();
    void transfer_leadership_before_stop();

    // The raft loop.
    void schedule_tick();
    void on_tick();
    void promote_caught_up_learners();
    void on_peer_message(raft::NodeId from, std::string_view payload);
    void schedule_pump();
    void pump();
    void on_persisted(raft::Ready rd, PersistResult result);
    // The completion of a Ready's job that only recorded the commit index.
    void on_commit_index_saved(PersistResult result);
    // A write or sync failed for good: fail what waits, and stop.
    void on_disk_failed(const Status& status);
    void finish_ready(raft::Ready& rd);
    void send_messages(std::vector<raft::Message>& messages);
    void apply(const raft::Entry& entry);
    void expire_pending_writes();
    void expire_reads();
    // Runs the reads that waited for a write no longer pending here (applied,
    // answered, or expired).
    void serve_unblocked_reads();
    // Answers -UNCERTAIN to the pending writes above `above` (all by default).
    void fail_pending_writes_uncertain(std::string_view why, raft::Index above = raft::Index(0));
    // Registers a client waiting for the entry at `index`; an older waiter
    // there (its entry overwritten, see the .cc) is answered -UNCERTAIN.
    void add_pending_write(raft::Index index, PendingWrite write);

    bool has_pending_write(const net::ClientConnection& conn) const;
    // Runs one request now: a server command, a kv read, or a write proposed.
    void execute(net::ClientConnection& conn, std::uint64_t slot, std::string_view name,
                 const kv::CommandInfo* info, std::vector<std::string>& args);
    void propose(net::ClientConnection& conn, std::uint64_t slot, std::vector<std::string>& args);
    void start_read(net::ClientConnection& conn, std::uint64_t slot,
                    std::vector<std::string>& args);
    // Writes -MOVED to the leader or -CLUSTERDOWN: the command was not run.
    void redirect(net::ClientConnection& conn, std::uint64_t slot);
    std::optional<NodeAddress> address_of(raft::NodeId id) const;
    // Every member (voter or learner) whose address is known.
    std::vector<NodeAddress> member_addresses() const;
    void update_peers();
    void announce_addresses();
    // Proposes a command of the server's own (no client waits for it).
    raft::Proposal propose_internal(std::vector<std::string> args);
    // --join: asks the cluster at config_.join to add this server, retrying
    // for `patience`. Blocks: at start, or from a tick while nothing reached
    // this server yet (it serves nothing then).
    Status join_cluster(std::chrono::seconds patience);
    // Runs the reads waiting for an index <= ready_through, in index order.
    void serve_waiting_reads(std::uint64_t ready_through);
    // Takes a snapshot when the log since the last one passed
    // --snapshot-log-bytes, or now when `force`.
    void maybe_snapshot(bool force = false);
    void on_snapshot_saved(const raft::SnapshotMeta& meta, std::uint64_t log_bytes,
                           PersistResult result);

    // Commands the server answers itself (server_commands.cc). Returns false
    // if `name` is not one of them.
    bool run_server_command(net::ClientConnection& conn, std::uint64_t slot, std::string_view name,
                            std::vector<std::string>& args);
    std::string info(std::string_view section) const;
    void cluster(const std::vector<std::string>& args, resp::ReplyWriter& out) const;
    // Returns true when the reply is deferred: RAFT REMOVENODE answers once
    // its configuration entry is applied (a pending write without a command).
    bool raft_command(net::ClientConnection& conn, std::uint64_t slot,
                      const std::vector<std::string>& args, resp::ReplyWriter& out);
    void add_node(raft::NodeId id, const std::string& address, resp::ReplyWriter& out);
    // -MOVED to the leader, or -CLUSTERDOWN while none is known (without
    // the leading '-').
    std::string redirect_error() const;

    ServerConfig config_;
    NodeAddress self_;
    std::chrono::steady_clock::time_point started_at_;
    int lock_fd_ = -1;

    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    asio::signal_set signals_;
    asio::steady_timer timer_;
    asio::steady_timer tick_timer_;
    asio::steady_timer timer_retry_persist_;
    net::ConnectionLimits limits_;

    kv::StateMachine state_;
    std::unique_ptr<RaftStorage> storage_;
    std::unique_ptr<RaftDisk> disk_;
    std::unique_ptr<raft::Node> node_;
    std::unique_ptr<net::PeerTransport> peers_;
    bool pump_posted_ = false;
    bool update_peers_posted_ = false;
    bool is_fresh_ = false;  // no term and no log at start
    std::optional<std::chrono::steady_clock::time_point> join_retry_at_;
    std::vector<net::PeerAddress> known_peers_;
    std::map<raft::NodeId, NodeAddress> join_addresses_;  // told by the leader at --join
    bool persisting_ = false;
    // A snapshot from the leader is loaded into state_ but not yet durable:
    // no snapshot of ours may be taken from state_ meanwhile.
    bool installing_snapshot_ = false;
    raft::Role last_role_ = raft::Role::kFollower;

    raft::Index applied_;
    std::map<raft::Index, PendingWrite> pending_writes_;
    std::multimap<std::uint64_t, WaitingRead> waiting_reads_;       // by the index they wait for
    std::unordered_map<std::string, WaitingRead> reads_in_flight_;  // by ReadIndex context
    std::uint64_t next_read_id_ = 1;

    raft::Index snapshot_index_;
    std::uint64_t log_bytes_since_snapshot_ = 0;
    bool is_snapshot_running_ = false;
    std::string last_write_error_;
    std::string disk_full_error_;  // set while the last persist found the disk full
    std::string fatal_error_;      // set once the disk fails for good

    std::uint64_t next_client_id_ = 1;
    std::unordered_map<std::uint64_t, std::shared_ptr<net::ClientConnection>> connections_;

    bool is_shutting_down_ = false;
    std::chrono::steady_clock::time_point shutdown_deadline_;
    std::chrono::steady_clock::time_point transfer_deadline_;
    Status exit_status_;
    Stats stats_;
};

}  // namespace raftkv::server
