// server.cc — lifecycle, recovery, and the write and read paths.
#include "server/server.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>

#include "kv/command_codec.h"
#include "kv/commands.h"
#include "resp/reply_writer.h"
#include "server/recovery.h"
#include "storage/files.h"
#include "storage/snapshot_file.h"
#include "storage/wal.h"

namespace raftkv::server {
namespace {

constexpr auto kShutdownGrace = std::chrono::seconds(10);
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

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
      timer_(io_) {
    limits_.parser.bulk_bytes_max = config_.bulk_bytes_max;
    limits_.parser.request_bytes_max =
        std::max<std::size_t>(limits_.parser.request_bytes_max, config_.bulk_bytes_max);
}

Server::~Server() {
    if (syncer_) syncer_->stop();
    if (snapshot_thread_.joinable()) snapshot_thread_.join();
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<std::unique_ptr<Server>> Server::open(ServerConfig config) {
    Result<NodeAddress> self = validate(&config);
    if (!self) return self.error();
    std::unique_ptr<Server> server(new Server(std::move(config), std::move(*self)));
    RAFTKV_RETURN_IF_ERROR(server->recover());
    RAFTKV_RETURN_IF_ERROR(server->bind());
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

    auto recovered = recover_state(config_.data_dir, config_.wal_segment_bytes);
    if (!recovered) return recovered.error();
    state_ = std::move(recovered->state);
    snapshot_index_ = recovered->snapshot_index;
    applied_ = recovered->applied;
    next_index_ = applied_.next();
    term_ = std::max(term_, recovered->term);
    log_bytes_since_snapshot_ = recovered->log_bytes_since_snapshot;
    spdlog::info("recovered {} keys: snapshot at index {}, {} log entries replayed, last index {}",
                 state_.key_count(), snapshot_index_.value, recovered->entries_replayed,
                 applied_.value);
    recovered_wal_ = std::move(recovered->wal);
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

Status Server::run() {
    syncer_ = std::make_unique<LogSyncer>(
        io_.get_executor(), std::move(recovered_wal_),
        LogSyncer::Callbacks{
            .on_synced = [this](raft::Index last) { on_synced(last); },
            .on_failed = [this](raft::Index first, const Status& s,
                                bool is_fatal) { on_failed(first, s, is_fatal); },
            .on_compacted = [this](raft::Index index, const Status& s) { on_compacted(index, s); },
        });
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    signals_.async_wait([this](const asio::error_code& ec, int) {
        if (!ec) on_signal();
    });
    spdlog::info("raftkv server {} serving on {} (data in {})", self_.id.value,
                 self_.client_address(), config_.data_dir.string());
    accept_next();
    io_.run();
    syncer_->stop();
    if (snapshot_thread_.joinable()) snapshot_thread_.join();
    return exit_status_;
}

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
        ++stats_.connections_received;
        if (connections_.size() >= config_.clients_max) {
            // As Redis: one error reply, then close.
            ++stats_.connections_rejected;
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
        if (is_shutting_down_) check_shutdown_done();
    });
}

void Server::on_request(net::ClientConnection& conn, std::uint64_t slot,
                        std::vector<std::string>& args) {
    ++stats_.commands_processed;
    const std::string name = ascii_lower(args[0]);
    const kv::CommandInfo* info = kv::find_command(name);
    const bool is_write = info != nullptr && info->cls == kv::CommandClass::kWrite;
    // Anything but a write waits for this connection's own earlier writes
    // while they are in flight, so that a pipeline sees what it wrote (a GET
    // or an INFO after a SET). Writes go on: they are applied in order.
    // The connection parses nothing more until the waiting request ran, so
    // at most one is held per connection and its later replies cannot pile
    // up unbounded (net/client_connection.h, flow control).
    if (!is_write && has_pending_write(conn)) {
        waiting_reads_.emplace(conn.last_write_index,
                               WaitingRead{std::move(args), conn.weak_from_this(), slot});
        conn.pause_requests();
        return;
    }
    execute(conn, slot, name, info, args);
}

bool Server::has_pending_write(const net::ClientConnection& conn) const {
    // An index at or above next_index_ belonged to a write that failed and
    // was dropped; nothing of this connection is pending then.
    return conn.last_write_index > applied_.value && conn.last_write_index < next_index_.value;
}

void Server::execute(net::ClientConnection& conn, std::uint64_t slot, std::string_view name,
                     const kv::CommandInfo* info, std::vector<std::string>& args) {
    if (run_server_command(conn, slot, name, args)) return;
    resp::ReplyWriter out(conn.reply_buffer(slot));
    if (info == nullptr) {
        std::string message = fmt::format("ERR unknown command '{}', with args beginning with: ",
                                          std::string_view(args[0]).substr(0, 128));
        for (std::size_t i = 1; i < args.size() && message.size() < 1024; ++i) {
            message += fmt::format("'{}' ", std::string_view(args[i]).substr(0, 128));
        }
        out.error(message);
        conn.finish(slot);
        return;
    }
    if (!kv::check(*info, args, out)) {
        conn.finish(slot);
        return;
    }
    if (info->cls == kv::CommandClass::kWrite) {
        propose(conn, slot, args);
        return;
    }
    state_.read(args, out);
    conn.finish(slot);
}

void Server::propose(net::ClientConnection& conn, std::uint64_t slot,
                     std::vector<std::string>& args) {
    if (!fatal_error_.empty()) {
        resp::ReplyWriter(conn.reply_buffer(slot))
            .error("ERR write not applied: the log has failed: " + fatal_error_);
        conn.finish(slot);
        return;
    }
    std::string payload = kv::encode_command(args);
    if (payload.size() > storage::kWalPayloadBytesMax) {
        resp::ReplyWriter(conn.reply_buffer(slot))
            .error(fmt::format("ERR command too large: {} bytes, at most {} per write",
                               payload.size(), storage::kWalPayloadBytesMax));
        conn.finish(slot);
        return;
    }
    const raft::Index index = next_index_;
    next_index_ = next_index_.next();
    raft::Entry entry{.term = term_,
                      .index = index,
                      .type = raft::EntryType::kCommand,
                      .data = std::move(payload)};
    log_bytes_since_snapshot_ += entry_log_bytes(entry);
    syncer_->append(std::move(entry));
    conn.last_write_index = index.value;
    proposals_.push_back(Proposal{index, std::move(args), conn.weak_from_this(), slot});
}

void Server::on_synced(raft::Index last) {
    ++stats_.write_batches_synced;
    std::string scratch;
    while (!proposals_.empty() && proposals_.front().index <= last) {
        Proposal& p = proposals_.front();
        RAFTKV_ASSERT(p.index == applied_.next(), "applying {} after {}", p.index.value,
                      applied_.value);
        std::shared_ptr<net::ClientConnection> conn = p.conn.lock();
        if (conn && conn->is_open()) {
            resp::ReplyWriter out(conn->reply_buffer(p.slot));
            state_.apply(p.args, out);
            conn->finish(p.slot);
        } else {
            scratch.clear();
            resp::ReplyWriter out(&scratch);
            state_.apply(p.args, out);
        }
        applied_ = p.index;
        ++stats_.writes_applied;
        proposals_.pop_front();
        // Reads that waited for this write run now, before the next one is
        // applied: in "SET k 1; GET k; DEL k" the GET must see 1.
        serve_waiting_reads(applied_.value);
    }
    last_write_error_.clear();
    maybe_snapshot();
    if (is_shutting_down_) check_shutdown_done();
}

void Server::on_failed(raft::Index first, const Status& status, bool is_fatal) {
    // Everything from `first` on was not written (a full disk cut it back)
    // or its fate is unknown (a failed fsync).
    spdlog::error("log write failed at index {}: {}", first.value, status.to_string());
    last_write_error_ = status.to_string();
    while (!proposals_.empty()) {
        Proposal& p = proposals_.back();
        RAFTKV_ASSERT(p.index >= first, "proposal {} below failed index {}", p.index.value,
                      first.value);
        if (std::shared_ptr<net::ClientConnection> conn = p.conn.lock(); conn && conn->is_open()) {
            if (is_fatal) {
                // Never claim failure for a write that may be on disk.
                resp::ReplyWriter(conn->reply_buffer(p.slot))
                    .error("UNCERTAIN the write may or may not have been applied: " +
                           status.to_string());
            } else {
                ++stats_.writes_failed_disk_full;
                resp::ReplyWriter(conn->reply_buffer(p.slot))
                    .error("ERR write not applied: " + status.to_string());
            }
            conn->finish(p.slot);
        }
        proposals_.pop_back();
    }
    next_index_ = first;
    RAFTKV_ASSERT(next_index_ == applied_.next(), "failed batch {} does not follow applied {}",
                  first.value, applied_.value);
    // Reads that waited for the failed writes see the state without them.
    serve_waiting_reads(UINT64_MAX);
    if (is_fatal) {
        fatal_error_ = status.to_string();
        begin_shutdown(status);
        return;
    }
    syncer_->discard_and_resume();
}

void Server::serve_waiting_reads(std::uint64_t ready_through) {
    auto end = waiting_reads_.upper_bound(ready_through);
    for (auto it = waiting_reads_.begin(); it != end; ++it) {
        WaitingRead& r = it->second;
        std::shared_ptr<net::ClientConnection> conn = r.conn.lock();
        if (!conn || !conn->is_open()) continue;
        const std::string name = ascii_lower(r.args[0]);
        execute(*conn, r.slot, name, kv::find_command(name), r.args);
        conn->resume_requests();
    }
    waiting_reads_.erase(waiting_reads_.begin(), end);
}

void Server::maybe_snapshot() {
    if (is_snapshot_running_ || log_bytes_since_snapshot_ < config_.snapshot_log_bytes) return;
    if (applied_ <= snapshot_index_) return;
    is_snapshot_running_ = true;
    if (snapshot_thread_.joinable()) snapshot_thread_.join();
    // The image is taken on the loop thread (an in-memory copy); the slow
    // part, writing and syncing it, happens on its own thread.
    const storage::SnapshotMeta meta{.last_index = applied_, .last_term = term_};
    const auto started = std::chrono::steady_clock::now();
    std::string image = state_.snapshot();
    const auto image_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();
    const std::uint64_t covered_bytes = log_bytes_since_snapshot_;
    spdlog::info("taking a snapshot at index {} ({} keys, {} bytes; image made in {} ms)",
                 meta.last_index.value, state_.key_count(), image.size(), image_ms);
    snapshot_thread_ = std::thread([this, meta, image = std::move(image), covered_bytes] {
        Status s = storage::save_snapshot(snapshot_dir(config_.data_dir), meta, image);
        asio::post(io_, [this, index = meta.last_index, covered_bytes, s] {
            on_snapshot_saved(index, covered_bytes, s);
        });
    });
}

void Server::on_snapshot_saved(raft::Index index, std::uint64_t log_bytes, const Status& status) {
    is_snapshot_running_ = false;
    if (!status.is_ok()) {
        ++stats_.snapshots_failed;
        spdlog::warn("snapshot at index {} failed: {}; will retry", index.value,
                     status.to_string());
        return;
    }
    ++stats_.snapshots_taken;
    snapshot_index_ = index;
    log_bytes_since_snapshot_ -= std::min(log_bytes, log_bytes_since_snapshot_);
    spdlog::info("snapshot at index {} saved; compacting the log", index.value);
    syncer_->compact(index);
}

void Server::on_compacted(raft::Index index, const Status& status) {
    if (status.is_ok()) return;
    // A failed compaction leaves the Wal failed for good (its files may be
    // half removed): stop now, before a write finds out the hard way.
    spdlog::error("compacting the log through {} failed: {}", index.value, status.to_string());
    fatal_error_ = status.to_string();
    begin_shutdown(status);
}

void Server::on_signal() {
    if (is_shutting_down_) {
        // A second Ctrl-C: stop now. Writes not yet synced were not
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
    if (is_shutting_down_) return;
    is_shutting_down_ = true;
    exit_status_ = std::move(exit_status);
    shutdown_deadline_ = std::chrono::steady_clock::now() + kShutdownGrace;
    asio::error_code ignored;
    acceptor_.close(ignored);
    std::vector<std::shared_ptr<net::ClientConnection>> conns;
    for (auto& [id, conn] : connections_) conns.push_back(conn);
    for (auto& conn : conns) conn->close_after_replies();
    check_shutdown_done();
}

void Server::check_shutdown_done() {
    const bool is_idle = proposals_.empty() && !is_snapshot_running_;
    const bool is_late = std::chrono::steady_clock::now() >= shutdown_deadline_;
    if ((is_idle && connections_.empty()) || is_late) {
        for (auto& [id, conn] : std::unordered_map(connections_)) conn->close();
        timer_.cancel();
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
