// shell.cc — the `raftkv cli` loops: one-shot, piped and interactive.
//
// A Session owns the connection and its reconnect rule; the three loops only
// read input and print. Line editing is libedit's readline interface.
#include "cli/shell.h"

#include <editline/readline.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string_view>

#include "cli/line_split.h"
#include "client/connection.h"
#include "kv/commands.h"

namespace raftkv::cli {
namespace {

using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kConnectTimeout = 5s;
// Long enough for a write to commit through a leader election.
constexpr std::chrono::milliseconds kReplyTimeout = 30s;

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

// The shell's connection to the server it is talking to. Connects lazily and
// again after a loss; follows the connection when a redirect moves it, so
// the prompt names the server that answers. Not thread-safe.
class Session {
public:
    explicit Session(const ShellOptions& options)
        : host_(options.host), port_(options.port), sessions_(options.sessions) {}

    // Connects unless connected. On failure prints the error to `err`.
    bool connect(std::ostream& err) {
        if (conn_ && conn_->is_connected()) return true;
        if (conn_ && conn_->has_sessions()) return true;  // it reconnects and retries by itself
        conn_.reset();
        Result<client::Connection> c = client::Connection::connect(host_, port_, kConnectTimeout);
        if (!c) {
            err << c.error().message() << "\n" << std::flush;
            return false;
        }
        conn_.emplace(std::move(c).value());
        conn_->set_io_timeout(kReplyTimeout);
        if (sessions_) conn_->enable_sessions();
        return true;
    }

    // Sends `args` and returns the reply; on failure prints it to `err` and
    // returns nullopt, and the next command reconnects.
    std::optional<resp::Reply> call(const std::vector<std::string>& args, std::ostream& err) {
        if (!connect(err)) return std::nullopt;
        Result<resp::Reply> reply = conn_->call(args);
        if (conn_->is_connected()) {
            host_ = conn_->host();
            port_ = conn_->port();
        }
        if (!reply) {
            err << "Error: " << reply.error().message() << "\n" << std::flush;
            return std::nullopt;
        }
        return std::move(reply).value();
    }

    std::string prompt() const {
        if (!conn_ || !conn_->is_connected()) return "not connected> ";
        return conn_->address() + "> ";
    }

private:
    std::string host_;
    std::uint16_t port_;
    bool sessions_;
    std::optional<client::Connection> conn_;
};

// The shell's shortcuts for the cluster's administration commands (RAFT ...,
// replica_commands.cc): "status", "leader 2", "snapshot", "addnode 4
// 127.0.0.1:7004", "removenode 4". They are not kv commands, so they cannot
// hide one.
struct Shortcut {
    std::string_view word;
    std::string_view subcommand;
    std::size_t args;  // arguments after the word
    std::string_view summary;
};
constexpr Shortcut kShortcuts[] = {
    {"status", "STATUS", 0, "the Raft state of this server (RAFT STATUS)"},
    {"leader", "TRANSFER-LEADER", 1, "leader ID: hand the leadership to server ID"},
    {"snapshot", "SNAPSHOT", 0, "take a snapshot on this server now"},
    {"addnode", "ADDNODE", 2, "addnode ID HOST:PORT[@PEERPORT]: add a server"},
    {"removenode", "REMOVENODE", 1, "removenode ID: remove a server"},
};

// Rewrites a shortcut into its RAFT command; other lines are left alone.
void expand_shortcut(std::vector<std::string>* args) {
    const std::string name = lower((*args)[0]);
    for (const Shortcut& s : kShortcuts) {
        if (name != s.word || args->size() != s.args + 1) continue;
        std::vector<std::string> expanded = {"RAFT", std::string(s.subcommand)};
        expanded.insert(expanded.end(), args->begin() + 1, args->end());
        *args = std::move(expanded);
        return;
    }
}

// What a line of input asks for, before anything is sent.
enum class LineAction { kSkip, kQuit, kHelp, kSend, kInvalid };

LineAction classify(const Result<std::vector<std::string>>& args) {
    if (!args) return LineAction::kInvalid;
    if (args->empty()) return LineAction::kSkip;
    const std::string name = lower((*args)[0]);
    if (name == "quit" || name == "exit") return LineAction::kQuit;
    if (name == "help") return LineAction::kHelp;
    return LineAction::kSend;
}

// Runs one line; returns false when the shell should stop. Sets *failed when
// a command could not be delivered.
bool run_line(Session& session, std::string_view line, OutputMode mode, std::ostream& out,
              std::ostream& err, bool* failed) {
    Result<std::vector<std::string>> args = split_line(line);
    if (args && !args->empty()) expand_shortcut(&*args);
    switch (classify(args)) {
        case LineAction::kSkip:
            return true;
        case LineAction::kQuit:
            return false;
        case LineAction::kInvalid:
            out << "Invalid argument(s): " << args.error().message() << "\n" << std::flush;
            return true;
        case LineAction::kHelp:
            out << help_text(args->size() > 1 ? (*args)[1] : "") << std::flush;
            return true;
        case LineAction::kSend:
            break;
    }
    std::optional<resp::Reply> reply = session.call(*args, err);
    if (!reply) {
        *failed = true;
        return true;
    }
    out << format_reply(*reply, mode_for(*args, mode)) << std::flush;
    return true;
}

// --- Interactive mode: libedit ----------------------------------------------

// Completes the command name (the first word) from the kv command table and
// the shell's own words, in the case the user started typing in.
char* complete_command(const char* text, int state) {
    static std::size_t next = 0;
    static std::vector<std::string> words;
    if (state == 0) {
        next = 0;
        words.clear();
        for (const kv::CommandInfo& info : kv::all_commands()) {
            if (!kv::is_internal(info)) words.emplace_back(info.name);
        }
        for (const char* w : {"help", "quit", "exit"}) words.emplace_back(w);
        for (const Shortcut& sc : kShortcuts) words.emplace_back(sc.word);
        std::sort(words.begin(), words.end());
    }
    const std::string_view typed(text);
    const bool is_upper = !typed.empty() && std::isupper(static_cast<unsigned char>(typed[0]));
    const std::string prefix = lower(typed);
    while (next < words.size()) {
        const std::string& w = words[next++];
        if (w.starts_with(prefix)) return ::strdup((is_upper ? upper(w) : w).c_str());
    }
    return nullptr;
}

char** complete(const char* text, int start, int /*end*/) {
    rl_attempted_completion_over = 1;  // never fall back to file names
    if (start != 0) return nullptr;
    return rl_completion_matches(text, complete_command);
}

std::string history_path() {
    const char* home = std::getenv("HOME");
    if (home == nullptr || *home == '\0') return "";
    return std::string(home) + "/.raftkv_history";
}

int run_interactive(const ShellOptions& options, OutputMode mode) {
    Session session(options);
    session.connect(std::cerr);  // like redis-cli: report now, retry on each command
    const std::string history = history_path();
    rl_readline_name = "raftkv";
    rl_attempted_completion_function = complete;
    using_history();
    // A missing or unreadable history file only means no history.
    if (!history.empty()) read_history(history.c_str());
    bool failed = false;
    for (;;) {
        char* raw_line = readline(session.prompt().c_str());
        if (raw_line == nullptr) break;  // end of input (Ctrl-D)
        const std::string line(raw_line);
        std::free(raw_line);
        if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;
        add_history(line.c_str());
        // Saving history is a convenience; a failure to write it is ignored.
        if (!history.empty()) write_history(history.c_str());
        if (!run_line(session, line, mode, std::cout, std::cerr, &failed)) break;
    }
    return 0;
}

}  // namespace

int run_one_shot(const ShellOptions& options, OutputMode mode, std::ostream& out,
                 std::ostream& err) {
    RAFTKV_ASSERT(!options.command.empty());
    // One command: no session. Registering one would cost a log entry and
    // keep a session for an hour per invocation (a script looping over
    // one-shot writes would crowd out other clients' sessions); such a write
    // is not retried, and a lost reply is reported as such.
    ShellOptions single = options;
    single.sessions = false;
    std::vector<std::string> command = options.command;
    expand_shortcut(&command);  // `raftkv cli status`, as in the interactive shell
    Session session(single);
    std::optional<resp::Reply> reply = session.call(command, err);
    if (!reply) return 1;
    out << format_reply(*reply, mode_for(command, mode)) << std::flush;
    return 0;
}

int run_lines(const ShellOptions& options, OutputMode mode, std::istream& in, std::ostream& out,
              std::ostream& err) {
    Session session(options);
    // Like redis-cli: report an unreachable server now and retry per command.
    bool failed = !session.connect(err);
    std::string line;
    while (std::getline(in, line)) {
        if (!run_line(session, line, mode, out, err, &failed)) break;
    }
    return failed ? 1 : 0;
}

int run_shell(const ShellOptions& options) {
    const OutputMode mode =
        options.raw || ::isatty(STDOUT_FILENO) == 0 ? OutputMode::kRaw : OutputMode::kTty;
    if (!options.command.empty()) return run_one_shot(options, mode, std::cout, std::cerr);
    if (::isatty(STDIN_FILENO) == 0)
        return run_lines(options, mode, std::cin, std::cout, std::cerr);
    return run_interactive(options, mode);
}

std::string help_text(std::string_view topic) {
    if (topic.empty()) {
        std::string out =
            "raftkv cli: type a command and its arguments, e.g. set chelsea rules\n"
            "      \"help <command>\" for help on <command>\n"
            "      \"quit\" to exit\n\n";
        for (const kv::CommandInfo& info : kv::all_commands()) {
            if (kv::is_internal(info)) continue;
            out += fmt::format("  {:<10} {}\n", info.name, info.summary);
        }
        out += "\n  the cluster (RAFT commands):\n";
        for (const Shortcut& sc : kShortcuts) {
            out += fmt::format("  {:<10} {}\n", sc.word, sc.summary);
        }
        return out;
    }
    const kv::CommandInfo* info = kv::find_client_command(topic);
    if (info == nullptr) {
        return fmt::format("No help for '{}'. Type \"help\" for the list of commands.\n", topic);
    }
    const std::string usage = info->syntax.empty()
                                  ? upper(info->name)
                                  : upper(info->name) + " " + std::string(info->syntax);
    return fmt::format("\n  {}\n  summary: {}\n\n", usage, info->summary);
}

}  // namespace raftkv::cli
