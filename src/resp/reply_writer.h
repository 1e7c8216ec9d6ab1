// reply_writer.h — appends RESP2 replies to an output buffer.
//
// The one way raftkv encodes replies to clients: the state machine (kv/) and
// the server write through it, and tests compare its bytes. It never fails
// and never flushes; the caller owns the buffer and sends it.
// Spec: https://redis.io/docs/reference/protocol-spec/ (RESP2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace raftkv::resp {

class ReplyWriter {
public:
    // Borrows `out`, which must outlive the writer; replies are appended.
    explicit ReplyWriter(std::string* out) : out_(out) {}

    // +OK\r\n. `s` must not contain \r or \n.
    void simple(std::string_view s);
    // -ERR message\r\n. `message` starts with the error prefix ("ERR ...",
    // "WRONGTYPE ...", "MOVED ..."); \r and \n in it are replaced by spaces.
    void error(std::string_view message);
    // :42\r\n
    void integer(std::int64_t v);
    // $5\r\nhello\r\n (binary safe)
    void bulk(std::string_view s);
    // $-1\r\n
    void null_bulk();
    // *3\r\n; the caller then writes `count` elements.
    void array_header(std::size_t count);
    // *-1\r\n
    void null_array();
    // Raw bytes already in RESP form.
    void raw(std::string_view bytes) { out_->append(bytes); }

    std::string* buffer() { return out_; }

private:
    std::string* out_;
};

}  // namespace raftkv::resp
