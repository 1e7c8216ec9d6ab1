// command_codec.cc — argv <-> log entry payload (docs/command_format.md).
#include "kv/command_codec.h"

#include "base/coding.h"

namespace raftkv::kv {
namespace {

constexpr std::size_t kHeaderBytes = 1 + 4;  // version, argc
constexpr std::size_t kArgHeaderBytes = 4;   // length

Status corrupt(std::string message) {
    return Status::error(Code::kCorruption, "kv command: " + std::move(message));
}

}  // namespace

std::string encode_command(std::span<const std::string> args) {
    RAFTKV_ASSERT(!args.empty(), "a command has at least its name");
    RAFTKV_ASSERT(args.size() <= kArgCountMax, "{} arguments", args.size());
    std::size_t total = kHeaderBytes;
    for (const std::string& a : args) {
        RAFTKV_ASSERT(a.size() <= kArgBytesMax, "argument of {} bytes", a.size());
        total += kArgHeaderBytes + a.size();
    }
    std::string out;
    out.reserve(total);
    put_u8(&out, kCommandFormatVersion);
    put_u32(&out, static_cast<std::uint32_t>(args.size()));
    for (const std::string& a : args) {
        put_u32(&out, static_cast<std::uint32_t>(a.size()));
        out.append(a);
    }
    RAFTKV_ASSERT(out.size() == total);
    return out;
}

Result<std::vector<std::string>> decode_command(std::string_view bytes) {
    ByteReader in(bytes);
    std::uint8_t version = 0;
    if (!in.get_u8(&version)) return corrupt("empty payload, expected a version byte");
    if (version != kCommandFormatVersion) {
        return corrupt(fmt::format("unsupported version {} at offset 0 (this build reads {})",
                                   version, kCommandFormatVersion));
    }
    std::uint32_t argc = 0;
    if (!in.get_u32(&argc)) {
        return corrupt(
            fmt::format("{} bytes, too short for the argument count at offset 1", bytes.size()));
    }
    if (argc == 0) return corrupt("argument count is 0 at offset 1");
    if (argc > kArgCountMax) {
        return corrupt(fmt::format("argument count {} at offset 1 exceeds {}", argc, kArgCountMax));
    }
    if (argc > in.remaining() / kArgHeaderBytes) {
        return corrupt(fmt::format("argument count {} cannot fit in the remaining {} bytes", argc,
                                   in.remaining()));
    }
    std::vector<std::string> args;
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
    return args;
}

}  // namespace raftkv::kv
