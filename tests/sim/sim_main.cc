// sim_main.cc — raftkv-sim: runs randomized whole-cluster simulations
// (sim/random_run.h) by seed, and replays one.
//
//   raftkv-sim --seed S             one run; exit 0 if every check held, else 1
//   raftkv-sim --seeds N --first S  runs S, S+1, ..., stops at the first failure
//   raftkv-sim --seed S --trace     the same run, printing every event
//   --nodes K                       forces the cluster size
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
#include <optional>
#include <string>

#include "sim/random_run.h"

namespace {

using raftkv::sim::Cluster;
using raftkv::sim::RandomRunOptions;
using raftkv::sim::RandomRunResult;

volatile std::sig_atomic_t g_in_run = 0;
std::uint64_t g_seed = 0;
int g_nodes = 0;

std::string replay_command(std::uint64_t seed) {
    return g_nodes > 0 ? fmt::format("build/raftkv-sim --seed {} --nodes {}", seed, g_nodes)
                       : fmt::format("build/raftkv-sim --seed {}", seed);
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
        std::fflush(stderr);
    }
    std::raise(sig);
}

RandomRunResult run_one(std::uint64_t seed, bool trace) {
    g_seed = seed;
    RandomRunOptions o{.seed = seed, .nodes = g_nodes, .trace_sink = {}};
    if (trace) {
        o.trace_sink = [](std::string_view line) {
            std::fwrite(line.data(), 1, line.size(), stdout);
            std::fputc('\n', stdout);
        };
    }
    g_in_run = 1;
    RandomRunResult r = raftkv::sim::run_random(o);
    g_in_run = 0;
    return r;
}

void report_failure(std::uint64_t seed, const RandomRunResult& r) {
    fmt::print(stderr,
               "\nFAILED seed {}\nreplay: {}\nconfig: {}\nfailure: {}\n\nlast events:\n{}\n"
               "nodes:\n{}",
               seed, replay_command(seed), r.config, r.failure, r.trace, r.status);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"raftkv-sim: randomized simulations of a raftkv cluster, replayable by seed"};
    std::optional<std::uint64_t> seed;
    std::uint64_t seeds = 0;
    std::uint64_t first = 1;
    bool trace = false;
    app.add_option("--seed", seed, "Run (or replay) this one seed");
    app.add_option("--seeds", seeds,
                   "Run this many seeds, from --first, stop at the first failure");
    app.add_option("--first", first, "The first seed of --seeds");
    app.add_option("--nodes", g_nodes, "Force the cluster size (1..7)")->check(CLI::Range(0, 7));
    app.add_flag("--trace", trace, "Print every event as it happens");
    CLI11_PARSE(app, argc, argv);
    if (!seed && seeds == 0) seed = 1;

    std::signal(SIGABRT, on_abort);
    if (seed) {
        fmt::print("seed {}\n", *seed);
        std::fflush(stdout);
        const RandomRunResult r = run_one(*seed, trace);
        fmt::print("config: {}\n{}\n", r.config, r.counters.to_string());
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
        const RandomRunResult r = run_one(s, trace);
        ++runs;
        ticks += r.counters.ticks;
        messages += r.counters.messages_sent();
        faults += r.counters.faults;
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
