// resp_reply_fuzz.cc — libFuzzer target for ReplyParser (bytes from any server).
//
// Parses the input as a stream of replies, whole and again as a caller that
// receives it in splits derived from the input, and checks the contract:
// consumed <= size, nothing consumed unless complete, the same outcome for
// every split (resp_fuzz.h). RESP2 has one encoding per value, so a reply
// re-encoded must equal the bytes it was parsed from. Seed corpus:
// corpus/resp_reply/.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/assert.h"
#include "resp/reply_parser.h"
#include "resp/reply_writer.h"
#include "resp_fuzz.h"

namespace {

using raftkv::fuzz::resp_fuzz_input;
using raftkv::fuzz::RespFuzzInput;
using raftkv::fuzz::SeededSplit;
using raftkv::resp::ParserLimits;
using raftkv::resp::ParseStatus;
using raftkv::resp::Reply;
using raftkv::resp::ReplyParser;
using raftkv::resp::ReplyWriter;

struct Outcome {
    std::vector<Reply> replies;
    std::vector<std::string> bytes;  // the input bytes of each reply
    bool malformed = false;
    std::string error;
    bool operator==(const Outcome&) const = default;
};

// Like ReplyWriter, but simple and error lines are written as parsed (they
// may hold a '\r' or a bare '\n', which the writer would not reproduce).
void encode(const Reply& r, ReplyWriter* w) {
    switch (r.type) {
        case Reply::Type::kSimple:
            w->raw("+" + r.str + "\r\n");
            break;
        case Reply::Type::kError:
            w->raw("-" + r.str + "\r\n");
            break;
        case Reply::Type::kInteger:
            w->integer(r.integer);
            break;
        case Reply::Type::kBulk:
            w->bulk(r.str);
            break;
        case Reply::Type::kNil:
            w->null_bulk();
            break;
        case Reply::Type::kNilArray:
            w->null_array();
            break;
        case Reply::Type::kArray:
            w->array_header(r.elements.size());
            for (const Reply& e : r.elements) encode(e, w);
            break;
    }
}

Outcome feed(std::string_view in, std::uint64_t split_seed, ParserLimits limits) {
    ReplyParser parser(limits);
    Outcome o;
    std::string buffer;
    for (SeededSplit pieces(in, split_seed); !pieces.done();) {
        buffer.append(pieces.next());
        while (!buffer.empty()) {
            std::size_t consumed = 0;
            Reply reply;
            const ParseStatus status = parser.parse(buffer, &consumed, &reply);
            RAFTKV_ASSERT(consumed <= buffer.size(), "consumed {} of {}", consumed, buffer.size());
            if (status == ParseStatus::kMalformed) {
                RAFTKV_ASSERT(consumed == 0);
                o.malformed = true;
                o.error = parser.error();
                return o;
            }
            if (status == ParseStatus::kNeedMore) {
                RAFTKV_ASSERT(consumed == 0);
                break;
            }
            RAFTKV_ASSERT(consumed > 0);
            o.bytes.push_back(buffer.substr(0, consumed));
            o.replies.push_back(std::move(reply));
            buffer.erase(0, consumed);
        }
    }
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const RespFuzzInput input = resp_fuzz_input(data, size);
    const Outcome whole = feed(input.stream, 0, input.limits);
    const Outcome split = feed(input.stream, input.split_seed, input.limits);
    RAFTKV_ASSERT(whole == split, "outcome depends on the split: {} vs {} replies, '{}' vs '{}'",
                  whole.replies.size(), split.replies.size(), whole.error, split.error);

    for (std::size_t i = 0; i < whole.replies.size(); ++i) {
        std::string out;
        ReplyWriter writer(&out);
        encode(whole.replies[i], &writer);
        RAFTKV_ASSERT(out == whole.bytes[i], "reply {} re-encodes to different bytes", i);
    }
    return 0;
}
