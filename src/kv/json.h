// json.h — JSON string literals for arbitrary bytes, for the `data` command.
//
// Keys and values are binary, JSON strings are Unicode. append_json_string()
// writes `"`, `\` and control characters (below 0x20) escaped (\n \r \t \b \f
// by name, the others as \u00XX), passes valid UTF-8 through unchanged, and
// writes each byte that is not part of valid UTF-8 (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF) as \u00XX, XX its value in
// lower-case hex. The output is always valid JSON; a reader sees such a byte
// as the code point U+00XX, so the mapping is lossy only for invalid UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace raftkv::kv {

// Appends `bytes` as a quoted JSON string to `out`.
void append_json_string(std::string* out, std::string_view bytes);

// The length of the valid UTF-8 sequence starting at s[0], or 0 if s[0] does
// not start one.
std::size_t utf8_sequence_bytes(std::string_view s);

}  // namespace raftkv::kv
