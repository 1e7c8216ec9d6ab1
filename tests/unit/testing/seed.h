// seed.h — the seed of a randomized unit test, and the trace that prints it.
//
// A randomized test takes its seed from RAFTKV_SEED (decimal or 0x hex) when
// that is set, so a failure reruns exactly; otherwise from a fixed fallback or
// a fresh random one. Does not make generators: tests seed their own
// std::mt19937_64. Rule: STYLE.md section 7, "Determinism".
//
//     const std::uint64_t seed = raftkv::testing::test_seed();
//     SCOPED_TRACE(raftkv::testing::seed_trace(seed));
//     std::mt19937_64 rng(seed);
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

namespace raftkv::testing {

// RAFTKV_SEED if set and not empty, else `fallback`.
inline std::uint64_t test_seed(std::uint64_t fallback) {
    const char* env = std::getenv("RAFTKV_SEED");
    if (env == nullptr || *env == '\0') return fallback;
    return std::strtoull(env, nullptr, 0);
}

// RAFTKV_SEED if set and not empty, else a fresh random seed.
inline std::uint64_t test_seed() {
    std::random_device random;
    const std::uint64_t high = random();
    return test_seed(high << 32 | random());
}

// What SCOPED_TRACE prints on failure: "seed=0x... (rerun with RAFTKV_SEED=0x...)".
inline std::string seed_trace(std::uint64_t seed) {
    return fmt::format("seed={0:#x} (rerun with RAFTKV_SEED={0:#x})", seed);
}

}  // namespace raftkv::testing
