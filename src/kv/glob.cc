// glob.cc — Redis glob matching without exponential backtracking.
//
// A pattern is a sequence of tokens that each match exactly one byte (a
// literal, `?` or a set) and stars. With single-byte tokens, the classic
// greedy algorithm — remember the last star, and on a mismatch let it absorb
// one more byte — finds a match whenever one exists.
#include "kv/glob.h"

#include <cstddef>
#include <utility>

namespace raftkv::kv {
namespace {

using Byte = unsigned char;

// Whether the single-byte token at pattern[p] matches `c`; sets `*next` to
// the index after the token. pattern[p] is not '*'.
bool token_matches(std::string_view pattern, std::size_t p, Byte c, std::size_t* next) {
    std::size_t n = pattern.size();
    Byte t = static_cast<Byte>(pattern[p]);
    if (t == '?') {
        *next = p + 1;
        return true;
    }
    if (t == '\\' && p + 1 < n) {
        *next = p + 2;
        return static_cast<Byte>(pattern[p + 1]) == c;
    }
    if (t != '[') {
        *next = p + 1;
        return t == c;
    }
    // A set: [abc] [^abc] [a-z] [\]]; ends at ']' or at the end of the pattern.
    std::size_t i = p + 1;
    bool negate = i < n && pattern[i] == '^';
    if (negate) ++i;
    bool match = false;
    while (i < n && pattern[i] != ']') {
        Byte a = static_cast<Byte>(pattern[i]);
        if (a == '\\' && i + 1 < n) {
            match |= static_cast<Byte>(pattern[i + 1]) == c;
            i += 2;
        } else if (i + 2 < n && pattern[i + 1] == '-') {
            Byte lo = a;
            Byte hi = static_cast<Byte>(pattern[i + 2]);
            if (lo > hi) std::swap(lo, hi);
            match |= lo <= c && c <= hi;
            i += 3;
        } else {
            match |= a == c;
            i += 1;
        }
    }
    *next = i < n ? i + 1 : n;  // past the ']', or the end of an unterminated set
    return match != negate;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view s) {
    std::size_t p = 0;
    std::size_t i = 0;
    // The last star seen: the pattern index after it, and the key index it
    // will absorb up to on the next backtrack.
    std::size_t star_p = std::string_view::npos;
    std::size_t star_i = 0;
    while (i < s.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            while (p < pattern.size() && pattern[p] == '*') ++p;
            if (p == pattern.size()) return true;
            star_p = p;
            star_i = i;
            continue;
        }
        std::size_t next = 0;
        if (p < pattern.size() && token_matches(pattern, p, static_cast<Byte>(s[i]), &next)) {
            p = next;
            ++i;
            continue;
        }
        if (star_p == std::string_view::npos) return false;
        p = star_p;
        i = ++star_i;
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

}  // namespace raftkv::kv
