// test_util.h — helpers shared by the kv unit tests: running a command as the
// server would, and the seed helpers of testing/seed.h under kv::testing.
#pragma once

#include <string>
#include <vector>

#include "kv/commands.h"
#include "kv/state_machine.h"
#include "resp/reply_writer.h"
#include "testing/seed.h"

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

// Seeds: testing/seed.h, shared with the other layers' tests.
using raftkv::testing::seed_trace;
using raftkv::testing::test_seed;

}  // namespace raftkv::kv::testing
