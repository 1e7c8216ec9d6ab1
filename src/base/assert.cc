// assert.cc — the one place an assertion failure is reported.
#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace raftkv::detail {

void assert_fail(const char* cond, const char* file, int line, const std::string& msg) {
    std::fprintf(stderr, "raftkv: assertion failed at %s:%d: %s%s%s\n", file, line, cond,
                 msg.empty() ? "" : ": ", msg.c_str());
    std::fflush(stderr);
    std::abort();
}

}  // namespace raftkv::detail
