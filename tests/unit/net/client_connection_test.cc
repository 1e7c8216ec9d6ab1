// client_connection_test.cc — ClientConnection against a real socket on 127.0.0.1.
//
// Each test runs one connection on an asio::io_context driven from the test
// thread, and plays the client through a plain non-blocking POSIX socket, so
// the test decides when the server side runs: run_until() runs handlers until
// a condition holds or a deadline passes, settle() runs every handler that is
// ready now (what "the server did nothing more" means here). No threads, no
// sleeps. The handler is a script that records requests and answers some at
// once; the test finishes the rest. Commands are not tested here (src/server
// has the real handler). Contract under test: src/net/client_connection.h.
#include "net/client_connection.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <string_view>

#include "testing/seed.h"

namespace raftkv::net {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using Args = std::vector<std::string>;

constexpr auto kDeadline = 5s;

using raftkv::testing::seed_trace;
using raftkv::testing::test_seed;

// The reply the tests give slot n: "+rn\r\n".
std::string reply_for(std::uint64_t slot) { return fmt::format("+r{}\r\n", slot); }

std::string replies_for(std::uint64_t first, std::uint64_t end) {
    std::string out;
    for (std::uint64_t s = first; s < end; ++s) out += reply_for(s);
    return out;
}

// Records every request; answers at once those its policy returns a reply
// for, and leaves the others pending for the test to finish.
class ScriptedHandler : public RequestHandler {
public:
    using Policy = std::function<std::optional<std::string>(ClientConnection&, std::uint64_t slot,
                                                            const Args& args)>;
    struct Request {
        std::uint64_t slot;
        Args args;
    };

    void on_request(ClientConnection& conn, std::uint64_t slot, Args& args) override {
        requests.push_back({slot, args});
        if (!answer_at_once) return;
        if (std::optional<std::string> reply = answer_at_once(conn, slot, args)) {
            conn.reply_buffer(slot)->append(*reply);
            conn.finish(slot);
        }
    }
    void on_close(ClientConnection&) override { ++close_count; }

    Policy answer_at_once;  // empty: every request stays pending
    std::vector<Request> requests;
    int close_count = 0;
};

struct HarnessOptions {
    ConnectionLimits limits;
    int client_receive_buffer_bytes = 0;  // 0: the kernel's default
    int server_send_buffer_bytes = 0;     // 0: the kernel's default
};

// One server-side ClientConnection and the client socket talking to it.
// Not thread-safe; everything runs on the test thread.
class Harness {
public:
    Harness() = default;
    Harness(const Harness&) = delete;
    Harness& operator=(const Harness&) = delete;
    ~Harness() {
        if (fd_ >= 0) ::close(fd_);
        if (conn_) conn_->close();
        io_.restart();
        io_.poll();
    }

    // Connects a client and starts the connection. Call under ASSERT_NO_FATAL_FAILURE.
    void open(const HarnessOptions& options = {}) {
        asio::error_code ec;
        asio::ip::tcp::acceptor acceptor(io_);
        const asio::ip::tcp::endpoint any_port(asio::ip::make_address("127.0.0.1"), 0);
        acceptor.open(any_port.protocol(), ec);
        ASSERT_FALSE(ec) << ec.message();
        acceptor.bind(any_port, ec);
        ASSERT_FALSE(ec) << ec.message();
        acceptor.listen(asio::socket_base::max_listen_connections, ec);
        ASSERT_FALSE(ec) << ec.message();
        const std::uint16_t port = acceptor.local_endpoint(ec).port();

        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        ASSERT_GE(fd_, 0) << std::strerror(errno);
        if (options.client_receive_buffer_bytes > 0) {
            // Before connect, so the window is negotiated from it.
            ASSERT_EQ(::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &options.client_receive_buffer_bytes,
                                   sizeof(int)),
                      0)
                << std::strerror(errno);
        }
        // No Nagle: each send() must reach the server as it was cut.
        const int one = 1;
        ASSERT_EQ(::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0)
            << std::strerror(errno);
        ASSERT_EQ(::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK), 0);

        asio::ip::tcp::socket socket(io_);
        acceptor.accept(socket, ec);
        ASSERT_FALSE(ec) << ec.message();
        if (options.server_send_buffer_bytes > 0) {
            socket.set_option(asio::socket_base::send_buffer_size(options.server_send_buffer_bytes),
                              ec);
            ASSERT_FALSE(ec) << ec.message();
        }
        conn_ = std::make_shared<ClientConnection>(std::move(socket), 7, &handler, options.limits);
        conn_->start();
    }

    ClientConnection& conn() { return *conn_; }

    // Runs the server side and drains the client socket until done() holds.
    // Returns false if the deadline passed first.
    bool run_until(const std::function<bool()>& done) {
        const auto deadline = std::chrono::steady_clock::now() + kDeadline;
        for (;;) {
            read_available();
            if (done()) return true;
            if (std::chrono::steady_clock::now() >= deadline) return false;
            io_.restart();
            // Waits for the next server-side event, never longer than 10 ms.
            io_.run_one_for(10ms);
        }
    }

    // Runs every server-side handler that is ready now, then drains the client.
    // Loopback delivers a send() before it returns, so a server that would read
    // the bytes a client sent has done so when this returns.
    void settle() {
        io_.restart();
        while (io_.poll() > 0) {
        }
        read_available();
    }

    // Sends all of `bytes`, running the server while the socket is full.
    void send(std::string_view bytes) {
        const auto deadline = std::chrono::steady_clock::now() + kDeadline;
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n > 0) {
                bytes.remove_prefix(static_cast<std::size_t>(n));
                continue;
            }
            ASSERT_TRUE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << std::strerror(errno);
            ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "send stuck";
            io_.restart();
            io_.run_one_for(10ms);
        }
    }

    void shutdown_write() { ASSERT_EQ(::shutdown(fd_, SHUT_WR), 0) << std::strerror(errno); }

    // Closes the client socket with a reset instead of a FIN.
    void reset() {
        const linger abort{.l_onoff = 1, .l_linger = 0};
        ASSERT_EQ(::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort)), 0);
        ::close(fd_);
        fd_ = -1;
    }

    // What the client has received so far; is_eof once the server closed.
    const std::string& received() const { return received_; }
    bool is_eof() const { return is_eof_; }

    ScriptedHandler handler;

private:
    void read_available() {
        if (fd_ < 0 || is_eof_) return;
        char buf[64 * 1024];
        for (;;) {
            const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
            if (n > 0) {
                received_.append(buf, static_cast<std::size_t>(n));
            } else if (n == 0 || errno == ECONNRESET) {
                is_eof_ = true;
                return;
            } else {
                ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
                return;
            }
        }
    }

    // Declared first: the socket inside conn_ must go before its io_context.
    asio::io_context io_;
    std::shared_ptr<ClientConnection> conn_;
    int fd_ = -1;
    std::string received_;
    bool is_eof_ = false;
};

TEST(ClientConnection, PipelinedRepliesLeaveInSlotOrder) {
    struct Case {
        std::string_view name;
        std::vector<std::uint64_t> at_once;       // answered inside on_request
        std::vector<std::uint64_t> finish_order;  // then finished by the test, in this order
    };
    const Case cases[] = {
        {"all answered at once", {0, 1, 2}, {}},
        {"slot 1 at once, slot 0 later", {1}, {0, 2}},
        {"slot 2 at once, then 0 and 1", {2}, {0, 1}},
        {"finished in reverse", {}, {2, 1, 0}},
        {"middle first", {}, {1, 2, 0}},
        {"in order", {}, {0, 1, 2}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Harness h;
        h.handler.answer_at_once = [&](ClientConnection&, std::uint64_t slot,
                                       const Args&) -> std::optional<std::string> {
            if (std::ranges::find(c.at_once, slot) == c.at_once.end()) return std::nullopt;
            return reply_for(slot);
        };
        ASSERT_NO_FATAL_FAILURE(h.open());
        ASSERT_NO_FATAL_FAILURE(h.send("GET a\r\nGET b\r\nGET c\r\n"));
        ASSERT_TRUE(h.run_until([&] { return h.handler.requests.size() == 3; }));

        // The client must see exactly the replies of the finished prefix of slots.
        std::vector<bool> is_done(3);
        auto expect_prefix = [&] {
            std::uint64_t end = 0;
            while (end < 3 && is_done[end]) ++end;
            const std::string want = replies_for(0, end);
            EXPECT_TRUE(h.run_until([&] { return h.received().size() >= want.size(); }));
            h.settle();
            EXPECT_EQ(h.received(), want);
        };
        for (std::uint64_t slot : c.at_once) is_done[slot] = true;
        expect_prefix();
        for (std::uint64_t slot : c.finish_order) {
            h.conn().reply_buffer(slot)->append(reply_for(slot));
            h.conn().finish(slot);
            is_done[slot] = true;
            expect_prefix();
        }
        EXPECT_EQ(h.conn().pending_replies(), 0u);
        EXPECT_TRUE(h.conn().is_open());
    }
}

TEST(ClientConnection, ParsesInlineAndMultibulkIntoArgs) {
    struct Case {
        std::string_view name;
        std::string bytes;
        std::vector<Args> want;
    };
    const Case cases[] = {
        {"inline", "SET k v\r\n", {{"SET", "k", "v"}}},
        {"inline ended by a bare LF", "GET k\n", {{"GET", "k"}}},
        {"inline with extra spaces", "  GET   k  \r\n", {{"GET", "k"}}},
        {"inline quotes", "SET \"a b\" 'c d'\r\n", {{"SET", "a b", "c d"}}},
        {"inline escapes", "ECHO \"x\\r\\ny\\x41\"\r\n", {{"ECHO", "x\r\nyA"}}},
        {"empty inline lines make no request", "\r\n\r\nPING\r\n", {{"PING"}}},
        {"multibulk", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n", {{"SET", "k", "hello"}}},
        {"multibulk is binary safe",
         "*2\r\n$4\r\nECHO\r\n$5\r\na\r\n\0b\r\n"s,
         {{"ECHO", "a\r\n\0b"s}}},
        {"empty bulk", "*2\r\n$3\r\nGET\r\n$0\r\n\r\n", {{"GET", ""}}},
        {"*0 makes no request", "*0\r\nPING\r\n", {{"PING"}}},
        {"pipelined mix",
         "PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nGET k\r\n",
         {{"PING"}, {"ECHO", "hi"}, {"GET", "k"}}},
    };
    // Each case is sent whole and then a byte at a time, followed by a
    // marker request so the test knows when everything before it was seen.
    const std::string end_marker = "*1\r\n$3\r\nEND\r\n";
    for (const Case& c : cases) {
        for (const std::size_t piece_bytes : {std::size_t{0}, std::size_t{1}}) {
            SCOPED_TRACE(fmt::format("{}, {}", c.name,
                                     piece_bytes == 0 ? "sent whole" : "a byte at a time"));
            Harness h;
            h.handler.answer_at_once = [](ClientConnection&, std::uint64_t,
                                          const Args&) -> std::optional<std::string> {
                return "+OK\r\n";
            };
            ASSERT_NO_FATAL_FAILURE(h.open());
            const std::string bytes = c.bytes + end_marker;
            if (piece_bytes == 0) {
                ASSERT_NO_FATAL_FAILURE(h.send(bytes));
            } else {
                for (std::size_t i = 0; i < bytes.size(); i += piece_bytes) {
                    ASSERT_NO_FATAL_FAILURE(h.send(std::string_view(bytes).substr(i, piece_bytes)));
                    h.settle();
                }
            }
            ASSERT_TRUE(h.run_until([&] {
                return !h.handler.requests.empty() && h.handler.requests.back().args == Args{"END"};
            }));
            std::vector<Args> got;
            for (std::size_t i = 0; i + 1 < h.handler.requests.size(); ++i) {
                EXPECT_EQ(h.handler.requests[i].slot, i);
                got.push_back(h.handler.requests[i].args);
            }
            EXPECT_EQ(got, c.want);
        }
    }
}

TEST(ClientConnection, MalformedRequestGetsErrorAfterEarlierRepliesThenCloses) {
    struct Case {
        std::string_view name;
        std::string bytes;
        std::string_view want_error;
    };
    const Case cases[] = {
        {"bad multibulk length", "*x\r\n", "Protocol error: invalid multibulk length"},
        {"bad bulk length", "*1\r\n$-5\r\n", "Protocol error: invalid bulk length"},
        {"not a bulk", "*1\r\n:1\r\n", "Protocol error: expected '$', got ':'"},
        {"no CRLF after a bulk", "*1\r\n$1\r\nab\r\n", "Protocol error: expected CRLF after bulk"},
        {"unbalanced quotes", "SET \"a\r\n", "Protocol error: unbalanced quotes in request"},
        {"inline line too long", std::string(70 * 1024, 'a'),
         "Protocol error: too big inline request"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Harness h;  // every request stays pending
        ASSERT_NO_FATAL_FAILURE(h.open());
        // The PING after the bad request must never reach the handler.
        ASSERT_NO_FATAL_FAILURE(h.send("PING\r\n" + c.bytes + "PING\r\n"));
        ASSERT_TRUE(h.run_until([&] { return !h.handler.requests.empty(); }));
        h.settle();
        EXPECT_EQ(h.handler.requests.size(), 1u);
        EXPECT_EQ(h.received(), "") << "the error went out before slot 0's reply";
        EXPECT_TRUE(h.conn().is_open());
        EXPECT_EQ(h.handler.close_count, 0);

        h.conn().reply_buffer(0)->append("+PONG\r\n");
        h.conn().finish(0);
        ASSERT_TRUE(h.run_until([&] { return h.is_eof(); }));
        EXPECT_EQ(h.received(), fmt::format("+PONG\r\n-ERR {}\r\n", c.want_error));
        EXPECT_EQ(h.handler.requests.size(), 1u);
        EXPECT_FALSE(h.conn().is_open());
        EXPECT_EQ(h.handler.close_count, 1);
    }
}

TEST(ClientConnection, HalfClosedClientGetsEveryReply) {
    Harness h;
    h.handler.answer_at_once = [](ClientConnection&, std::uint64_t slot,
                                  const Args&) -> std::optional<std::string> {
        if (slot == 1) return reply_for(slot);
        return std::nullopt;
    };
    ASSERT_NO_FATAL_FAILURE(h.open());
    ASSERT_NO_FATAL_FAILURE(h.send("GET a\r\nGET b\r\nGET c\r\n"));
    ASSERT_NO_FATAL_FAILURE(h.shutdown_write());
    ASSERT_TRUE(h.run_until([&] { return h.handler.requests.size() == 3; }));
    h.settle();  // the EOF has been read by now
    EXPECT_EQ(h.received(), "");
    EXPECT_TRUE(h.conn().is_open()) << "closed with replies pending after the client's EOF";
    EXPECT_EQ(h.handler.close_count, 0);

    h.conn().reply_buffer(0)->append(reply_for(0));
    h.conn().finish(0);
    ASSERT_TRUE(h.run_until([&] { return h.received() == replies_for(0, 2); }));
    h.settle();
    EXPECT_FALSE(h.is_eof());
    EXPECT_TRUE(h.conn().is_open());

    h.conn().reply_buffer(2)->append(reply_for(2));
    h.conn().finish(2);
    ASSERT_TRUE(h.run_until([&] { return h.is_eof(); }));
    EXPECT_EQ(h.received(), replies_for(0, 3));
    EXPECT_EQ(h.handler.close_count, 1);
    EXPECT_EQ(h.handler.requests.size(), 3u);
}

TEST(ClientConnection, EofWithNothingPendingCloses) {
    Harness h;
    ASSERT_NO_FATAL_FAILURE(h.open());
    ASSERT_NO_FATAL_FAILURE(h.shutdown_write());
    ASSERT_TRUE(h.run_until([&] { return h.is_eof(); }));
    EXPECT_EQ(h.received(), "");
    EXPECT_EQ(h.handler.close_count, 1);
    EXPECT_TRUE(h.handler.requests.empty());
}

TEST(ClientConnection, StopsReadingAtPendingRepliesMax) {
    HarnessOptions options;
    options.limits.pending_replies_max = 4;
    Harness h;  // every request stays pending
    ASSERT_NO_FATAL_FAILURE(h.open(options));
    constexpr std::uint64_t kRequests = 10;
    std::string pipeline;
    for (std::uint64_t i = 0; i < kRequests; ++i) pipeline += fmt::format("GET k{}\r\n", i);
    ASSERT_NO_FATAL_FAILURE(h.send(pipeline));  // one write: all arrive in one read

    ASSERT_TRUE(h.run_until([&] { return h.handler.requests.size() >= 4; }));
    h.settle();
    EXPECT_EQ(h.handler.requests.size(), 4u);
    EXPECT_EQ(h.conn().pending_replies(), 4u);

    // A finished but unsent-in-order slot still counts: finishing slot 1
    // while slot 0 waits frees nothing.
    h.conn().reply_buffer(1)->append(reply_for(1));
    h.conn().finish(1);
    h.settle();
    EXPECT_EQ(h.handler.requests.size(), 4u);

    // Finishing slot 0 frees two slots: exactly two more requests come in.
    h.conn().reply_buffer(0)->append(reply_for(0));
    h.conn().finish(0);
    ASSERT_TRUE(h.run_until([&] { return h.handler.requests.size() >= 6; }));
    h.settle();
    EXPECT_EQ(h.handler.requests.size(), 6u);
    EXPECT_EQ(h.received(), replies_for(0, 2));

    // Finish the rest one at a time, oldest first; all must arrive in order.
    for (std::uint64_t slot = 2; slot < kRequests; ++slot) {
        ASSERT_TRUE(h.run_until([&] { return h.handler.requests.size() > slot; }));
        EXPECT_LE(h.conn().pending_replies(), 4u);
        h.conn().reply_buffer(slot)->append(reply_for(slot));
        h.conn().finish(slot);
    }
    const std::string want = replies_for(0, kRequests);
    ASSERT_TRUE(h.run_until([&] { return h.received().size() >= want.size(); }));
    EXPECT_EQ(h.received(), want);
    for (std::uint64_t i = 0; i < kRequests; ++i) {
        EXPECT_EQ(h.handler.requests[i].args, (Args{"GET", fmt::format("k{}", i)}));
    }
}

TEST(ClientConnection, StopsReadingWhileOutputBytesMaxUnsent) {
    // Small socket buffers on both sides, so a 256 KiB reply cannot all leave
    // while the client does not read.
    HarnessOptions options;
    options.limits.output_bytes_max = 4096;
    options.client_receive_buffer_bytes = 4096;
    options.server_send_buffer_bytes = 4096;
    const std::string big_reply = "$262144\r\n" + std::string(262144, 'v') + "\r\n";
    Harness h;
    h.handler.answer_at_once = [&](ClientConnection&, std::uint64_t,
                                   const Args&) -> std::optional<std::string> { return big_reply; };
    ASSERT_NO_FATAL_FAILURE(h.open(options));

    // Three requests in one write, then a fourth after the first was seen.
    ASSERT_NO_FATAL_FAILURE(h.send("GET a\r\nGET b\r\nGET c\r\n"));
    ASSERT_TRUE(h.run_until([&] { return !h.handler.requests.empty(); }));
    ASSERT_NO_FATAL_FAILURE(h.send("GET d\r\n"));
    h.settle();
    EXPECT_EQ(h.handler.requests.size(), 1u) << "read on with a reply of 256 KiB unsent";
    EXPECT_EQ(h.conn().pending_replies(), 0u);

    // The client reads: every request is served and every reply arrives.
    const std::string want = big_reply + big_reply + big_reply + big_reply;
    ASSERT_TRUE(h.run_until([&] { return h.received().size() >= want.size(); }));
    EXPECT_TRUE(h.received() == want) << "replies differ; got " << h.received().size() << " bytes";
    ASSERT_EQ(h.handler.requests.size(), 4u);
    const std::string_view keys[] = {"a", "b", "c", "d"};
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(h.handler.requests[i].args, (Args{"GET", std::string(keys[i])}));
    }
}

TEST(ClientConnection, PausedConnectionParsesNothingUntilResumed) {
    struct Case {
        std::string_view name;
        std::vector<std::uint64_t> pause_at;  // the handler pauses on these slots, in order
        bool defer_paused;  // the paused slot is finished by the test while paused
    };
    const Case cases[] = {
        {"pause on the first request", {0}, false},
        {"pause on the first request, finished while paused", {0}, true},
        {"pause mid-pipeline", {2}, false},
        {"paused again after resume", {0, 3}, false},
    };
    constexpr std::uint64_t kRequests = 6;
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Harness h;
        h.handler.answer_at_once = [&](ClientConnection& conn, std::uint64_t slot,
                                       const Args&) -> std::optional<std::string> {
            if (std::ranges::find(c.pause_at, slot) == c.pause_at.end()) return reply_for(slot);
            conn.pause_requests();
            if (c.defer_paused) return std::nullopt;
            return reply_for(slot);
        };
        ASSERT_NO_FATAL_FAILURE(h.open());
        std::string pipeline;
        for (std::uint64_t i = 0; i < kRequests; ++i) pipeline += fmt::format("GET k{}\r\n", i);
        ASSERT_NO_FATAL_FAILURE(h.send(pipeline));  // one write: all arrive in one read

        for (const std::uint64_t paused_slot : c.pause_at) {
            SCOPED_TRACE(fmt::format("paused at slot {}", paused_slot));
            ASSERT_TRUE(h.run_until([&] { return h.handler.requests.size() > paused_slot; }));
            h.settle();
            EXPECT_EQ(h.handler.requests.size(), paused_slot + 1) << "parsed on while paused";
            EXPECT_TRUE(h.conn().is_paused());
            // Replies still leave while paused.
            const std::uint64_t answered = paused_slot + 1;
            if (c.defer_paused) {
                EXPECT_EQ(h.received(), replies_for(0, paused_slot));
                // Finishing a slot must not resume parsing either.
                h.conn().reply_buffer(paused_slot)->append(reply_for(paused_slot));
                h.conn().finish(paused_slot);
            }
            EXPECT_TRUE(h.run_until(
                [&] { return h.received().size() >= replies_for(0, answered).size(); }));
            h.settle();
            EXPECT_EQ(h.received(), replies_for(0, answered));
            EXPECT_EQ(h.handler.requests.size(), paused_slot + 1) << "parsed on while paused";
            EXPECT_EQ(h.conn().pending_replies(), 0u);

            h.conn().resume_requests();
            EXPECT_FALSE(h.conn().is_paused());
            // Parsing goes on from a posted handler, never inside resume_requests().
            EXPECT_EQ(h.handler.requests.size(), paused_slot + 1);
        }

        ASSERT_TRUE(h.run_until([&] { return h.handler.requests.size() >= kRequests; }));
        const std::string want = replies_for(0, kRequests);
        ASSERT_TRUE(h.run_until([&] { return h.received().size() >= want.size(); }));
        h.settle();
        EXPECT_EQ(h.received(), want);
        ASSERT_EQ(h.handler.requests.size(), kRequests);
        for (std::uint64_t i = 0; i < kRequests; ++i) {
            EXPECT_EQ(h.handler.requests[i].slot, i);
            EXPECT_EQ(h.handler.requests[i].args, (Args{"GET", fmt::format("k{}", i)}));
        }
        EXPECT_TRUE(h.conn().is_open());
    }
}

TEST(ClientConnection, HeldRepliesCountAgainstTheOutputLimit) {
    // Slots 0 and 4 wait for the test; every other request is answered at
    // once with 32 KiB. Two such replies held behind a waiting slot reach the
    // 64 KiB limit with nothing in the output buffer, so parsing must stop.
    HarnessOptions options;
    options.limits.output_bytes_max = 64 * 1024;
    static constexpr std::size_t kValueBytes = 32 * 1024;
    auto big_reply_for = [](std::uint64_t slot) {
        return fmt::format("${}\r\n", kValueBytes) +
               std::string(kValueBytes, static_cast<char>('a' + slot)) + "\r\n";
    };
    auto big_replies_for = [&](std::uint64_t first, std::uint64_t end) {
        std::string out;
        for (std::uint64_t s = first; s < end; ++s) out += big_reply_for(s);
        return out;
    };
    const std::vector<std::uint64_t> deferred = {0, 4};
    constexpr std::uint64_t kRequests = 8;
    Harness h;
    h.handler.answer_at_once = [&](ClientConnection&, std::uint64_t slot,
                                   const Args&) -> std::optional<std::string> {
        if (std::ranges::find(deferred, slot) != deferred.end()) return std::nullopt;
        return big_reply_for(slot);
    };
    ASSERT_NO_FATAL_FAILURE(h.open(options));
    std::string pipeline;
    for (std::uint64_t i = 0; i < kRequests; ++i) pipeline += fmt::format("GET k{}\r\n", i);
    ASSERT_NO_FATAL_FAILURE(h.send(pipeline));  // one write: all arrive in one read

    // Slots 1 and 2 hold 64 KiB + 20 bytes behind slot 0: request 3 must wait.
    ASSERT_TRUE(h.run_until([&] { return h.handler.requests.size() >= 3; }));
    h.settle();
    EXPECT_EQ(h.handler.requests.size(), 3u) << "parsed on with the held replies over the limit";
    EXPECT_EQ(h.conn().pending_replies(), 3u);
    EXPECT_EQ(h.received(), "") << "a reply left before slot 0's";

    // Finishing slot 0 lets the held replies leave and parsing go on, until
    // slots 5 and 6 are held behind slot 4.
    h.conn().reply_buffer(0)->append(big_reply_for(0));
    h.conn().finish(0);
    ASSERT_TRUE(h.run_until([&] { return h.handler.requests.size() >= 7; }));
    const std::string want_before_4 = big_replies_for(0, 4);
    ASSERT_TRUE(h.run_until([&] { return h.received().size() >= want_before_4.size(); }));
    h.settle();
    EXPECT_EQ(h.handler.requests.size(), 7u) << "parsed on with the held replies over the limit";
    EXPECT_EQ(h.conn().pending_replies(), 3u);
    EXPECT_TRUE(h.received() == want_before_4)
        << "replies differ; got " << h.received().size() << " bytes";

    h.conn().reply_buffer(4)->append(big_reply_for(4));
    h.conn().finish(4);
    const std::string want = big_replies_for(0, kRequests);
    ASSERT_TRUE(h.run_until([&] { return h.received().size() >= want.size(); }));
    h.settle();
    EXPECT_TRUE(h.received() == want) << "replies differ; got " << h.received().size() << " bytes";
    EXPECT_EQ(h.conn().pending_replies(), 0u);
    ASSERT_EQ(h.handler.requests.size(), kRequests);
    for (std::uint64_t i = 0; i < kRequests; ++i) {
        EXPECT_EQ(h.handler.requests[i].slot, i);
        EXPECT_EQ(h.handler.requests[i].args, (Args{"GET", fmt::format("k{}", i)}));
    }
    EXPECT_TRUE(h.conn().is_open());
}

TEST(ClientConnection, CloseDropsPendingRepliesAndCallsOnCloseOnce) {
    Harness h;  // every request stays pending
    ASSERT_NO_FATAL_FAILURE(h.open());
    ASSERT_NO_FATAL_FAILURE(h.send("GET a\r\nGET b\r\nGET c\r\n"));
    ASSERT_TRUE(h.run_until([&] { return h.handler.requests.size() == 3; }));
    h.conn().reply_buffer(1)->append(reply_for(1));
    h.conn().finish(1);  // done, but waits behind slot 0

    h.conn().close();
    EXPECT_FALSE(h.conn().is_open());
    EXPECT_EQ(h.handler.close_count, 1);

    // The handler finishing late, and a second close, change nothing.
    h.conn().finish(0);
    h.conn().finish(2);
    h.conn().close();
    ASSERT_TRUE(h.run_until([&] { return h.is_eof(); }));
    h.settle();
    EXPECT_EQ(h.received(), "");
    EXPECT_EQ(h.handler.close_count, 1);
}

TEST(ClientConnection, CloseAfterRepliesSendsPendingRepliesFirst) {
    // As QUIT does: the request after it in the same write is never served.
    Harness h;
    h.handler.answer_at_once = [](ClientConnection& conn, std::uint64_t slot,
                                  const Args& args) -> std::optional<std::string> {
        if (args[0] != "QUIT") return std::nullopt;
        conn.reply_buffer(slot)->append("+OK\r\n");
        conn.finish(slot);
        conn.close_after_replies();
        return std::nullopt;
    };
    ASSERT_NO_FATAL_FAILURE(h.open());
    ASSERT_NO_FATAL_FAILURE(h.send("GET a\r\nQUIT\r\nGET b\r\n"));
    ASSERT_TRUE(h.run_until([&] { return h.handler.requests.size() == 2; }));
    h.settle();
    EXPECT_EQ(h.handler.requests.size(), 2u);
    EXPECT_TRUE(h.conn().is_open());
    EXPECT_EQ(h.received(), "");

    h.conn().reply_buffer(0)->append(reply_for(0));
    h.conn().finish(0);
    ASSERT_TRUE(h.run_until([&] { return h.is_eof(); }));
    EXPECT_EQ(h.received(), reply_for(0) + "+OK\r\n");
    EXPECT_EQ(h.handler.close_count, 1);
    EXPECT_EQ(h.handler.requests.size(), 2u);
}

TEST(ClientConnection, ClientResetClosesOnce) {
    Harness h;  // every request stays pending
    ASSERT_NO_FATAL_FAILURE(h.open());
    ASSERT_NO_FATAL_FAILURE(h.send("GET a\r\n"));
    ASSERT_TRUE(h.run_until([&] { return h.handler.requests.size() == 1; }));
    ASSERT_NO_FATAL_FAILURE(h.reset());
    ASSERT_TRUE(h.run_until([&] { return h.handler.close_count > 0; }));
    EXPECT_FALSE(h.conn().is_open());
    h.conn().finish(0);  // the handler's late answer goes nowhere
    h.settle();
    EXPECT_EQ(h.handler.close_count, 1);
}

TEST(ClientConnection, LargeBulkArrivesInSmallPieces) {
    const std::uint64_t seed = test_seed();
    SCOPED_TRACE(seed_trace(seed));
    std::mt19937_64 rng(seed);

    constexpr std::size_t kValueBytes = 1 << 20;
    std::string value(kValueBytes, '\0');
    for (char& ch : value) ch = static_cast<char>(rng());  // any byte, "\r\n" included
    const std::string request =
        fmt::format("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", kValueBytes) + value + "\r\n";

    Harness h;
    h.handler.answer_at_once = [](ClientConnection&, std::uint64_t,
                                  const Args&) -> std::optional<std::string> { return "+OK\r\n"; };
    ASSERT_NO_FATAL_FAILURE(h.open());
    std::uniform_int_distribution<std::size_t> piece_bytes(1, 8192);
    std::size_t sent = 0;
    while (sent < request.size()) {
        const std::size_t n = std::min(piece_bytes(rng), request.size() - sent);
        ASSERT_NO_FATAL_FAILURE(h.send(std::string_view(request).substr(sent, n)));
        sent += n;
        h.settle();
        if (sent < request.size()) {
            ASSERT_TRUE(h.handler.requests.empty()) << "request seen after " << sent << " bytes";
        }
    }
    ASSERT_TRUE(h.run_until([&] { return h.received() == "+OK\r\n"; }));
    ASSERT_EQ(h.handler.requests.size(), 1u);
    const Args& args = h.handler.requests[0].args;
    ASSERT_EQ(args.size(), 3u);
    EXPECT_EQ(args[0], "SET");
    EXPECT_EQ(args[1], "k");
    EXPECT_EQ(args[2].size(), kValueBytes);
    EXPECT_TRUE(args[2] == value) << "the value arrived changed";
}

}  // namespace
}  // namespace raftkv::net
