// peer_incoming.cc — Incoming, a connection a peer opened to us: check its
// hello (magic, version, sender, receiver, cluster id) and answer it, then
// parse frames and hand each payload to the transport's callback.
//
// Only reads, apart from the handshake reply; does not look inside a
// payload (raft/message_codec.h does) and does not keep the per-peer
// counters (Impl does; it only bumps them). Wire format:
// docs/peer_protocol.md, "Handshake" and "Frames".
#include <spdlog/spdlog.h>

#include <cstring>
#include <string>
#include <string_view>

#include "base/assert.h"
#include "base/coding.h"
#include "net/peer_transport_internal.h"

namespace raftkv::net::internal {

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

}  // namespace raftkv::net::internal
