// status.h — Status and Result<T>: how raftkv reports expected failures.
//
// Our code does not throw (STYLE.md section 4). A function that can fail for a
// reason outside our control (EIO, disk full, bad bytes from a client or file)
// returns Status or Result<T>. Result<T> is shaped like std::expected<T, Status>
// so it can become the standard type later. Both are [[nodiscard]]; dropping
// one on purpose is spelled `.ignore()` with a comment saying why.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "base/assert.h"

namespace raftkv {

enum class Code : std::uint8_t {
    kOk = 0,
    kIoError,      // a system call on a file or socket failed
    kDiskFull,     // ENOSPC / EDQUOT / EFBIG: retry when space returns
    kCorruption,   // bytes on disk fail validation
    kInvalid,      // bad argument or bad input from outside
    kNotFound,
};

std::string_view code_name(Code code);

class [[nodiscard]] Status {
public:
    Status() = default;
    static Status ok() { return Status(); }
    static Status error(Code code, std::string message) {
        RAFTKV_ASSERT(code != Code::kOk);
        return Status(code, std::move(message));
    }
    template <typename... Args>
    static Status errorf(Code code, fmt::format_string<Args...> f, Args&&... args) {
        return error(code, fmt::format(f, std::forward<Args>(args)...));
    }

    bool is_ok() const { return code_ == Code::kOk; }
    Code code() const { return code_; }
    const std::string& message() const { return message_; }
    // "disk full: write wal/00000001.wal: No space left on device"
    std::string to_string() const;
    // Drop the status on purpose; the caller says why in a comment.
    void ignore() const {}

private:
    Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
    Code code_ = Code::kOk;
    std::string message_;
};

// Builds a Status from errno after a failed system call: ENOSPC, EDQUOT and
// EFBIG become kDiskFull, everything else kIoError.
Status errno_status(int err, std::string_view what);

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Status status) : v_(std::move(status)) {
        RAFTKV_ASSERT(!std::get<Status>(v_).is_ok(), "a Result needs a value or an error");
    }

    bool has_value() const { return v_.index() == 0; }
    explicit operator bool() const { return has_value(); }
    T& value() & {
        RAFTKV_ASSERT(has_value(), "value() on error: {}", error().to_string());
        return std::get<0>(v_);
    }
    T&& value() && {
        RAFTKV_ASSERT(has_value(), "value() on error: {}", error().to_string());
        return std::get<0>(std::move(v_));
    }
    const T& value() const& {
        RAFTKV_ASSERT(has_value(), "value() on error: {}", error().to_string());
        return std::get<0>(v_);
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const Status& error() const {
        RAFTKV_ASSERT(!has_value());
        return std::get<1>(v_);
    }
    Status status() const { return has_value() ? Status::ok() : error(); }
    void ignore() const {}

private:
    std::variant<T, Status> v_;
};

}  // namespace raftkv

// Returns early with the error of a Status-returning expression.
#define RAFTKV_RETURN_IF_ERROR(expr)                  \
    do {                                              \
        ::raftkv::Status raftkv_status_ = (expr);     \
        if (!raftkv_status_.is_ok()) return raftkv_status_; \
    } while (0)
