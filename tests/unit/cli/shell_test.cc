// shell_test.cc — the shell's one-shot and piped modes against a fake server.
//
// The fake server (testing/fake_server.h) answers a few commands with canned
// RESP and can drop a connection on request; the shell runs on string
// streams. The interactive mode needs a terminal and is checked by hand.
#include "cli/shell.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "resp/request_parser.h"
#include "testing/fake_server.h"

namespace raftkv::cli {
namespace {

using Args = std::vector<std::string>;
using raftkv::testing::FakeServer;
using raftkv::testing::refusing_port;

using ReplyFn = std::function<std::optional<std::string>(const Args&)>;

// A FakeServer handler that parses requests and answers each with `reply`:
// the bytes to send back, or nullopt to close the connection.
FakeServer::Handler replying(ReplyFn reply) {
    return [reply = std::move(reply)](int fd) {
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
                std::optional<std::string> out = reply(parser.args());
                if (!out) return;
                if (::send(fd, out->data(), out->size(), MSG_NOSIGNAL) < 0) return;
            }
        }
    };
}

// SET answers +OK, GET chelsea a bulk, DROP closes the connection, anything
// else an unknown-command error.
std::optional<std::string> answer(const Args& args) {
    if (args[0] == "set") return "+OK\r\n";
    if (args[0] == "get") return args[1] == "chelsea" ? "$5\r\nrules\r\n" : "$-1\r\n";
    if (args[0] == "drop") return std::nullopt;
    return "-ERR unknown command '" + args[0] + "'\r\n";
}

TEST(Shell, OneShotPrintsTheReply) {
    FakeServer server(replying(answer));
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
    int fd = -1;
    std::uint16_t port = 0;
    refusing_port(&fd, &port);
    std::ostringstream out, err;
    const ShellOptions options{.host = "127.0.0.1", .port = port, .command = {"get", "a"}};
    EXPECT_EQ(run_one_shot(options, OutputMode::kRaw, out, err), 1);
    ::close(fd);
    EXPECT_EQ(out.str(), "");
    EXPECT_EQ(err.str(), fmt::format("cannot connect to 127.0.0.1:{}: Connection refused\n", port));
}

TEST(Shell, PipedLinesRunInOrderUntilQuit) {
    FakeServer server(replying(answer));
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
    FakeServer server(replying(answer));
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
