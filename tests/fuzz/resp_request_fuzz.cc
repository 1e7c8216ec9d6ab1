// resp_request_fuzz.cc — libFuzzer target for RequestParser (bytes from any client).
//
// Feeds the input whole and again in splits derived from the input
// (resp_fuzz.h), and checks the parser's contract: consumed <= size,
// kNeedMore consumes all, kComplete consumes something and yields a
// non-empty argv, and the outcome (requests, error) does not depend on the
// split. Each request re-encoded as a multibulk must parse back equal. Any
// crash other than RAFTKV_ASSERT on the parser's own state is a parser bug.
// Seed corpus: corpus/resp_request/.
#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "base/assert.h"
#include "resp/request_parser.h"
#include "resp_fuzz.h"

namespace {

using raftkv::fuzz::resp_fuzz_input;
using raftkv::fuzz::RespFuzzInput;
using raftkv::fuzz::SeededSplit;
using raftkv::resp::ParserLimits;
using raftkv::resp::ParseStatus;
using raftkv::resp::RequestParser;
using Argv = std::vector<std::string>;

struct Outcome {
    std::vector<Argv> requests;
    bool malformed = false;
    std::string error;
    bool operator==(const Outcome&) const = default;
};

// Feeds `in` in pieces whose sizes come from `split_seed` (0: whole).
Outcome feed(std::string_view in, std::uint64_t split_seed, ParserLimits limits) {
    RequestParser parser(limits);
    Outcome o;
    for (SeededSplit pieces(in, split_seed); !pieces.done();) {
        std::string_view piece = pieces.next();
        while (!piece.empty()) {
            std::size_t consumed = 0;
            const ParseStatus status = parser.parse(piece, &consumed);
            RAFTKV_ASSERT(consumed <= piece.size(), "consumed {} of {}", consumed, piece.size());
            piece.remove_prefix(consumed);
            if (status == ParseStatus::kMalformed) {
                RAFTKV_ASSERT(!parser.error().empty());
                o.malformed = true;
                o.error = parser.error();
                return o;
            }
            if (status == ParseStatus::kNeedMore) {
                RAFTKV_ASSERT(piece.empty(), "kNeedMore left {} bytes", piece.size());
                break;
            }
            RAFTKV_ASSERT(consumed > 0);
            RAFTKV_ASSERT(!parser.args().empty());
            o.requests.push_back(parser.args());
        }
    }
    return o;
}

std::string multibulk(const Argv& argv) {
    std::string out = fmt::format("*{}\r\n", argv.size());
    for (const std::string& a : argv) out += fmt::format("${}\r\n{}\r\n", a.size(), a);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    // The first byte picks the limits and the splits; the rest is the stream.
    const RespFuzzInput input = resp_fuzz_input(data, size);
    const Outcome whole = feed(input.stream, 0, input.limits);
    const Outcome split = feed(input.stream, input.split_seed, input.limits);
    RAFTKV_ASSERT(whole == split, "outcome depends on the split: {} vs {} requests, '{}' vs '{}'",
                  whole.requests.size(), split.requests.size(), whole.error, split.error);

    for (const Argv& argv : whole.requests) {
        const Outcome again = feed(multibulk(argv), 0, ParserLimits{});
        RAFTKV_ASSERT(!again.malformed, "re-encoded request malformed: {}", again.error);
        RAFTKV_ASSERT(again.requests.size() == 1);
        RAFTKV_ASSERT(again.requests[0] == argv, "re-encoded request parsed differently");
    }
    return 0;
}
