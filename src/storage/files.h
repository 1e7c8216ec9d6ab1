// files.h — small file-system helpers for storage/: whole-file reads, atomic
// replacement, directory listing and fsync, all returning Status.
//
// Every error names the path and the errno text; ENOSPC, EDQUOT and EFBIG come
// back as Code::kDiskFull (errno_status), a missing file as Code::kNotFound.
// Does not know any file format: wal.h, snapshot_file.h and
// hard_state_file.h build on it. Atomic replacement follows DESIGN.md
// (Storage): write a temporary file, fsync it, rename it, fsync the directory.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace raftkv::storage {

// The suffix of the temporary file write_file_atomic writes before renaming.
inline constexpr std::string_view kTempSuffix = ".tmp";

// Owns one file descriptor; closes it on destruction. Movable, not copyable.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const { return fd_; }
    bool is_open() const { return fd_ >= 0; }
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1);

private:
    int fd_ = -1;
};

// Writes all of `bytes` at `offset` with pwrite(2), retrying on EINTR and short
// writes. `path` only names the file in the error.
Status write_at(int fd, std::uint64_t offset, std::string_view bytes,
                const std::filesystem::path& path);

// Replaces `path` with `bytes` atomically: writes `path` + kTempSuffix, fsyncs
// it, renames it over `path` and fsyncs the directory. On return the new
// contents are durable; on error the old file (if any) is untouched and the
// temporary file is removed when possible.
Status write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// fsync(2) of a directory, making creates, renames and unlinks in it durable.
Status sync_dir(const std::filesystem::path& dir);

// Creates `dir` and missing parents; fsyncs the parent of each directory it
// created. Succeeds when `dir` already exists as a directory.
Status create_dirs(const std::filesystem::path& dir);

// Reads the whole file. kNotFound when it does not exist.
Result<std::string> read_file(const std::filesystem::path& path);

// The names (not paths) of the entries of `dir`, sorted bytewise, without "."
// and "..". kNotFound when `dir` does not exist.
Result<std::vector<std::string>> list_dir(const std::filesystem::path& dir);

// unlink(2). kNotFound when it does not exist. Not durable until sync_dir.
Status remove_file(const std::filesystem::path& path);

// ftruncate(2) to `bytes` then fdatasync(2); `path` names the file in errors.
Status truncate_and_sync(int fd, std::uint64_t bytes, const std::filesystem::path& path);

// Size of the file in bytes (stat(2)).
Result<std::uint64_t> file_bytes(const std::filesystem::path& path);

}  // namespace raftkv::storage
