// files.cc — POSIX implementations of the helpers in files.h.
#include "storage/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace raftkv::storage {
namespace {

Status path_error(int err, std::string_view op, const std::filesystem::path& path) {
    if (err == ENOENT) {
        return Status::errorf(Code::kNotFound, "{} {}: {}", op, path.string(), std::strerror(err));
    }
    return errno_status(err, fmt::format("{} {}", op, path.string()));
}

int open_retry(const std::filesystem::path& path, int flags, mode_t mode = 0) {
    int fd;
    do {
        fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
}

void UniqueFd::reset(int fd) {
    // close(2) errors are not actionable here: durability comes from fsync,
    // which callers check before closing.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

Status write_at(int fd, std::uint64_t offset, std::string_view bytes,
                const std::filesystem::path& path) {
    while (!bytes.empty()) {
        const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            return path_error(errno, "write", path);
        }
        RAFTKV_ASSERT(n > 0, "pwrite of {} bytes returned 0", bytes.size());
        bytes.remove_prefix(static_cast<std::size_t>(n));
        offset += static_cast<std::uint64_t>(n);
    }
    return Status::ok();
}

Status write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
    std::filesystem::path temp = path;
    temp += std::string(kTempSuffix);
    Status s = [&]() -> Status {
        UniqueFd fd(open_retry(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644));
        if (!fd.is_open()) return path_error(errno, "create", temp);
        RAFTKV_RETURN_IF_ERROR(write_at(fd.get(), 0, bytes, temp));
        if (::fsync(fd.get()) != 0) return path_error(errno, "fsync", temp);
        if (::rename(temp.c_str(), path.c_str()) != 0) {
            return errno_status(errno,
                                fmt::format("rename {} to {}", temp.string(), path.string()));
        }
        return Status::ok();
    }();
    if (!s.is_ok()) {
        // Best effort: a leftover temporary file is also removed at load time.
        ::unlink(temp.c_str());
        return s;
    }
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
    Status synced = sync_dir(dir);
    if (synced.code() == Code::kDiskFull) {
        // The file is replaced already: this is not "nothing was done, retry
        // when there is room" but a failed fsync (never retried).
        return Status::error(Code::kIoError, synced.message());
    }
    return synced;
}

Status sync_dir(const std::filesystem::path& dir) {
    UniqueFd fd(open_retry(dir, O_RDONLY | O_DIRECTORY));
    if (!fd.is_open()) return path_error(errno, "open directory", dir);
    if (::fsync(fd.get()) != 0) return path_error(errno, "fsync directory", dir);
    return Status::ok();
}

Status create_dirs(const std::filesystem::path& dir) {
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) return Status::ok();
        return Status::errorf(Code::kInvalid, "{} exists and is not a directory", dir.string());
    }
    if (errno != ENOENT) return path_error(errno, "stat", dir);
    const std::filesystem::path parent =
        dir.has_parent_path() && dir.parent_path() != dir ? dir.parent_path() : ".";
    RAFTKV_RETURN_IF_ERROR(create_dirs(parent));
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        return path_error(errno, "mkdir", dir);
    }
    return sync_dir(parent);
}

Result<std::string> read_file(const std::filesystem::path& path) {
    UniqueFd fd(open_retry(path, O_RDONLY));
    if (!fd.is_open()) return path_error(errno, "open", path);
    std::string out;
    struct stat st;
    if (::fstat(fd.get(), &st) == 0 && st.st_size > 0) {
        out.reserve(static_cast<std::size_t>(st.st_size));
    }
    char buf[64 * 1024];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return path_error(errno, "read", path);
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

Result<std::vector<std::string>> list_dir(const std::filesystem::path& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return path_error(errno, "open directory", dir);
    std::vector<std::string> names;
    for (;;) {
        errno = 0;
        const dirent* e = ::readdir(d);
        if (e == nullptr) break;
        const std::string_view name = e->d_name;
        if (name == "." || name == "..") continue;
        names.emplace_back(name);
    }
    const int err = errno;
    ::closedir(d);
    if (err != 0) return path_error(err, "read directory", dir);
    std::sort(names.begin(), names.end());
    return names;
}

Status remove_file(const std::filesystem::path& path) {
    if (::unlink(path.c_str()) != 0) return path_error(errno, "remove", path);
    return Status::ok();
}

Status truncate_and_sync(int fd, std::uint64_t bytes, const std::filesystem::path& path) {
    int rc;
    do {
        rc = ::ftruncate(fd, static_cast<off_t>(bytes));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) return path_error(errno, "truncate", path);
    if (::fdatasync(fd) != 0) return path_error(errno, "fdatasync", path);
    return Status::ok();
}

Result<std::uint64_t> file_bytes(const std::filesystem::path& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return path_error(errno, "stat", path);
    return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace raftkv::storage
