// peer_outgoing.cc — Outgoing, our connection to one peer: connect (bound
// to our own host), send the hello and check the reply, queue and flush
// frames in gathered writes, and reconnect with jittered backoff.
//
// Only sends: it never reads a frame, and does not decide who the peers are
// (PeerTransport::Impl, peer_transport.cc, does). Does not retry or
// acknowledge a frame: a broken connection sends its queue again on the
// next one. Wire format: docs/peer_protocol.md, "Handshake", "Frames" and
// "Reconnecting".
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "base/assert.h"
#include "base/coding.h"
#include "net/peer_transport_internal.h"

namespace raftkv::net::internal {
namespace {

// A gathered write: at most this many frames (two iovecs each, well under
// IOV_MAX) and, past the first frame, this many bytes.
constexpr std::size_t kWriteFramesMax = 256;
constexpr std::size_t kWriteBytesMax = 1u << 20;

}  // namespace

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
        if (::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms) !=
            0) {
            spdlog::warn(
                "peer transport {}: cannot set TCP_USER_TIMEOUT on the connection to {}: "
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

}  // namespace raftkv::net::internal
