// shell_test.cc — the shell's one-shot and piped modes against a fake server.
//
// The fake server answers a few commands with canned RESP and can drop a
// connection on request; the shell runs on string streams. The interactive
// mode needs a terminal and is checked by hand.
#include "cli/shell.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <sstream>
#include <thread>

#include "resp/request_parser.h"

namespace raftkv::cli {
namespace {

using Args = std::vector<std::string>;

// Listens on 127.0.0.1 and serves connections one at a time: `reply` maps a
// request to the bytes to send back, or nullopt to close the connection.
class FakeServer {
  public:
    using ReplyFn = std::function<std::optional<std::string>(const Args&)>;

    explicit FakeServer(ReplyFn reply) : reply_(std::move(reply)) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        EXPECT_EQ(::listen(listen_fd_, 16), 0);
        socklen_t len = sizeof(addr);
        EXPECT_EQ(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
        port_ = ntohs(addr.sin_port);
        EXPECT_EQ(::pipe2(wake_, O_CLOEXEC), 0);
        thread_ = std::thread([this] { serve(); });
    }
    ~FakeServer() {
        EXPECT_EQ(::write(wake_[1], "x", 1), 1);
        thread_.join();
        ::close(listen_fd_);
        ::close(wake_[0]);
        ::close(wake_[1]);
    }
    std::uint16_t port() const { return port_; }

  private:
    void serve() {
        for (;;) {
            pollfd fds[2] = {{.fd = listen_fd_, .events = POLLIN, .revents = 0},
                             {.fd = wake_[0], .events = POLLIN, .revents = 0}};
            if (::poll(fds, 2, -1) < 0 || fds[1].revents != 0) return;
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            serve_one(fd);
            ::close(fd);
        }
    }
    void serve_one(int fd) {
        resp::RequestParser parser;
        char buf[4096];
        for (;;) {
            const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
            if (n <= 0) return;
            std::string_view in(buf, static_cast<std::size_t>(n));
            while (!in.empty()) {
                std::size_t consumed = 0;
                const resp::ParseStatus st = parser.parse(in, &consumed);
                in.remove_prefix(consumed);
                if (st == resp::ParseStatus::kMalformed) return;
                if (st != resp::ParseStatus::kComplete) continue;
                std::optional<std::string> out = reply_(parser.args());
                if (!out) return;
                if (::send(fd, out->data(), out->size(), MSG_NOSIGNAL) < 0) return;
            }
        }
    }

    ReplyFn reply_;
    int listen_fd_ = -1;
    int wake_[2] = {-1, -1};
    std::uint16_t port_ = 0;
    std::thread thread_;
};

// SET answers +OK, GET chelsea a bulk, DROP closes the connection, anything
// else an unknown-command error.
std::optional<std::string> answer(const Args& args) {
    if (args[0] == "set") return "+OK\r\n";
    if (args[0] == "get") return args[1] == "chelsea" ? "$5\r\nrules\r\n" : "$-1\r\n";
    if (args[0] == "drop") return std::nullopt;
    return "-ERR unknown command '" + args[0] + "'\r\n";
}

// A port on 127.0.0.1 that refuses connections while the returned fd lives.
int refusing_port(std::uint16_t* port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

TEST(Shell, OneShotPrintsTheReply) {
    FakeServer server(answer);
    struct Case {
        std::string_view name;
        Args command;
        OutputMode mode;
        std::string want_out;
    };
    const Case cases[] = {
        {"set on a terminal", {"set", "chelsea", "rules"}, OutputMode::kTty, "OK\n"},
        {"get on a terminal", {"get", "chelsea"}, OutputMode::kTty, "\"rules\"\n"},
        {"get into a pipe", {"get", "chelsea"}, OutputMode::kRaw, "rules\n"},
        {"nil into a pipe", {"get", "nobody"}, OutputMode::kRaw, "\n"},
        // redis-cli exits 0 on an error reply in one-shot mode.
        {"error reply", {"foo"}, OutputMode::kTty, "(error) ERR unknown command 'foo'\n"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        std::ostringstream out, err;
        const ShellOptions options{
            .host = "127.0.0.1", .port = server.port(), .command = c.command};
        EXPECT_EQ(run_one_shot(options, c.mode, out, err), 0);
        EXPECT_EQ(out.str(), c.want_out);
        EXPECT_EQ(err.str(), "");
    }
}

TEST(Shell, OneShotUnreachableServerExitsOne) {
    std::uint16_t port = 0;
    const int fd = refusing_port(&port);
    std::ostringstream out, err;
    const ShellOptions options{.host = "127.0.0.1", .port = port, .command = {"get", "a"}};
    EXPECT_EQ(run_one_shot(options, OutputMode::kRaw, out, err), 1);
    ::close(fd);
    EXPECT_EQ(out.str(), "");
    EXPECT_EQ(err.str(), fmt::format("cannot connect to 127.0.0.1:{}: Connection refused\n", port));
}

TEST(Shell, PipedLinesRunInOrderUntilQuit) {
    FakeServer server(answer);
    std::istringstream in(
        "set chelsea rules\n"
        "\n"
        "get chelsea\n"
        "get \"unbalanced\n"
        "foo\n"
        "QUIT\n"
        "get chelsea\n");
    std::ostringstream out, err;
    const ShellOptions options{.host = "127.0.0.1", .port = server.port()};
    EXPECT_EQ(run_lines(options, OutputMode::kRaw, in, out, err), 0);
    EXPECT_EQ(out.str(),
              "OK\n"
              "rules\n"
              "Invalid argument(s): unbalanced double quotes\n"
              "ERR unknown command 'foo'\n\n");
    EXPECT_EQ(err.str(), "");
}

TEST(Shell, PipedLinesReconnectAfterALostConnection) {
    FakeServer server(answer);
    std::istringstream in("drop\nget chelsea\n");
    std::ostringstream out, err;
    const ShellOptions options{.host = "127.0.0.1", .port = server.port()};
    EXPECT_EQ(run_lines(options, OutputMode::kTty, in, out, err), 1);
    EXPECT_EQ(out.str(), "\"rules\"\n");
    EXPECT_EQ(err.str(), fmt::format("Error: connection closed by 127.0.0.1:{}\n", server.port()));
}

TEST(Shell, HelpDescribesCommands) {
    const std::string all = help_text("");
    EXPECT_TRUE(all.starts_with("raftkv cli: ")) << all;
    EXPECT_NE(all.find("\n  set "), std::string::npos) << all;
    EXPECT_NE(all.find("\n  get "), std::string::npos) << all;

    const std::string set = help_text("SET");
    EXPECT_TRUE(set.starts_with("\n  SET key value")) << set;
    EXPECT_NE(set.find("\n  summary: "), std::string::npos) << set;

    EXPECT_EQ(help_text("nosuch"),
              "No help for 'nosuch'. Type \"help\" for the list of commands.\n");
}

}  // namespace
}  // namespace raftkv::cli
