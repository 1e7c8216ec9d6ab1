// json_test.cc — JSON escaping of binary keys and values for `data`.
#include "kv/json.h"

#include <gtest/gtest.h>

#include <string>

namespace raftkv::kv {
namespace {

TEST(Json, EscapesEveryByteSafely) {
    struct Case {
        std::string_view name;
        std::string in;
        std::string_view want;
    };
    const Case cases[] = {
        {"plain", "rules", R"("rules")"},
        {"empty", "", R"("")"},
        {"quote and backslash", R"(a"b\c)", R"("a\"b\\c")"},
        {"named controls", "\n\r\t\b\f", R"("\n\r\t\b\f")"},
        {"other controls", std::string("\0\x01\x1f", 3), R"("\u0000\u0001\u001f")"},
        {"DEL and slash pass", "\x7f/", "\"\x7f/\""},
        {"valid UTF-8 passes", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
         "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
        {"lone continuation byte", "\x80", R"("\u0080")"},
        {"invalid lead bytes", "\xff\xfe\xf8", R"("\u00ff\u00fe\u00f8")"},
        {"truncated sequence", "\xe2\x82", R"("\u00e2\u0082")"},
        {"truncated then ASCII", "\xc3x", R"("\u00c3x")"},
        {"overlong slash", "\xc0\xaf", R"("\u00c0\u00af")"},
        {"overlong three bytes", "\xe0\x80\xaf", R"("\u00e0\u0080\u00af")"},
        {"surrogate", "\xed\xa0\x80", R"("\u00ed\u00a0\u0080")"},
        {"above U+10FFFF", "\xf4\x90\x80\x80", R"("\u00f4\u0090\u0080\u0080")"},
        {"largest code point", "\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        std::string out;
        append_json_string(&out, c.in);
        EXPECT_EQ(out, c.want);
    }
}

TEST(Json, Utf8SequenceBytes) {
    EXPECT_EQ(utf8_sequence_bytes(""), 0u);
    EXPECT_EQ(utf8_sequence_bytes("a"), 1u);
    EXPECT_EQ(utf8_sequence_bytes("\xc3\xa9rest"), 2u);
    EXPECT_EQ(utf8_sequence_bytes("\xe2\x82\xac"), 3u);
    EXPECT_EQ(utf8_sequence_bytes("\xf0\x9f\x98\x80"), 4u);
    EXPECT_EQ(utf8_sequence_bytes("\xc1\xbf"), 0u);  // overlong
}

}  // namespace
}  // namespace raftkv::kv
