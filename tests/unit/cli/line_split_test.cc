// line_split_test.cc — split_line against what redis-cli (sdssplitargs) does.
#include "cli/line_split.h"

#include <gtest/gtest.h>

namespace raftkv::cli {
namespace {

using namespace std::string_literals;
using Args = std::vector<std::string>;

TEST(LineSplit, SplitsLikeRedisCli) {
    struct Case {
        std::string_view name;
        std::string line;
        Args want;
    };
    const Case cases[] = {
        {"blank line", "   \t ", {}},
        {"empty line", "", {}},
        {"plain words", "set chelsea rules", {"set", "chelsea", "rules"}},
        {"runs of blanks", "  get \t  key  ", {"get", "key"}},
        {"double quotes keep spaces", R"(set k "hello world")", {"set", "k", "hello world"}},
        {"empty double quotes", R"(set k "")", {"set", "k", ""}},
        {"escapes in double quotes", R"("a\nb\tc\rd\\e\"f\ag\bh")", {"a\nb\tc\rd\\e\"f\ag\bh"}},
        {"hex escape", R"("\x41\x00\xff")", {"A\0\xff"s}},
        {"bad hex escape keeps the x", R"("\xZZ")", {"xZZ"}},
        {"unknown escape is the char", R"("\q")", {"q"}},
        {"single quotes are literal", R"('a\nb "c"')", {R"(a\nb "c")"}},
        {"escaped single quote", R"('it\'s')", {"it's"}},
        {"quote opening mid-word", R"(a"b c")", {"ab c"}},
        {"tab after closing quote", "\"a\"\tb", {"a", "b"}},
        {"utf-8 passes through", "set k caf\xc3\xa9", {"set", "k", "caf\xc3\xa9"}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Result<Args> got = split_line(c.line);
        ASSERT_TRUE(got.has_value()) << got.status().to_string();
        EXPECT_EQ(*got, c.want);
    }
}

TEST(LineSplit, RejectsWhatRedisCliRejects) {
    struct Case {
        std::string_view name;
        std::string line;
        std::string want_error;
    };
    const Case cases[] = {
        {"unbalanced double quote", R"(set k "abc)", "unbalanced double quotes"},
        {"backslash at end inside quotes", R"(set k "abc\)", "unbalanced double quotes"},
        {"unbalanced single quote", "set k 'abc", "unbalanced single quotes"},
        {"text after closing double quote", R"(set k "a"b)",
         "closing quote must be followed by a space"},
        {"text after closing single quote", "set k 'a'b",
         "closing quote must be followed by a space"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Result<Args> got = split_line(c.line);
        ASSERT_FALSE(got.has_value());
        EXPECT_EQ(got.error().code(), Code::kInvalid);
        EXPECT_EQ(got.error().message(), c.want_error);
    }
}

}  // namespace
}  // namespace raftkv::cli
