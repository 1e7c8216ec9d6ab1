// message_codec.h — the wire encoding of raft::Message between servers.
//
// Pure code: bytes in, bytes out, no I/O. The peer transport (src/net)
// carries the encoded bytes in frames; it neither knows nor checks what is
// inside them. Version 1, little-endian, every field of Message at a fixed
// place, so the encoding is canonical: a message has exactly one encoding,
// and bytes that decode encode back to themselves. Grammar, limits and the
// framing around it: docs/peer_protocol.md.
//
// The decoder is a gateway for bytes from another server (STYLE.md section
// 4): it returns a well-formed Message or an error naming what is wrong and
// where, and never allocates for a count or length it has not checked
// against the bytes that remain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "raft/message.h"

namespace raftkv::raft {

inline constexpr std::uint8_t kMessageFormatVersion = 1;

// The fixed part: version, type, flags, then 12 u64 fields, the last the
// snapshot term (docs/peer_protocol.md, "Message").
inline constexpr std::size_t kMessageHeaderBytes = 3 + 12 * 8;
// term, index, type, data_bytes: what an entry takes besides its data.
inline constexpr std::size_t kEntryHeaderBytes = 8 + 8 + 1 + 4;
// The smallest message: header, two empty id lists, no entries, no data.
inline constexpr std::size_t kMessageBytesMin = kMessageHeaderBytes + 4 + 4 + 4 + 4;

// Bits of the flags byte.
inline constexpr std::uint8_t kMessageFlagReject = 1u << 0;
inline constexpr std::uint8_t kMessageFlagTransfer = 1u << 1;
inline constexpr std::uint8_t kMessageFlagDone = 1u << 2;

// Encodes `m`. Requires a message the core could send: data and each
// entry's data under 4 GiB, fewer than 2^32 entries and ids (asserted).
std::string encode_message(const Message& m);

// Decodes one whole message: `bytes` must hold exactly one encoding.
// kInvalid, with the reason and byte offset, for: a version other than 1, an
// unknown message type or entry type, unknown flag bits, from or to 0, from
// equal to to, bytes missing anywhere (truncated), bytes after the message,
// a count or length larger than the bytes that remain could hold, entries on
// a message other than kAppend, entries whose indexes do not follow `index`
// one by one or whose terms are 0, decrease, fall below `log_term` or pass
// `term`, a
// kConfig entry whose payload is not a valid configuration
// (raft/membership.h), and snapshot id lists that are not strictly
// ascending, contain 0, or share an id.
Result<Message> decode_message(std::string_view bytes);

}  // namespace raftkv::raft
