// command_codec.h — the bytes of a command in the Raft log.
//
// A client command (its argv) becomes the payload of a log entry. The
// encoding is versioned and length-prefixed, little-endian, so binary
// arguments survive and a reader can reject bad bytes before applying them.
// Layout and limits: docs/command_format.md. Does not know what the command
// means (commands.h) and does not frame or checksum the entry (the WAL does).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace raftkv::kv {

// Version 1: argv only. A later version adds the client session id and
// sequence number in front of argv.
inline constexpr std::uint8_t kCommandFormatVersion = 1;
// Limits checked on decode (and asserted on encode), as Redis's defaults:
// at most 1M arguments (RESP multibulk limit) of at most 512 MiB each.
inline constexpr std::uint32_t kArgCountMax = 1024 * 1024;
inline constexpr std::uint32_t kArgBytesMax = 512u * 1024 * 1024;

// Requires 1 <= args.size() <= kArgCountMax and each arg <= kArgBytesMax.
std::string encode_command(std::span<const std::string> args);
// The inverse of encode_command. Any other input gives kCorruption with a
// message naming the problem and its byte offset.
Result<std::vector<std::string>> decode_command(std::string_view bytes);

}  // namespace raftkv::kv
