// peer_transport_test.cc — PeerTransport on loopback: transports talking to
// each other, and hand-written peers that send what a transport never would.
//
// Every test runs its transports on one asio::io_context driven from the
// test thread; run_until() runs handlers until a condition holds or a
// deadline passes. No threads, no sleeps. Ports are ephemeral (port 0);
// a transport restarted "on the same port" reopens the port its
// predecessor got. Contract under test: src/net/peer_transport.h; wire
// format: docs/peer_protocol.md, "Handshake" and "Frames".
#include "net/peer_transport.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "base/checksum.h"
#include "base/coding.h"
#include "testing/seed.h"

namespace raftkv::net {
namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;
using raft::NodeId;

constexpr auto kDeadline = 10s;

struct Received {
    NodeId from;
    std::string payload;
    bool operator==(const Received&) const = default;
};

// The bytes of a hello and of a frame, written from docs/peer_protocol.md,
// independently of the transport.
std::string hello_bytes(std::uint32_t version, std::uint64_t sender, std::uint64_t receiver,
                        std::string_view cluster_id) {
    std::string out("RAFTKVPR");
    put_u32(&out, version);
    put_u64(&out, sender);
    put_u64(&out, receiver);
    put_u8(&out, static_cast<std::uint8_t>(cluster_id.size()));
    out.append(cluster_id);
    return out;
}

std::string frame_bytes(std::string_view payload, std::optional<std::uint32_t> length = {},
                        std::optional<std::uint32_t> sum = {}) {
    std::string out;
    put_u32(&out, length.value_or(static_cast<std::uint32_t>(payload.size())));
    put_u32(&out, sum.value_or(static_cast<std::uint32_t>(checksum(payload))));
    out.append(payload);
    return out;
}

std::string message(std::uint64_t from, std::uint64_t to, int i) {
    return fmt::format("{}->{} #{}", from, to, i);
}

class PeerTransportTest : public ::testing::Test {
protected:
    ~PeerTransportTest() override {
        for (auto& [id, t] : transports_) {
            if (t) t->close();
        }
        transports_.clear();
        io_.restart();
        io_.poll();
    }

    static PeerTransportOptions options(std::uint64_t id, std::string cluster_id = "test") {
        return PeerTransportOptions{.cluster_id = std::move(cluster_id),
                                    .self = NodeId(id),
                                    .host = "127.0.0.1",
                                    .backoff_min = 5ms,
                                    .backoff_max = 50ms,
                                    .handshake_timeout = 2s};
    }

    // Opens transport `o.self`, whose messages land in inbox(o.self).
    PeerTransport& open(PeerTransportOptions o) {
        const std::uint64_t id = o.self.value;
        Result<std::unique_ptr<PeerTransport>> t =
            PeerTransport::open(io_, std::move(o), [this, id](NodeId from, std::string_view p) {
                inboxes_[id].push_back({from, std::string(p)});
                if (on_receive_) on_receive_(id, from, p);
            });
        RAFTKV_ASSERT(t.has_value(), "open: {}", t.error().to_string());
        transports_[id] = std::move(*t);
        return *transports_[id];
    }

    PeerTransport& transport(std::uint64_t id) { return *transports_.at(id); }
    std::vector<Received>& inbox(std::uint64_t id) { return inboxes_[id]; }
    PeerAddress address_of(std::uint64_t id) {
        return {.id = NodeId(id), .host = "127.0.0.1", .port = transport(id).port()};
    }

    // Opens transports with these ids, each with all the others as peers.
    void open_full_mesh(std::vector<std::uint64_t> ids) {
        for (std::uint64_t id : ids) open(options(id));
        for (std::uint64_t id : ids) {
            std::vector<PeerAddress> peers;
            for (std::uint64_t other : ids) {
                if (other != id) peers.push_back(address_of(other));
            }
            transport(id).set_peers(peers);
        }
    }

    bool run_until(const std::function<bool()>& done,
                   std::chrono::milliseconds timeout = kDeadline) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            io_.restart();
            io_.run_one_until(deadline);
        }
        return true;
    }

    bool connected(std::uint64_t from, std::uint64_t to) {
        return transport(from).stats(NodeId(to)).connected;
    }

    // A plain socket playing a peer by hand. Connecting on loopback
    // completes in the kernel, without the transport's loop running.
    tcp::socket raw_connect(std::uint16_t port) {
        tcp::socket s(io_);
        asio::error_code ec;
        s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
        EXPECT_FALSE(ec) << ec.message();
        return s;
    }
    static void raw_write(tcp::socket& s, std::string_view bytes) {
        asio::error_code ec;
        asio::write(s, asio::buffer(bytes), ec);  // small: fits the socket buffer at once
        EXPECT_FALSE(ec) << ec.message();
    }
    // Reads exactly n bytes (or until the connection ends) while the loop runs.
    std::string raw_read(tcp::socket& s, std::size_t n) {
        std::string out(n, '\0');
        bool done = false;
        std::size_t got = 0;
        asio::async_read(s, asio::buffer(out), [&](const asio::error_code&, std::size_t k) {
            got = k;
            done = true;
        });
        EXPECT_TRUE(run_until([&] { return done; }));
        out.resize(got);
        return out;
    }
    // Reads until the other side closes; true if it did before the deadline.
    bool raw_read_until_closed(tcp::socket& s, std::string* read = nullptr) {
        std::string buf;
        bool closed = false;
        asio::async_read(s, asio::dynamic_buffer(buf),
                         [&](const asio::error_code& ec, std::size_t) { closed = bool(ec); });
        const bool ok = run_until([&] { return closed; });
        if (!ok) s.cancel();
        run_until([&] { return closed; }, 1s);
        if (read) *read = buf;
        return ok;
    }
    // Connects by hand as `sender` and passes the handshake with `receiver`.
    tcp::socket raw_peer(std::uint64_t sender, std::uint64_t receiver) {
        tcp::socket s = raw_connect(transport(receiver).port());
        raw_write(s, hello_bytes(1, sender, receiver, "test"));
        const std::string reply = raw_read(s, 15);
        EXPECT_EQ(reply.size(), 15u);
        EXPECT_EQ(reply.substr(0, 8), "RAFTKVPR");
        EXPECT_EQ(reply.substr(8), std::string("\x01\x00\x00\x00\x00\x00\x00", 7))
            << "version 1, accepted, no reason";
        return s;
    }

    asio::io_context io_;
    std::map<std::uint64_t, std::unique_ptr<PeerTransport>> transports_;
    std::map<std::uint64_t, std::vector<Received>> inboxes_;
    std::function<void(std::uint64_t at, NodeId from, std::string_view payload)> on_receive_;
};

TEST_F(PeerTransportTest, TwoTransportsExchangeMessagesInOrder) {
    open_full_mesh({1, 2});
    for (int i = 0; i < 1000; ++i) transport(1).send(NodeId(2), message(1, 2, i));
    for (int i = 0; i < 100; ++i) transport(2).send(NodeId(1), message(2, 1, i));
    ASSERT_TRUE(run_until([&] { return inbox(2).size() == 1000 && inbox(1).size() == 100; }))
        << inbox(2).size() << " and " << inbox(1).size() << " received";
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(inbox(2)[i], (Received{NodeId(1), message(1, 2, i)}));
    for (int i = 0; i < 100; ++i) ASSERT_EQ(inbox(1)[i], (Received{NodeId(2), message(2, 1, i)}));
    const PeerStats s = transport(1).stats(NodeId(2));
    EXPECT_TRUE(s.connected);
    EXPECT_EQ(s.frames_sent, 1000u);
    EXPECT_EQ(s.frames_dropped, 0u);
    EXPECT_EQ(s.connects, 1u);
    EXPECT_EQ(s.queued_bytes, 0u);
    EXPECT_EQ(transport(1).stats(NodeId(2)).frames_received, 100u);
    EXPECT_EQ(transport(2).stats(NodeId(1)).frames_received, 1000u);
}

TEST_F(PeerTransportTest, ThreeTransportsExchangeMessagesInOrder) {
    open_full_mesh({1, 2, 3});
    for (int i = 0; i < 300; ++i) {
        for (std::uint64_t from = 1; from <= 3; ++from) {
            for (std::uint64_t to = 1; to <= 3; ++to) {
                if (from != to) transport(from).send(NodeId(to), message(from, to, i));
            }
        }
    }
    ASSERT_TRUE(run_until([&] {
        return inbox(1).size() == 600 && inbox(2).size() == 600 && inbox(3).size() == 600;
    }));
    for (std::uint64_t to = 1; to <= 3; ++to) {
        std::map<std::uint64_t, int> next;  // per sender: the next message expected
        for (const Received& r : inbox(to)) {
            ASSERT_EQ(r.payload, message(r.from.value, to, next[r.from.value]++));
        }
    }
}

TEST_F(PeerTransportTest, LargeAndEmptyMessagesArriveWhole) {
    open_full_mesh({1, 2});
    const std::uint64_t seed = testing::test_seed();
    SCOPED_TRACE(testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    std::vector<std::string> sent;
    for (std::size_t size :
         {std::size_t{0}, std::size_t{1}, std::size_t{65536 - 8}, std::size_t{65536},
          std::size_t{(1u << 20) + 3}, std::size_t{5}, std::size_t{3u << 20}}) {
        std::string p(size, '\0');
        for (char& c : p) c = static_cast<char>(rng());
        sent.push_back(p);
        transport(1).send(NodeId(2), p);
    }
    ASSERT_TRUE(run_until([&] { return inbox(2).size() == sent.size(); }));
    for (std::size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(inbox(2)[i].payload, sent[i]) << i;
}

TEST_F(PeerTransportTest, ReconnectsAfterThePeerRestarts) {
    open_full_mesh({1, 2});
    transport(1).send(NodeId(2), "before");
    ASSERT_TRUE(run_until([&] { return inbox(2).size() == 1; }));
    const std::uint16_t port2 = transport(2).port();

    transport(2).close();
    ASSERT_TRUE(run_until([&] { return !connected(1, 2); }));
    // Node 2 comes back on the same port with a new transport.
    PeerTransportOptions o = options(2);
    o.port = port2;
    o.peers = {address_of(1)};
    open(std::move(o));
    inbox(2).clear();
    ASSERT_TRUE(run_until([&] { return connected(1, 2) && connected(2, 1); }));
    transport(1).send(NodeId(2), "after");
    transport(2).send(NodeId(1), "back");
    ASSERT_TRUE(run_until([&] {
        return !inbox(2).empty() && inbox(2).back().payload == "after" && inbox(1).size() == 1;
    }));
    EXPECT_EQ(inbox(1).back(), (Received{NodeId(2), "back"}));
    EXPECT_EQ(transport(1).stats(NodeId(2)).connects, 2u);
}

TEST_F(PeerTransportTest, QueuedMessagesGoOutOnceThePeerListens) {
    // Node 1 starts first: what it sends waits in the queue until node 2 is up.
    PeerTransportOptions o1 = options(1);
    tcp::acceptor placeholder(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const std::uint16_t port2 = placeholder.local_endpoint().port();
    placeholder.close();
    o1.peers = {{.id = NodeId(2), .host = "127.0.0.1", .port = port2}};
    open(std::move(o1));
    for (int i = 0; i < 10; ++i) transport(1).send(NodeId(2), message(1, 2, i));
    ASSERT_TRUE(run_until([&] { return transport(1).stats(NodeId(2)).connect_failures >= 2; }));
    EXPECT_EQ(transport(1).stats(NodeId(2)).queued_bytes, 10u * (8 + message(1, 2, 0).size()));

    PeerTransportOptions o2 = options(2);
    o2.port = port2;
    open(std::move(o2));
    ASSERT_TRUE(run_until([&] { return inbox(2).size() == 10; }));
    for (int i = 0; i < 10; ++i) EXPECT_EQ(inbox(2)[i].payload, message(1, 2, i));
}

TEST_F(PeerTransportTest, RefusesAServerOfAnotherCluster) {
    open(options(1, "alpha"));
    open(options(2, "beta"));
    transport(1).set_peers({address_of(2)});
    transport(2).set_peers({address_of(1)});
    transport(1).send(NodeId(2), "hello beta");
    transport(2).send(NodeId(1), "hello alpha");
    // Each side refuses the other's connection, and each sees its own refused.
    ASSERT_TRUE(run_until([&] {
        return transport(1).stats(NodeId(2)).handshake_failures >= 2 &&
               transport(2).stats(NodeId(1)).handshake_failures >= 2;
    }));
    EXPECT_FALSE(connected(1, 2));
    EXPECT_FALSE(connected(2, 1));
    EXPECT_TRUE(inbox(1).empty());
    EXPECT_TRUE(inbox(2).empty());
    EXPECT_EQ(transport(1).stats(NodeId(2)).frames_sent, 0u);
    EXPECT_EQ(transport(1).stats(NodeId(2)).connects, 0u);
}

TEST_F(PeerTransportTest, RefusesAConnectionMeantForAnotherNode) {
    // Node 1 believes node 3 listens where node 2 does.
    open(options(1));
    open(options(2));
    transport(1).set_peers({{.id = NodeId(3), .host = "127.0.0.1", .port = transport(2).port()}});
    transport(1).send(NodeId(3), "for 3");
    ASSERT_TRUE(run_until([&] { return transport(1).stats(NodeId(3)).handshake_failures >= 1; }));
    EXPECT_FALSE(connected(1, 3));
    EXPECT_TRUE(inbox(2).empty());

    // The refusal says why, in the reply a hand-written peer reads.
    tcp::socket s = raw_connect(transport(2).port());
    raw_write(s, hello_bytes(1, 1, 3, "test"));
    std::string reply;
    ASSERT_TRUE(raw_read_until_closed(s, &reply));
    ASSERT_GE(reply.size(), 15u);
    EXPECT_EQ(reply[12], 3) << "status: wrong receiver";
    EXPECT_NE(reply.find("this server is node 2, not node 3"), std::string::npos) << reply;
}

TEST_F(PeerTransportTest, RefusesAnotherProtocolVersionWithAReason) {
    open_full_mesh({1, 2});
    tcp::socket s = raw_connect(transport(1).port());
    raw_write(s, hello_bytes(2, 2, 1, "test"));
    std::string reply;
    ASSERT_TRUE(raw_read_until_closed(s, &reply));
    ASSERT_GE(reply.size(), 15u);
    EXPECT_EQ(reply.substr(0, 8), "RAFTKVPR");
    EXPECT_EQ(decode_u32(reply.data() + 8), 1u) << "the acceptor's version";
    EXPECT_EQ(reply[12], 1) << "status: version";
    const std::size_t reason_bytes = static_cast<std::uint8_t>(reply[13]) |
                                     static_cast<std::size_t>(static_cast<std::uint8_t>(reply[14]))
                                         << 8;
    EXPECT_EQ(reply.size(), 15 + reason_bytes);
    EXPECT_EQ(reply.substr(15), "peer protocol version 2 is not supported: this server speaks 1");
}

TEST_F(PeerTransportTest, RefusesSenderIdZeroOrItsOwnId) {
    open(options(1));
    for (std::uint64_t sender : {0, 1}) {
        SCOPED_TRACE(sender);
        tcp::socket s = raw_connect(transport(1).port());
        raw_write(s, hello_bytes(1, sender, 1, "test"));
        std::string reply;
        ASSERT_TRUE(raw_read_until_closed(s, &reply));
        ASSERT_GE(reply.size(), 15u);
        EXPECT_EQ(reply[12], 4) << "status: sender";
    }
}

TEST_F(PeerTransportTest, GarbageOnThePeerPortClosesOnlyThatConnection) {
    open_full_mesh({1, 2});
    tcp::socket s = raw_connect(transport(1).port());
    raw_write(s, "GET / HTTP/1.1\r\nHost: example\r\n\r\n");
    std::string reply;
    ASSERT_TRUE(raw_read_until_closed(s, &reply));
    EXPECT_EQ(reply, "") << "no reply to a stranger";
    transport(2).send(NodeId(1), "still here");
    ASSERT_TRUE(run_until([&] { return inbox(1).size() == 1; }));
    EXPECT_EQ(inbox(1)[0], (Received{NodeId(2), "still here"}));
}

TEST_F(PeerTransportTest, BadChecksumClosesThatConnection) {
    open_full_mesh({1, 2});
    tcp::socket s = raw_peer(7, 1);  // not a configured peer: accepted all the same
    raw_write(s, frame_bytes("good") + frame_bytes("evil", {}, 12345) + frame_bytes("never"));
    ASSERT_TRUE(raw_read_until_closed(s));
    ASSERT_EQ(inbox(1).size(), 1u);
    EXPECT_EQ(inbox(1)[0], (Received{NodeId(7), "good"}));
    transport(2).send(NodeId(1), "still here");
    ASSERT_TRUE(run_until([&] { return inbox(1).size() == 2; }));
    EXPECT_EQ(inbox(1)[1], (Received{NodeId(2), "still here"}));
}

TEST_F(PeerTransportTest, OversizedFrameClosesThatConnection) {
    PeerTransportOptions o = options(1);
    o.frame_bytes_max = 1000;
    open(std::move(o));
    open(options(2));
    transport(1).set_peers({address_of(2)});
    transport(2).set_peers({address_of(1)});

    // Not as id 2: node 2's own connection would replace this one.
    tcp::socket s = raw_peer(7, 1);
    const std::string at_limit(1000, 'a');
    // Only the header of the big one: the transport must not wait for it.
    raw_write(s, frame_bytes(at_limit) + frame_bytes("", 1001, 0));
    ASSERT_TRUE(raw_read_until_closed(s));
    ASSERT_EQ(inbox(1).size(), 1u);
    EXPECT_EQ(inbox(1)[0].payload, at_limit);

    transport(2).send(NodeId(1), "still here");
    ASSERT_TRUE(run_until([&] { return inbox(1).size() == 2; }));
    EXPECT_EQ(inbox(1)[1].payload, "still here");
}

TEST_F(PeerTransportTest, SendDropsAPayloadOverTheFrameLimit) {
    PeerTransportOptions o = options(1);
    o.frame_bytes_max = 100;
    open(std::move(o));
    open(options(2));
    transport(1).set_peers({address_of(2)});
    transport(1).send(NodeId(2), std::string(101, 'x'));
    transport(1).send(NodeId(2), std::string(100, 'y'));
    ASSERT_TRUE(run_until([&] { return inbox(2).size() == 1; }));
    EXPECT_EQ(inbox(2)[0].payload, std::string(100, 'y'));
    EXPECT_EQ(transport(1).stats(NodeId(2)).frames_dropped, 1u);
}

TEST_F(PeerTransportTest, ADeadPeerBlocksNoOneAndItsQueueIsBounded) {
    tcp::acceptor placeholder(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const std::uint16_t dead_port = placeholder.local_endpoint().port();
    placeholder.close();  // nothing listens there now

    const std::size_t frame = 8 + 100;
    PeerTransportOptions o = options(1);
    o.queue_bytes_max = 10 * frame;
    open(std::move(o));
    open(options(3));
    transport(1).set_peers(
        {{.id = NodeId(2), .host = "127.0.0.1", .port = dead_port}, address_of(3)});
    // The queue bound is per peer: node 3's is never full, as each message
    // leaves before the next is sent, while node 2's fills and drops.
    for (int i = 0; i < 100; ++i) {
        transport(1).send(NodeId(2), std::string(100, 'd'));
        transport(1).send(NodeId(3), fmt::format("{:0>100}", i));
        ASSERT_TRUE(run_until([&] { return inbox(3).size() == static_cast<std::size_t>(i) + 1; }))
            << "message " << i << " to node 3";
    }
    PeerStats dead = transport(1).stats(NodeId(2));
    EXPECT_EQ(dead.frames_dropped, 90u);
    EXPECT_EQ(dead.queued_bytes, 10 * frame);
    ASSERT_TRUE(run_until([&] { return transport(1).stats(NodeId(2)).connect_failures >= 3; }));
    for (int i = 0; i < 100; ++i) EXPECT_EQ(inbox(3)[i].payload, fmt::format("{:0>100}", i));
    dead = transport(1).stats(NodeId(2));
    EXPECT_FALSE(dead.connected);
    EXPECT_EQ(dead.frames_sent, 0u);
    EXPECT_EQ(dead.queued_bytes, 10 * frame);
    EXPECT_EQ(transport(1).stats(NodeId(3)).frames_dropped, 0u);
}

TEST_F(PeerTransportTest, AStalledPeerFillsOnlyItsOwnQueue) {
    // Node 2 passes the handshake, then stops reading (a paused process):
    // the kernel buffers fill, and our write to it never completes.
    tcp::acceptor acceptor(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const PeerAddress stalled{
        .id = NodeId(2), .host = "127.0.0.1", .port = acceptor.local_endpoint().port()};
    PeerTransportOptions o = options(1);
    o.queue_bytes_max = 4u << 20;
    open(std::move(o));
    open(options(3));
    transport(1).set_peers({stalled, address_of(3)});
    std::optional<tcp::socket> accepted;
    acceptor.async_accept([&](const asio::error_code& ec, tcp::socket s) {
        ASSERT_FALSE(ec) << ec.message();
        accepted.emplace(std::move(s));
    });
    ASSERT_TRUE(run_until([&] { return accepted.has_value(); }));
    const std::string hello = hello_bytes(1, 1, 2, "test");
    EXPECT_EQ(raw_read(*accepted, hello.size()), hello);
    raw_write(*accepted, std::string("RAFTKVPR\x01\x00\x00\x00\x00\x00\x00", 15));
    ASSERT_TRUE(run_until([&] { return connected(1, 2); }));

    const std::string big(1u << 20, 'b');
    for (int i = 0; i < 64; ++i) {
        transport(1).send(NodeId(2), big);
        transport(1).send(NodeId(3), message(1, 3, i));
        ASSERT_TRUE(run_until([&] { return inbox(3).size() == static_cast<std::size_t>(i) + 1; }))
            << "message " << i << " to node 3";
    }
    const PeerStats s = transport(1).stats(NodeId(2));
    EXPECT_TRUE(s.connected);
    EXPECT_GT(s.frames_dropped, 0u);
    EXPECT_LE(s.queued_bytes, 4u << 20);
    EXPECT_EQ(s.frames_sent + s.frames_dropped + s.queued_bytes / (8 + big.size()), 64u);
}

TEST_F(PeerTransportTest, ASilentPeerTimesOutItsHandshake) {
    // Something accepts (the kernel does, from the backlog) but never answers.
    tcp::acceptor silent(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    PeerTransportOptions o = options(1);
    o.handshake_timeout = 100ms;
    o.peers = {{.id = NodeId(2), .host = "127.0.0.1", .port = silent.local_endpoint().port()}};
    open(std::move(o));
    transport(1).send(NodeId(2), "anyone?");
    ASSERT_TRUE(run_until([&] { return transport(1).stats(NodeId(2)).handshake_failures >= 2; }));
    EXPECT_FALSE(connected(1, 2));
}

TEST_F(PeerTransportTest, AConnectionWithoutHandshakeIsClosed) {
    PeerTransportOptions o = options(1);
    o.handshake_timeout = 100ms;
    open(std::move(o));
    tcp::socket s = raw_connect(transport(1).port());
    raw_write(s, "RAFTKV");  // part of the magic, then nothing
    EXPECT_TRUE(raw_read_until_closed(s));
}

TEST_F(PeerTransportTest, SetPeersAddsAndRemoves) {
    open(options(1));
    open(options(2));
    open(options(3));
    transport(2).set_peers({address_of(1)});
    transport(3).set_peers({address_of(1)});

    transport(1).send(NodeId(2), "to nobody");  // not a peer yet: dropped
    EXPECT_EQ(transport(1).stats(NodeId(2)), PeerStats{});

    transport(1).set_peers({address_of(2)});
    transport(1).send(NodeId(2), "one");
    ASSERT_TRUE(run_until([&] { return inbox(2).size() == 1; }));
    EXPECT_EQ(inbox(2)[0].payload, "one");

    transport(1).set_peers({address_of(2), address_of(3)});
    transport(1).send(NodeId(3), "two");
    transport(1).send(NodeId(2), "three");
    ASSERT_TRUE(run_until([&] { return inbox(3).size() == 1 && inbox(2).size() == 2; }));
    EXPECT_EQ(inbox(3)[0].payload, "two");
    EXPECT_EQ(inbox(2)[1].payload, "three");

    transport(1).set_peers({address_of(3)});  // 2 removed
    EXPECT_EQ(transport(1).stats(NodeId(2)), PeerStats{});
    transport(1).send(NodeId(2), "dropped");
    transport(1).send(NodeId(3), "four");
    ASSERT_TRUE(run_until([&] { return inbox(3).size() == 2; }));
    EXPECT_EQ(inbox(2).size(), 2u);
    EXPECT_TRUE(connected(1, 3));
}

TEST_F(PeerTransportTest, SetPeersFollowsAPeerToANewAddress) {
    open_full_mesh({1, 2});
    transport(1).send(NodeId(2), "first");
    ASSERT_TRUE(run_until([&] { return inbox(2).size() == 1; }));
    transport(2).close();
    PeerTransportOptions o = options(2);  // a new ephemeral port
    o.peers = {address_of(1)};
    open(std::move(o));
    transport(1).set_peers({address_of(2)});
    transport(1).send(NodeId(2), "second");
    ASSERT_TRUE(run_until([&] { return inbox(2).size() == 2; }));
    EXPECT_EQ(inbox(2)[1].payload, "second");
}

TEST_F(PeerTransportTest, OutgoingConnectionsAreBoundToTheOwnHost) {
    // Linux routes all of 127.0.0.0/8 to loopback; elsewhere 127.0.0.2 may
    // not be usable.
    {
        tcp::socket probe(io_);
        asio::error_code ec;
        probe.open(tcp::v4(), ec);
        if (!ec) probe.bind(tcp::endpoint(asio::ip::make_address("127.0.0.2"), 0), ec);
        if (ec) GTEST_SKIP() << "cannot bind 127.0.0.2: " << ec.message();
    }
    // A hand-written node 2 accepts node 1's connection and checks the hello.
    tcp::acceptor acceptor(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    PeerTransportOptions o = options(1, "cluster-x");
    o.host = "127.0.0.2";
    o.peers = {{.id = NodeId(2), .host = "127.0.0.1", .port = acceptor.local_endpoint().port()}};
    open(std::move(o));
    std::optional<tcp::socket> accepted;
    acceptor.async_accept([&](const asio::error_code& ec, tcp::socket s) {
        ASSERT_FALSE(ec) << ec.message();
        accepted.emplace(std::move(s));
    });
    ASSERT_TRUE(run_until([&] { return accepted.has_value(); }));
    EXPECT_EQ(accepted->remote_endpoint().address().to_string(), "127.0.0.2");

    const std::string want = hello_bytes(1, 1, 2, "cluster-x");
    EXPECT_EQ(raw_read(*accepted, want.size()), want) << "the documented hello";
    // Accept it by hand, then read one frame as documented.
    raw_write(*accepted, std::string("RAFTKVPR\x01\x00\x00\x00\x00\x00\x00", 15));
    transport(1).send(NodeId(2), "framed");
    EXPECT_EQ(raw_read(*accepted, 8 + 6), frame_bytes("framed"));
    EXPECT_TRUE(connected(1, 2));

    // The transport listens on its host too.
    asio::error_code ec;
    tcp::socket s(io_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.2"), transport(1).port()), ec);
    EXPECT_FALSE(ec) << ec.message();
}

TEST_F(PeerTransportTest, ACallbackMayCloseTheTransport) {
    open_full_mesh({1, 2});
    on_receive_ = [this](std::uint64_t at, NodeId, std::string_view) { transport(at).close(); };
    for (int i = 0; i < 50; ++i) transport(1).send(NodeId(2), message(1, 2, i));
    ASSERT_TRUE(run_until([&] { return inbox(2).size() == 1; }));
    ASSERT_TRUE(run_until([&] { return !connected(1, 2); }));
    EXPECT_EQ(inbox(2).size(), 1u);
    transport(2).send(NodeId(1), "after close");  // dropped, no crash
    transport(2).close();                         // idempotent
    EXPECT_EQ(transport(2).stats(NodeId(1)), PeerStats{});
}

TEST_F(PeerTransportTest, OpenRejectsBadOptions) {
    struct Case {
        std::string_view name;
        std::function<void(PeerTransportOptions&)> edit;
        Code want;
    };
    const Case cases[] = {
        {"self 0", [](PeerTransportOptions& o) { o.self = NodeId(0); }, Code::kInvalid},
        {"peer 0",
         [](PeerTransportOptions& o) { o.peers = {{.id = NodeId(0), .host = "127.0.0.1"}}; },
         Code::kInvalid},
        {"cluster id too long",
         [](PeerTransportOptions& o) { o.cluster_id = std::string(256, 'c'); }, Code::kInvalid},
        {"no host", [](PeerTransportOptions& o) { o.host = ""; }, Code::kInvalid},
        {"backoff min 0", [](PeerTransportOptions& o) { o.backoff_min = 0ms; }, Code::kInvalid},
        {"backoff min over max",
         [](PeerTransportOptions& o) {
             o.backoff_min = 2s;
             o.backoff_max = 1s;
         },
         Code::kInvalid},
        {"port in use", [this](PeerTransportOptions& o) { o.port = transport(9).port(); },
         Code::kIoError},
    };
    open(options(9));
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        PeerTransportOptions o = options(1);
        c.edit(o);
        Result<std::unique_ptr<PeerTransport>> t =
            PeerTransport::open(io_, std::move(o), [](NodeId, std::string_view) {});
        ASSERT_FALSE(t.has_value());
        EXPECT_EQ(t.error().code(), c.want) << t.error().to_string();
    }
}

}  // namespace
}  // namespace raftkv::net
