// peer_transport.cc — see peer_transport.h: PeerTransport and its Impl,
// which listens and accepts, keeps one Outgoing per peer and the accepted
// Incoming connections, and follows membership changes.
//
// Does not speak the protocol itself: connecting, the handshake and frames
// are in peer_outgoing.cc and peer_incoming.cc; what the pieces share is in
// peer_transport_internal.h. Wire format: docs/peer_protocol.md.
#include "net/peer_transport.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "base/assert.h"
#include "net/peer_transport_internal.h"

namespace raftkv::net {

using asio::ip::tcp;
using internal::address_name;
using internal::endpoint_name;
using internal::Incoming;
using internal::Outgoing;
using std::chrono::milliseconds;

namespace {

// Accepted connections, handshaking or not. A cluster needs one per peer;
// past this, new ones are closed at once.
constexpr std::size_t kIncomingConnectionsMax = 256;
constexpr milliseconds kAcceptRetryDelay{100};

}  // namespace

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
