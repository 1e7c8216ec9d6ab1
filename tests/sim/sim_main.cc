// sim_main.cc — raftkv-sim: runs randomized whole-cluster simulations
// (sim/random_run.h) by seed, and replays one; also checks a recorded client
// history for linearizability.
//
//   raftkv-sim --seed S             one run; exit 0 if every check held, else 1
//   raftkv-sim --seeds N --first S  runs S, S+1, ..., stops at the first failure
//   raftkv-sim --seed S --trace     the same run, printing every event
//   --nodes K                       forces the cluster size
//   --replica                       runs clusters of server::Replicas with the
//                                   real kv state machine and real commands
//                                   (sim/replica_run.h) instead of bare cores
//
//   raftkv-sim --check-history FILE [--check-steps-max N]
//       checks a history written by the fault-injection harness
//       (docs/history_format.md) with sim/linearizability.h and prints the
//       verdict and the checker's report; N is the search budget per key.
//       Exit 0: linearizable; 1: not linearizable; 2: the search gave up
//       (verdict unknown), or the file cannot be read or does not parse.
//       Runs no simulation: it excludes the seed options.
//
// A failure prints the seed, the command that replays it and the last events.
// A core assertion aborts the process; the SIGABRT handler prints the same
// before the process dies. Wall-clock time is read only for the summary.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <string>

#include "sim/history.h"
#include "sim/linearizability.h"
#include "sim/random_run.h"
#include "sim/replica_cluster.h"
#include "sim/replica_run.h"

namespace {

using raftkv::sim::CheckOptions;
using raftkv::sim::CheckResult;
using raftkv::sim::Cluster;
using raftkv::sim::History;
using raftkv::sim::Operation;
using raftkv::sim::Outcome;
using raftkv::sim::RandomRunOptions;
using raftkv::sim::RandomRunResult;
using raftkv::sim::ReplicaCluster;
using raftkv::sim::ReplicaRunOptions;
using raftkv::sim::ReplicaRunResult;

volatile std::sig_atomic_t g_in_run = 0;
std::uint64_t g_seed = 0;
int g_nodes = 0;
bool g_replica = false;
bool g_membership = false;
bool g_sessions = false;
bool g_disk_faults = false;

std::string replay_command(std::uint64_t seed) {
    const std::string mode =
        !g_replica
            ? std::string()
            : fmt::format(" --replica{}{}{}", g_membership ? " --membership" : "",
                          g_sessions ? " --sessions" : "", g_disk_faults ? " --disk-faults" : "");
    return g_nodes > 0 ? fmt::format("build/raftkv-sim{} --seed {} --nodes {}", mode, seed, g_nodes)
                       : fmt::format("build/raftkv-sim{} --seed {}", mode, seed);
}

// Not async-signal-safe, and it need not be: the process is dying of its
// own assertion, on this thread, and this is its last report.
void on_abort(int sig) {
    std::signal(sig, SIG_DFL);
    if (g_in_run != 0) {
        std::fprintf(stderr, "\nraftkv-sim: ABORTED in seed %llu\nreplay: %s\n",
                     static_cast<unsigned long long>(g_seed), replay_command(g_seed).c_str());
        if (const Cluster* c = Cluster::live()) {
            std::fprintf(stderr, "last events:\n%s\nnodes:\n%s", c->trace_dump().c_str(),
                         c->status().c_str());
        }
        if (const ReplicaCluster* c = ReplicaCluster::live()) {
            std::fprintf(stderr, "last events:\n%s\nnodes:\n%s", c->trace_dump().c_str(),
                         c->status().c_str());
        }
        std::fflush(stderr);
    }
    std::raise(sig);
}

// What either kind of run reports.
struct RunSummary {
    bool ok = true;
    std::string failure;
    std::string config;
    std::string trace;
    std::string status;
    std::string counters;
    std::uint64_t ticks = 0;
    std::uint64_t messages = 0;
    std::uint64_t faults = 0;
    std::uint64_t ops = 0;
};

RunSummary run_one(std::uint64_t seed, bool trace) {
    g_seed = seed;
    std::function<void(std::string_view)> sink;
    if (trace) {
        sink = [](std::string_view line) {
            std::fwrite(line.data(), 1, line.size(), stdout);
            std::fputc('\n', stdout);
        };
    }
    g_in_run = 1;
    RunSummary s;
    if (g_replica) {
        const ReplicaRunResult r =
            raftkv::sim::run_replica_random(ReplicaRunOptions{.seed = seed,
                                                              .nodes = g_nodes,
                                                              .membership = g_membership,
                                                              .sessions = g_sessions,
                                                              .disk_faults = g_disk_faults,
                                                              .trace_sink = sink});
        s = RunSummary{r.ok,
                       r.failure,
                       r.config,
                       r.trace,
                       r.status,
                       r.counters.to_string(),
                       r.counters.ticks,
                       r.counters.messages,
                       r.counters.faults,
                       r.ops};
    } else {
        const RandomRunResult r = raftkv::sim::run_random(
            RandomRunOptions{.seed = seed, .nodes = g_nodes, .trace_sink = sink});
        s = RunSummary{r.ok,
                       r.failure,
                       r.config,
                       r.trace,
                       r.status,
                       r.counters.to_string(),
                       r.counters.ticks,
                       r.counters.messages_sent(),
                       r.counters.faults,
                       r.ops};
    }
    g_in_run = 0;
    return s;
}

void report_failure(std::uint64_t seed, const RunSummary& r) {
    fmt::print(stderr,
               "\nFAILED seed {}\nreplay: {}\nconfig: {}\nfailure: {}\n\nlast events:\n{}\n"
               "nodes:\n{}",
               seed, replay_command(seed), r.config, r.failure, r.trace, r.status);
}

// Exit codes of --check-history.
constexpr int kExitLinearizable = 0;
constexpr int kExitNotLinearizable = 1;
constexpr int kExitUnknownOrInvalid = 2;

// `history FILE: 9 operations (ok 7, failed 1, unknown 1), 2 keys: linearizable`
std::string history_summary(const std::string& path, const History& h, const CheckResult& r) {
    std::size_t ok = 0, failed = 0, unknown = 0;
    for (const Operation& op : h.ops) {
        ok += op.outcome == Outcome::kOk ? 1 : 0;
        failed += op.outcome == Outcome::kFailed ? 1 : 0;
        unknown += op.outcome == Outcome::kUnknown ? 1 : 0;
    }
    return fmt::format("history {}: {} operations (ok {}, failed {}, unknown {}), {} keys: {}",
                       path, h.ops.size(), ok, failed, unknown, r.keys.size(),
                       raftkv::sim::verdict_name(r.verdict));
}

int check_history(const std::string& path, const CheckOptions& options) {
    raftkv::Result<History> h = raftkv::sim::read_history_file(path);
    if (!h) {
        fmt::print(stderr, "raftkv-sim: --check-history: {}\n", h.error().to_string());
        return kExitUnknownOrInvalid;
    }
    const CheckResult r = raftkv::sim::check_linearizable(*h, options);
    fmt::print("{}\n{}", history_summary(path, *h, r), r.report());
    switch (r.verdict) {
        case raftkv::sim::Verdict::kLinearizable:
            return kExitLinearizable;
        case raftkv::sim::Verdict::kNotLinearizable:
            return kExitNotLinearizable;
        case raftkv::sim::Verdict::kUnknown:
            return kExitUnknownOrInvalid;
    }
    return kExitUnknownOrInvalid;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"raftkv-sim: randomized simulations of a raftkv cluster, replayable by seed"};
    std::optional<std::uint64_t> seed;
    std::uint64_t seeds = 0;
    std::uint64_t first = 1;
    bool trace = false;
    std::optional<std::string> history_path;
    CheckOptions check_options;
    CLI::Option* seed_opt = app.add_option("--seed", seed, "Run (or replay) this one seed");
    CLI::Option* seeds_opt = app.add_option(
        "--seeds", seeds, "Run this many seeds, from --first, stop at the first failure");
    CLI::Option* first_opt = app.add_option("--first", first, "The first seed of --seeds");
    CLI::Option* nodes_opt = app.add_option("--nodes", g_nodes, "Force the cluster size (1..7)")
                                 ->check(CLI::Range(0, 7));
    CLI::Option* trace_opt = app.add_flag("--trace", trace, "Print every event as it happens");
    CLI::Option* replica_opt = app.add_flag(
        "--replica", g_replica,
        "Simulate clusters of server::Replicas (real kv state machine, real commands)");
    app.add_flag("--membership", g_membership,
                 "With --replica: RAFT TRANSFER-LEADER and REMOVENODE under faults")
        ->needs(replica_opt);
    app.add_flag("--sessions", g_sessions,
                 "With --replica: odd-numbered clients write through exactly-once sessions")
        ->needs(replica_opt);
    app.add_flag("--disk-faults", g_disk_faults,
                 "With --replica: disks fill up for a while, and syncs fail")
        ->needs(replica_opt);
    CLI::Option* history_opt =
        app.add_option("--check-history", history_path,
                       "Check this client history file (docs/history_format.md) for "
                       "linearizability instead of running simulations; exit 0 linearizable, "
                       "1 not, 2 unknown (the search gave up) or invalid input")
            ->excludes(seed_opt, seeds_opt, first_opt, nodes_opt, trace_opt, replica_opt);
    app.add_option("--check-steps-max", check_options.steps_max_per_key,
                   "Search budget of --check-history, in steps per key")
        ->check(CLI::Range(std::uint64_t{1}, std::numeric_limits<std::uint64_t>::max()))
        ->needs(history_opt)
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    if (history_path) return check_history(*history_path, check_options);
    if (!seed && seeds == 0) seed = 1;

    std::signal(SIGABRT, on_abort);
    if (seed) {
        fmt::print("seed {}\n", *seed);
        std::fflush(stdout);
        const RunSummary r = run_one(*seed, trace);
        fmt::print("config: {}\n{}\n", r.config, r.counters);
        if (!r.ok) {
            report_failure(*seed, r);
            return 1;
        }
        fmt::print("ok\n");
        return 0;
    }

    const auto start = std::chrono::steady_clock::now();
    std::uint64_t runs = 0, ticks = 0, messages = 0, faults = 0, ops = 0;
    for (std::uint64_t s = first; s < first + seeds; ++s) {
        const RunSummary r = run_one(s, trace);
        ++runs;
        ticks += r.ticks;
        messages += r.messages;
        faults += r.faults;
        ops += r.ops;
        if (!r.ok) {
            report_failure(s, r);
            fmt::print("{} runs, {} passed before seed {} failed\n", runs, runs - 1, s);
            return 1;
        }
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print(
        "{} runs ok (seeds {}..{}): {} ticks, {} messages, {} faults, {} client ops, "
        "{:.1f} s ({:.1f} ms per run)\n",
        runs, first, first + seeds - 1, ticks, messages, faults, ops, elapsed,
        runs == 0 ? 0.0 : elapsed * 1000 / static_cast<double>(runs));
    return 0;
}
