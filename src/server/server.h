// server.h — one raftkv server process: the sockets, threads, signals and
// timers that drive its Replica (replica.h) with real time, disk and network.
//
// The Replica makes every decision (what to propose, persist, apply and
// answer; snapshots; membership; joining; the hand-over at shutdown). The
// Server gives it its ports: the disk thread (RaftDisk), the peer transport,
// the client connections (a ReplyTarget's client is a connection id), and
// the loop (post_pump, timers, the join request carried out off the loop);
// and it answers the connection commands itself (server_commands.cc).
//
// Start-up: the data directory is locked and recovered (raft_recovery.h),
// the ports are bound, then run() starts the replica and serves until
// SIGINT/SIGTERM or a failed disk.
//
// Not thread-safe: everything runs on the event loop thread except the
// RaftDisk's own thread and the join requests' detached threads (each talks
// to the server only through a JoinChannel; see send_join_request).
#pragma once

#include <asio.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "net/client_connection.h"
#include "net/peer_transport.h"
#include "server/config.h"
#include "server/raft_disk.h"
#include "server/replica.h"
#include "server/replica_ports.h"

namespace raftkv::server {

class Server : public net::RequestHandler, private ClientPort, private HostPort {
public:
    // Locks the data directory, recovers the state and binds the client and
    // peer ports. Errors name the file or address at fault.
    static Result<std::unique_ptr<Server>> open(ServerConfig config);
    ~Server() override;

    // Serves until SIGINT/SIGTERM (then finishes in-flight writes, syncs and
    // returns ok), until the disk fails or a --join fails (returns the error).
    Status run();

    // The ports actually bound (useful with port 0 in tests).
    std::uint16_t port() const;
    std::uint16_t peer_port() const;

    void on_request(net::ClientConnection& conn, std::uint64_t slot,
                    std::vector<std::string>& args) override;
    void on_close(net::ClientConnection& conn) override;

private:
    // The disk port over RaftDisk: completions carry the time they ran.
    class Disk final : public DiskPort {
    public:
        explicit Disk(RaftDisk* disk) : disk_(disk) {}
        void persist(PersistJob job, Done done) override;
        void save_snapshot(raft::SnapshotMeta meta, std::string image, Done done) override;
        std::uint64_t bytes_on_disk() const override { return disk_->bytes_on_disk(); }

    private:
        RaftDisk* disk_;
    };
    // The outbox over the peer transport.
    class PeerOutbox final : public Outbox {
    public:
        explicit PeerOutbox(net::PeerTransport* peers) : peers_(peers) {}
        void send(const raft::Message& m) override;
        void set_peers(std::vector<NodeAddress> peers) override;

    private:
        net::PeerTransport* peers_;
    };

    // What a join request's thread shares with the server: the thread may
    // outlive the server's loop (a request can take long, see
    // send_join_request), so it posts its reply only under `mutex` while
    // `closed` is false, and the server sets `closed` (close_join_channel)
    // before its loop and io_context go. Owned jointly by the server and
    // every join thread.
    struct JoinChannel {
        std::mutex mutex;
        bool closed = false;  // guarded by mutex; only goes from false to true
    };

    Server(ServerConfig config, NodeAddress self);
    Status recover();
    Status bind();
    Status open_peers();
    static Now now();

    void accept_next();
    void on_signal();
    // Starts the shutdown; once one is under way, only records a failure as
    // the exit status (if none was recorded yet).
    void begin_shutdown(Status exit_status);
    // No join thread posts to the loop from now on. Idempotent.
    void close_join_channel();
    void schedule_tick();

    // ClientPort.
    bool is_connected(std::uint64_t client) const override;
    std::string* reply_buffer(ReplyTarget to) override;
    void finish(ReplyTarget to) override;
    void pause_requests(std::uint64_t client) override;
    void resume_requests(std::uint64_t client) override;
    bool run_connection_command(ReplyTarget to, std::string_view name,
                                std::vector<std::string>& args) override;
    // HostPort.
    void post_pump() override;
    void retry_persist_after(std::chrono::milliseconds delay) override;
    // Runs the request on a detached thread (client::Connection follows
    // -MOVED), then hands the reply to the replica on the loop, unless the
    // loop is gone by then (the reply is dropped).
    void send_join_request(JoinRequest request) override;
    void stop(Status why) override;
    void check_shutdown_done() override;
    HostInfo host_info() const override;

    net::ClientConnection* connection(std::uint64_t client) const;

    ServerConfig config_;
    NodeAddress self_;
    std::optional<JoinTarget> join_;
    std::chrono::steady_clock::time_point started_at_;
    int lock_fd_ = -1;

    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    asio::signal_set signals_;
    asio::steady_timer timer_;
    asio::steady_timer tick_timer_;
    asio::steady_timer timer_retry_persist_;
    net::ConnectionLimits limits_;

    // Recovered by recover(), handed to the replica once the ports are bound.
    std::optional<ReplicaState> recovered_;
    std::unique_ptr<RaftDisk> raft_disk_;
    std::unique_ptr<net::PeerTransport> peers_;
    std::unique_ptr<Disk> disk_;
    std::unique_ptr<PeerOutbox> outbox_;
    std::unique_ptr<Replica> replica_;
    std::shared_ptr<JoinChannel> join_channel_ = std::make_shared<JoinChannel>();

    std::uint64_t next_client_id_ = 1;
    std::unordered_map<std::uint64_t, std::shared_ptr<net::ClientConnection>> connections_;
    std::uint64_t connections_received_ = 0;
    std::uint64_t connections_rejected_ = 0;

    bool is_shutting_down_ = false;
    std::chrono::steady_clock::time_point shutdown_deadline_;
    Status exit_status_;
};

}  // namespace raftkv::server
