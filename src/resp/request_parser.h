// request_parser.h — incremental parser of client requests (RESP2 multibulk and inline).
//
// The server side of the Redis protocol: turns the bytes a client sends into
// one argv at a time. It accepts what Redis accepts (networking.c,
// processMultibulkBuffer and processInlineBuffer) and rejects with Redis's
// messages, so clients and tests see the same errors as against Redis. It
// does not know commands, does not reply and never touches a socket: the
// connection (net/client_connection.cc) feeds it and acts on the outcome.
// Spec: https://redis.io/docs/reference/protocol-spec/ (RESP2, inline commands).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace raftkv::resp {

// Bounds on client-controlled sizes, checked as soon as a header announces
// them, before any body byte is buffered. Shared with ReplyParser.
struct ParserLimits {
    std::size_t bulk_bytes_max = 512 * 1024 * 1024;  // Redis proto-max-bulk-len
    std::size_t args_max = 1024 * 1024;              // multibulk element count max
    std::size_t inline_bytes_max = 64 * 1024;        // Redis PROTO_INLINE_MAX_SIZE
    // All bulks of one request together (Redis: client-query-buffer-limit).
    std::size_t request_bytes_max = std::size_t{1} << 30;
};

// A length line ("*3\r\n", "$5\r\n") is at most this long, '\r' included;
// the longest valid one, "$-9223372036854775808\r", has 22 bytes.
inline constexpr std::size_t kLengthLineBytesMax = 32;

// The three outcomes of every parser (STYLE.md section 4). kNeedMore is not an error.
enum class ParseStatus { kComplete, kNeedMore, kMalformed };

// Parses a stream of requests from one client connection into argvs.
//
// Incremental: it keeps the partial state of a request between calls
// (a half-received bulk goes straight into its argument string), so each
// input byte is looked at once however the stream is split, and callers
// never feed a byte twice. Memory is bounded by the limits: a length line
// by kLengthLineBytesMax, an inline line by inline_bytes_max, a bulk by
// bulk_bytes_max and an argv by args_max bulks and request_bytes_max bytes.
//
// After kMalformed the parser stays failed: every later parse() returns
// kMalformed with the same error(), consuming nothing.
// Not thread-safe; owned by one connection.
class RequestParser {
  public:
    explicit RequestParser(ParserLimits limits = {});

    // Consumes a prefix of `in` and sets *consumed to its length
    // (*consumed <= in.size()).
    // - kComplete: one whole request is in args() (args()[0] is the command
    //   name as sent, args() is never empty); *consumed ends right after it,
    //   and is at least 1. Call again with the rest for pipelined requests.
    // - kNeedMore: every byte of `in` was consumed (*consumed == in.size())
    //   and kept as partial state. Drop them and call again with new bytes
    //   only. Empty inline lines and "*0"/"*-1" headers produce no request.
    // - kMalformed: error() holds a Redis-style message such as
    //   "Protocol error: invalid bulk length"; the server replies
    //   "-ERR <error()>" and closes the connection.
    ParseStatus parse(std::string_view in, std::size_t* consumed);

    // The arguments of the last complete request; valid after kComplete until
    // the next parse() call, which reuses the strings. The caller may move
    // them out.
    std::vector<std::string>& args() { return args_; }
    const std::string& error() const { return error_; }

  private:
    enum class State : std::uint8_t {
        kStart,       // between requests
        kCountLine,   // inside "*N\r\n"
        kLengthLine,  // inside "$len\r\n" of args_[arg_count_]
        kBulk,        // inside the bytes of args_[arg_count_] and its "\r\n"
        kInlineLine,  // inside an inline request line
        kFailed,      // sticky after kMalformed
    };

    // Each step consumes from `in` at *pos and returns kNeedMore when it ran
    // out of bytes, kComplete when a whole request is in args_, or kMalformed.
    // Returning kNeedMore with *pos < in.size() means "state changed, go on".
    ParseStatus step_start(std::string_view in, std::size_t* pos);
    ParseStatus step_count_line(std::string_view in, std::size_t* pos);
    ParseStatus step_length_line(std::string_view in, std::size_t* pos);
    ParseStatus step_bulk(std::string_view in, std::size_t* pos);
    ParseStatus step_inline_line(std::string_view in, std::size_t* pos);

    void begin_request(std::size_t arg_count);
    ParseStatus finish_inline(std::string_view line);
    ParseStatus fail(std::string message);

    ParserLimits limits_;
    State state_ = State::kStart;
    std::vector<std::string> args_;
    std::string error_;
    // The partial line of kCountLine, kLengthLine or kInlineLine (without
    // its '\n'). Invariant: at most kLengthLineBytesMax bytes in a length
    // line state, at most limits_.inline_bytes_max in kInlineLine.
    std::string line_;
    // The arguments announced by the "*N" header; args_[0, arg_count_)
    // are complete. Invariant: arg_count_ < args_expected_ <= args_max
    // while a multibulk is in progress.
    std::size_t args_expected_ = 0;
    std::size_t arg_count_ = 0;
    std::size_t request_bytes_ = 0;  // bulk bytes announced so far in this request
    // Bytes of the current bulk still to come, then its "\r\n" (2 bytes
    // counted in crlf_bytes_left_).
    std::size_t bulk_bytes_left_ = 0;
    std::size_t crlf_bytes_left_ = 0;
};

// Splits an inline request line into arguments the way Redis's sdssplitargs
// does: whitespace separates; "double quotes" understand \n \r \t \b \a \\ \"
// and \xHH; 'single quotes' understand \'; a closing quote must be followed
// by whitespace or the end. Unlike Redis it is binary safe: a NUL byte is an
// ordinary character. Returns false on unbalanced quotes. Exposed for tests
// and for code that splits typed lines the way redis-cli users expect.
bool split_inline_args(std::string_view line, std::vector<std::string>* args);

// Parses a decimal int64 by the rules of Redis's string2ll: an optional '-',
// then digits without leading zeros ("0" alone is zero; "-0", "+1", " 1" and
// "" are rejected), within the int64 range. Used for every RESP length and
// integer.
bool parse_int64(std::string_view s, std::int64_t* v);

}  // namespace raftkv::resp
