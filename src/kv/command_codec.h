// command_codec.h — the bytes of a command in the Raft log.
//
// A client command (its argv) becomes the payload of a log entry. The
// encoding is versioned and length-prefixed, little-endian, so binary
// arguments survive and a reader can reject bad bytes before applying them.
// Layout and limits: docs/command_format.md. Does not know what the command
// means (commands.h) and does not frame or checksum the entry (the WAL does).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace raftkv::kv {

// Version 1: argv only. Version 2: the proposing leader's wall-clock time,
// then argv. Both are read; encode_command(args, time_ms) writes version 2.
inline constexpr std::uint8_t kCommandFormatVersion = 2;
// Limits checked on decode (and asserted on encode), as Redis's defaults:
// at most 1M arguments (RESP multibulk limit) of at most 512 MiB each.
inline constexpr std::uint32_t kArgCountMax = 1024 * 1024;
inline constexpr std::uint32_t kArgBytesMax = 512u * 1024 * 1024;

// A command as logged: its argv and, from version 2 on, the time the leader
// proposed it (milliseconds since the Unix epoch, by the leader's clock). The
// state machine measures client session expiry in this time (state_machine.h).
struct LoggedCommand {
    std::vector<std::string> args;
    std::optional<std::uint64_t> time_ms;  // nullopt: a version 1 payload
    bool operator==(const LoggedCommand&) const = default;
};

// Version 2, what the leader proposes: the time, then argv. Requires
// 1 <= args.size() <= kArgCountMax and each arg <= kArgBytesMax.
std::string encode_command(std::span<const std::string> args, std::uint64_t time_ms);
// Version 1, argv only: what earlier builds logged; for tests and tools.
std::string encode_command(std::span<const std::string> args);
// Encodes `c` in the version it came from: version 2 if it has a time.
std::string encode_command(const LoggedCommand& c);

// The inverse of the encoders, for either version. Any other input gives
// kCorruption with a message naming the problem and its byte offset.
Result<LoggedCommand> decode_logged_command(std::string_view bytes);
// As decode_logged_command, keeping only argv.
Result<std::vector<std::string>> decode_command(std::string_view bytes);

}  // namespace raftkv::kv
