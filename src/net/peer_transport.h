// peer_transport.h — TCP between the servers of a cluster, on their peer
// ports: handshake, framing, reconnect, bounded send queues.
//
// Each server keeps one outgoing connection to every peer and sends on it
// only; it receives on the connections others opened to it. A connection
// starts with a handshake that names the cluster and both ends, so a server
// of another cluster, or one that dialed the wrong address, is refused with
// a logged error on both sides. Then frames flow one way: a length, a
// checksum and an opaque payload (an encoded raft::Message,
// raft/message_codec.h; this layer does not look inside). Formats:
// docs/peer_protocol.md, "Handshake" and "Frames".
//
// Does not retry or acknowledge messages: Raft tolerates loss, so a frame
// that does not fit a peer's queue, or is queued for a peer that is removed,
// is dropped and counted. Frames still queued when a connection breaks are
// sent again on the next one (Raft tolerates duplicates too). Outgoing
// sockets are bound to our own host before connecting (DESIGN.md,
// Addresses), so a test can cut the link between two addresses.
//
// Not thread-safe: everything runs on the io_context's one thread, and so do
// the callbacks. Nothing here blocks: connecting, resolving and writing are
// asynchronous, and a dead peer only fills its own queue.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "raft/types.h"

namespace raftkv::net {

inline constexpr std::uint32_t kPeerProtocolVersion = 1;
inline constexpr std::size_t kClusterIdBytesMax = 255;

struct PeerAddress {
    raft::NodeId id;
    std::string host;  // an IP address or a name (resolved on each connect)
    std::uint16_t port = 0;

    bool operator==(const PeerAddress&) const = default;
};

struct PeerTransportOptions {
    std::string cluster_id;  // must match on both ends; at most kClusterIdBytesMax bytes
    raft::NodeId self;
    // Our own peer host: we listen on host:port, and bind outgoing sockets
    // to host (port 0) before connecting, so faults can be made per
    // address pair.
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;          // 0: an ephemeral port (tests); see port()
    std::vector<PeerAddress> peers;  // everyone else (an entry for self is ignored)
    // Per peer: send() drops a frame that would take the queue past this
    // (Raft tolerates loss), and counts it.
    std::size_t queue_bytes_max = 64u << 20;
    // A larger incoming frame closes its connection with a logged error;
    // send() drops a larger payload.
    std::uint32_t frame_bytes_max = 64u << 20;
    std::chrono::milliseconds backoff_min{50}, backoff_max{2000};
    // Connect plus handshake, on either side; past it the attempt fails.
    std::chrono::milliseconds handshake_timeout{5000};
    // An outgoing connection whose sent bytes stay unacknowledged this long
    // is given up (TCP_USER_TIMEOUT) and opened again. Without it, a link cut
    // for a while comes back only at TCP's next retransmission, whose backoff
    // doubles up to minutes: after a 16 s partition the cluster waited 10 s
    // more to commit. 0 leaves the kernel's default.
    std::chrono::milliseconds unacked_timeout{2000};
};

// Counters for one peer, since it was added. Outgoing: connected, frames
// sent and dropped, connects, failures; incoming: frames received and
// refused handshakes from a server claiming this id.
struct PeerStats {
    bool connected = false;  // our outgoing connection is through its handshake
    std::uint64_t frames_sent = 0, frames_received = 0, frames_dropped = 0, connects = 0,
                  connect_failures = 0, handshake_failures = 0;
    std::uint64_t queued_bytes = 0;  // frames (header + payload) waiting or being written

    bool operator==(const PeerStats&) const = default;
};

// Owned by the server; open() starts listening and connecting at once.
// Must be closed, or destroyed, on the io_context's thread; the io_context
// may outlive it (pending handlers then do nothing).
class PeerTransport {
public:
    // `from` is the id the sending server gave in its handshake; `payload`
    // is valid only during the call. Called on the io_context's thread; it
    // may call send(), set_peers() and close().
    using OnMessage = std::function<void(raft::NodeId from, std::string_view payload)>;

    // Listens on options.host:options.port and starts connecting to every
    // peer. kInvalid for a bad option (self 0, a peer id 0, a cluster id
    // too long, backoff_min 0 or above backoff_max); kIoError if the port
    // cannot be bound.
    static Result<std::unique_ptr<PeerTransport>> open(asio::io_context& io,
                                                       PeerTransportOptions options,
                                                       OnMessage on_message);
    ~PeerTransport();
    PeerTransport(const PeerTransport&) = delete;
    PeerTransport& operator=(const PeerTransport&) = delete;

    // Queues `payload` (an encoded message) for peer `to` and returns at
    // once. Dropped, and counted in the peer's frames_dropped, when it would
    // take the queue past queue_bytes_max or is larger than frame_bytes_max;
    // dropped with a debug log when `to` is not a peer or after close().
    void send(raft::NodeId to, std::string payload);

    // The membership changed: connects to new peers, closes the connections
    // to and from removed ones (dropping their queues and stats), and
    // reconnects to a peer whose address changed (keeping its queue).
    void set_peers(std::vector<PeerAddress> peers);

    std::uint16_t port() const;  // the bound peer port
    // Zeros for an id that is not a peer.
    PeerStats stats(raft::NodeId peer) const;

    // Stops accepting and closes every connection; queued frames are
    // dropped. Idempotent; later sends are dropped.
    void close();

    struct Impl;  // peer_transport_internal.h

private:
    explicit PeerTransport(std::shared_ptr<Impl> impl);
    // Shared with the handlers in flight, which keep it alive and do
    // nothing once it is closed.
    std::shared_ptr<Impl> impl_;
};

}  // namespace raftkv::net
