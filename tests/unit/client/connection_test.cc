// connection_test.cc — client::Connection against fake servers in threads.
//
// Each FakeServer (testing/fake_server.h) listens on 127.0.0.1 (port 0) and
// serves its connections one at a time with a handler that reads requests
// and writes canned reply bytes. Nothing sleeps: the fake waits on its
// socket, the client on its deadlines.
#include "client/connection.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "testing/fake_server.h"

namespace raftkv::client {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using Args = std::vector<std::string>;
using Type = resp::Reply::Type;
using raftkv::testing::FakeServer;
using raftkv::testing::refusing_port;

void write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return;  // the client went away; the test checks what it saw
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

// Reads one RESP multibulk request from `fd`, keeping extra bytes in `buf`.
// Returns nullopt on EOF or bad input. Test-only: trusts its input's shape.
std::optional<Args> read_request(int fd, std::string* buf) {
    for (;;) {
        std::size_t pos = 0;
        auto line = [&]() -> std::optional<std::string> {
            const std::size_t end = buf->find("\r\n", pos);
            if (end == std::string::npos) return std::nullopt;
            std::string l = buf->substr(pos, end - pos);
            pos = end + 2;
            return l;
        };
        std::optional<std::string> head = line();
        if (head && head->size() > 1 && (*head)[0] == '*') {
            const int count = std::stoi(head->substr(1));
            Args args;
            bool complete = true;
            for (int i = 0; i < count && complete; ++i) {
                std::optional<std::string> len = line();
                if (!len) {
                    complete = false;
                    break;
                }
                const std::size_t n = std::stoul(len->substr(1));
                if (buf->size() < pos + n + 2) {
                    complete = false;
                    break;
                }
                args.push_back(buf->substr(pos, n));
                pos += n + 2;
            }
            if (complete) {
                buf->erase(0, pos);
                return args;
            }
        } else if (head) {
            return std::nullopt;
        }
        char chunk[4096];
        const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0) return std::nullopt;
        buf->append(chunk, static_cast<std::size_t>(n));
    }
}

// Blocks until the peer closes `fd` (or sends something unexpected).
void wait_for_close(int fd) {
    char c;
    while (::recv(fd, &c, 1, 0) > 0) {
    }
}

Connection must_connect(std::uint16_t port, std::chrono::milliseconds timeout = 5s) {
    Result<Connection> c = Connection::connect("127.0.0.1", port, timeout);
    EXPECT_TRUE(c.has_value()) << c.status().to_string();
    return std::move(c).value();
}

TEST(Connection, EncodesCommandAsMultibulk) {
    std::string out;
    encode_command(Args{"SET", "k", "a\0b"s}, &out);
    EXPECT_EQ(out, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\0b\r\n"s);
}

TEST(Connection, CallRoundTripsEveryReplyType) {
    struct Case {
        std::string_view name;
        std::string reply_bytes;
        Type want_type;
        std::string want_str;
        std::int64_t want_integer;
        std::size_t want_elements;
    };
    const std::vector<Case> cases = {
        {"simple string", "+OK\r\n", Type::kSimple, "OK", 0, 0},
        {"error", "-ERR no such key\r\n", Type::kError, "ERR no such key", 0, 0},
        {"integer", ":-42\r\n", Type::kInteger, "", -42, 0},
        {"bulk with binary bytes", "$3\r\na\0b\r\n"s, Type::kBulk, "a\0b"s, 0, 0},
        {"nil bulk", "$-1\r\n", Type::kNil, "", 0, 0},
        {"nested array", "*2\r\n$1\r\na\r\n*1\r\n:1\r\n", Type::kArray, "", 0, 2},
        {"nil array", "*-1\r\n", Type::kNilArray, "", 0, 0},
    };
    std::mutex mu;
    std::vector<Args> seen;  // guarded by mu
    std::size_t next = 0;
    FakeServer server([&](int fd) {
        std::string buf;
        while (std::optional<Args> req = read_request(fd, &buf)) {
            {
                std::lock_guard<std::mutex> lock(mu);
                seen.push_back(*req);
            }
            write_all(fd, cases[next++].reply_bytes);
        }
    });
    Connection conn = must_connect(server.port());
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Result<resp::Reply> r = conn.call(Args{"GET", std::string(c.name)});
        ASSERT_TRUE(r.has_value()) << r.status().to_string();
        EXPECT_EQ(r->type, c.want_type);
        EXPECT_EQ(r->str, c.want_str);
        EXPECT_EQ(r->integer, c.want_integer);
        EXPECT_EQ(r->elements.size(), c.want_elements);
    }
    EXPECT_TRUE(conn.is_connected());
    EXPECT_EQ(conn.pending_replies(), 0u);
    // Each request was recorded before its reply was written.
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(seen.size(), cases.size());
    EXPECT_EQ(seen[0], (Args{"GET", "simple string"}));
}

TEST(Connection, PipelinedBatchGetsRepliesInOrder) {
    constexpr int kCommands = 100;
    FakeServer server([&](int fd) {
        std::string buf;
        std::string replies;
        for (int i = 0; i < kCommands; ++i) {
            std::optional<Args> req = read_request(fd, &buf);
            if (!req) return;
            replies += fmt::format("${}\r\n{}\r\n", (*req)[1].size(), (*req)[1]);
        }
        // One byte per write: the client must reassemble replies from pieces.
        for (char c : replies) write_all(fd, std::string_view(&c, 1));
        wait_for_close(fd);
    });
    Connection conn = must_connect(server.port());
    for (int i = 0; i < kCommands; ++i) {
        ASSERT_TRUE(conn.send(Args{"ECHO", std::to_string(i)}).is_ok());
    }
    EXPECT_EQ(conn.pending_replies(), static_cast<std::size_t>(kCommands));
    for (int i = 0; i < kCommands; ++i) {
        Result<resp::Reply> r = conn.read_reply();
        ASSERT_TRUE(r.has_value()) << r.status().to_string();
        EXPECT_EQ(r->type, Type::kBulk);
        EXPECT_EQ(r->str, std::to_string(i));
    }
    EXPECT_EQ(conn.pending_replies(), 0u);
}

TEST(Connection, ServerClosingMidReplyIsAnError) {
    FakeServer server([](int fd) {
        std::string buf;
        if (!read_request(fd, &buf)) return;
        write_all(fd, "$10\r\nabc");
    });
    Connection conn = must_connect(server.port());
    Result<resp::Reply> r = conn.call(Args{"GET", "k"});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(
        r.error().message(),
        fmt::format("connection closed by 127.0.0.1:{} in the middle of a reply", server.port()));
    EXPECT_FALSE(conn.is_connected());
    Result<resp::Reply> again = conn.call(Args{"GET", "k"});
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error().message(), fmt::format("not connected to 127.0.0.1:{}", server.port()));
}

TEST(Connection, SilentServerTimesOutAtTheDeadline) {
    FakeServer server([](int fd) {
        std::string buf;
        if (!read_request(fd, &buf)) return;
        wait_for_close(fd);  // never answers
    });
    Connection conn = must_connect(server.port());
    conn.set_io_timeout(100ms);
    const auto start = std::chrono::steady_clock::now();
    Result<resp::Reply> r = conn.call(Args{"GET", "k"});
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(
        r.error().message(),
        fmt::format("timed out after 100 ms waiting for a reply from 127.0.0.1:{}", server.port()));
    EXPECT_GE(elapsed, 100ms);
    EXPECT_LT(elapsed, 5s);
    EXPECT_FALSE(conn.is_connected());
}

TEST(Connection, RefusedConnectNamesTheAddress) {
    // A bound socket that never listens: connecting to its port is refused.
    int fd = -1;
    std::uint16_t port = 0;
    ASSERT_NO_FATAL_FAILURE(refusing_port(&fd, &port));
    Result<Connection> c = Connection::connect("127.0.0.1", port, 1s);
    ::close(fd);
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error().message(),
              fmt::format("cannot connect to 127.0.0.1:{}: Connection refused", port));
}

TEST(Connection, FollowsMovedToTheLeader) {
    FakeServer leader([](int fd) {
        std::string buf;
        while (std::optional<Args> req = read_request(fd, &buf)) {
            write_all(fd, (*req)[0] == "SET" ? "+OK\r\n" : "-ERR unexpected\r\n");
        }
    });
    const std::string moved = fmt::format("-MOVED 0 127.0.0.1:{}\r\n", leader.port());
    FakeServer follower([&](int fd) {
        std::string buf;
        while (read_request(fd, &buf)) write_all(fd, moved);
    });
    Connection conn = must_connect(follower.port());
    Result<resp::Reply> r = conn.call(Args{"SET", "chelsea", "rules"});
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    EXPECT_EQ(r->type, Type::kSimple);
    EXPECT_EQ(r->str, "OK");
    EXPECT_EQ(conn.port(), leader.port());
    EXPECT_EQ(conn.address(), fmt::format("127.0.0.1:{}", leader.port()));
}

TEST(Connection, RedirectLoopStopsAfterTheLimit) {
    std::atomic<std::uint16_t> self_port{0};
    std::atomic<int> requests{0};
    FakeServer server([&](int fd) {
        std::string buf;
        while (read_request(fd, &buf)) {
            ++requests;
            write_all(fd, fmt::format("-MOVED 0 127.0.0.1:{}\r\n", self_port.load()));
        }
    });
    self_port.store(server.port());  // before any client connects
    Connection conn = must_connect(server.port());
    Result<resp::Reply> r = conn.call(Args{"SET", "a", "1"});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(),
              fmt::format("SET: gave up after 5 redirects, last from 127.0.0.1:{0}: "
                          "MOVED 0 127.0.0.1:{0}",
                          server.port()));
    EXPECT_EQ(requests.load(), 1 + kRedirectsMax);
}

TEST(Connection, RedirectToADeadServerNamesBoth) {
    int fd = -1;
    std::uint16_t dead_port = 0;
    ASSERT_NO_FATAL_FAILURE(refusing_port(&fd, &dead_port));
    FakeServer server([&](int cfd) {
        std::string buf;
        while (read_request(cfd, &buf)) {
            write_all(cfd, fmt::format("-MOVED 0 127.0.0.1:{}\r\n", dead_port));
        }
    });
    Connection conn = must_connect(server.port());
    Result<resp::Reply> r = conn.call(Args{"GET", "a"});
    ::close(fd);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(),
              fmt::format("cannot connect to 127.0.0.1:{0}: Connection refused "
                          "(redirected by 127.0.0.1:{1}: MOVED 0 127.0.0.1:{0})",
                          dead_port, server.port()));
    EXPECT_FALSE(conn.is_connected());
}

}  // namespace
}  // namespace raftkv::client
