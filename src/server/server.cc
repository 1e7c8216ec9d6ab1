// server.cc — the process around the replica: lifecycle, recovery wiring,
// sockets, signals, the timers that drive the replica, and its ports.
#include "server/server.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <random>
#include <thread>

#include "client/connection.h"
#include "raft/membership.h"
#include "raft/message_codec.h"
#include "server/raft_recovery.h"
#include "server/recovery.h"
#include "storage/files.h"

namespace raftkv::server {
namespace {

constexpr auto kShutdownGrace = std::chrono::seconds(10);
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
// Bounds the join request's connect and each of its reads and writes (the
// replica bounds the whole request: kJoinRequestTimeout).
constexpr auto kJoinIoTimeout = std::chrono::milliseconds(2000);

// Takes an exclusive lock on DATA_DIR/LOCK so that two servers never share
// one data directory. The lock dies with the process.
Result<int> lock_data_dir(const std::filesystem::path& dir) {
    const std::filesystem::path path = dir / "LOCK";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return errno_status(errno, fmt::format("open {}", path.string()));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        ::close(fd);
        if (err == EWOULDBLOCK) {
            return Status::errorf(Code::kInvalid,
                                  "data directory {} is in use by another raftkv server",
                                  dir.string());
        }
        return errno_status(err, fmt::format("lock {}", path.string()));
    }
    return fd;
}

}  // namespace

Server::Server(ServerConfig config, NodeAddress self)
    : config_(std::move(config)),
      self_(std::move(self)),
      started_at_(std::chrono::steady_clock::now()),
      acceptor_(io_),
      signals_(io_),
      timer_(io_),
      tick_timer_(io_),
      timer_retry_persist_(io_) {
    limits_.parser.bulk_bytes_max = config_.bulk_bytes_max;
    limits_.parser.request_bytes_max =
        std::max<std::size_t>(limits_.parser.request_bytes_max, config_.bulk_bytes_max);
}

Server::~Server() {
    close_join_channel();
    if (raft_disk_) raft_disk_->stop();
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<std::unique_ptr<Server>> Server::open(ServerConfig config) {
    Result<NodeAddress> self = validate(&config);
    if (!self) return self.error();
    std::unique_ptr<Server> server(new Server(std::move(config), std::move(*self)));
    if (!server->config_.join.empty()) {
        Result<JoinTarget> join = parse_join_target(server->config_.join);
        if (!join) return join.error();
        server->join_ = std::move(*join);
    }
    RAFTKV_RETURN_IF_ERROR(server->recover());
    RAFTKV_RETURN_IF_ERROR(server->bind());
    RAFTKV_RETURN_IF_ERROR(server->open_peers());
    server->disk_ = std::make_unique<Disk>(server->raft_disk_.get());
    server->outbox_ = std::make_unique<PeerOutbox>(server->peers_.get());
    NodeAddress self_bound = server->self_;
    self_bound.peer_port = server->peer_port();
    ReplicaOptions options{
        .self = std::move(self_bound),
        .cluster = server->config_.cluster,
        .join = server->join_,
        .election_ticks = server->config_.election_ticks,
        .tick_ms = server->config_.tick_ms,
        .snapshot_log_bytes = server->config_.snapshot_log_bytes,
        .seed = std::random_device{}(),
    };
    server->replica_ = std::make_unique<Replica>(std::move(options), std::move(*server->recovered_),
                                                 ReplicaPorts{.disk = server->disk_.get(),
                                                              .outbox = server->outbox_.get(),
                                                              .clients = server.get(),
                                                              .host = server.get()});
    server->recovered_.reset();
    spdlog::info("membership {}", raft::to_string(server->replica_->node().membership()));
    return server;
}

Status Server::recover() {
    std::error_code ec;
    for (const auto& dir :
         {config_.data_dir, wal_dir(config_.data_dir), snapshot_dir(config_.data_dir)}) {
        std::filesystem::create_directories(dir, ec);
        if (ec) {
            return Status::errorf(Code::kIoError, "cannot create data directory {}: {}",
                                  dir.string(), ec.message());
        }
    }
    Result<int> lock = lock_data_dir(config_.data_dir);
    if (!lock) return lock.error();
    lock_fd_ = *lock;

    auto recovered = recover_raft(config_.data_dir, config_.wal_segment_bytes);
    if (!recovered) return recovered.error();
    RaftStorage& storage = *recovered->storage;
    const raft::Index snapshot_index = storage.snapshot_meta().index;
    raft_disk_ = std::make_unique<RaftDisk>(
        io_.get_executor(),
        RaftDiskOptions{.data_dir = config_.data_dir, .snapshot_index = snapshot_index},
        std::move(recovered->wal));

    // A joining server founds nothing: it learns the configuration from the
    // leader's log or snapshot.
    raft::Membership founding;
    if (config_.join.empty()) {
        for (const NodeAddress& node : config_.cluster) founding.voters.insert(node.id);
    }
    // The founding configuration is recorded at the first start, so that a
    // later start with other --cluster flags cannot change the configuration
    // at index 0 under the cluster's feet (the log holds later ones).
    const std::filesystem::path founding_path = config_.data_dir / "founding";
    if (Result<std::string> bytes = storage::read_file(founding_path); bytes) {
        std::optional<raft::Membership> recorded = raft::decode_membership(*bytes);
        if (!recorded) {
            return Status::errorf(Code::kCorruption, "{}: not a valid membership record",
                                  founding_path.string());
        }
        if (*recorded != founding && config_.join.empty()) {
            spdlog::warn(
                "--cluster ({}) differs from the founding configuration recorded in "
                "{} ({}); the recorded one is used",
                raft::to_string(founding), founding_path.string(), raft::to_string(*recorded));
        }
        founding = std::move(*recorded);
    } else if (bytes.error().code() == Code::kNotFound) {
        RAFTKV_RETURN_IF_ERROR(
            storage::write_file_atomic(founding_path, raft::encode_membership(founding)));
    } else {
        return bytes.error();
    }
    if (snapshot_index > raft::Index(0) && storage.snapshot_meta().membership.voters.empty()) {
        // A snapshot written before membership was recorded (format 1): the
        // configuration then was the founding one.
        storage.adopt_membership(founding);
    }
    spdlog::info("recovered {} keys: snapshot at index {}, log to index {}, term {}, commit {}",
                 recovered->state.key_count(), snapshot_index.value, storage.last_index().value,
                 recovered->hard_state.term.value, recovered->hard_state.commit.value);
    recovered_ = ReplicaState{.state = std::move(recovered->state),
                              .storage = std::move(recovered->storage),
                              .hard_state = recovered->hard_state,
                              .applied = recovered->applied,
                              .founding = std::move(founding)};
    return Status::ok();
}
Status Server::bind() {
    asio::error_code ec;
    const asio::ip::address address = asio::ip::make_address(self_.host, ec);
    if (ec) {
        // A host name: resolve it once.
        asio::ip::tcp::resolver resolver(io_);
        auto results = resolver.resolve(self_.host, std::to_string(self_.port), ec);
        if (ec || results.empty()) {
            return Status::errorf(Code::kInvalid, "cannot resolve {}: {}", self_.host,
                                  ec.message());
        }
        return Status::error(Code::kInvalid, "give the server's address as an IP address");
    }
    const asio::ip::tcp::endpoint endpoint(address, self_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        return Status::errorf(Code::kIoError, "cannot listen on {}: {}", self_.client_address(),
                              ec.message());
    }
    return Status::ok();
}

std::uint16_t Server::port() const { return acceptor_.local_endpoint().port(); }

std::uint16_t Server::peer_port() const { return peers_ ? peers_->port() : 0; }

Status Server::open_peers() {
    net::PeerTransportOptions options;
    options.cluster_id = config_.cluster_id;
    options.self = self_.id;
    options.host = self_.host;
    options.port = self_.peer_port;
    for (const NodeAddress& node : config_.cluster) {
        if (node.id == self_.id) continue;
        options.peers.push_back(net::PeerAddress{node.id, node.host, node.peer_port});
    }
    auto peers = net::PeerTransport::open(io_, std::move(options),
                                          [this](raft::NodeId from, std::string_view payload) {
                                              replica_->on_peer_message(from, payload);
                                          });
    if (!peers) return peers.error();
    peers_ = std::move(*peers);
    return Status::ok();
}

Now Server::now() {
    return Now{
        .steady = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now().time_since_epoch()),
        .wall = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch()),
    };
}

Status Server::run() {
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    signals_.async_wait([this](const asio::error_code& ec, int) {
        if (!ec) on_signal();
    });
    spdlog::info("raftkv server {} serving clients on {}, peers on {}:{} (data in {})",
                 self_.id.value, self_.client_address(), self_.host, peer_port(),
                 config_.data_dir.string());
    replica_->start(now());
    schedule_tick();
    accept_next();
    io_.run();
    // The handlers stay installed until the process exits: a signal now (a
    // second Ctrl-C while the last jobs are written) is ignored rather than
    // killing the process before the WAL is closed. Nothing here waits on
    // anything unbounded: the join thread is detached (close_join_channel).
    close_join_channel();
    if (peers_) peers_->close();
    raft_disk_->stop();
    return exit_status_;
}

void Server::schedule_tick() {
    tick_timer_.expires_after(std::chrono::milliseconds(config_.tick_ms));
    tick_timer_.async_wait([this](const asio::error_code& ec) {
        if (ec) return;
        replica_->tick(now());
        schedule_tick();
    });
}

// ---- the replica's ports -----------------------------------------------------

void Server::Disk::persist(PersistJob job, Done done) {
    disk_->persist(std::move(job),
                   [done = std::move(done)](PersistResult r) { done(std::move(r), now()); });
}

void Server::Disk::save_snapshot(raft::SnapshotMeta meta, std::string image, Done done) {
    disk_->save_snapshot(std::move(meta), std::move(image),
                         [done = std::move(done)](PersistResult r) { done(std::move(r), now()); });
}

void Server::PeerOutbox::send(const raft::Message& m) {
    peers_->send(m.to, raft::encode_message(m));
}

void Server::PeerOutbox::set_peers(std::vector<NodeAddress> peers) {
    std::vector<net::PeerAddress> addresses;
    for (const NodeAddress& a : peers) {
        addresses.push_back(net::PeerAddress{a.id, a.host, a.peer_port});
    }
    peers_->set_peers(std::move(addresses));
}

net::ClientConnection* Server::connection(std::uint64_t client) const {
    auto it = connections_.find(client);
    if (it == connections_.end() || !it->second->is_open()) return nullptr;
    return it->second.get();
}

bool Server::is_connected(std::uint64_t client) const { return connection(client) != nullptr; }

std::string* Server::reply_buffer(ReplyTarget to) {
    net::ClientConnection* conn = connection(to.client);
    return conn != nullptr ? conn->reply_buffer(to.slot) : nullptr;
}

void Server::finish(ReplyTarget to) {
    if (net::ClientConnection* conn = connection(to.client)) conn->finish(to.slot);
}

void Server::pause_requests(std::uint64_t client) {
    if (net::ClientConnection* conn = connection(client)) conn->pause_requests();
}

void Server::resume_requests(std::uint64_t client) {
    if (net::ClientConnection* conn = connection(client)) conn->resume_requests();
}

void Server::post_pump() {
    asio::post(io_, [this] { replica_->pump(now()); });
}

void Server::retry_persist_after(std::chrono::milliseconds delay) {
    timer_retry_persist_.expires_after(delay);
    timer_retry_persist_.async_wait([this](const asio::error_code& ec) {
        if (!ec) replica_->retry_persist(now());
    });
}

// A request may take long: name resolution is unbounded, and each of up to
// six hops (-MOVED) has its connect, write and read timeouts. Neither the
// loop nor the shutdown waits for it: the thread is detached, and the
// replica gives up on a request after kJoinRequestTimeout (a later request
// may then run beside it; its late reply is ignored by sequence number).
//
// Lifetime rule: the thread owns its copy of the request and shares the
// channel; it touches io_ (and, through the posted handler, this) only under
// the channel's mutex while the channel is open. The server closes the
// channel under that mutex once its loop ended, before io_ and the replica
// are destroyed, so a posted handler either runs on the loop or is dropped
// with io_, and a thread still running afterwards touches nothing of ours.
void Server::send_join_request(JoinRequest request) {
    std::thread([this, channel = join_channel_, request = std::move(request)] {
        Result<resp::Reply> reply = [&]() -> Result<resp::Reply> {
            auto conn = client::Connection::connect(request.host, request.port, kJoinIoTimeout);
            if (!conn) return conn.error();
            // The client follows -MOVED to the leader.
            return conn->call(request.args);
        }();
        const std::lock_guard lock(channel->mutex);
        if (channel->closed) return;
        asio::post(io_, [this, seq = request.seq, reply = std::move(reply)]() mutable {
            replica_->on_join_reply(seq, std::move(reply), now());
        });
    }).detach();
}

void Server::close_join_channel() {
    const std::lock_guard lock(join_channel_->mutex);
    join_channel_->closed = true;
}

void Server::stop(Status why) { begin_shutdown(std::move(why)); }

HostInfo Server::host_info() const {
    return HostInfo{
        .process_id = ::getpid(),
        .uptime_seconds = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::steady_clock::now() - started_at_)
                              .count(),
        .connected_clients = connections_.size(),
        .clients_max = config_.clients_max,
        .data_dir = config_.data_dir.string(),
        .connections_received = connections_received_,
        .connections_rejected = connections_rejected_,
    };
}

// ---- clients ------------------------------------------------------------------

void Server::accept_next() {
    acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
        if (is_shutting_down_) return;
        if (ec) {
            // EMFILE and friends: wait a little rather than spin.
            spdlog::warn("accept on {}: {}", self_.client_address(), ec.message());
            timer_.expires_after(kAcceptRetryDelay);
            timer_.async_wait([this](const asio::error_code&) {
                if (!is_shutting_down_) accept_next();
            });
            return;
        }
        ++connections_received_;
        if (connections_.size() >= config_.clients_max) {
            // As Redis: one error reply, then close.
            ++connections_rejected_;
            asio::error_code ignored;
            asio::write(socket,
                        asio::buffer(std::string_view("-ERR max number of clients reached\r\n")),
                        ignored);
            socket.close(ignored);
        } else {
            auto conn = std::make_shared<net::ClientConnection>(std::move(socket),
                                                                next_client_id_++, this, limits_);
            connections_.emplace(conn->id(), conn);
            conn->start();
        }
        accept_next();
    });
}

void Server::on_close(net::ClientConnection& conn) {
    // Called from inside conn; erase after the current handler returns.
    asio::post(io_, [this, id = conn.id()] {
        connections_.erase(id);
        replica_->on_client_closed(id);
        if (is_shutting_down_) check_shutdown_done();
    });
}

void Server::on_request(net::ClientConnection& conn, std::uint64_t slot,
                        std::vector<std::string>& args) {
    replica_->on_request(ReplyTarget{.client = conn.id(), .slot = slot}, args, now());
}

// ---- shutdown -----------------------------------------------------------------

void Server::on_signal() {
    if (is_shutting_down_) {
        // A second Ctrl-C: stop now. Writes not yet committed were not
        // acknowledged; their clients see the connection close.
        spdlog::warn("second signal: stopping without waiting for writes in flight");
        exit_status_ = Status::error(Code::kIoError, "interrupted while stopping");
        io_.stop();
        return;
    }
    spdlog::info(
        "signal received: finishing in-flight writes, then stopping "
        "(signal again to stop at once)");
    begin_shutdown(Status::ok());
    signals_.async_wait([this](const asio::error_code& ec, int) {
        if (!ec) on_signal();
    });
}

void Server::begin_shutdown(Status exit_status) {
    if (is_shutting_down_) {
        // A failure during a shutdown already under way (the disk failed
        // after SIGTERM) must still make the exit status: it used to exit 0.
        if (!exit_status.is_ok() && exit_status_.is_ok()) exit_status_ = std::move(exit_status);
        return;
    }
    is_shutting_down_ = true;
    exit_status_ = std::move(exit_status);
    shutdown_deadline_ = std::chrono::steady_clock::now() + kShutdownGrace;
    asio::error_code ignored;
    acceptor_.close(ignored);
    std::vector<std::shared_ptr<net::ClientConnection>> conns;
    for (auto& [id, conn] : connections_) conns.push_back(conn);
    for (auto& conn : conns) conn->close_after_replies();
    replica_->begin_shutdown(/*hand_over=*/exit_status_.is_ok(), now());
    check_shutdown_done();
}

void Server::check_shutdown_done() {
    const bool is_idle = replica_->is_idle(now());
    const bool is_late = std::chrono::steady_clock::now() >= shutdown_deadline_;
    if ((is_idle && connections_.empty()) || is_late || replica_->has_failed()) {
        replica_->stop(now());
        for (auto& [id, conn] : std::unordered_map(connections_)) conn->close();
        timer_.cancel();
        tick_timer_.cancel();
        timer_retry_persist_.cancel();
        asio::error_code ignored;
        signals_.cancel(ignored);
        io_.stop();
        return;
    }
    // Re-check as writes drain and clients go.
    timer_.expires_after(std::chrono::milliseconds(20));
    timer_.async_wait([this](const asio::error_code& ec) {
        if (!ec) check_shutdown_done();
    });
}

}  // namespace raftkv::server
