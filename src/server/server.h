// server.h — one raftkv server: accepts clients, runs their commands against
// the state machine, and makes every write durable before it is answered.
//
// The write path (single-node; Step 3 puts Raft between steps 1 and 2):
//   1. a write command is checked, given the next log index and handed to
//      the LogSyncer (group commit);
//   2. once its entry is fsynced, it is applied to the state machine in log
//      order and its reply is sent;
// so a reply never reveals a write that a crash could lose. Reads run on the
// applied state at once, except that a read waits for the earlier writes of
// its own connection, so a pipeline sees its own writes.
//
// Start-up (recovery): the newest snapshot, then the log entries after it.
// A snapshot is taken when the log written since the last one passes
// --snapshot-log-bytes; once it is durable the log below it is dropped.
//
// Not thread-safe: everything runs on the event loop thread except the
// LogSyncer's and the snapshot writer's own threads.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "kv/commands.h"
#include "kv/state_machine.h"
#include "net/client_connection.h"
#include "raft/types.h"
#include "server/config.h"
#include "server/log_syncer.h"

namespace raftkv::server {

// Command names are case-insensitive: "SET", "set" and "Set" are one command.
std::string ascii_lower(std::string_view s);

class Server : public net::RequestHandler {
public:
    // Locks the data directory, recovers the state and binds the client
    // port. Errors name the file or address at fault.
    static Result<std::unique_ptr<Server>> open(ServerConfig config);
    ~Server() override;

    // Serves until SIGINT/SIGTERM (then finishes in-flight writes, syncs and
    // returns ok) or until the log fails (returns the error).
    Status run();

    // The port actually bound (useful with port 0 in tests).
    std::uint16_t port() const;

    void on_request(net::ClientConnection& conn, std::uint64_t slot,
                    std::vector<std::string>& args) override;
    void on_close(net::ClientConnection& conn) override;

private:
    struct Proposal {
        raft::Index index;
        std::vector<std::string> args;
        std::weak_ptr<net::ClientConnection> conn;
        std::uint64_t slot = 0;
    };
    struct WaitingRead {
        std::vector<std::string> args;
        std::weak_ptr<net::ClientConnection> conn;
        std::uint64_t slot = 0;
    };
    struct Stats {
        std::uint64_t connections_received = 0;
        std::uint64_t connections_rejected = 0;
        std::uint64_t commands_processed = 0;
        std::uint64_t writes_applied = 0;
        std::uint64_t write_batches_synced = 0;
        std::uint64_t writes_failed_disk_full = 0;
        std::uint64_t snapshots_taken = 0;
        std::uint64_t snapshots_failed = 0;
    };

    Server(ServerConfig config, NodeAddress self);
    Status recover();
    Status bind();

    void accept_next();
    void on_signal();
    void begin_shutdown(Status exit_status);
    void check_shutdown_done();

    bool has_pending_write(const net::ClientConnection& conn) const;
    // Runs one request now: a server command, a kv read, or a write proposed.
    void execute(net::ClientConnection& conn, std::uint64_t slot, std::string_view name,
                 const kv::CommandInfo* info, std::vector<std::string>& args);
    void propose(net::ClientConnection& conn, std::uint64_t slot, std::vector<std::string>& args);
    void on_synced(raft::Index last);
    void on_failed(raft::Index first, const Status& status, bool is_fatal);
    void on_compacted(raft::Index index, const Status& status);
    // Runs the reads waiting for an index <= ready_through, in index order.
    void serve_waiting_reads(std::uint64_t ready_through);
    void maybe_snapshot();
    void on_snapshot_saved(raft::Index index, std::uint64_t log_bytes, const Status& status);

    // Commands the server answers itself (server_commands.cc). Returns false
    // if `name` is not one of them.
    bool run_server_command(net::ClientConnection& conn, std::uint64_t slot, std::string_view name,
                            std::vector<std::string>& args);
    std::string info(std::string_view section) const;

    ServerConfig config_;
    NodeAddress self_;
    std::chrono::steady_clock::time_point started_at_;
    int lock_fd_ = -1;

    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    asio::signal_set signals_;
    asio::steady_timer timer_;
    net::ConnectionLimits limits_;

    kv::StateMachine state_;
    std::unique_ptr<storage::Wal> recovered_wal_;  // handed to syncer_ by run()
    std::unique_ptr<LogSyncer> syncer_;
    raft::Term term_{1};
    // Invariant: applied_ < next_index_; every index in (applied_, next_index_)
    // is in proposals_, in order.
    raft::Index applied_;
    raft::Index next_index_{1};
    std::deque<Proposal> proposals_;
    std::multimap<std::uint64_t, WaitingRead> waiting_reads_;  // by the index they wait for

    raft::Index snapshot_index_;
    std::uint64_t log_bytes_since_snapshot_ = 0;
    bool is_snapshot_running_ = false;
    std::thread snapshot_thread_;
    std::string last_write_error_;
    std::string fatal_error_;  // set once the log fails for good

    std::uint64_t next_client_id_ = 1;
    std::unordered_map<std::uint64_t, std::shared_ptr<net::ClientConnection>> connections_;

    bool is_shutting_down_ = false;
    std::chrono::steady_clock::time_point shutdown_deadline_;
    Status exit_status_;
    Stats stats_;
};

}  // namespace raftkv::server
