// test_util.h — helpers shared by the kv unit tests: running a command as the
// server would, and a seeded random generator that honours RAFTKV_SEED.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kv/commands.h"
#include "kv/state_machine.h"
#include "resp/reply_writer.h"

namespace raftkv::kv::testing {

using Args = std::vector<std::string>;

// Routes one command as the server does: unknown commands and writes go to
// apply(), reads that pass check() to read(). Returns the reply bytes.
inline std::string run(StateMachine& sm, const Args& args) {
    std::string out;
    resp::ReplyWriter w(&out);
    const CommandInfo* info = args.empty() ? nullptr : find_command(args[0]);
    if (info != nullptr && info->cls == CommandClass::kRead) {
        if (check(*info, args, w)) sm.read(args, w);
    } else {
        sm.apply(args, w);
    }
    return out;
}

// The seed of a randomized test: RAFTKV_SEED if set (decimal or 0x hex), else
// `fallback`. Tests print it as seed=0x... on failure.
inline std::uint64_t test_seed(std::uint64_t fallback) {
    const char* env = std::getenv("RAFTKV_SEED");
    if (env == nullptr || *env == '\0') return fallback;
    return std::strtoull(env, nullptr, 0);
}

inline std::string seed_trace(std::uint64_t seed) { return fmt::format("seed={:#x}", seed); }

}  // namespace raftkv::kv::testing
