// command_codec.cc — argv <-> log entry payload (docs/command_format.md).
#include "kv/command_codec.h"

#include "base/coding.h"

namespace raftkv::kv {
namespace {

constexpr std::size_t kTimeBytes = 8;       // version 2: time_ms
constexpr std::size_t kArgHeaderBytes = 4;  // length

Status corrupt(std::string message) {
    return Status::error(Code::kCorruption, "kv command: " + std::move(message));
}

std::string encode(std::span<const std::string> args, std::optional<std::uint64_t> time_ms) {
    RAFTKV_ASSERT(!args.empty(), "a command has at least its name");
    RAFTKV_ASSERT(args.size() <= kArgCountMax, "{} arguments", args.size());
    std::size_t total = 1 + (time_ms ? kTimeBytes : 0) + 4;
    for (const std::string& a : args) {
        RAFTKV_ASSERT(a.size() <= kArgBytesMax, "argument of {} bytes", a.size());
        total += kArgHeaderBytes + a.size();
    }
    std::string out;
    out.reserve(total);
    put_u8(&out, time_ms ? 2 : 1);
    if (time_ms) put_u64(&out, *time_ms);
    put_u32(&out, static_cast<std::uint32_t>(args.size()));
    for (const std::string& a : args) {
        put_u32(&out, static_cast<std::uint32_t>(a.size()));
        out.append(a);
    }
    RAFTKV_ASSERT(out.size() == total);
    return out;
}

}  // namespace

std::string encode_command(std::span<const std::string> args, std::uint64_t time_ms) {
    return encode(args, time_ms);
}

std::string encode_command(std::span<const std::string> args) { return encode(args, std::nullopt); }

std::string encode_command(const LoggedCommand& c) { return encode(c.args, c.time_ms); }

Result<std::vector<std::string>> decode_command(std::string_view bytes) {
    Result<LoggedCommand> c = decode_logged_command(bytes);
    if (!c) return c.error();
    return std::move(c->args);
}

Result<LoggedCommand> decode_logged_command(std::string_view bytes) {
    ByteReader in(bytes);
    std::uint8_t version = 0;
    if (!in.get_u8(&version)) return corrupt("empty payload, expected a version byte");
    if (version != 1 && version != 2) {
        return corrupt(
            fmt::format("unsupported version {} at offset 0 (this build reads 1 and 2)", version));
    }
    LoggedCommand c;
    if (version == 2) {
        std::uint64_t time_ms = 0;
        if (!in.get_u64(&time_ms)) {
            return corrupt(
                fmt::format("{} bytes, too short for the time at offset 1", bytes.size()));
        }
        c.time_ms = time_ms;
    }
    const std::size_t argc_offset = bytes.size() - in.remaining();
    std::uint32_t argc = 0;
    if (!in.get_u32(&argc)) {
        return corrupt(fmt::format("{} bytes, too short for the argument count at offset {}",
                                   bytes.size(), argc_offset));
    }
    if (argc == 0) return corrupt(fmt::format("argument count is 0 at offset {}", argc_offset));
    if (argc > kArgCountMax) {
        return corrupt(fmt::format("argument count {} at offset {} exceeds {}", argc, argc_offset,
                                   kArgCountMax));
    }
    if (argc > in.remaining() / kArgHeaderBytes) {
        return corrupt(fmt::format("argument count {} cannot fit in the remaining {} bytes", argc,
                                   in.remaining()));
    }
    std::vector<std::string>& args = c.args;
    args.reserve(argc);
    for (std::uint32_t i = 0; i < argc; ++i) {
        std::size_t offset = bytes.size() - in.remaining();
        std::uint32_t len = 0;
        std::string_view arg;
        if (!in.get_u32(&len)) {
            return corrupt(
                fmt::format("argument {} of {}: length at offset {} is cut off", i, argc, offset));
        }
        if (len > kArgBytesMax) {
            return corrupt(fmt::format("argument {} at offset {}: length {} exceeds {}", i, offset,
                                       len, kArgBytesMax));
        }
        if (!in.get_bytes(len, &arg)) {
            return corrupt(
                fmt::format("argument {} at offset {}: length {} runs past the end ({} bytes left)",
                            i, offset, len, in.remaining()));
        }
        args.emplace_back(arg);
    }
    if (in.remaining() != 0) {
        return corrupt(fmt::format("{} bytes after the last argument, at offset {}", in.remaining(),
                                   bytes.size() - in.remaining()));
    }
    return c;
}

}  // namespace raftkv::kv
