// json.cc — JSON string escaping of binary data (see json.h for the rules).
#include "kv/json.h"

#include <cstdint>

namespace raftkv::kv {
namespace {

using Byte = unsigned char;

bool is_continuation(Byte b) { return (b & 0xc0) == 0x80; }

void append_u00(std::string* out, Byte b) {
    constexpr char kHex[] = "0123456789abcdef";
    out->append("\\u00");
    out->push_back(kHex[b >> 4]);
    out->push_back(kHex[b & 0xf]);
}

}  // namespace

std::size_t utf8_sequence_bytes(std::string_view s) {
    if (s.empty()) return 0;
    Byte b0 = static_cast<Byte>(s[0]);
    if (b0 < 0x80) return 1;
    std::size_t n = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((b0 & 0xe0) == 0xc0) {
        n = 2, cp = b0 & 0x1f, min = 0x80;
    } else if ((b0 & 0xf0) == 0xe0) {
        n = 3, cp = b0 & 0x0f, min = 0x800;
    } else if ((b0 & 0xf8) == 0xf0) {
        n = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
        return 0;  // a continuation byte, or 0xf8..0xff
    }
    if (s.size() < n) return 0;
    for (std::size_t i = 1; i < n; ++i) {
        Byte b = static_cast<Byte>(s[i]);
        if (!is_continuation(b)) return 0;
        cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min) return 0;                      // overlong
    if (cp >= 0xd800 && cp <= 0xdfff) return 0;  // a UTF-16 surrogate
    if (cp > 0x10ffff) return 0;
    return n;
}

void append_json_string(std::string* out, std::string_view bytes) {
    out->push_back('"');
    std::size_t i = 0;
    while (i < bytes.size()) {
        Byte b = static_cast<Byte>(bytes[i]);
        if (b >= 0x80) {
            std::size_t n = utf8_sequence_bytes(bytes.substr(i));
            if (n == 0) {
                append_u00(out, b);
                i += 1;
            } else {
                out->append(bytes.substr(i, n));
                i += n;
            }
            continue;
        }
        switch (b) {
            case '"':
                out->append("\\\"");
                break;
            case '\\':
                out->append("\\\\");
                break;
            case '\n':
                out->append("\\n");
                break;
            case '\r':
                out->append("\\r");
                break;
            case '\t':
                out->append("\\t");
                break;
            case '\b':
                out->append("\\b");
                break;
            case '\f':
                out->append("\\f");
                break;
            default:
                if (b < 0x20) {
                    append_u00(out, b);
                } else {
                    out->push_back(static_cast<char>(b));
                }
        }
        ++i;
    }
    out->push_back('"');
}

}  // namespace raftkv::kv
