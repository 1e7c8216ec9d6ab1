// reply_parser.cc — RESP2 reply parsing.
//
// Two passes over a reply: a scan that checks it is whole and well formed
// without allocating, then, only when it is, a build of the Reply. A reply
// that arrives in many pieces thus costs a cheap scan per piece.
#include "resp/reply_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "base/assert.h"

namespace raftkv::resp {
namespace {

constexpr std::size_t kElementsReserveMax = 1024;

enum class LineStatus { kLine, kNeedMore, kTooLong };

// Finds the "\r\n"-terminated line starting at in[pos] (after its type byte)
// with at most `line_bytes_max` bytes before the "\r\n". On kLine, *line is
// its content and *end the offset just past the "\n". A '\n' not preceded by
// '\r' counts as part of the line, which then runs too long or on.
LineStatus find_line(std::string_view in, std::size_t pos, std::size_t line_bytes_max,
                     std::string_view* line, std::size_t* end) {
    std::size_t from = pos;
    for (;;) {
        const std::size_t window = std::min(in.size() - from, line_bytes_max + 2 - (from - pos));
        const char* begin = in.data() + from;
        const void* nl = window == 0 ? nullptr : std::memchr(begin, '\n', window);
        if (nl == nullptr) {
            // Too long once the bytes seen cannot start "<max bytes>\r\n".
            const std::size_t seen = from - pos + window;
            const bool too_long = seen >= line_bytes_max + 2 ||
                                  (seen == line_bytes_max + 1 && in[pos + line_bytes_max] != '\r');
            return too_long ? LineStatus::kTooLong : LineStatus::kNeedMore;
        }
        const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(nl) - in.data());
        if (at > pos && in[at - 1] == '\r') {
            *line = in.substr(pos, at - 1 - pos);
            *end = at + 1;
            return LineStatus::kLine;
        }
        from = at + 1;
    }
}

}  // namespace

std::string_view reply_type_name(Reply::Type type) {
    switch (type) {
        case Reply::Type::kSimple:
            return "simple";
        case Reply::Type::kError:
            return "error";
        case Reply::Type::kInteger:
            return "integer";
        case Reply::Type::kBulk:
            return "bulk";
        case Reply::Type::kNil:
            return "nil";
        case Reply::Type::kArray:
            return "array";
        case Reply::Type::kNilArray:
            return "nil array";
    }
    return "unknown";
}

ReplyParser::ReplyParser(ParserLimits limits) : limits_(limits) {}

ParseStatus ReplyParser::parse(std::string_view in, std::size_t* consumed, Reply* out) {
    *consumed = 0;
    std::size_t end = 0;
    const ParseStatus scanned = parse_value(in, &end, 0, nullptr);
    if (scanned != ParseStatus::kComplete) return scanned;
    std::size_t built_end = 0;
    Reply reply;
    const ParseStatus built = parse_value(in, &built_end, 0, &reply);
    RAFTKV_ASSERT(built == ParseStatus::kComplete, "reply scanned whole but built {}",
                  static_cast<int>(built));
    RAFTKV_ASSERT(built_end == end, "reply scanned to {} but built to {}", end, built_end);
    *out = std::move(reply);
    *consumed = end;
    return ParseStatus::kComplete;
}

ParseStatus ReplyParser::parse_value(std::string_view in, std::size_t* pos, std::size_t depth,
                                     Reply* out) {
    if (*pos == in.size()) return ParseStatus::kNeedMore;
    const char type = in[*pos];
    const bool is_text = type == '+' || type == '-';
    if (!is_text && type != ':' && type != '$' && type != '*') {
        return fail(fmt::format("Protocol error: expected a RESP2 reply type, got '{}'", type));
    }
    std::string_view line;
    std::size_t end = 0;
    switch (find_line(in, *pos + 1, is_text ? limits_.inline_bytes_max : kLengthLineBytesMax, &line,
                      &end)) {
        case LineStatus::kNeedMore:
            return ParseStatus::kNeedMore;
        case LineStatus::kTooLong:
            return fail(is_text ? "Protocol error: too big status or error line"
                                : "Protocol error: too big length or integer line");
        case LineStatus::kLine:
            break;
    }
    if (is_text) {
        if (out != nullptr) {
            out->type = type == '+' ? Reply::Type::kSimple : Reply::Type::kError;
            out->str.assign(line);
        }
        *pos = end;
        return ParseStatus::kComplete;
    }
    std::int64_t n = 0;
    if (type == ':') {
        if (!parse_int64(line, &n)) return fail("Protocol error: invalid integer reply");
        if (out != nullptr) {
            out->type = Reply::Type::kInteger;
            out->integer = n;
        }
        *pos = end;
        return ParseStatus::kComplete;
    }
    if (type == '$') {
        if (!parse_int64(line, &n) || n < -1 ||
            (n >= 0 && static_cast<std::uint64_t>(n) > limits_.bulk_bytes_max)) {
            return fail("Protocol error: invalid bulk length");
        }
        if (n == -1) {
            if (out != nullptr) out->type = Reply::Type::kNil;
            *pos = end;
            return ParseStatus::kComplete;
        }
        const std::size_t len = static_cast<std::size_t>(n);
        if (in.size() - end < len + 2) return ParseStatus::kNeedMore;
        if (in[end + len] != '\r' || in[end + len + 1] != '\n') {
            return fail("Protocol error: expected CRLF after bulk");
        }
        if (out != nullptr) {
            out->type = Reply::Type::kBulk;
            out->str.assign(in.substr(end, len));
        }
        *pos = end + len + 2;
        return ParseStatus::kComplete;
    }
    RAFTKV_ASSERT(type == '*', "type byte {}", type);
    if (!parse_int64(line, &n) || n < -1 ||
        (n >= 0 && static_cast<std::uint64_t>(n) > limits_.args_max)) {
        return fail("Protocol error: invalid multibulk length");
    }
    if (n == -1) {
        if (out != nullptr) out->type = Reply::Type::kNilArray;
        *pos = end;
        return ParseStatus::kComplete;
    }
    if (depth >= kReplyDepthMax) {
        return fail(fmt::format("Protocol error: arrays nested deeper than {}", kReplyDepthMax));
    }
    const std::size_t count = static_cast<std::size_t>(n);
    if (out != nullptr) {
        out->type = Reply::Type::kArray;
        out->elements.clear();
        out->elements.reserve(std::min(count, kElementsReserveMax));
    }
    std::size_t p = end;
    for (std::size_t i = 0; i < count; ++i) {
        Reply* element = nullptr;
        if (out != nullptr) element = &out->elements.emplace_back();
        const ParseStatus status = parse_value(in, &p, depth + 1, element);
        if (status != ParseStatus::kComplete) return status;
    }
    *pos = p;
    return ParseStatus::kComplete;
}

ParseStatus ReplyParser::fail(std::string message) {
    error_ = std::move(message);
    return ParseStatus::kMalformed;
}

}  // namespace raftkv::resp
