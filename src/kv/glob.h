// glob.h — Redis glob patterns, for KEYS and SCAN MATCH.
//
// The pattern language of Redis's stringmatchlen(): `*` any run of bytes,
// `?` one byte, `[abc]` a set, `[^a]` its complement, `[a-z]` a range (ends in
// either order), `\x` the byte x literally (also inside a set). Like Redis, an
// unterminated set ends at the end of the pattern, and `]` always closes a set.
// Differences, both deliberate: bytes compare as unsigned (Redis compares
// signed chars in ranges), and the matcher backtracks to at most one `*`, so
// it runs in O(pattern * key) time on any input. No case-insensitive mode.
#pragma once

#include <string_view>

namespace raftkv::kv {

bool glob_match(std::string_view pattern, std::string_view s);

}  // namespace raftkv::kv
