// resp_fuzz.h — what the RESP fuzz targets share: how an input picks the
// parser limits and the splits, and the splits themselves.
//
// The first byte of an input is its config: bit 0 picks small limits, the
// other bits seed the splits; the rest is the stream. Does not parse:
// resp_request_fuzz.cc and resp_reply_fuzz.cc each check their parser's own
// contract. Header-only, so tools/fuzz.sh needs no extra sources.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "resp/request_parser.h"

namespace raftkv::fuzz {

struct RespFuzzInput {
    std::string_view stream;
    resp::ParserLimits limits;
    std::uint64_t split_seed = 0;  // never 0: a real split
};

// Requires size > 0. The result points into `data`.
inline RespFuzzInput resp_fuzz_input(const std::uint8_t* data, std::size_t size) {
    const std::uint8_t config = data[0];
    return RespFuzzInput{
        .stream = std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1),
        .limits =
            (config & 1) != 0
                ? resp::ParserLimits{.bulk_bytes_max = 16, .args_max = 4, .inline_bytes_max = 16}
                : resp::ParserLimits{},
        .split_seed = 1 + static_cast<std::uint64_t>(config >> 1),
    };
}

// Cuts a stream into pieces of 1 to 16 bytes whose sizes come from a seed,
// or into one piece for seed 0. The pieces point into the stream.
class SeededSplit {
public:
    SeededSplit(std::string_view in, std::uint64_t seed) : in_(in), seed_(seed), x_(seed) {}

    bool done() const { return in_.empty(); }

    // Requires !done().
    std::string_view next() {
        std::size_t n = in_.size();
        if (seed_ != 0) {
            x_ = x_ * 6364136223846793005ull + 1442695040888963407ull;  // LCG step
            n = 1 + static_cast<std::size_t>(x_ >> 33) % std::min<std::size_t>(in_.size(), 16);
        }
        const std::string_view piece = in_.substr(0, n);
        in_.remove_prefix(n);
        return piece;
    }

private:
    std::string_view in_;
    std::uint64_t seed_;
    std::uint64_t x_;
};

}  // namespace raftkv::fuzz
