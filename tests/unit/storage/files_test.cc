// files_test.cc — the file helpers: atomic replace, listing, reads, errors
// that name the path.
#include "storage/files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "testing/temp_dir.h"

namespace raftkv::storage {
namespace {

namespace fs = std::filesystem;

using raftkv::testing::TempDir;

TEST(Files, WriteAtomicReplacesAndLeavesNoTemp) {
    TempDir dir;
    const fs::path p = dir.path() / "f";
    ASSERT_TRUE(write_file_atomic(p, "one").is_ok());
    ASSERT_TRUE(write_file_atomic(p, std::string("two\0", 4)).is_ok());
    EXPECT_EQ(*read_file(p), std::string("two\0", 4));
    const Result<std::vector<std::string>> names = list_dir(dir.path());
    EXPECT_EQ(*names, std::vector<std::string>{"f"});
}

TEST(Files, ListDirIsSorted) {
    TempDir dir;
    for (const char* n : {"b", "a", "c10", "c09"}) {
        ASSERT_TRUE(write_file_atomic(dir.path() / n, n).is_ok());
    }
    const Result<std::vector<std::string>> names = list_dir(dir.path());
    EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "c09", "c10"}));
}

TEST(Files, ErrorsNameThePath) {
    struct Case {
        std::string_view name;
        Status status;
        Code want;
    };
    TempDir dir;
    const fs::path missing = dir.path() / "missing";
    const Case cases[] = {
        {"read missing", read_file(missing).status(), Code::kNotFound},
        {"list missing", list_dir(missing).status(), Code::kNotFound},
        {"remove missing", remove_file(missing), Code::kNotFound},
        {"write into missing dir", write_file_atomic(missing / "f", "x"), Code::kNotFound},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(c.status.code(), c.want) << c.status.to_string();
        EXPECT_NE(c.status.message().find(missing.string()), std::string::npos)
            << c.status.message();
    }
}

TEST(Files, CreateDirsMakesParents) {
    TempDir dir;
    const fs::path deep = dir.path() / "a" / "b" / "c";
    ASSERT_TRUE(create_dirs(deep).is_ok());
    EXPECT_TRUE(fs::is_directory(deep));
    ASSERT_TRUE(create_dirs(deep).is_ok());
    ASSERT_TRUE(write_file_atomic(deep / "f", "x").is_ok());
    EXPECT_EQ(create_dirs(deep / "f").code(), Code::kInvalid);
}

}  // namespace
}  // namespace raftkv::storage
