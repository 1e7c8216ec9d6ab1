// shell.h — `raftkv cli`: an interactive shell, or one command, like redis-cli.
//
// Three ways to run, chosen as redis-cli chooses them:
// - one-shot: `raftkv cli set chelsea rules` sends the command, prints the
//   reply and exits;
// - interactive (no command, stdin a terminal): a prompt with line editing,
//   history in ~/.raftkv_history and tab completion of command names;
// - piped (no command, stdin not a terminal): one command per input line.
// Replies print in redis-cli's terminal style when stdout is a terminal, raw
// otherwise or with `raw` (cli/reply_format.h). Lines split as in redis-cli
// (cli/line_split.h). Redirects to the leader are followed by the client
// (client/connection.h), and writes run in a client session, so a write
// retried across a leader change is applied once (--no-sessions turns that
// off); argument parsing of the subcommand is main.cc's job.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "cli/reply_format.h"

namespace raftkv::cli {

struct ShellOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    std::vector<std::string> command;  // one-shot when not empty
    bool raw = false;                  // raw replies even on a terminal
    // Writes run exactly once in a client session, retried across leader
    // changes (client/connection.h, enable_sessions).
    bool sessions = true;
};

// Runs the shell on stdin/stdout/stderr and returns the process exit code:
// 0 when every command got a reply (error replies included, as redis-cli),
// 1 when the server could not be reached or the connection failed during a
// command (one-shot and piped modes). Interactive mode returns 0 on quit,
// exit or end of input, and reconnects on the next command after a loss.
int run_shell(const ShellOptions& options);

// The non-interactive parts of run_shell, on streams, for tests.
// Sends options.command and prints its reply (or the error, to `err`).
int run_one_shot(const ShellOptions& options, OutputMode mode, std::ostream& out,
                 std::ostream& err);
// Runs each line of `in` as a command, printing each reply.
int run_lines(const ShellOptions& options, OutputMode mode, std::istream& in, std::ostream& out,
              std::ostream& err);

// The text of `help` (topic empty) or `help <command>`.
std::string help_text(std::string_view topic);

}  // namespace raftkv::cli
