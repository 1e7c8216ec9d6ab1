// peer_transport.cc — see peer_transport.h. Wire format: docs/peer_protocol.md.
//
// Three objects, all owned through shared_ptr so that a handler in flight
// keeps what it touches alive:
//   Impl      the listening socket, the peers, the accepted connections;
//   Outgoing  our connection to one peer: connect, handshake, queue, write,
//             reconnect with backoff;
//   Incoming  a connection a peer opened to us: handshake, then frames.
// Handlers carry the attempt they belong to; a handler of a closed or
// replaced attempt returns without touching anything.
#include "net/peer_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <utility>

#include "base/assert.h"
#include "base/checksum.h"
#include "base/coding.h"

namespace raftkv::net {
namespace {

using asio::ip::tcp;
using std::chrono::milliseconds;

constexpr std::string_view kMagic = "RAFTKVPR";
// hello: magic, version | sender, receiver, cluster_id_bytes | cluster_id.
constexpr std::size_t kHelloPrefixBytes = 8 + 4;  // the same in every version
constexpr std::size_t kHelloRestBytes = 8 + 8 + 1;
// reply: magic, version, status, reason_bytes | reason.
constexpr std::size_t kReplyHeaderBytes = 8 + 4 + 1 + 2;
constexpr std::size_t kReasonBytesMax = 1024;
constexpr std::size_t kFrameHeaderBytes = 8;  // payload_bytes u32, checksum u32
static_assert(kMagic.size() == 8);
static_assert(kClusterIdBytesMax <= 255, "cluster_id_bytes is a u8");

constexpr std::size_t kReadChunkBytes = 64 * 1024;
// A gathered write: at most this many frames (two iovecs each, well under
// IOV_MAX) and, past the first frame, this many bytes.
constexpr std::size_t kWriteFramesMax = 256;
constexpr std::size_t kWriteBytesMax = 1u << 20;
// Accepted connections, handshaking or not. A cluster needs one per peer;
// past this, new ones are closed at once.
constexpr std::size_t kIncomingConnectionsMax = 256;
constexpr milliseconds kAcceptRetryDelay{100};

enum class HelloStatus : std::uint8_t {
    kAccepted = 0,
    kVersion = 1,   // the acceptor does not speak the hello's version
    kCluster = 2,   // another cluster id
    kReceiver = 3,  // the acceptor is not the node the sender meant to reach
    kSender = 4,    // sender id 0, or the acceptor's own id
};

std::uint32_t frame_checksum(std::string_view payload) {
    return static_cast<std::uint32_t>(checksum(payload));  // low 32 bits of XXH3-64
}

std::string endpoint_name(const tcp::endpoint& e) {
    return e.address().is_v6() ? fmt::format("[{}]:{}", e.address().to_string(), e.port())
                               : fmt::format("{}:{}", e.address().to_string(), e.port());
}

std::string address_name(const PeerAddress& a) { return fmt::format("{}:{}", a.host, a.port); }

std::string make_reply(HelloStatus status, std::string_view reason) {
    reason = reason.substr(0, kReasonBytesMax);
    std::string out(kMagic);
    put_u32(&out, kPeerProtocolVersion);
    put_u8(&out, static_cast<std::uint8_t>(status));
    out.push_back(static_cast<char>(reason.size() & 0xff));
    out.push_back(static_cast<char>(reason.size() >> 8));
    out.append(reason);
    return out;
}

}  // namespace

class Outgoing;
class Incoming;

struct PeerTransport::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::io_context& io, PeerTransportOptions options, OnMessage on_message)
        : io(io),
          options(std::move(options)),
          on_message(std::move(on_message)),
          acceptor(io),
          accept_retry_timer(io),
          rng(std::random_device{}()) {}

    Status start();
    void accept_next();
    void set_peers(std::vector<PeerAddress> peers);
    void send(raft::NodeId to, std::string payload);
    PeerStats stats(raft::NodeId peer) const;
    void close();

    // The counters of a configured peer; nullptr for any other id.
    PeerStats* counters(raft::NodeId peer);
    // An accepted connection passed its handshake: older ones from the
    // same sender are stale (it restarted or reconnected), close them.
    void on_incoming_ready(const Incoming& conn);
    void forget_incoming(std::uint64_t number) { incoming.erase(number); }
    void close_incoming_from(raft::NodeId sender, std::uint64_t except_number);
    // A backoff delay with jitter: uniform in [backoff / 2, backoff].
    milliseconds jitter(milliseconds backoff);

    asio::io_context& io;
    const PeerTransportOptions options;
    const OnMessage on_message;
    tcp::acceptor acceptor;
    asio::steady_timer accept_retry_timer;
    asio::ip::address bind_address;  // options.host, resolved once
    std::uint16_t port = 0;
    std::string name;  // "node 1 (127.0.0.1:17001)", for logs
    std::map<raft::NodeId, std::shared_ptr<Outgoing>> peers;
    std::map<std::uint64_t, std::shared_ptr<Incoming>> incoming;  // by connection number
    std::uint64_t next_incoming_number = 1;
    std::mt19937_64 rng;
    bool closed = false;
};

using Impl = PeerTransport::Impl;

// ---- Outgoing --------------------------------------------------------------

// Our connection to one peer. States: kWaiting (backoff, or before the
// first attempt) -> kConnecting (resolving and connecting) -> kHandshaking
// -> kConnected; any failure goes back to kWaiting. kClosed is final.
class Outgoing : public std::enable_shared_from_this<Outgoing> {
public:
    Outgoing(std::shared_ptr<Impl> owner, PeerAddress address)
        : owner_(std::move(owner)),
          address_(std::move(address)),
          socket_(owner_->io),
          resolver_(owner_->io),
          deadline_timer_(owner_->io),
          retry_timer_(owner_->io),
          backoff_(owner_->options.backoff_min) {}

    void start() { connect(); }
    void send(std::string payload);
    // Reconnects to the new address; keeps the queue.
    void set_address(PeerAddress address);
    void close();

    const PeerAddress& address() const { return address_; }
    PeerStats& counters() { return stats_; }
    PeerStats stats() const {
        PeerStats s = stats_;
        s.connected = state_ == State::kConnected;
        s.queued_bytes = queued_bytes_;
        return s;
    }

private:
    enum class State { kWaiting, kConnecting, kHandshaking, kConnected, kClosed };
    enum class Failure { kConnect, kHandshake, kLost };
    struct Frame {
        std::array<char, kFrameHeaderBytes> header;
        std::string payload;
    };

    void connect();
    void connect_to(const tcp::endpoint& endpoint);
    void on_connected();
    void on_reply_header();
    void on_reply();
    void fail(Failure kind, const std::string& what);
    void read_until_closed();
    void schedule_flush();
    void flush();
    void on_written(std::size_t frame_count);
    // Stops the current attempt: its handlers will do nothing.
    void abandon_attempt();
    bool is_stale(std::uint64_t attempt) const {
        return attempt != attempt_ || state_ == State::kClosed;
    }
    std::string peer_name() const {
        return fmt::format("peer {} at {}", address_.id.value, address_name(address_));
    }

    std::shared_ptr<Impl> owner_;
    PeerAddress address_;
    State state_ = State::kWaiting;
    // Bumped by every new attempt and by close(); handlers carry the value
    // they were started with.
    std::uint64_t attempt_ = 0;
    tcp::socket socket_;
    tcp::resolver resolver_;
    asio::steady_timer deadline_timer_;  // connect + handshake of the current attempt
    asio::steady_timer retry_timer_;
    milliseconds backoff_;               // the next wait; doubles up to backoff_max
    std::uint64_t failures_in_row_ = 0;  // logged loudly only when 1
    std::string last_failure_;           // what the last failure was, for the logs
    std::string hello_;
    std::array<char, kReplyHeaderBytes> reply_header_{};
    std::string reply_reason_;
    std::array<char, 256> probe_{};  // reads that only watch for the peer closing

    // Frames to send, oldest first; the first writing_frames_ are being
    // written. Invariant: queued_bytes_ is the sum of header + payload
    // sizes over queue_, and <= options.queue_bytes_max.
    std::deque<Frame> queue_;
    std::size_t queued_bytes_ = 0;
    std::size_t writing_frames_ = 0;  // 0: no write in flight
    std::vector<asio::const_buffer> write_buffers_;
    bool flush_scheduled_ = false;
    bool is_dropping_ = false;  // the queue is full; logged once per episode
    PeerStats stats_;
};

void Outgoing::abandon_attempt() {
    ++attempt_;
    asio::error_code ignored;
    socket_.close(ignored);
    resolver_.cancel();
    deadline_timer_.cancel();
    retry_timer_.cancel();
    writing_frames_ = 0;  // frames in flight stay queued and go again
}

void Outgoing::connect() {
    abandon_attempt();
    state_ = State::kConnecting;
    const std::uint64_t attempt = attempt_;
    deadline_timer_.expires_after(owner_->options.handshake_timeout);
    deadline_timer_.async_wait([self = shared_from_this(), attempt](const asio::error_code& ec) {
        if (ec || self->is_stale(attempt)) return;
        const bool handshaking = self->state_ == State::kHandshaking;
        self->fail(handshaking ? Failure::kHandshake : Failure::kConnect,
                   fmt::format("no {} within {} ms", handshaking ? "handshake reply" : "connection",
                               self->owner_->options.handshake_timeout.count()));
    });
    asio::error_code ec;
    const asio::ip::address address = asio::ip::make_address(address_.host, ec);
    if (!ec) {
        connect_to(tcp::endpoint(address, address_.port));
        return;
    }
    // A host name: resolve it on every attempt, as its address may change.
    resolver_.async_resolve(
        address_.host, std::to_string(address_.port),
        [self = shared_from_this(), attempt](const asio::error_code& ec,
                                             const tcp::resolver::results_type& results) {
            if (self->is_stale(attempt)) return;
            if (ec) {
                self->fail(Failure::kConnect, fmt::format("cannot resolve: {}", ec.message()));
                return;
            }
            const bool want_v6 = self->owner_->bind_address.is_v6();
            for (const auto& entry : results) {
                if (entry.endpoint().address().is_v6() == want_v6) {
                    self->connect_to(entry.endpoint());
                    return;
                }
            }
            self->fail(Failure::kConnect, fmt::format("no {} address", want_v6 ? "IPv6" : "IPv4"));
        });
}

void Outgoing::connect_to(const tcp::endpoint& endpoint) {
    asio::error_code ec;
    socket_.open(endpoint.protocol(), ec);
    // Bound to our own host (DESIGN.md, Addresses): the peer sees the
    // connection come from our address, so a test can cut one address pair.
    if (!ec) socket_.bind(tcp::endpoint(owner_->bind_address, 0), ec);
    if (ec) {
        fail(Failure::kConnect, fmt::format("cannot bind an outgoing socket to {}: {}",
                                            owner_->bind_address.to_string(), ec.message()));
        return;
    }
    if (const auto timeout = owner_->options.unacked_timeout; timeout.count() > 0) {
        const unsigned int ms = static_cast<unsigned int>(timeout.count());
        if (::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT, &ms,
                         sizeof ms) != 0) {
            spdlog::warn("peer transport {}: cannot set TCP_USER_TIMEOUT on the connection to {}: "
                         "{}",
                         owner_->name, peer_name(), std::strerror(errno));
        }
    }
    socket_.async_connect(
        endpoint, [self = shared_from_this(), attempt = attempt_](const asio::error_code& ec) {
            if (self->is_stale(attempt)) return;
            if (ec) {
                self->fail(Failure::kConnect, ec.message());
                return;
            }
            self->on_connected();
        });
}

void Outgoing::on_connected() {
    state_ = State::kHandshaking;
    asio::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    const PeerTransportOptions& o = owner_->options;
    hello_.assign(kMagic);
    put_u32(&hello_, kPeerProtocolVersion);
    put_u64(&hello_, o.self.value);
    put_u64(&hello_, address_.id.value);
    put_u8(&hello_, static_cast<std::uint8_t>(o.cluster_id.size()));
    hello_.append(o.cluster_id);
    const std::uint64_t attempt = attempt_;
    asio::async_write(
        socket_, asio::buffer(hello_),
        [self = shared_from_this(), attempt](const asio::error_code& ec, std::size_t) {
            if (self->is_stale(attempt) || !ec) return;
            self->fail(Failure::kHandshake, fmt::format("sending the handshake: {}", ec.message()));
        });
    asio::async_read(socket_, asio::buffer(reply_header_),
                     [self = shared_from_this(), attempt](const asio::error_code& ec, std::size_t) {
                         if (self->is_stale(attempt)) return;
                         if (ec) {
                             self->fail(Failure::kHandshake,
                                        fmt::format("reading the handshake reply: {}",
                                                    ec == asio::error::eof ? "connection closed"
                                                                           : ec.message()));
                             return;
                         }
                         self->on_reply_header();
                     });
}

void Outgoing::on_reply_header() {
    const char* p = reply_header_.data();
    if (std::string_view(p, 8) != kMagic) {
        fail(Failure::kHandshake, "not a raftkv peer port (bad magic in the handshake reply)");
        return;
    }
    const std::size_t reason_bytes = static_cast<std::uint8_t>(p[13]) |
                                     static_cast<std::size_t>(static_cast<std::uint8_t>(p[14]))
                                         << 8;
    if (reason_bytes > kReasonBytesMax) {
        fail(Failure::kHandshake, fmt::format("handshake reply reason of {} bytes (at most {})",
                                              reason_bytes, kReasonBytesMax));
        return;
    }
    reply_reason_.assign(reason_bytes, '\0');
    if (reason_bytes == 0) {
        on_reply();
        return;
    }
    asio::async_read(
        socket_, asio::buffer(reply_reason_),
        [self = shared_from_this(), attempt = attempt_](const asio::error_code& ec, std::size_t) {
            if (self->is_stale(attempt)) return;
            if (ec) {
                self->fail(Failure::kHandshake,
                           fmt::format("reading the handshake reply: {}", ec.message()));
                return;
            }
            self->on_reply();
        });
}

void Outgoing::on_reply() {
    const std::uint32_t version = decode_u32(reply_header_.data() + 8);
    const auto status = static_cast<std::uint8_t>(reply_header_[12]);
    if (status != static_cast<std::uint8_t>(HelloStatus::kAccepted)) {
        fail(Failure::kHandshake,
             fmt::format("refused our handshake (status {}): {}", status, reply_reason_));
        return;
    }
    if (version != kPeerProtocolVersion) {
        fail(Failure::kHandshake,
             fmt::format("accepted with peer protocol version {}; this server speaks {}", version,
                         kPeerProtocolVersion));
        return;
    }
    deadline_timer_.cancel();
    state_ = State::kConnected;
    ++stats_.connects;
    backoff_ = owner_->options.backoff_min;
    if (failures_in_row_ > 0) {
        spdlog::info("peer transport {}: connected to {} after {} failed attempts", owner_->name,
                     peer_name(), failures_in_row_);
    } else {
        spdlog::debug("peer transport {}: connected to {}", owner_->name, peer_name());
    }
    failures_in_row_ = 0;
    read_until_closed();
    flush();
}

void Outgoing::read_until_closed() {
    socket_.async_read_some(asio::buffer(probe_), [self = shared_from_this(), attempt = attempt_](
                                                      const asio::error_code& ec, std::size_t) {
        if (self->is_stale(attempt)) return;
        if (!ec) {
            self->fail(Failure::kLost, "the peer sent bytes on a connection it only reads");
        } else {
            self->fail(Failure::kLost,
                       ec == asio::error::eof ? "connection closed by the peer" : ec.message());
        }
    });
}

void Outgoing::fail(Failure kind, const std::string& what) {
    RAFTKV_ASSERT(state_ != State::kClosed && state_ != State::kWaiting);
    const bool was_connected = state_ == State::kConnected;
    abandon_attempt();
    state_ = State::kWaiting;
    if (kind == Failure::kConnect) ++stats_.connect_failures;
    if (kind == Failure::kHandshake) ++stats_.handshake_failures;
    ++failures_in_row_;
    const milliseconds delay = owner_->jitter(backoff_);
    backoff_ = std::min(backoff_ * 2, owner_->options.backoff_max);
    if (kind == Failure::kHandshake && (failures_in_row_ == 1 || what != last_failure_)) {
        // A wrong cluster or id is a configuration error: say so, again
        // whenever the reason changes, and keep trying (it may be fixed).
        spdlog::error("peer transport {}: handshake with {} failed: {}; retrying", owner_->name,
                      peer_name(), what);
    } else if (kind != Failure::kHandshake && (was_connected || failures_in_row_ == 1)) {
        spdlog::warn("peer transport {}: {} {}: {}; retrying in {} ms", owner_->name,
                     was_connected ? "lost the connection to" : "cannot connect to", peer_name(),
                     what, delay.count());
    } else {
        spdlog::debug("peer transport {}: cannot connect to {} (attempt {}): {}", owner_->name,
                      peer_name(), failures_in_row_, what);
    }
    last_failure_ = what;
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait(
        [self = shared_from_this(), attempt = attempt_](const asio::error_code& ec) {
            if (ec || self->is_stale(attempt)) return;
            self->connect();
        });
}

void Outgoing::send(std::string payload) {
    const PeerTransportOptions& o = owner_->options;
    if (payload.size() > o.frame_bytes_max) {
        ++stats_.frames_dropped;
        spdlog::error(
            "peer transport {}: dropping a {}-byte message to {}: over frame_bytes_max {}",
            owner_->name, payload.size(), peer_name(), o.frame_bytes_max);
        return;
    }
    const std::size_t frame_bytes = kFrameHeaderBytes + payload.size();
    if (queued_bytes_ + frame_bytes > o.queue_bytes_max) {
        ++stats_.frames_dropped;
        if (!is_dropping_) {
            spdlog::warn("peer transport {}: queue to {} is full ({} bytes): dropping messages",
                         owner_->name, peer_name(), queued_bytes_);
        }
        is_dropping_ = true;
        return;
    }
    is_dropping_ = false;
    Frame& f = queue_.emplace_back();
    encode_u32(f.header.data(), static_cast<std::uint32_t>(payload.size()));
    encode_u32(f.header.data() + 4, frame_checksum(payload));
    f.payload = std::move(payload);
    queued_bytes_ += frame_bytes;
    schedule_flush();
}

void Outgoing::schedule_flush() {
    if (flush_scheduled_ || state_ != State::kConnected || writing_frames_ > 0) return;
    flush_scheduled_ = true;
    // After the current handler, so that the messages of one Ready share a write.
    asio::post(owner_->io, [self = shared_from_this()] {
        self->flush_scheduled_ = false;
        self->flush();
    });
}

void Outgoing::flush() {
    if (state_ != State::kConnected || writing_frames_ > 0 || queue_.empty()) return;
    write_buffers_.clear();
    std::size_t bytes = 0;
    std::size_t count = 0;
    for (const Frame& f : queue_) {
        if (count == kWriteFramesMax || (count > 0 && bytes + f.payload.size() > kWriteBytesMax)) {
            break;
        }
        write_buffers_.emplace_back(f.header.data(), f.header.size());
        if (!f.payload.empty()) write_buffers_.emplace_back(f.payload.data(), f.payload.size());
        bytes += kFrameHeaderBytes + f.payload.size();
        ++count;
    }
    // The frames stay in queue_ (a deque: appending moves none of them)
    // until the write completes.
    writing_frames_ = count;
    asio::async_write(socket_, write_buffers_,
                      [self = shared_from_this(), attempt = attempt_, count](
                          const asio::error_code& ec, std::size_t) {
                          if (self->is_stale(attempt)) return;
                          if (ec) {
                              self->fail(Failure::kLost, fmt::format("write: {}", ec.message()));
                              return;
                          }
                          self->on_written(count);
                      });
}

void Outgoing::on_written(std::size_t frame_count) {
    RAFTKV_ASSERT(frame_count == writing_frames_ && frame_count <= queue_.size(),
                  "wrote {} frames, {} in flight, {} queued", frame_count, writing_frames_,
                  queue_.size());
    for (std::size_t i = 0; i < frame_count; ++i) {
        const std::size_t frame_bytes = kFrameHeaderBytes + queue_.front().payload.size();
        RAFTKV_ASSERT(queued_bytes_ >= frame_bytes, "queued {} < {}", queued_bytes_, frame_bytes);
        queued_bytes_ -= frame_bytes;
        queue_.pop_front();
    }
    writing_frames_ = 0;
    stats_.frames_sent += frame_count;
    flush();
}

void Outgoing::set_address(PeerAddress address) {
    RAFTKV_ASSERT(address.id == address_.id, "peer {} readdressed as {}", address_.id.value,
                  address.id.value);
    spdlog::info("peer transport {}: {} moved to {}", owner_->name, peer_name(),
                 address_name(address));
    address_ = std::move(address);
    backoff_ = owner_->options.backoff_min;
    failures_in_row_ = 0;
    connect();
}

void Outgoing::close() {
    if (state_ == State::kClosed) return;
    abandon_attempt();
    state_ = State::kClosed;
    queue_.clear();
    queued_bytes_ = 0;
}

// ---- Incoming --------------------------------------------------------------

// A connection a peer opened to us: the handshake, then frames until either
// side closes it. It only reads, apart from the handshake reply.
class Incoming : public std::enable_shared_from_this<Incoming> {
public:
    Incoming(std::shared_ptr<Impl> owner, tcp::socket socket, std::uint64_t number)
        : owner_(std::move(owner)),
          socket_(std::move(socket)),
          number_(number),
          deadline_timer_(owner_->io),
          input_(kReadChunkBytes) {
        asio::error_code ec;
        const tcp::endpoint remote = socket_.remote_endpoint(ec);
        remote_ = ec ? std::string("unknown address") : endpoint_name(remote);
    }

    void start();
    void close();

    std::uint64_t number() const { return number_; }
    raft::NodeId sender() const { return sender_; }

private:
    void on_prefix();
    void on_rest();
    void on_cluster_id();
    void refuse(HelloStatus status, const std::string& reason);
    void accept();
    void read_frames();
    void on_read(const asio::error_code& ec, std::size_t n);
    void parse_frames();
    void protocol_error(const std::string& what);
    std::string name() const {
        return sender_ == raft::NodeId(0)
                   ? fmt::format("connection from {}", remote_)
                   : fmt::format("connection from peer {} at {}", sender_.value, remote_);
    }

    std::shared_ptr<Impl> owner_;
    tcp::socket socket_;
    const std::uint64_t number_;
    std::string remote_;
    asio::steady_timer deadline_timer_;  // for the hello
    bool is_open_ = true;
    bool is_ready_ = false;  // the handshake passed
    raft::NodeId sender_;
    std::array<char, kHelloPrefixBytes + kHelloRestBytes> hello_{};
    std::string cluster_id_;
    std::string reply_;
    std::uint64_t frames_ = 0;  // received on this connection

    // input_[begin_, end_) was read and not yet parsed; a frame of
    // want_bytes_ (header included) is being waited for.
    // Invariant: begin_ <= end_ <= input_.size().
    std::vector<char> input_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
    std::size_t want_bytes_ = kFrameHeaderBytes;
};

void Incoming::start() {
    deadline_timer_.expires_after(owner_->options.handshake_timeout);
    deadline_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
        if (ec || !self->is_open_ || self->is_ready_) return;
        spdlog::warn("peer transport {}: {}: no handshake within {} ms; closing",
                     self->owner_->name, self->name(),
                     self->owner_->options.handshake_timeout.count());
        self->close();
    });
    asio::async_read(socket_, asio::buffer(hello_.data(), kHelloPrefixBytes),
                     [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
                         if (!self->is_open_) return;
                         if (ec) {
                             spdlog::debug("peer transport {}: {}: closed before its handshake: {}",
                                           self->owner_->name, self->name(), ec.message());
                             self->close();
                             return;
                         }
                         self->on_prefix();
                     });
}

void Incoming::on_prefix() {
    if (std::string_view(hello_.data(), 8) != kMagic) {
        // Not a raftkv server (a client on the wrong port, a scanner): no
        // reply, as it would not understand one.
        spdlog::error("peer transport {}: {} is not a raftkv peer (bad handshake magic); closing",
                      owner_->name, name());
        close();
        return;
    }
    const std::uint32_t version = decode_u32(hello_.data() + 8);
    if (version != kPeerProtocolVersion) {
        refuse(HelloStatus::kVersion,
               fmt::format("peer protocol version {} is not supported: this server speaks {}",
                           version, kPeerProtocolVersion));
        return;
    }
    asio::async_read(
        socket_, asio::buffer(hello_.data() + kHelloPrefixBytes, kHelloRestBytes),
        [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
            if (!self->is_open_) return;
            if (ec) {
                self->protocol_error(fmt::format("truncated handshake: {}", ec.message()));
                return;
            }
            self->on_rest();
        });
}

void Incoming::on_rest() {
    const char* p = hello_.data() + kHelloPrefixBytes;
    const raft::NodeId sender(decode_u64(p));
    const raft::NodeId receiver(decode_u64(p + 8));
    const std::size_t cluster_id_bytes = static_cast<std::uint8_t>(p[16]);
    const raft::NodeId self = owner_->options.self;
    if (sender == raft::NodeId(0) || sender == self) {
        refuse(HelloStatus::kSender,
               fmt::format("sender id {} is not allowed (this server is node {})", sender.value,
                           self.value));
        return;
    }
    sender_ = sender;
    if (receiver != self) {
        refuse(HelloStatus::kReceiver,
               fmt::format("this server is node {}, not node {} (wrong address for node {}?)",
                           self.value, receiver.value, receiver.value));
        return;
    }
    cluster_id_.assign(cluster_id_bytes, '\0');
    if (cluster_id_bytes == 0) {
        on_cluster_id();
        return;
    }
    asio::async_read(
        socket_, asio::buffer(cluster_id_),
        [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
            if (!self->is_open_) return;
            if (ec) {
                self->protocol_error(fmt::format("truncated handshake: {}", ec.message()));
                return;
            }
            self->on_cluster_id();
        });
}

void Incoming::on_cluster_id() {
    if (cluster_id_ != owner_->options.cluster_id) {
        refuse(HelloStatus::kCluster,
               fmt::format("cluster id '{}' does not match this server's cluster id '{}'",
                           cluster_id_, owner_->options.cluster_id));
        return;
    }
    accept();
}

void Incoming::refuse(HelloStatus status, const std::string& reason) {
    spdlog::error("peer transport {}: refusing {}: {}", owner_->name, name(), reason);
    if (PeerStats* s = owner_->counters(sender_)) ++s->handshake_failures;
    reply_ = make_reply(status, reason);
    // Tell the other side why, then close.
    asio::async_write(
        socket_, asio::buffer(reply_),
        [self = shared_from_this()](const asio::error_code&, std::size_t) { self->close(); });
}

void Incoming::accept() {
    is_ready_ = true;
    deadline_timer_.cancel();
    if (owner_->counters(sender_) == nullptr) {
        // Membership may be ahead on its side (we have not applied the
        // change that adds it yet): accept, and let Raft decide.
        spdlog::info("peer transport {}: accepted {}, which is not a configured peer", owner_->name,
                     name());
    }
    owner_->on_incoming_ready(*this);
    reply_ = make_reply(HelloStatus::kAccepted, "");
    asio::async_write(socket_, asio::buffer(reply_),
                      [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
                          if (!self->is_open_ || !ec) return;
                          spdlog::debug("peer transport {}: {}: handshake reply: {}",
                                        self->owner_->name, self->name(), ec.message());
                          self->close();
                      });
    read_frames();
}

void Incoming::read_frames() {
    // Keep the partial frame at the front and make room for all of it:
    // want_bytes_ was checked against frame_bytes_max.
    if (begin_ == end_) {
        begin_ = end_ = 0;
        if (input_.size() > 4 * kReadChunkBytes) {
            input_.resize(kReadChunkBytes);
            input_.shrink_to_fit();
        }
    } else if (begin_ > 0) {
        std::memmove(input_.data(), input_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    if (input_.size() < want_bytes_) input_.resize(want_bytes_);
    RAFTKV_ASSERT(end_ < input_.size(), "no room to read: {} of {} bytes hold no whole frame", end_,
                  input_.size());
    socket_.async_read_some(asio::buffer(input_.data() + end_, input_.size() - end_),
                            [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                                self->on_read(ec, n);
                            });
}

void Incoming::on_read(const asio::error_code& ec, std::size_t n) {
    if (!is_open_) return;
    if (ec) {
        spdlog::debug("peer transport {}: {} ended after {} frames: {}", owner_->name, name(),
                      frames_, ec == asio::error::eof ? "closed by the peer" : ec.message());
        close();
        return;
    }
    end_ += n;
    parse_frames();
    if (is_open_) read_frames();
}

void Incoming::parse_frames() {
    const std::uint32_t frame_bytes_max = owner_->options.frame_bytes_max;
    while (is_open_ && end_ - begin_ >= kFrameHeaderBytes) {
        const char* p = input_.data() + begin_;
        const std::uint32_t payload_bytes = decode_u32(p);
        if (payload_bytes > frame_bytes_max) {
            protocol_error(fmt::format("frame {} of {} bytes is over frame_bytes_max {}", frames_,
                                       payload_bytes, frame_bytes_max));
            return;
        }
        want_bytes_ = kFrameHeaderBytes + payload_bytes;
        if (end_ - begin_ < want_bytes_) return;
        const std::string_view payload(p + kFrameHeaderBytes, payload_bytes);
        const std::uint32_t want_checksum = decode_u32(p + 4);
        const std::uint32_t got_checksum = frame_checksum(payload);
        if (got_checksum != want_checksum) {
            protocol_error(
                fmt::format("checksum mismatch in frame {} ({} bytes): {:#010x}, frame "
                            "says {:#010x}",
                            frames_, payload_bytes, got_checksum, want_checksum));
            return;
        }
        begin_ += want_bytes_;
        want_bytes_ = kFrameHeaderBytes;
        ++frames_;
        if (PeerStats* s = owner_->counters(sender_)) ++s->frames_received;
        // May call back into the transport, even close it (and us).
        owner_->on_message(sender_, payload);
    }
}

void Incoming::protocol_error(const std::string& what) {
    spdlog::error("peer transport {}: {}: {}; closing it", owner_->name, name(), what);
    close();
}

void Incoming::close() {
    if (!is_open_) return;
    is_open_ = false;
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    deadline_timer_.cancel();
    owner_->forget_incoming(number_);  // may destroy the map's reference; handlers hold one
}

// ---- Impl ------------------------------------------------------------------

Status Impl::start() {
    asio::error_code ec;
    bind_address = asio::ip::make_address(options.host, ec);
    if (ec) {
        // A host name: resolve it once, as the server does for its client port.
        tcp::resolver resolver(io);
        const auto results = resolver.resolve(options.host, std::to_string(options.port), ec);
        if (ec || results.empty()) {
            return Status::errorf(Code::kInvalid, "peer transport: cannot resolve host '{}': {}",
                                  options.host, ec ? ec.message() : "no address");
        }
        bind_address = results.begin()->endpoint().address();
    }
    const tcp::endpoint endpoint(bind_address, options.port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) port = acceptor.local_endpoint(ec).port();
    if (ec) {
        return Status::errorf(Code::kIoError, "peer transport: cannot listen on {}: {}",
                              endpoint_name(endpoint), ec.message());
    }
    name = fmt::format("node {} ({})", options.self.value,
                       endpoint_name(tcp::endpoint(bind_address, port)));
    accept_next();
    set_peers(options.peers);
    return Status::ok();
}

void Impl::accept_next() {
    acceptor.async_accept(
        [self = shared_from_this()](const asio::error_code& ec, tcp::socket socket) {
            if (self->closed) return;
            if (ec) {
                // EMFILE and friends: wait a little rather than spin.
                spdlog::warn("peer transport {}: accept: {}", self->name, ec.message());
                self->accept_retry_timer.expires_after(kAcceptRetryDelay);
                self->accept_retry_timer.async_wait([self](const asio::error_code& ec) {
                    if (!ec && !self->closed) self->accept_next();
                });
                return;
            }
            if (self->incoming.size() >= kIncomingConnectionsMax) {
                asio::error_code ignored;
                spdlog::error("peer transport {}: {} connections open; closing a new one from {}",
                              self->name, self->incoming.size(),
                              endpoint_name(socket.remote_endpoint(ignored)));
                socket.close(ignored);
            } else {
                const std::uint64_t number = self->next_incoming_number++;
                auto conn = std::make_shared<Incoming>(self, std::move(socket), number);
                self->incoming.emplace(number, conn);
                conn->start();
            }
            self->accept_next();
        });
}

void Impl::set_peers(std::vector<PeerAddress> wanted_list) {
    if (closed) return;
    std::map<raft::NodeId, PeerAddress> wanted;
    for (PeerAddress& p : wanted_list) {
        if (p.id == raft::NodeId(0)) {
            spdlog::error("peer transport {}: ignoring a peer with id 0 at {}", name,
                          address_name(p));
            continue;
        }
        if (p.id == options.self) continue;
        wanted.insert_or_assign(p.id, std::move(p));
    }
    for (auto it = peers.begin(); it != peers.end();) {
        if (wanted.contains(it->first)) {
            ++it;
            continue;
        }
        spdlog::info("peer transport {}: peer {} removed", name, it->first.value);
        it->second->close();
        close_incoming_from(it->first, 0);
        it = peers.erase(it);
    }
    for (auto& [id, address] : wanted) {
        const auto it = peers.find(id);
        if (it == peers.end()) {
            auto peer = std::make_shared<Outgoing>(shared_from_this(), std::move(address));
            peers.emplace(id, peer);
            peer->start();
        } else if (!(it->second->address() == address)) {
            it->second->set_address(std::move(address));
        }
    }
}

void Impl::send(raft::NodeId to, std::string payload) {
    if (closed) return;
    const auto it = peers.find(to);
    if (it == peers.end()) {
        spdlog::debug("peer transport {}: dropping a {}-byte message to node {}, not a peer", name,
                      payload.size(), to.value);
        return;
    }
    it->second->send(std::move(payload));
}

PeerStats Impl::stats(raft::NodeId peer) const {
    const auto it = peers.find(peer);
    return it == peers.end() ? PeerStats{} : it->second->stats();
}

PeerStats* Impl::counters(raft::NodeId peer) {
    const auto it = peers.find(peer);
    return it == peers.end() ? nullptr : &it->second->counters();
}

void Impl::on_incoming_ready(const Incoming& conn) {
    close_incoming_from(conn.sender(), conn.number());
}

void Impl::close_incoming_from(raft::NodeId sender, std::uint64_t except_number) {
    std::vector<std::shared_ptr<Incoming>> stale;
    for (const auto& [number, conn] : incoming) {
        if (conn->sender() == sender && number != except_number) stale.push_back(conn);
    }
    for (const auto& conn : stale) {
        spdlog::debug("peer transport {}: closing an older connection from peer {}", name,
                      sender.value);
        conn->close();
    }
}

milliseconds Impl::jitter(milliseconds backoff) {
    const std::int64_t high = std::max<std::int64_t>(1, backoff.count());
    return milliseconds(std::uniform_int_distribution<std::int64_t>(high / 2, high)(rng));
}

void Impl::close() {
    if (closed) return;
    closed = true;
    asio::error_code ignored;
    acceptor.close(ignored);
    accept_retry_timer.cancel();
    // Move the maps out first: closing an Incoming erases it from `incoming`.
    // Clearing them also breaks the Impl <-> connection reference cycle.
    auto old_peers = std::move(peers);
    auto old_incoming = std::move(incoming);
    peers.clear();
    incoming.clear();
    for (auto& [id, peer] : old_peers) peer->close();
    for (auto& [number, conn] : old_incoming) conn->close();
}

// ---- PeerTransport ---------------------------------------------------------

Result<std::unique_ptr<PeerTransport>> PeerTransport::open(asio::io_context& io,
                                                           PeerTransportOptions options,
                                                           OnMessage on_message) {
    if (options.self == raft::NodeId(0)) {
        return Status::error(Code::kInvalid, "peer transport: node id 0 is reserved");
    }
    if (options.cluster_id.size() > kClusterIdBytesMax) {
        return Status::errorf(Code::kInvalid, "peer transport: cluster id of {} bytes (at most {})",
                              options.cluster_id.size(), kClusterIdBytesMax);
    }
    if (options.host.empty()) {
        return Status::error(Code::kInvalid, "peer transport: no host to listen on");
    }
    if (options.backoff_min.count() <= 0 || options.backoff_min > options.backoff_max) {
        return Status::errorf(Code::kInvalid,
                              "peer transport: backoff must be 0 < min ({} ms) <= max ({} ms)",
                              options.backoff_min.count(), options.backoff_max.count());
    }
    for (const PeerAddress& p : options.peers) {
        if (p.id == raft::NodeId(0)) {
            return Status::errorf(Code::kInvalid, "peer transport: peer at {} has id 0",
                                  address_name(p));
        }
    }
    RAFTKV_ASSERT(on_message != nullptr, "peer transport needs a message callback");
    auto impl = std::make_shared<Impl>(io, std::move(options), std::move(on_message));
    if (Status s = impl->start(); !s.is_ok()) {
        impl->close();
        return s;
    }
    return std::unique_ptr<PeerTransport>(new PeerTransport(std::move(impl)));
}

PeerTransport::PeerTransport(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

PeerTransport::~PeerTransport() { impl_->close(); }

void PeerTransport::send(raft::NodeId to, std::string payload) {
    impl_->send(to, std::move(payload));
}

void PeerTransport::set_peers(std::vector<PeerAddress> peers) {
    impl_->set_peers(std::move(peers));
}

std::uint16_t PeerTransport::port() const { return impl_->port; }

PeerStats PeerTransport::stats(raft::NodeId peer) const { return impl_->stats(peer); }

void PeerTransport::close() { impl_->close(); }

}  // namespace raftkv::net
