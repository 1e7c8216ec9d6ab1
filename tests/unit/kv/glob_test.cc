// glob_test.cc — Redis glob semantics (stringmatchlen) for KEYS and SCAN MATCH.
#include "kv/glob.h"

#include <gtest/gtest.h>

#include <string>

namespace raftkv::kv {
namespace {

TEST(Glob, MatchesLikeRedis) {
    struct Case {
        std::string_view pattern;
        std::string_view key;
        bool want;
    };
    const Case cases[] = {
        {"*", "", true},
        {"*", "anything", true},
        {"", "", true},
        {"", "a", false},
        {"a", "a", true},
        {"a", "ab", false},
        {"?", "", false},
        {"?", "x", true},
        {"h?llo", "hello", true},
        {"h?llo", "hllo", false},
        {"h*llo", "hllo", true},
        {"h*llo", "heeeello", true},
        {"h*llo", "heeeellox", false},
        {"**a**", "bab", true},
        {"*a*b*c*", "xaxbxcx", true},
        {"*a*b*c*", "xaxcxbx", false},
        {"h[ae]llo", "hello", true},
        {"h[ae]llo", "hallo", true},
        {"h[ae]llo", "hillo", false},
        {"h[^e]llo", "hallo", true},
        {"h[^e]llo", "hello", false},
        {"h[a-b]llo", "hbllo", true},
        {"h[a-b]llo", "hcllo", false},
        {"h[b-a]llo", "hallo", true},  // reversed range
        {"[a-c-e]", "-", true},        // the range a-c, then '-' and 'e' as literals
        {"[a-c-e]", "d", false},
        {"[\\]]", "]", true},
        {"[\\-]", "-", true},
        {"[]a]", "a", false},  // ']' closes the empty set, then a literal "a]"
        {"[]a]", "]", false},
        {"[^]a]", "xa]", true},  // the empty set negated matches any byte
        {"[^]a]", "xa", false},
        {"[abc", "b", true},  // an unterminated set ends at the pattern's end
        {"[abc", "d", false},
        {"[a-]", "]", true},  // Redis reads "a-]" as the range a..]
        {"\\*", "*", true},
        {"\\*", "a", false},
        {"\\?x", "?x", true},
        {"a\\", "a\\", true},  // a trailing backslash is literal
        {"*\\", "ab\\", true},
        {"\xff*", "\xff\x01", true},    // bytes, not characters
        {"[\x01-\xff]", "\x80", true},  // unsigned ranges
        {std::string_view("a\0b", 3), std::string_view("a\0b", 3), true},
        {"a*a*a*a*a*a*a*a*a*a*a*b", std::string_view("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
         false},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::string(c.pattern) + " ~ " + std::string(c.key));
        EXPECT_EQ(glob_match(c.pattern, c.key), c.want);
    }
}

TEST(Glob, ManyStarsRunInPolynomialTime) {
    std::string pattern;
    for (int i = 0; i < 200; ++i) pattern += "a*";
    pattern += "b";
    std::string key(5000, 'a');
    EXPECT_FALSE(glob_match(pattern, key));
    EXPECT_TRUE(glob_match(pattern, key + "b"));
}

}  // namespace
}  // namespace raftkv::kv
