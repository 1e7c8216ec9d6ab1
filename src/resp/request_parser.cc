// request_parser.cc — incremental RESP2 multibulk and inline request parsing.
//
// Follows Redis's networking.c (processMultibulkBuffer, processInlineBuffer)
// and sds.c (sdssplitargs) in what is accepted and in the error messages.
// Where Redis is lax, this parser is strict: a bulk must be followed by
// "\r\n" and a length line must end in "\r\n" within kLengthLineBytesMax.
#include "resp/request_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "base/assert.h"

namespace raftkv::resp {
namespace {

// A bulk's string is reserved up to this size when its header arrives; a
// bigger one grows as its bytes come, so a header alone never allocates much.
constexpr std::size_t kBulkReserveBytesMax = 1024 * 1024;
// An argument string bigger than this is freed rather than reused for the
// next request, so one huge value does not pin memory for the connection's life.
constexpr std::size_t kArgRetainBytesMax = 64 * 1024;
// The argv vector is reserved up to this many strings when "*N" arrives.
constexpr std::size_t kArgsReserveMax = 1024;

enum class LineStatus { kLine, kNeedMore, kTooLong };

// Finds a line ending in '\n' at in[*pos], joining it to the partial `*partial`
// from earlier calls. On kLine, *line is the line without its '\n': a view
// into `in` when it arrived whole, else into *partial. At most `line_bytes_max`
// bytes before the '\n' are accepted; *partial never holds more than one byte
// more than that.
LineStatus take_line(std::string_view in, std::size_t* pos, std::size_t line_bytes_max,
                     std::string* partial, std::string_view* line) {
    RAFTKV_ASSERT(partial->size() <= line_bytes_max, "partial line of {} bytes, max {}",
                  partial->size(), line_bytes_max);
    const std::size_t window = std::min(in.size() - *pos, line_bytes_max - partial->size() + 1);
    const char* begin = in.data() + *pos;
    const void* nl = window == 0 ? nullptr : std::memchr(begin, '\n', window);
    if (nl == nullptr) {
        partial->append(begin, window);
        *pos += window;
        return partial->size() > line_bytes_max ? LineStatus::kTooLong : LineStatus::kNeedMore;
    }
    const std::size_t len = static_cast<std::size_t>(static_cast<const char*>(nl) - begin);
    *pos += len + 1;
    if (partial->empty()) {
        *line = std::string_view(begin, len);
    } else {
        partial->append(begin, len);
        *line = *partial;
    }
    return LineStatus::kLine;
}

// The number of a length line such as "*3\r" or "$-1\r" (type byte and '\r'
// included). False unless it ends in '\r' and holds a number Redis's
// string2ll accepts.
bool parse_length_line(std::string_view line, std::int64_t* v) {
    if (line.size() < 2 || line.back() != '\r') return false;
    return parse_int64(line.substr(1, line.size() - 2), v);
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool is_hex_digit(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}

// Reads one token of sdssplitargs starting at line[*i] (not whitespace) into
// *out. Returns false on unbalanced quotes or a closing quote not followed
// by whitespace or the end of the line.
bool split_one_arg(std::string_view line, std::size_t* i, std::string* out) {
    const std::size_t n = line.size();
    enum class Quote { kNone, kDouble, kSingle } quote = Quote::kNone;
    std::size_t p = *i;
    for (;;) {
        if (p == n) {
            if (quote != Quote::kNone) return false;  // unterminated quotes
            break;
        }
        const char c = line[p];
        if (quote == Quote::kDouble) {
            if (c == '\\' && p + 3 < n && line[p + 1] == 'x' && is_hex_digit(line[p + 2]) &&
                is_hex_digit(line[p + 3])) {
                out->push_back(
                    static_cast<char>(hex_value(line[p + 2]) * 16 + hex_value(line[p + 3])));
                p += 4;
            } else if (c == '\\' && p + 1 < n) {
                char e = line[p + 1];
                switch (e) {
                    case 'n':
                        e = '\n';
                        break;
                    case 'r':
                        e = '\r';
                        break;
                    case 't':
                        e = '\t';
                        break;
                    case 'b':
                        e = '\b';
                        break;
                    case 'a':
                        e = '\a';
                        break;
                    default:
                        break;  // \\ and \" and any other: the byte itself
                }
                out->push_back(e);
                p += 2;
            } else if (c == '"') {
                // The closing quote must be followed by whitespace or nothing.
                if (p + 1 < n && !is_space(line[p + 1])) return false;
                ++p;
                break;
            } else {
                out->push_back(c);
                ++p;
            }
        } else if (quote == Quote::kSingle) {
            if (c == '\\' && p + 1 < n && line[p + 1] == '\'') {
                out->push_back('\'');
                p += 2;
            } else if (c == '\'') {
                if (p + 1 < n && !is_space(line[p + 1])) return false;
                ++p;
                break;
            } else {
                out->push_back(c);
                ++p;
            }
        } else {
            // As sdssplitargs: these end a bare word; \v and \f do not.
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') break;
            if (c == '"') {
                quote = Quote::kDouble;
            } else if (c == '\'') {
                quote = Quote::kSingle;
            } else {
                out->push_back(c);
            }
            ++p;
        }
    }
    *i = p;
    return true;
}

}  // namespace

bool parse_int64(std::string_view s, std::int64_t* v) {
    if (s.empty()) return false;
    const bool negative = s[0] == '-';
    if (negative) s.remove_prefix(1);
    if (s.empty() || s.size() > 19) return false;
    if (s[0] == '0') {
        // "0" alone; no leading zeros, no "-0".
        if (s.size() != 1 || negative) return false;
        *v = 0;
        return true;
    }
    std::uint64_t magnitude = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        magnitude = magnitude * 10 + static_cast<std::uint64_t>(c - '0');  // 19 digits fit
    }
    constexpr std::uint64_t kMax = std::numeric_limits<std::int64_t>::max();
    if (magnitude > kMax + (negative ? 1 : 0)) return false;
    *v = negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
    return true;
}

bool split_inline_args(std::string_view line, std::vector<std::string>* args) {
    std::size_t count = 0;
    std::size_t i = 0;
    for (;;) {
        while (i < line.size() && is_space(line[i])) ++i;
        if (i == line.size()) break;
        if (count == args->size()) args->emplace_back();
        std::string& arg = (*args)[count];
        if (arg.capacity() > kArgRetainBytesMax) std::string().swap(arg);
        arg.clear();
        if (!split_one_arg(line, &i, &arg)) {
            args->clear();
            return false;
        }
        ++count;
    }
    args->resize(count);
    return true;
}

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {}

ParseStatus RequestParser::parse(std::string_view in, std::size_t* consumed) {
    std::size_t pos = 0;
    for (;;) {
        if (state_ == State::kFailed) {
            *consumed = pos;
            return ParseStatus::kMalformed;
        }
        // Every step may rely on at least one byte at `pos`.
        if (pos == in.size()) {
            *consumed = pos;
            return ParseStatus::kNeedMore;
        }
        ParseStatus status = ParseStatus::kNeedMore;
        switch (state_) {
            case State::kStart:
                status = step_start(in, &pos);
                break;
            case State::kCountLine:
                status = step_count_line(in, &pos);
                break;
            case State::kLengthLine:
                status = step_length_line(in, &pos);
                break;
            case State::kBulk:
                status = step_bulk(in, &pos);
                break;
            case State::kInlineLine:
                status = step_inline_line(in, &pos);
                break;
            case State::kFailed:
                status = ParseStatus::kMalformed;
                break;
        }
        RAFTKV_ASSERT(pos <= in.size(), "parser went {} bytes past its input", pos - in.size());
        if (status == ParseStatus::kComplete) {
            RAFTKV_ASSERT(pos > 0, "a request of no bytes");
            RAFTKV_ASSERT(!args_.empty(), "a request of no arguments");
            *consumed = pos;
            return status;
        }
        if (status == ParseStatus::kMalformed) {
            RAFTKV_ASSERT(state_ == State::kFailed);
            *consumed = pos;
            return status;
        }
    }
}

ParseStatus RequestParser::step_start(std::string_view in, std::size_t* pos) {
    line_.clear();
    state_ = in[*pos] == '*' ? State::kCountLine : State::kInlineLine;
    return ParseStatus::kNeedMore;
}

ParseStatus RequestParser::step_count_line(std::string_view in, std::size_t* pos) {
    std::string_view line;
    switch (take_line(in, pos, kLengthLineBytesMax, &line_, &line)) {
        case LineStatus::kNeedMore:
            return ParseStatus::kNeedMore;
        case LineStatus::kTooLong:
            return fail("Protocol error: too big mbulk count string");
        case LineStatus::kLine:
            break;
    }
    std::int64_t count = 0;
    if (!parse_length_line(line, &count) || count > std::numeric_limits<int>::max() ||
        (count > 0 && static_cast<std::uint64_t>(count) > limits_.args_max)) {
        return fail("Protocol error: invalid multibulk length");
    }
    line_.clear();
    if (count <= 0) {
        // As Redis: "*0" and "*-1" (any count <= 0) are no request at all.
        state_ = State::kStart;
        return ParseStatus::kNeedMore;
    }
    begin_request(static_cast<std::size_t>(count));
    state_ = State::kLengthLine;
    return ParseStatus::kNeedMore;
}

ParseStatus RequestParser::step_length_line(std::string_view in, std::size_t* pos) {
    // Check the type byte as soon as it arrives, not after the whole line.
    if (line_.empty() && in[*pos] != '$') {
        return fail(fmt::format("Protocol error: expected '$', got '{}'", in[*pos]));
    }
    std::string_view line;
    switch (take_line(in, pos, kLengthLineBytesMax, &line_, &line)) {
        case LineStatus::kNeedMore:
            return ParseStatus::kNeedMore;
        case LineStatus::kTooLong:
            return fail("Protocol error: too big bulk count string");
        case LineStatus::kLine:
            break;
    }
    std::int64_t len = 0;
    if (!parse_length_line(line, &len) || len < 0 ||
        static_cast<std::uint64_t>(len) > limits_.bulk_bytes_max) {
        return fail("Protocol error: invalid bulk length");
    }
    request_bytes_ += static_cast<std::size_t>(len);
    if (request_bytes_ > limits_.request_bytes_max) {
        return fail(fmt::format("Protocol error: request larger than {} bytes",
                                limits_.request_bytes_max));
    }
    line_.clear();
    RAFTKV_ASSERT(arg_count_ < args_expected_, "bulk {} of {}", arg_count_, args_expected_);
    if (arg_count_ == args_.size()) args_.emplace_back();
    std::string& arg = args_[arg_count_];
    if (arg.capacity() > kArgRetainBytesMax) std::string().swap(arg);
    arg.clear();
    bulk_bytes_left_ = static_cast<std::size_t>(len);
    crlf_bytes_left_ = 2;
    arg.reserve(std::min(bulk_bytes_left_, kBulkReserveBytesMax));
    state_ = State::kBulk;
    return ParseStatus::kNeedMore;
}

ParseStatus RequestParser::step_bulk(std::string_view in, std::size_t* pos) {
    std::string& arg = args_[arg_count_];
    const std::size_t n = std::min(bulk_bytes_left_, in.size() - *pos);
    arg.append(in.data() + *pos, n);
    *pos += n;
    bulk_bytes_left_ -= n;
    while (bulk_bytes_left_ == 0 && crlf_bytes_left_ > 0 && *pos < in.size()) {
        const char want = crlf_bytes_left_ == 2 ? '\r' : '\n';
        if (in[*pos] != want) return fail("Protocol error: expected CRLF after bulk");
        ++*pos;
        --crlf_bytes_left_;
    }
    if (bulk_bytes_left_ > 0 || crlf_bytes_left_ > 0) return ParseStatus::kNeedMore;
    ++arg_count_;
    if (arg_count_ < args_expected_) {
        state_ = State::kLengthLine;
        return ParseStatus::kNeedMore;
    }
    args_.resize(args_expected_);
    state_ = State::kStart;
    return ParseStatus::kComplete;
}

ParseStatus RequestParser::step_inline_line(std::string_view in, std::size_t* pos) {
    std::string_view line;
    switch (take_line(in, pos, limits_.inline_bytes_max, &line_, &line)) {
        case LineStatus::kNeedMore:
            return ParseStatus::kNeedMore;
        case LineStatus::kTooLong:
            return fail("Protocol error: too big inline request");
        case LineStatus::kLine:
            break;
    }
    // As Redis: "\r\n" and a bare "\n" both end an inline line.
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return finish_inline(line);
}

ParseStatus RequestParser::finish_inline(std::string_view line) {
    if (!split_inline_args(line, &args_)) {
        return fail("Protocol error: unbalanced quotes in request");
    }
    line_.clear();
    state_ = State::kStart;
    // An empty line (or only whitespace) is no request; keep parsing.
    return args_.empty() ? ParseStatus::kNeedMore : ParseStatus::kComplete;
}

void RequestParser::begin_request(std::size_t arg_count) {
    RAFTKV_ASSERT(arg_count > 0 && arg_count <= limits_.args_max, "argc {} out of (0, {}]",
                  arg_count, limits_.args_max);
    args_expected_ = arg_count;
    arg_count_ = 0;
    request_bytes_ = 0;
    // Reserve for the common case only; "*1048576" alone must not allocate 32 MB.
    args_.reserve(std::min(arg_count, kArgsReserveMax));
}

ParseStatus RequestParser::fail(std::string message) {
    error_ = std::move(message);
    state_ = State::kFailed;
    return ParseStatus::kMalformed;
}

}  // namespace raftkv::resp
