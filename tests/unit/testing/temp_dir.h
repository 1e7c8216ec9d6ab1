// temp_dir.h — a fresh directory for one test, removed with everything in
// it when the test ends. Shared by the unit tests of every layer.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "base/assert.h"

namespace raftkv::testing {

class TempDir {
public:
    TempDir() {
        std::string tmpl = ::testing::TempDir() + "raftkv_XXXXXX";
        RAFTKV_ASSERT(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp {}", tmpl);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace raftkv::testing
