// server.cc — lifecycle, recovery, the raft loop, and the write and read paths.
#include "server/server.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <random>

#include "client/connection.h"
#include "kv/command_codec.h"
#include "kv/commands.h"
#include "raft/membership.h"
#include "raft/message_codec.h"
#include "resp/reply_writer.h"
#include "server/raft_recovery.h"
#include "server/recovery.h"
#include "storage/files.h"
#include "storage/wal.h"

namespace raftkv::server {
namespace {

constexpr auto kShutdownGrace = std::chrono::seconds(10);

// Answers a client that waits (a PendingWrite or a WaitingRead) with an
// error, if its connection is still open.
template <typename Waiter>
void answer_error(const Waiter& waiter, std::string_view error) {
    if (auto conn = waiter.conn.lock(); conn && conn->is_open()) {
        resp::ReplyWriter(conn->reply_buffer(waiter.slot)).error(error);
        conn->finish(waiter.slot);
    }
}
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
constexpr auto kDiskFullRetryDelay = std::chrono::milliseconds(100);
// A ReadIndex read not confirmed within this time is answered -TRYAGAIN.
constexpr auto kReadTimeout = std::chrono::seconds(10);
// A joining server that has heard from no leader this long asks again.
constexpr auto kJoinRetryDelay = std::chrono::seconds(5);

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
    if (disk_) disk_->stop();
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<std::unique_ptr<Server>> Server::open(ServerConfig config) {
    Result<NodeAddress> self = validate(&config);
    if (!self) return self.error();
    std::unique_ptr<Server> server(new Server(std::move(config), std::move(*self)));
    RAFTKV_RETURN_IF_ERROR(server->recover());
    RAFTKV_RETURN_IF_ERROR(server->bind());
    RAFTKV_RETURN_IF_ERROR(server->open_peers());
    if (!server->config_.join.empty() && server->is_fresh_) {
        RAFTKV_RETURN_IF_ERROR(server->join_cluster(std::chrono::seconds(30)));
    }
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
    state_ = std::move(recovered->state);
    storage_ = std::move(recovered->storage);
    snapshot_index_ = storage_->snapshot_meta().index;
    applied_ = recovered->applied;
    disk_ = std::make_unique<RaftDisk>(
        io_.get_executor(),
        RaftDiskOptions{.data_dir = config_.data_dir, .snapshot_index = snapshot_index_},
        std::move(recovered->wal));

    // A joining server founds nothing: it learns the configuration from the
    // leader's log or snapshot.
    raft::Membership founding;
    if (config_.join.empty()) {
        for (const NodeAddress& node : config_.cluster) founding.voters.insert(node.id);
    }
    is_fresh_ =
        recovered->hard_state.term == raft::Term(0) && storage_->last_index() == raft::Index(0);
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
    if (snapshot_index_ > raft::Index(0) && storage_->snapshot_meta().membership.voters.empty()) {
        // A snapshot written before membership was recorded (format 1): the
        // configuration then was the founding one.
        storage_->adopt_membership(founding);
    }
    raft::NodeOptions options;
    options.id = self_.id;
    options.election_ticks = config_.election_ticks;
    options.heartbeat_ticks = 1;
    options.seed = std::random_device{}();
    options.initial_membership = founding;
    node_ = std::make_unique<raft::Node>(options, storage_.get(), recovered->hard_state, applied_);
    if (node_->membership() != founding && !node_->membership().voters.empty()) {
        // The log and snapshot hold the configuration the cluster agreed on
        // since it was founded; --cluster only founds it.
        spdlog::warn(
            "the persisted configuration ({}) differs from --cluster ({}); the "
            "persisted one wins",
            raft::to_string(node_->membership()), raft::to_string(founding));
    }
    spdlog::info(
        "recovered {} keys: snapshot at index {}, log to index {}, term {}, commit {}; "
        "membership {}",
        state_.key_count(), snapshot_index_.value, storage_->last_index().value,
        recovered->hard_state.term.value, recovered->hard_state.commit.value,
        raft::to_string(node_->membership()));
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

Status Server::join_cluster(std::chrono::seconds patience) {
    const std::size_t colon = config_.join.rfind(':');
    const std::string host = config_.join.substr(0, colon);
    const int port = colon == std::string::npos ? 0 : std::atoi(config_.join.c_str() + colon + 1);
    if (colon == std::string::npos || port <= 0 || port > 65535) {
        return Status::errorf(Code::kInvalid, "--join {} is not HOST:PORT", config_.join);
    }
    const std::vector<std::string> request = {
        "RAFT", "ADDNODE", std::to_string(self_.id.value),
        fmt::format("{}:{}@{}", self_.host, self_.port, peer_port())};
    const auto deadline = std::chrono::steady_clock::now() + patience;
    std::string last_error;
    while (std::chrono::steady_clock::now() < deadline) {
        auto conn = client::Connection::connect(host, static_cast<std::uint16_t>(port),
                                                std::chrono::milliseconds(2000));
        if (!conn) {
            last_error = conn.error().to_string();
        } else {
            // The client follows -MOVED to the leader.
            auto reply = conn->call(request);
            if (!reply) {
                last_error = reply.error().to_string();
            } else if (reply->type == resp::Reply::Type::kError) {
                last_error = reply->str;
                if (last_error.rfind("TRYAGAIN", 0) != 0 &&
                    last_error.rfind("CLUSTERDOWN", 0) != 0) {
                    return Status::errorf(Code::kInvalid, "joining through {}: {}", config_.join,
                                          last_error);
                }
            } else if (reply->type == resp::Reply::Type::kArray) {
                for (const resp::Reply& e : reply->elements) {
                    auto parsed = parse_cluster(e.str);
                    if (parsed && (*parsed)[0].id != self_.id) {
                        join_addresses_[(*parsed)[0].id] = (*parsed)[0];
                    }
                }
                std::vector<net::PeerAddress> peers;
                for (const auto& [id, a] : join_addresses_) {
                    peers.push_back(net::PeerAddress{id, a.host, a.peer_port});
                }
                peers_->set_peers(peers);
                known_peers_ = std::move(peers);
                spdlog::info("asked to join the cluster through {}: {} other members", config_.join,
                             join_addresses_.size());
                // The leader may lose its place before the addition commits;
                // ask again until its log reaches us (on_tick).
                join_retry_at_ = std::chrono::steady_clock::now() + kJoinRetryDelay;
                return Status::ok();
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // before the loop runs
    }
    return Status::errorf(Code::kIoError, "could not join the cluster through {} in {} s: {}",
                          config_.join, patience.count(), last_error);
}

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
    auto peers = net::PeerTransport::open(
        io_, std::move(options),
        [this](raft::NodeId from, std::string_view payload) { on_peer_message(from, payload); });
    if (!peers) return peers.error();
    peers_ = std::move(*peers);
    return Status::ok();
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
    // The only voter need not wait an election timeout to lead.
    const raft::Membership members = node_->membership();
    if (members.voters.size() == 1 && members.voters.contains(self_.id)) node_->campaign_now();
    schedule_pump();
    schedule_tick();
    accept_next();
    io_.run();
    if (peers_) peers_->close();
    disk_->stop();
    return exit_status_;
}

// ---- the raft loop ----------------------------------------------------------

void Server::schedule_tick() {
    tick_timer_.expires_after(std::chrono::milliseconds(config_.tick_ms));
    tick_timer_.async_wait([this](const asio::error_code& ec) {
        if (ec) return;
        on_tick();
        schedule_tick();
    });
}

void Server::on_tick() {
    node_->tick();
    promote_caught_up_learners();
    if (join_retry_at_ && std::chrono::steady_clock::now() >= *join_retry_at_) {
        if (node_->log().last_index() > raft::Index(0) || node_->leader() != raft::NodeId(0)) {
            join_retry_at_.reset();  // a leader reached us: we are in
        } else if (Status s = join_cluster(std::chrono::seconds(2)); !s.is_ok()) {
            spdlog::warn("still joining: {}", s.to_string());
            join_retry_at_ = std::chrono::steady_clock::now() + kJoinRetryDelay;
        }
    }
    expire_pending_writes();
    expire_reads();
    schedule_pump();
}

// §d4.2.1: a server added as a learner becomes a voter once it has caught
// up with the commit index (the core refuses it before; retried every tick).
void Server::promote_caught_up_learners() {
    if (node_->role() != raft::Role::kLeader) return;
    for (raft::NodeId id : node_->membership().learners) {
        const raft::Proposal p = node_->change_membership(raft::MembershipChange::kPromote, id);
        if (p.ok()) {
            spdlog::info("node {} caught up: promoting it to voter (entry {})", id.value,
                         p.index.value);
            schedule_pump();
            return;
        }
    }
}

void Server::on_peer_message(raft::NodeId from, std::string_view payload) {
    Result<raft::Message> m = raft::decode_message(payload);
    if (!m) {
        ++stats_.peer_messages_bad;
        spdlog::warn("bad message from node {}: {}", from.value, m.error().to_string());
        return;
    }
    if (m->from != from || m->to != self_.id) {
        ++stats_.peer_messages_bad;
        spdlog::warn("message from node {} claims {}->{}; dropped", from.value, m->from.value,
                     m->to.value);
        return;
    }
    node_->step(*m);
    schedule_pump();
}

void Server::schedule_pump() {
    // Once per loop round: everything proposed or received in this round
    // goes out in one Ready (batching, one fsync).
    if (pump_posted_) return;
    pump_posted_ = true;
    asio::post(io_, [this] { pump(); });
}

void Server::send_messages(std::vector<raft::Message>& messages) {
    for (raft::Message& m : messages) peers_->send(m.to, raft::encode_message(m));
}

void Server::pump() {
    pump_posted_ = false;
    while (!persisting_ && node_->has_ready()) {
        raft::Ready rd = node_->ready();
        if (node_->role() != last_role_) {
            if (node_->role() == raft::Role::kLeader) {
                ++stats_.elections_seen;
                spdlog::info("node {} leads in term {}", self_.id.value, node_->term().value);
                announce_addresses();
            } else if (last_role_ == raft::Role::kLeader) {
                spdlog::info("node {} no longer leads (term {})", self_.id.value,
                             node_->term().value);
            }
            last_role_ = node_->role();
        }
        // The leader sends before its own write (§d10.2.1).
        send_messages(rd.messages);
        if (rd.hard_state && !rd.must_sync) {
            // Only the commit index changed (raft/node.h, must_sync): its
            // record goes to the disk thread behind the jobs before it and
            // reaches the disk with the next sync; nothing waits for it.
            RAFTKV_ASSERT(!rd.snapshot && rd.entries.empty(), "an unsynced Ready with entries");
            disk_->persist(PersistJob{.hard_state = rd.hard_state, .must_sync = false},
                           [this](PersistResult r) { on_commit_index_saved(std::move(r)); });
            finish_ready(rd);
            continue;
        }
        if (rd.snapshot || !rd.entries.empty() || rd.hard_state) {
            persisting_ = true;
            std::optional<raft::SnapshotMeta> installed;
            if (rd.snapshot) {
                // Load the leader's image into the state machine now, then
                // hand the bytes themselves to the disk: the image is held
                // once (the state machine is volatile; it counts as applied
                // only after the snapshot is durable, in on_persisted).
                Status s = state_.restore(rd.snapshot->data);
                RAFTKV_ASSERT(s.is_ok(), "snapshot from the leader does not load: {}",
                              s.to_string());
                installed = rd.snapshot->meta;
                installing_snapshot_ = true;
            }
            PersistJob job{.snapshot = std::move(rd.snapshot),
                           .entries = rd.entries,
                           .hard_state = rd.hard_state,
                           .must_sync = true};
            rd.snapshot.reset();
            if (installed) rd.snapshot = raft::Snapshot{.meta = *installed, .data = {}};
            auto shared = std::make_shared<raft::Ready>(std::move(rd));
            disk_->persist(std::move(job), [this, shared](PersistResult result) {
                on_persisted(std::move(*shared), std::move(result));
            });
            return;
        }
        finish_ready(rd);
    }
}

void Server::on_commit_index_saved(PersistResult result) {
    const Status& status = result.status;
    if (status.is_ok()) return;
    if (status.code() == Code::kDiskFull) {
        // Nothing was written; the next hard state record supersedes it.
        spdlog::warn("commit index not recorded: {}", status.to_string());
        return;
    }
    if (!fatal_error_.empty()) return;
    on_disk_failed(status);
}

void Server::on_disk_failed(const Status& status) {
    // What reached the disk is unknown (a failed fsync): this server cannot
    // promise anything it was about to promise. Stop; a restart recovers
    // from what is on disk, and the other servers go on without us.
    spdlog::error("cannot persist the raft log: {}", status.to_string());
    last_write_error_ = status.to_string();
    fatal_error_ = status.to_string();
    fail_pending_writes_uncertain(status.to_string());
    begin_shutdown(status);
}

void Server::on_persisted(raft::Ready rd, PersistResult result) {
    const Status& status = result.status;
    if (status.code() == Code::kDiskFull) {
        // Nothing of the job is on disk (the WAL undoes a cut append). Keep
        // it and try again; meanwhile new writes are refused (propose) and
        // reads go on. The entries may still commit on the other servers.
        if (disk_full_error_.empty()) spdlog::error("disk full: {}", status.to_string());
        disk_full_error_ = status.to_string();
        last_write_error_ = disk_full_error_;
        auto shared = std::make_shared<raft::Ready>(std::move(rd));
        RAFTKV_ASSERT(result.job.has_value(), "a full-disk failure hands the job back");
        auto job = std::make_shared<PersistJob>(std::move(*result.job));
        timer_retry_persist_.expires_after(kDiskFullRetryDelay);
        timer_retry_persist_.async_wait([this, shared, job](const asio::error_code& ec) {
            if (ec) return;
            disk_->persist(std::move(*job), [this, shared](PersistResult r) {
                on_persisted(std::move(*shared), std::move(r));
            });
        });
        return;
    }
    if (!disk_full_error_.empty()) {
        spdlog::info("disk space is back: writes are accepted again");
        disk_full_error_.clear();
    }
    persisting_ = false;
    if (!status.is_ok()) {
        on_disk_failed(status);
        return;
    }
    ++stats_.write_batches_synced;
    if (rd.snapshot) {
        RAFTKV_ASSERT(result.snapshot_file.has_value(), "snapshot persisted without its file");
        storage_->apply_snapshot(rd.snapshot->meta, std::move(*result.snapshot_file));
        applied_ = rd.snapshot->meta.index;
        installing_snapshot_ = false;
        snapshot_index_ = applied_;
        log_bytes_since_snapshot_ = 0;
        ++stats_.snapshots_installed;
        spdlog::info("installed a snapshot from the leader at index {} ({} keys)", applied_.value,
                     state_.key_count());
        // Writes the snapshot covers are decided without apply(): their
        // waiting reads go on (a follower redirects them).
        serve_unblocked_reads();
    }
    if (!rd.entries.empty()) {
        storage_->append(rd.entries);
        for (const raft::Entry& e : rd.entries) log_bytes_since_snapshot_ += entry_log_bytes(e);
    }
    finish_ready(rd);
    schedule_pump();
}

void Server::finish_ready(raft::Ready& rd) {
    if (!rd.messages_after_persist.empty()) send_messages(rd.messages_after_persist);
    for (const raft::Entry& e : rd.committed_entries) apply(e);
    for (raft::ReadState& r : rd.read_states) {
        auto it = reads_in_flight_.find(r.context);
        if (it == reads_in_flight_.end()) continue;
        WaitingRead read = std::move(it->second);
        reads_in_flight_.erase(it);
        std::shared_ptr<net::ClientConnection> conn = read.conn.lock();
        if (!conn || !conn->is_open()) continue;
        resp::ReplyWriter out(conn->reply_buffer(read.slot));
        state_.read(read.args, out);
        conn->finish(read.slot);
    }
    for (const std::string& ctx : rd.failed_reads) {
        auto it = reads_in_flight_.find(ctx);
        if (it == reads_in_flight_.end()) continue;
        answer_error(it->second,
                     "TRYAGAIN the read was not served: this server lost the leadership");
        reads_in_flight_.erase(it);
    }
    node_->advance(rd);
    // Configurations take effect when appended, addresses when applied.
    if (update_peers_posted_ || !rd.entries.empty() || rd.snapshot) {
        update_peers_posted_ = false;
        update_peers();
    }
    maybe_snapshot();
    if (is_shutting_down_) check_shutdown_done();
}

void Server::apply(const raft::Entry& e) {
    RAFTKV_ASSERT(e.index == applied_.next(), "applying {} after {}", e.index.value,
                  applied_.value);
    auto pending = pending_writes_.find(e.index);
    std::shared_ptr<net::ClientConnection> conn;
    std::uint64_t slot = 0;
    if (pending != pending_writes_.end()) {
        if (pending->second.term == e.term) {
            conn = pending->second.conn.lock();
            slot = pending->second.slot;
            if (conn && !conn->is_open()) conn.reset();
        } else {
            // Another leader's entry took this index: ours is in no log
            // that can commit, so it certainly was not applied.
            answer_error(pending->second,
                         "TRYAGAIN the write was not applied: the leader changed before it "
                         "committed");
        }
        pending_writes_.erase(pending);
    }
    if (e.type == raft::EntryType::kCommand) {
        Result<kv::LoggedCommand> cmd = kv::decode_logged_command(e.data);
        RAFTKV_ASSERT(cmd.has_value(), "undecodable command at index {}: {}", e.index.value,
                      cmd ? "" : cmd.error().to_string());
        // The index names SESSION REGISTER's session; the leader's time
        // expires sessions (kv/sessions.h).
        const kv::EntryInfo entry{.index = e.index.value, .time_ms = cmd->time_ms};
        std::string scratch;
        if (conn) {
            resp::ReplyWriter out(conn->reply_buffer(slot));
            state_.apply(entry, cmd->args, out);
            conn->finish(slot);
        } else {
            resp::ReplyWriter out(&scratch);
            state_.apply(entry, cmd->args, out);
        }
        ++stats_.writes_applied;
    } else if (conn) {
        // A configuration change someone waits for (RAFT REMOVENODE).
        resp::ReplyWriter(conn->reply_buffer(slot)).simple("OK");
        conn->finish(slot);
    }
    applied_ = e.index;
    if (e.type == raft::EntryType::kConfig || e.type == raft::EntryType::kCommand) {
        update_peers_posted_ = true;
    }
    // Reads that waited for this write run now, before the next one is
    // applied: in "SET k 1; GET k; DEL k" the GET must see 1.
    serve_waiting_reads(applied_.value);
}

void Server::expire_pending_writes() {
    if (pending_writes_.empty()) return;
    if (!node_->membership().contains(self_.id) && !node_->membership().voters.empty() &&
        node_->role() != raft::Role::kLeader) {
        // Removed from the cluster: no more entries come here, so the fate
        // of writes beyond our commit index will not be learned here. Those
        // at or below it are applied here still, and answered then (a leader
        // that removed itself steps down when the removal commits, maybe
        // before its own copy of the last entries is on disk).
        fail_pending_writes_uncertain(
            "this server was removed from the cluster before they "
            "were decided",
            node_->log().committed());
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    for (auto it = pending_writes_.begin(); it != pending_writes_.end();) {
        PendingWrite& p = it->second;
        if (p.deadline > now || (node_->role() == raft::Role::kLeader && p.term == node_->term())) {
            ++it;
            continue;
        }
        ++stats_.writes_uncertain;
        answer_error(p,
                     "UNCERTAIN the write may or may not have been applied: this server lost "
                     "the leadership before it committed");
        it = pending_writes_.erase(it);
    }
    serve_unblocked_reads();
}

void Server::serve_unblocked_reads() {
    std::vector<WaitingRead> ready;
    for (auto it = waiting_reads_.begin(); it != waiting_reads_.end();) {
        if (it->first <= applied_.value || !pending_writes_.contains(raft::Index(it->first))) {
            ready.push_back(std::move(it->second));
            it = waiting_reads_.erase(it);
        } else {
            ++it;
        }
    }
    for (WaitingRead& r : ready) {
        std::shared_ptr<net::ClientConnection> conn = r.conn.lock();
        if (!conn || !conn->is_open()) continue;
        const std::string name = ascii_lower(r.args[0]);
        execute(*conn, r.slot, name, kv::find_command(name), r.args);
        conn->resume_requests();
    }
}

// A ReadIndex read not confirmed in time (the leader cannot reach a
// majority, or its disk is full and its loop waits) is answered -TRYAGAIN:
// true, as it was not served.
void Server::expire_reads() {
    if (reads_in_flight_.empty()) return;
    const auto now = std::chrono::steady_clock::now();
    for (auto it = reads_in_flight_.begin(); it != reads_in_flight_.end();) {
        if (it->second.deadline > now) {
            ++it;
            continue;
        }
        answer_error(it->second,
                     "TRYAGAIN the read was not served: the leadership could not be confirmed "
                     "in time");
        it = reads_in_flight_.erase(it);
    }
}

void Server::fail_pending_writes_uncertain(std::string_view why, raft::Index above) {
    for (auto it = pending_writes_.upper_bound(above); it != pending_writes_.end();) {
        ++stats_.writes_uncertain;
        answer_error(it->second,
                     fmt::format("UNCERTAIN the write may or may not have been applied: {}", why));
        it = pending_writes_.erase(it);
    }
    if (pending_writes_.empty()) {
        serve_waiting_reads(UINT64_MAX);
    } else {
        serve_unblocked_reads();
    }
}

void Server::add_pending_write(raft::Index index, PendingWrite write) {
    auto [it, inserted] = pending_writes_.try_emplace(index);
    if (!inserted) {
        // An older waiter at this index: its entry was cut from our log by a
        // later leader's, and we lead again. Another server may still hold
        // that entry and commit it, so its fate is unknown here.
        ++stats_.writes_uncertain;
        answer_error(it->second,
                     "UNCERTAIN the write may or may not have been applied: its entry was "
                     "replaced in this server's log by a later leader's");
    }
    it->second = std::move(write);
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
    return conn.last_write_index > applied_.value &&
           pending_writes_.contains(raft::Index(conn.last_write_index));
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
    if (node_->role() != raft::Role::kLeader) {
        if (conn.readonly && info->cls != kv::CommandClass::kWrite) {
            // READONLY: this server's applied state, possibly stale.
            state_.read(args, out);
            conn.finish(slot);
            return;
        }
        redirect(conn, slot);
        return;
    }
    if (info->cls == kv::CommandClass::kWrite) {
        propose(conn, slot, args);
        return;
    }
    start_read(conn, slot, args);
}

std::optional<NodeAddress> Server::address_of(raft::NodeId id) const {
    if (id == raft::NodeId(0)) return std::nullopt;
    // The replicated table first (RAFTKV.ADDRESS): it is what the cluster
    // agreed on; then --cluster, then what a join was told.
    const auto& table = state_.addresses();
    if (auto it = table.find(id.value); it != table.end()) {
        return NodeAddress{id, it->second.host, it->second.port, it->second.peer_port};
    }
    for (const NodeAddress& node : config_.cluster) {
        if (node.id == id) return node;
    }
    if (auto it = join_addresses_.find(id); it != join_addresses_.end()) return it->second;
    return std::nullopt;
}

std::vector<NodeAddress> Server::member_addresses() const {
    std::vector<NodeAddress> out;
    const raft::Membership m = node_->membership();
    std::set<raft::NodeId> ids = m.voters;
    ids.insert(m.learners.begin(), m.learners.end());
    for (raft::NodeId id : ids) {
        if (std::optional<NodeAddress> a = address_of(id)) out.push_back(std::move(*a));
    }
    return out;
}

void Server::update_peers() {
    if (!peers_) return;
    // A joining server has no configuration until the leader's log or
    // snapshot reaches it; until then its peers are the ones the join reply
    // named. Dropping them would leave it unable to answer the leader, which
    // then never brings it up to date (seen in a fault run: a joiner that
    // removed every peer 14 ms after joining and was never promoted).
    const raft::Membership m = node_->membership();
    if (m.voters.empty() && m.learners.empty()) return;
    std::vector<net::PeerAddress> peers;
    for (const NodeAddress& a : member_addresses()) {
        if (a.id != self_.id) peers.push_back(net::PeerAddress{a.id, a.host, a.peer_port});
    }
    // A server being removed still hears from us until it learns it (and
    // the leader keeps talking to a joiner it just added).
    if (peers == known_peers_) return;
    known_peers_ = peers;
    peers_->set_peers(std::move(peers));
}

// The first leader records every founder's address in the log, so that a
// server joining later learns them (it only knows its own and the leader's).
void Server::announce_addresses() {
    const auto& table = state_.addresses();
    for (const NodeAddress& node : config_.cluster) {
        if (!node_->membership().contains(node.id) || table.contains(node.id.value)) continue;
        propose_internal({"RAFTKV.ADDRESS", std::to_string(node.id.value), node.host,
                          std::to_string(node.port), std::to_string(node.peer_port)});
    }
}

raft::Proposal Server::propose_internal(std::vector<std::string> args) {
    const raft::Proposal p = node_->propose(kv::encode_command(args));
    if (p.ok()) schedule_pump();
    return p;
}

std::string Server::redirect_error() const {
    const std::optional<NodeAddress> leader = address_of(node_->leader());
    if (leader && node_->leader() != self_.id) {
        // Redis Cluster's redirect: every key lives in slot 0's owner here.
        return fmt::format("MOVED 0 {}", leader->client_address());
    }
    return "CLUSTERDOWN no leader is known yet; try again shortly";
}

void Server::redirect(net::ClientConnection& conn, std::uint64_t slot) {
    ++stats_.redirects;
    resp::ReplyWriter(conn.reply_buffer(slot)).error(redirect_error());
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
    if (!disk_full_error_.empty()) {
        ++stats_.writes_failed_disk_full;
        resp::ReplyWriter(conn.reply_buffer(slot))
            .error("ERR write not applied: " + disk_full_error_);
        conn.finish(slot);
        return;
    }
    // Stamped with this leader's clock: log time for session expiry.
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    std::string payload = kv::encode_command(args, static_cast<std::uint64_t>(now_ms.count()));
    if (payload.size() > storage::kWalPayloadBytesMax) {
        resp::ReplyWriter(conn.reply_buffer(slot))
            .error(fmt::format("ERR command too large: {} bytes, at most {} per write",
                               payload.size(), storage::kWalPayloadBytesMax));
        conn.finish(slot);
        return;
    }
    const raft::Proposal p = node_->propose(std::move(payload));
    if (!p.ok()) {
        if (p.refusal == raft::Refusal::kNotLeader) {
            redirect(conn, slot);
        } else {
            resp::ReplyWriter(conn.reply_buffer(slot))
                .error(fmt::format("TRYAGAIN the write was not applied: {}",
                                   raft::refusal_name(p.refusal)));
            conn.finish(slot);
        }
        return;
    }
    conn.last_write_index = p.index.value;
    add_pending_write(p.index, PendingWrite{.term = p.term,
                                            .args = std::move(args),
                                            .conn = conn.weak_from_this(),
                                            .slot = slot,
                                            .deadline = std::chrono::steady_clock::now() +
                                                        kWriteDecisionTimeout});
    schedule_pump();
}

void Server::start_read(net::ClientConnection& conn, std::uint64_t slot,
                        std::vector<std::string>& args) {
    const std::set<raft::NodeId>& voters = node_->tracker().config().voters.voters();
    const raft::Index committed = node_->log().committed();
    if (voters.size() == 1 && voters.contains(self_.id) &&
        node_->log().term(committed) == node_->term() && applied_ >= committed) {
        // The only voter is the only server that can lead: once it has
        // committed an entry of its term (so its commit index covers every
        // acknowledged write, §6.4) and applied through it, its state
        // answers reads without a heartbeat round (and reads go on while its
        // disk is full). Before that, as after a restart, the read waits in
        // the core like any ReadIndex read.
        resp::ReplyWriter out(conn.reply_buffer(slot));
        state_.read(args, out);
        conn.finish(slot);
        return;
    }
    std::string context = std::to_string(next_read_id_++);
    const raft::Refusal r = node_->read_index(context);
    if (r != raft::Refusal::kOk) {
        redirect(conn, slot);
        return;
    }
    reads_in_flight_.emplace(std::move(context),
                             WaitingRead{std::move(args), conn.weak_from_this(), slot,
                                         std::chrono::steady_clock::now() + kReadTimeout});
    schedule_pump();
}

void Server::serve_waiting_reads(std::uint64_t ready_through) {
    auto end = waiting_reads_.upper_bound(ready_through);
    std::vector<WaitingRead> ready;
    for (auto it = waiting_reads_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
    waiting_reads_.erase(waiting_reads_.begin(), end);
    for (WaitingRead& r : ready) {
        std::shared_ptr<net::ClientConnection> conn = r.conn.lock();
        if (!conn || !conn->is_open()) continue;
        const std::string name = ascii_lower(r.args[0]);
        execute(*conn, r.slot, name, kv::find_command(name), r.args);
        conn->resume_requests();
    }
}

void Server::maybe_snapshot(bool force) {
    if (is_snapshot_running_ || installing_snapshot_) return;
    if (!force && log_bytes_since_snapshot_ < config_.snapshot_log_bytes) return;
    if (applied_ <= snapshot_index_) return;
    const std::optional<raft::Term> term = storage_->term(applied_);
    if (!term) return;
    is_snapshot_running_ = true;
    const raft::SnapshotMeta meta{
        .index = applied_, .term = *term, .membership = node_->membership_at(applied_)};
    // The image is taken on the loop thread (an in-memory copy); the slow
    // part, writing and syncing it, happens on the disk thread.
    const auto started = std::chrono::steady_clock::now();
    std::string image = state_.snapshot();
    const auto image_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();
    const std::uint64_t covered_bytes = log_bytes_since_snapshot_;
    spdlog::info("taking a snapshot at index {} ({} keys, {} bytes; image made in {} ms)",
                 meta.index.value, state_.key_count(), image.size(), image_ms);
    disk_->save_snapshot(meta, std::move(image), [this, meta, covered_bytes](PersistResult r) {
        on_snapshot_saved(meta, covered_bytes, std::move(r));
    });
}

void Server::on_snapshot_saved(const raft::SnapshotMeta& meta, std::uint64_t log_bytes,
                               PersistResult result) {
    const Status& status = result.status;
    is_snapshot_running_ = false;
    if (!status.is_ok()) {
        ++stats_.snapshots_failed;
        spdlog::warn("snapshot at index {} failed: {}; will retry", meta.index.value,
                     status.to_string());
        return;
    }
    ++stats_.snapshots_taken;
    if (meta.index > storage_->snapshot_meta().index) {
        RAFTKV_ASSERT(result.snapshot_file.has_value(), "snapshot saved without its file");
        storage_->compact(meta, std::move(*result.snapshot_file));
    }
    snapshot_index_ = std::max(snapshot_index_, meta.index);
    log_bytes_since_snapshot_ -= std::min(log_bytes, log_bytes_since_snapshot_);
    spdlog::info("snapshot at index {} saved; log compacted", meta.index.value);
    if (is_shutting_down_) check_shutdown_done();
}

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
    if (is_shutting_down_) return;
    is_shutting_down_ = true;
    exit_status_ = std::move(exit_status);
    shutdown_deadline_ = std::chrono::steady_clock::now() + kShutdownGrace;
    asio::error_code ignored;
    acceptor_.close(ignored);
    std::vector<std::shared_ptr<net::ClientConnection>> conns;
    for (auto& [id, conn] : connections_) conns.push_back(conn);
    for (auto& conn : conns) conn->close_after_replies();
    if (exit_status_.is_ok()) transfer_leadership_before_stop();
    check_shutdown_done();
}

// Issue 4 item 7: a leader that stops hands over first, so that a rolling
// restart has no election-timeout gap: it picks the voter furthest along and
// waits (at most two election timeouts) until the transfer took effect.
void Server::transfer_leadership_before_stop() {
    if (node_->role() != raft::Role::kLeader) return;
    raft::NodeId best;
    raft::Index best_match;
    const raft::NodeStatus st = node_->status();
    for (const auto& [id, match] : st.match) {
        if (id == self_.id || !st.membership.voters.contains(id)) continue;
        if (best == raft::NodeId(0) || match > best_match) {
            best = id;
            best_match = match;
        }
    }
    if (best == raft::NodeId(0)) return;
    const raft::Refusal r = node_->transfer_leadership(best);
    if (r != raft::Refusal::kOk) {
        spdlog::warn("stopping: cannot hand the leadership to node {}: {}", best.value,
                     raft::refusal_name(r));
        return;
    }
    spdlog::info("stopping: handing the leadership to node {} first", best.value);
    transfer_deadline_ = std::chrono::steady_clock::now() +
                         2 * config_.election_ticks * std::chrono::milliseconds(config_.tick_ms);
    schedule_pump();
}

void Server::check_shutdown_done() {
    const bool is_handing_over = node_->role() == raft::Role::kLeader &&
                                 node_->status().transferee != raft::NodeId(0) &&
                                 std::chrono::steady_clock::now() < transfer_deadline_;
    const bool is_idle =
        pending_writes_.empty() && !persisting_ && !is_snapshot_running_ && !is_handing_over;
    const bool is_late = std::chrono::steady_clock::now() >= shutdown_deadline_;
    if ((is_idle && connections_.empty()) || is_late || !fatal_error_.empty()) {
        if (!pending_writes_.empty()) fail_pending_writes_uncertain("the server is stopping");
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
