// status.cc — names and formatting for Status.
#include "base/status.h"

#include <cerrno>
#include <cstring>

namespace raftkv {

std::string_view code_name(Code code) {
    switch (code) {
        case Code::kOk: return "ok";
        case Code::kIoError: return "I/O error";
        case Code::kDiskFull: return "disk full";
        case Code::kCorruption: return "corruption";
        case Code::kInvalid: return "invalid";
        case Code::kNotFound: return "not found";
    }
    return "unknown";
}

std::string Status::to_string() const {
    if (is_ok()) return "ok";
    return fmt::format("{}: {}", code_name(code_), message_);
}

Status errno_status(int err, std::string_view what) {
    const bool full = err == ENOSPC || err == EDQUOT || err == EFBIG;
    return Status::error(full ? Code::kDiskFull : Code::kIoError,
                         fmt::format("{}: {}", what, std::strerror(err)));
}

}  // namespace raftkv
