// main.cc — the raftkv binary: `raftkv server`, `raftkv cli` and `raftkv demo`.
//
// Only parses flags and hands over: src/server runs a server, src/cli the
// shell and the demo. The outside contract of these flags is in DESIGN.md and README.md.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/demo.h"
#include "cli/shell.h"
#include "server/config.h"
#include "server/server.h"

namespace {

// Many clients need many descriptors: take the hard limit.
void raise_fd_limit() {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
}

int run_server(raftkv::server::ServerConfig config, const std::string& cluster) {
    auto logger = spdlog::stderr_color_mt("raftkv");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    spdlog::set_level(spdlog::level::from_str(config.log_level));
    if (!cluster.empty()) {
        auto nodes = raftkv::server::parse_cluster(cluster);
        if (!nodes) {
            std::fprintf(stderr, "raftkv server: %s\n", nodes.error().message().c_str());
            return 2;
        }
        config.cluster = std::move(*nodes);
    }
    raise_fd_limit();
    std::signal(SIGPIPE, SIG_IGN);
    auto server = raftkv::server::Server::open(std::move(config));
    if (!server) {
        spdlog::critical("cannot start: {}", server.error().to_string());
        return 1;
    }
    raftkv::Status status = (*server)->run();
    if (!status.is_ok()) {
        spdlog::critical("stopped: {}", status.to_string());
        return 1;
    }
    spdlog::info("stopped cleanly");
    return 0;
}

// `raftkv server --config FILE`: the file's `key = value` lines (TOML, as
// CLI11 reads them) become `--key=value` flags placed before the command
// line's own, so that a flag given on the command line wins. (CLI11's own
// config support reads files for the top-level app only.)
// Returns false, with a message printed, if the file cannot be read.
bool expand_config_file(std::vector<std::string>* args) {
    if (args->size() < 2 || (*args)[1] != "server") return true;
    std::string path;
    std::vector<std::string> rest;
    for (std::size_t i = 2; i < args->size(); ++i) {
        const std::string& a = (*args)[i];
        if (a == "--config" && i + 1 < args->size()) {
            path = (*args)[++i];
        } else if (a.rfind("--config=", 0) == 0) {
            path = a.substr(9);
        } else {
            rest.push_back(a);
        }
    }
    if (path.empty()) return true;
    std::vector<CLI::ConfigItem> items;
    try {
        items = CLI::ConfigTOML().from_file(path);
    } catch (const CLI::Error& e) {
        std::fprintf(stderr, "raftkv server: cannot read config file %s: %s\n", path.c_str(),
                     e.what());
        return false;
    }
    std::vector<std::string> expanded{(*args)[0], "server"};
    for (const CLI::ConfigItem& item : items) {
        if (item.name == "++" || item.name == "--" || item.inputs.empty()) continue;
        const std::string flag = "--" + item.name;
        bool overridden = false;
        for (const std::string& a : rest) {
            overridden = overridden || a == flag || a.rfind(flag + "=", 0) == 0;
        }
        if (!overridden) expanded.push_back(flag + "=" + item.inputs.front());
    }
    expanded.insert(expanded.end(), rest.begin(), rest.end());
    *args = std::move(expanded);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv, argv + argc);
    if (!expand_config_file(&args)) return 2;
    CLI::App app{"raftkv: a strongly consistent, replicated key-value store that speaks the "
                 "Redis protocol"};
    app.name("raftkv");
    app.require_subcommand(0, 1);

    raftkv::server::ServerConfig config;
    std::string cluster;
    std::uint64_t id = 1;
    CLI::App* server = app.add_subcommand("server", "Run a raftkv server");
    std::string config_file;  // read by expand_config_file before parsing
    server->add_option("--config", config_file,
                       "Read flags from a file: TOML, `data-dir = \"/var/lib/raftkv\"`; "
                       "flags on the command line win");
    server->add_option("--id", id, "This server's id in --cluster")->capture_default_str();
    server->add_option("--cluster", cluster,
                       "The cluster: ID=HOST:PORT[@PEERPORT],... (default 1=127.0.0.1:6379)");
    server->add_option("--data-dir", config.data_dir, "Where the log and snapshots live")
        ->capture_default_str();
    server->add_option("--snapshot-log-bytes", config.snapshot_log_bytes,
                       "Take a snapshot after this many bytes of log")
        ->capture_default_str();
    server->add_option("--wal-segment-bytes", config.wal_segment_bytes,
                       "Size of one log segment file")
        ->capture_default_str();
    server->add_option("--max-bulk-bytes", config.bulk_bytes_max,
                       "Largest argument a client may send (proto-max-bulk-len)")
        ->capture_default_str();
    server->add_option("--max-clients", config.clients_max, "Most concurrent client connections")
        ->capture_default_str();
    server->add_option("--join", config.join,
                       "HOST:PORT of a server of a running cluster: ask it to add this server "
                       "(--cluster then names only this one)");
    server->add_option("--cluster-id", config.cluster_id,
                       "A name every server of the cluster shares; peers of another are refused")
        ->capture_default_str();
    server->add_option("--tick-ms", config.tick_ms, "Raft tick: heartbeats go out every tick")
        ->capture_default_str();
    server->add_option("--election-ticks", config.election_ticks,
                       "A follower campaigns after this many to twice as many silent ticks")
        ->capture_default_str();
    server->add_option("--log-level", config.log_level, "trace, debug, info, warn, error")
        ->capture_default_str()
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

    raftkv::cli::ShellOptions shell;
    CLI::App* cli = app.add_subcommand("cli", "Open a shell on a server, or run one command");
    cli->set_help_flag("--help", "Print this help message and exit");
    cli->add_option("-h,--host", shell.host, "Server host")->capture_default_str();
    cli->add_option("-p,--port", shell.port, "Server port")->capture_default_str();
    cli->add_flag("--raw", shell.raw, "Print replies raw, as when output is not a terminal");
    bool no_sessions = false;
    cli->add_flag("--no-sessions", no_sessions,
                  "Send writes as typed: no client session, no retry of a write whose fate is "
                  "unknown");
    cli->prefix_command();
    cli->footer("With COMMAND [ARG...], runs that one command and prints its reply "
                "(raftkv cli set chelsea rules); without, opens the shell, or runs one "
                "command per line of standard input when it is not a terminal.");

    raftkv::cli::DemoOptions demo;
    CLI::App* demo_cmd =
        app.add_subcommand("demo", "Start a local cluster, open a shell on it, stop it after");
    demo_cmd->add_option("--nodes", demo.node_count, "How many servers")
        ->capture_default_str()
        ->check(CLI::Range(1, raftkv::cli::kDemoNodesMax));
    demo_cmd->add_option("--dir", demo.dir,
                         "Where the nodes keep data (DIR/node-N) and logs (DIR/node-N.log); "
                         "default: a new ./raftkv-demo");
    demo_cmd->add_option("--port", demo.base_port,
                         "Client port of node 1; node N uses PORT+N-1, its peer port that+10000")
        ->capture_default_str();
    demo_cmd->add_flag("--keep", demo.keep,
                       "At exit, say how to start again from the data instead of how to remove it");

    try {
        // CLI11 wants the arguments after the program name, last first.
        std::vector<std::string> reversed(args.rbegin(), args.rend() - 1);
        app.parse(reversed);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }

    if (app.get_subcommands().empty()) {
        std::fputs(app.help().c_str(), stderr);
        return 2;
    }
    if (server->parsed()) {
        config.id = raftkv::raft::NodeId(id);
        return run_server(std::move(config), cluster);
    }
    if (demo_cmd->parsed()) return raftkv::cli::run_demo(demo);
    shell.command = cli->remaining();
    shell.sessions = !no_sessions;
    return raftkv::cli::run_shell(shell);
}
