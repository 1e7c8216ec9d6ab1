// reply_format.h — prints replies the way redis-cli does.
//
// Two styles, chosen as redis-cli chooses them: kTty when stdout is a
// terminal (quoted strings, "(integer) 42", numbered nested arrays) and kRaw
// otherwise or with --raw (bytes as they are, one element per line). The
// output is byte-for-byte what redis-cli 7 prints for the same RESP2 reply
// (cliFormatReplyTTY / cliFormatReplyRaw in redis-cli.c), so scripts written
// for one work with the other. Pure functions: no terminal, no socket.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "resp/reply_parser.h"

namespace raftkv::cli {

enum class OutputMode { kTty, kRaw };

// `bytes` in double quotes with redis-cli's escaping (sdscatrepr): \\ \" \n
// \r \t \a \b, other bytes outside printable ASCII as \xHH (lower-case hex).
std::string quote_bytes(std::string_view bytes);

// The complete text printed for one reply, including its final newline.
// kTty: OK / "value" / (integer) 42 / (nil) / (error) ERR msg /
//   (empty array) / "1) ..." lines with nested arrays indented.
// kRaw: strings and errors as they are, integers bare, nil as an empty line,
//   array elements one per line; an error gets an extra newline, as in
//   redis-cli.
std::string format_reply(const resp::Reply& reply, OutputMode mode);

// True for the commands whose reply is text meant to be read as it is, which
// redis-cli prints raw even on a terminal: INFO, CLUSTER NODES, CLUSTER INFO,
// CLIENT LIST, CLIENT INFO, and raftkv's RAFT STATUS (the shell's `status`).
bool prints_raw(std::span<const std::string> args);
// The mode a reply to `args` is printed in when the user asked for `mode`.
OutputMode mode_for(std::span<const std::string> args, OutputMode mode);

}  // namespace raftkv::cli
