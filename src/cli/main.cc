// main.cc — the raftkv binary: `raftkv server` and `raftkv cli`.
//
// Only parses flags and hands over: src/server runs a server, src/cli the
// shell. The outside contract of these flags is in DESIGN.md and README.md.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

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

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"raftkv: a strongly consistent, replicated key-value store that speaks the "
                 "Redis protocol"};
    app.require_subcommand(1);

    raftkv::server::ServerConfig config;
    std::string cluster;
    std::uint64_t id = 1;
    CLI::App* server = app.add_subcommand("server", "Run a raftkv server");
    server->set_config("--config", "", "Read these flags from a file (TOML: id = 1, ...)");
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
    server->add_option("--log-level", config.log_level, "trace, debug, info, warn, error")
        ->capture_default_str()
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

    raftkv::cli::ShellOptions shell;
    CLI::App* cli = app.add_subcommand("cli", "Open a shell on a server, or run one command");
    cli->set_help_flag("--help", "Print this help message and exit");
    cli->add_option("-h,--host", shell.host, "Server host")->capture_default_str();
    cli->add_option("-p,--port", shell.port, "Server port")->capture_default_str();
    cli->add_flag("--raw", shell.raw, "Print replies raw, as when output is not a terminal");
    cli->prefix_command();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }

    if (server->parsed()) {
        config.id = raftkv::raft::NodeId(id);
        return run_server(std::move(config), cluster);
    }
    shell.command = cli->remaining();
    return raftkv::cli::run_shell(shell);
}
