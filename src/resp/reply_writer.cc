// reply_writer.cc — RESP2 reply encoding.
#include "resp/reply_writer.h"

#include <charconv>

namespace raftkv::resp {
namespace {

void append_number(std::string* out, char type, std::int64_t v) {
    char buf[24];
    buf[0] = type;
    auto [end, ec] = std::to_chars(buf + 1, buf + sizeof(buf) - 2, v);
    (void)ec;  // 20 digits and a sign always fit in 22 bytes
    *end++ = '\r';
    *end++ = '\n';
    out->append(buf, static_cast<std::size_t>(end - buf));
}

}  // namespace

void ReplyWriter::simple(std::string_view s) {
    out_->push_back('+');
    out_->append(s);
    out_->append("\r\n");
}

void ReplyWriter::error(std::string_view message) {
    out_->push_back('-');
    for (char c : message) out_->push_back(c == '\r' || c == '\n' ? ' ' : c);
    out_->append("\r\n");
}

void ReplyWriter::integer(std::int64_t v) { append_number(out_, ':', v); }

void ReplyWriter::bulk(std::string_view s) {
    append_number(out_, '$', static_cast<std::int64_t>(s.size()));
    out_->append(s);
    out_->append("\r\n");
}

void ReplyWriter::null_bulk() { out_->append("$-1\r\n"); }

void ReplyWriter::array_header(std::size_t count) {
    append_number(out_, '*', static_cast<std::int64_t>(count));
}

void ReplyWriter::null_array() { out_->append("*-1\r\n"); }

}  // namespace raftkv::resp
