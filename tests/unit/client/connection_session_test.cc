// connection_session_test.cc — exactly-once writes in client::Connection
// against fake servers: a retried write keeps its (session, sequence).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/connection.h"
#include "testing/fake_server.h"

namespace raftkv::client {
namespace {

using namespace std::chrono_literals;
using Args = std::vector<std::string>;
using Type = resp::Reply::Type;
using raftkv::testing::FakeServer;

void write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

// Reads one RESP multibulk request; nullopt on EOF. Test-only: trusts its input.
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
        if (std::optional<std::string> head = line(); head && head->size() > 1) {
            const int count = std::stoi(head->substr(1));
            Args args;
            bool complete = true;
            for (int i = 0; i < count && complete; ++i) {
                std::optional<std::string> len = line();
                const std::size_t n = len ? std::stoul(len->substr(1)) : 0;
                if (!len || buf->size() < pos + n + 2) {
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
        }
        char chunk[4096];
        const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0) return std::nullopt;
        buf->append(chunk, static_cast<std::size_t>(n));
    }
}

// Records every request; thread-safe.
struct Log {
    std::mutex mu;
    std::vector<Args> requests;
    void add(const Args& a) {
        std::lock_guard<std::mutex> lock(mu);
        requests.push_back(a);
    }
    std::vector<Args> runs() {
        std::lock_guard<std::mutex> lock(mu);
        std::vector<Args> out;
        for (const Args& a : requests) {
            if (a.size() > 1 && a[0] == "SESSION" && a[1] == "RUN") out.push_back(a);
        }
        return out;
    }
};

Connection connect_with_sessions(std::uint16_t port) {
    Result<Connection> c = Connection::connect("127.0.0.1", port, 2s);
    EXPECT_TRUE(c.has_value()) << c.status().to_string();
    Connection conn = std::move(c).value();
    conn.enable_sessions(SessionOptions{
        .retry_for = 5s, .attempt_timeout = 1s, .backoff_first = 1ms, .backoff_max = 5ms});
    return conn;
}

TEST(ConnectionSession, RetriesAfterALostConnectionWithTheSameSequence) {
    Log log;
    std::atomic<int> connections{0};
    FakeServer server([&](int fd) {
        const int n = ++connections;
        std::string buf;
        while (std::optional<Args> req = read_request(fd, &buf)) {
            log.add(*req);
            if ((*req)[0] == "SESSION" && (*req)[1] == "REGISTER") {
                write_all(fd, ":7\r\n");
            } else if ((*req)[0] == "SESSION" && n == 1) {
                return;  // the write arrived; the reply is lost with the connection
            } else if ((*req)[0] == "SESSION") {
                write_all(fd, ":" + (*req)[3] + "\r\n");  // echoes the sequence
            } else if ((*req)[0] == "GET") {
                write_all(fd, "$1\r\nv\r\n");
            } else {
                write_all(fd, "-ERR unknown command\r\n");  // CLUSTER NODES
            }
        }
    });
    Connection conn = connect_with_sessions(server.port());
    Result<resp::Reply> r = conn.call(Args{"INCR", "n"});
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    EXPECT_EQ(r->integer, 1);
    const std::vector<Args> runs = log.runs();
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0], (Args{"SESSION", "RUN", "7", "1", "INCR", "n"}));
    EXPECT_EQ(runs[1], runs[0]) << "the retry repeats the session and sequence";
    // Reads go as typed; the next write takes the next sequence number.
    r = conn.call(Args{"GET", "k"});
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    EXPECT_EQ(r->str, "v");
    r = conn.call(Args{"SET", "k", "v"});
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    EXPECT_EQ(r->integer, 2);
    EXPECT_EQ(conn.session_id(), 7u);
    EXPECT_EQ(conn.session_seq(), 2u);
}

TEST(ConnectionSession, RetriesTryAgainAndFollowsMovedWithTheSameSequence) {
    Log log;
    std::atomic<int> tryagains{0};
    FakeServer leader([&](int fd) {
        std::string buf;
        while (std::optional<Args> req = read_request(fd, &buf)) {
            log.add(*req);
            if ((*req)[1] == "REGISTER") {
                write_all(fd, ":3\r\n");
            } else if ((*req)[0] != "SESSION") {
                write_all(fd, "-ERR unknown command\r\n");
            } else if (tryagains++ < 1) {
                write_all(fd, "-TRYAGAIN the write was not applied: the leader changed\r\n");
            } else if (tryagains.load() < 3) {
                write_all(fd, "-UNCERTAIN the write may or may not have been applied\r\n");
            } else {
                write_all(fd, ":42\r\n");
            }
        }
    });
    const std::string moved = fmt::format("-MOVED 0 127.0.0.1:{}\r\n", leader.port());
    FakeServer follower([&](int fd) {
        std::string buf;
        while (std::optional<Args> req = read_request(fd, &buf)) write_all(fd, moved);
    });
    Connection conn = connect_with_sessions(follower.port());
    Result<resp::Reply> r = conn.call(Args{"INCR", "n"});
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    EXPECT_EQ(r->integer, 42);
    const std::vector<Args> runs = log.runs();
    ASSERT_EQ(runs.size(), 3u);
    for (const Args& a : runs) EXPECT_EQ(a, (Args{"SESSION", "RUN", "3", "1", "INCR", "n"}));
    EXPECT_EQ(conn.port(), leader.port());
}

TEST(ConnectionSession, ExpiredSessionIsReplacedOnlyWhenTheWriteSurelyDidNotApply) {
    Log log;
    std::atomic<int> registers{0};
    std::atomic<bool> lose_first_run{false};
    std::atomic<int> runs_seen{0};
    FakeServer server([&](int fd) {
        std::string buf;
        while (std::optional<Args> req = read_request(fd, &buf)) {
            log.add(*req);
            if ((*req)[0] != "SESSION") {
                write_all(fd, "-ERR unknown command\r\n");
            } else if ((*req)[1] == "REGISTER") {
                write_all(fd, ":" + std::to_string(10 * ++registers) + "\r\n");
            } else if (lose_first_run && runs_seen++ == 0) {
                return;
            } else if ((*req)[2] == "10") {
                write_all(fd, "-ERR SESSIONEXPIRED session 10 is unknown or has expired\r\n");
            } else {
                write_all(fd, ":1\r\n");
            }
        }
    });
    {
        // The expired reply to a first attempt proves it ran in no session.
        Connection conn = connect_with_sessions(server.port());
        Result<resp::Reply> r = conn.call(Args{"INCR", "n"});
        ASSERT_TRUE(r.has_value()) << r.status().to_string();
        EXPECT_EQ(r->integer, 1);
        EXPECT_EQ(conn.session_id(), 20u);
        const std::vector<Args> runs = log.runs();
        ASSERT_EQ(runs.size(), 2u);
        EXPECT_EQ(runs[1], (Args{"SESSION", "RUN", "20", "1", "INCR", "n"}));
    }
    registers = 0;
    lose_first_run = true;
    {
        // A first attempt lost with its connection may have applied before
        // the session expired: the caller is told the fate is unknown.
        Connection conn = connect_with_sessions(server.port());
        Result<resp::Reply> r = conn.call(Args{"INCR", "n"});
        ASSERT_FALSE(r.has_value());
        EXPECT_NE(r.error().message().find("may or may not have been applied"), std::string::npos)
            << r.error().message();
        EXPECT_EQ(conn.session_id(), 0u) << "the next write registers again";
    }
}

TEST(ConnectionSession, GivesUpAtTheDeadlineSayingTheFateIsUnknown) {
    FakeServer server([&](int fd) {
        std::string buf;
        while (std::optional<Args> req = read_request(fd, &buf)) {
            if ((*req)[0] == "SESSION" && (*req)[1] == "REGISTER") {
                write_all(fd, ":1\r\n");
            } else if ((*req)[0] == "SESSION") {
                write_all(fd, "-CLUSTERDOWN no leader is known yet\r\n");
            } else {
                write_all(fd, "-ERR unknown command\r\n");
            }
        }
    });
    Result<Connection> c = Connection::connect("127.0.0.1", server.port(), 2s);
    ASSERT_TRUE(c.has_value());
    c->enable_sessions(SessionOptions{
        .retry_for = 200ms, .attempt_timeout = 100ms, .backoff_first = 5ms, .backoff_max = 20ms});
    const auto start = std::chrono::steady_clock::now();
    Result<resp::Reply> r = c->call(Args{"DEL", "k"});
    ASSERT_FALSE(r.has_value());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    EXPECT_NE(r.error().message().find("CLUSTERDOWN"), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("may or may not have been applied"), std::string::npos);
}

TEST(ConnectionSession, AServerWithoutSessionsGetsWritesAsTyped) {
    Log log;
    FakeServer server([&](int fd) {
        std::string buf;
        while (std::optional<Args> req = read_request(fd, &buf)) {
            log.add(*req);
            write_all(fd, (*req)[0] == "SET" ? "+OK\r\n" : "-ERR unknown command 'SESSION'\r\n");
        }
    });
    Connection conn = connect_with_sessions(server.port());
    Result<resp::Reply> r = conn.call(Args{"SET", "k", "v"});
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    EXPECT_EQ(r->str, "OK");
    EXPECT_FALSE(conn.has_sessions());
    std::lock_guard<std::mutex> lock(log.mu);
    EXPECT_EQ(log.requests, (std::vector<Args>{{"SESSION", "REGISTER"}, {"SET", "k", "v"}}));
}

}  // namespace
}  // namespace raftkv::client
