// peer_transport_internal.h — what the pieces of the peer transport share:
// the wire constants, small codec helpers, PeerTransport::Impl, and the
// Outgoing and Incoming connection classes.
//
// Three objects, all owned through shared_ptr so that a handler in flight
// keeps what it touches alive:
//   Impl      the listening socket, the peers, the accepted connections;
//   Outgoing  our connection to one peer: connect, handshake, queue, write,
//             reconnect with backoff;
//   Incoming  a connection a peer opened to us: handshake, then frames.
// Handlers carry the attempt they belong to; a handler of a closed or
// replaced attempt returns without touching anything.
//
// Not an API: only src/net/peer_transport.cc, peer_outgoing.cc and
// peer_incoming.cc include it; everyone else uses peer_transport.h. It
// declares the three objects; their handlers live in those three files.
// Wire format: docs/peer_protocol.md, "Handshake" and "Frames".
#pragma once

#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/checksum.h"
#include "base/coding.h"
#include "net/peer_transport.h"

namespace raftkv::net::internal {

using asio::ip::tcp;
using std::chrono::milliseconds;

inline constexpr std::string_view kMagic = "RAFTKVPR";
// hello: magic, version | sender, receiver, cluster_id_bytes | cluster_id.
inline constexpr std::size_t kHelloPrefixBytes = 8 + 4;  // the same in every version
inline constexpr std::size_t kHelloRestBytes = 8 + 8 + 1;
// reply: magic, version, status, reason_bytes | reason.
inline constexpr std::size_t kReplyHeaderBytes = 8 + 4 + 1 + 2;
inline constexpr std::size_t kReasonBytesMax = 1024;
inline constexpr std::size_t kFrameHeaderBytes = 8;  // payload_bytes u32, checksum u32
static_assert(kMagic.size() == 8);
static_assert(kClusterIdBytesMax <= 255, "cluster_id_bytes is a u8");

inline constexpr std::size_t kReadChunkBytes = 64 * 1024;

enum class HelloStatus : std::uint8_t {
    kAccepted = 0,
    kVersion = 1,   // the acceptor does not speak the hello's version
    kCluster = 2,   // another cluster id
    kReceiver = 3,  // the acceptor is not the node the sender meant to reach
    kSender = 4,    // sender id 0, or the acceptor's own id
};

inline std::uint32_t frame_checksum(std::string_view payload) {
    return static_cast<std::uint32_t>(checksum(payload));  // low 32 bits of XXH3-64
}

inline std::string endpoint_name(const tcp::endpoint& e) {
    return e.address().is_v6() ? fmt::format("[{}]:{}", e.address().to_string(), e.port())
                               : fmt::format("{}:{}", e.address().to_string(), e.port());
}

inline std::string address_name(const PeerAddress& a) {
    return fmt::format("{}:{}", a.host, a.port);
}

inline std::string make_reply(HelloStatus status, std::string_view reason) {
    reason = reason.substr(0, kReasonBytesMax);
    std::string out(kMagic);
    put_u32(&out, kPeerProtocolVersion);
    put_u8(&out, static_cast<std::uint8_t>(status));
    out.push_back(static_cast<char>(reason.size() & 0xff));
    out.push_back(static_cast<char>(reason.size() >> 8));
    out.append(reason);
    return out;
}

class Outgoing;
class Incoming;

}  // namespace raftkv::net::internal

namespace raftkv::net {

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
    void on_incoming_ready(const internal::Incoming& conn);
    void forget_incoming(std::uint64_t number) { incoming.erase(number); }
    void close_incoming_from(raft::NodeId sender, std::uint64_t except_number);
    // A backoff delay with jitter: uniform in [backoff / 2, backoff].
    std::chrono::milliseconds jitter(std::chrono::milliseconds backoff);

    asio::io_context& io;
    const PeerTransportOptions options;
    const OnMessage on_message;
    asio::ip::tcp::acceptor acceptor;
    asio::steady_timer accept_retry_timer;
    asio::ip::address bind_address;  // options.host, resolved once
    std::uint16_t port = 0;
    std::string name;  // "node 1 (127.0.0.1:17001)", for logs
    std::map<raft::NodeId, std::shared_ptr<internal::Outgoing>> peers;
    std::map<std::uint64_t, std::shared_ptr<internal::Incoming>> incoming;  // by connection number
    std::uint64_t next_incoming_number = 1;
    std::mt19937_64 rng;
    bool closed = false;
};

using Impl = PeerTransport::Impl;

}  // namespace raftkv::net

namespace raftkv::net::internal {

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

}  // namespace raftkv::net::internal
