// assert.h — RAFTKV_ASSERT: checks for our own bugs, on in every build.
//
// An assertion failure means raftkv's own state is wrong (commit went
// backwards, a record failed its check after we encoded it). It prints the
// condition, the place and a formatted message, then aborts. Expected
// failures (bad input, I/O errors) use Status instead (base/status.h).
// RAFTKV_DEBUG_ASSERT is for checks costlier than O(1); it is on unless
// NDEBUG is defined without RAFTKV_DEBUG_CHECKS.
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>

namespace raftkv::detail {
[[noreturn]] void assert_fail(const char* cond, const char* file, int line, const std::string& msg);

inline std::string assert_message() { return {}; }
template <typename... Args>
std::string assert_message(fmt::format_string<Args...> format, Args&&... args) {
    return fmt::format(format, std::forward<Args>(args)...);
}
}  // namespace raftkv::detail

#define RAFTKV_ASSERT(cond, ...)                                                     \
    do {                                                                             \
        if (!(cond)) [[unlikely]]                                                    \
            ::raftkv::detail::assert_fail(#cond, __FILE__, __LINE__,                 \
                                          ::raftkv::detail::assert_message(__VA_ARGS__)); \
    } while (0)

#if !defined(NDEBUG) || defined(RAFTKV_DEBUG_CHECKS)
#define RAFTKV_DEBUG_ASSERT(cond, ...) RAFTKV_ASSERT(cond __VA_OPT__(, ) __VA_ARGS__)
#else
#define RAFTKV_DEBUG_ASSERT(cond, ...) \
    do {                               \
    } while (0)
#endif
