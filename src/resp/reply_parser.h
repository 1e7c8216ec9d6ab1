// reply_parser.h — parses RESP2 replies into values, for the CLI, the client and tests.
//
// The client side of the Redis protocol: the inverse of ReplyWriter
// (resp/reply_writer.h). RESP2 only; RESP3 type bytes ('%', '_', '#', ...)
// are malformed, since raftkv never sends them. It does not interpret
// replies (MOVED, TRYAGAIN): src/client does.
// Spec: https://redis.io/docs/reference/protocol-spec/ (RESP2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/request_parser.h"  // ParserLimits, ParseStatus

namespace raftkv::resp {

// Arrays nested deeper than this are malformed: it bounds the parser's
// recursion and is far above anything a command replies.
inline constexpr std::size_t kReplyDepthMax = 64;

// One RESP2 reply.
struct Reply {
    enum class Type { kSimple, kError, kInteger, kBulk, kNil, kArray, kNilArray };
    Type type = Type::kNil;
    std::string str;              // kSimple, kError (without the '-'), kBulk
    std::int64_t integer = 0;     // kInteger
    std::vector<Reply> elements;  // kArray

    friend bool operator==(const Reply&, const Reply&) = default;
};

// "simple", "error", "integer", "bulk", "nil", "array", "nil array".
std::string_view reply_type_name(Reply::Type type);

// Parses replies one at a time from a buffer the caller keeps.
//
// Stateless between calls: on kNeedMore it consumes nothing, and the caller
// calls again with the same bytes and more. A reply is re-scanned from its
// start on each call, without allocating until it is complete, so callers
// should read in large chunks. Sizes are bounded by the limits (bulk length
// by bulk_bytes_max, array length by args_max, a simple or error line by
// inline_bytes_max) and nesting by kReplyDepthMax.
// Not thread-safe; one per connection.
class ReplyParser {
  public:
    explicit ReplyParser(ParserLimits limits = {});

    // Parses one reply at the start of `in`.
    // - kComplete: *out holds it; *consumed is its length in bytes (>= 3).
    // - kNeedMore: `in` is a strict prefix of a valid reply; *consumed is 0
    //   and *out is unchanged.
    // - kMalformed: error() says why, e.g. "Protocol error: invalid bulk
    //   length"; *consumed is 0. The connection cannot be trusted any more.
    ParseStatus parse(std::string_view in, std::size_t* consumed, Reply* out);
    const std::string& error() const { return error_; }

  private:
    // Scans (out == nullptr) or builds one reply at in[*pos] at nesting
    // `depth`; advances *pos past it on kComplete.
    ParseStatus parse_value(std::string_view in, std::size_t* pos, std::size_t depth, Reply* out);
    ParseStatus fail(std::string message);

    ParserLimits limits_;
    std::string error_;
};

}  // namespace raftkv::resp
