// history.h — a client history of key-value operations, and its text format.
//
// The simulation (issue 3) and the fault-injection harness on real processes
// (issue 5) record every client operation with its call and return time and
// its outcome; the linearizability checker (sim/linearizability.h) reads the
// result. This file holds the record types and the reader and writer of the
// line-based text format, which a Python harness can write too. It does not
// judge histories: the checker does. Format spec: docs/history_format.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace raftkv::sim {

// A register's content: bytes, or nullopt for a missing key (Redis nil).
using Value = std::optional<std::string>;

enum class OpKind : std::uint8_t {
    kGet,   // get key
    kSet,   // set key value
    kIncr,  // incr key delta (INCRBY)
    kCas,   // cas key expected new: set to new if the current value == expected
    kDel,   // del key
};

enum class Outcome : std::uint8_t {
    kOk,       // returned a reply; `reply` says which
    kFailed,   // certainly not applied: its effect must not appear
    kUnknown,  // timeout or lost connection: may take effect at any time after
               // its call, or never
};

enum class ReplyKind : std::uint8_t {
    kNone,        // no reply: the outcome is failed or unknown
    kValue,       // get found bytes
    kNil,         // get found no key
    kInteger,     // incr: the new value; del: 1 if the key existed, else 0
    kOk,          // set, and a cas that applied
    kNotApplied,  // ran and changed nothing: cas whose current value differed,
                  // incr of a value that is not an integer or would overflow
};

struct Reply {
    ReplyKind kind = ReplyKind::kNone;
    std::string bytes;         // kValue only
    std::int64_t integer = 0;  // kInteger only
    bool operator==(const Reply&) const = default;
};

// Return time of an operation that never returned (an unknown outcome may use
// it); the checker treats every unknown operation's return time as this.
inline constexpr std::int64_t kNeverReturned = std::numeric_limits<std::int64_t>::max();

// One client operation. Times are in the history's unit (nanoseconds or ticks);
// operation A happens before B when A.return_time < B.call_time.
struct Operation {
    std::uint64_t client = 0;
    OpKind kind = OpKind::kGet;
    std::string key;
    std::string value;       // set: the value; cas: the new value
    Value expected;          // cas only: the value required; nullopt: key must be missing
    std::int64_t delta = 0;  // incr only
    // set and cas only: the absolute deadline the write gives the key (SET
    // ... PXAT), in ms on the history's clock (History::clock); nullopt: the
    // write clears any deadline, as SET does. Needs a clock.
    std::optional<std::int64_t> expire_at_ms;
    Outcome outcome = Outcome::kOk;
    Reply reply;  // kind kNone unless outcome is kOk
    std::int64_t call_time = 0;
    std::int64_t return_time = 0;  // >= call_time; may be kNeverReturned if kUnknown
    bool operator==(const Operation&) const = default;
};

enum class TimeUnit : std::uint8_t { kNanoseconds, kTicks };

// How the history's times relate to the store's clock, for expiry: the
// clock reads origin_ms + time / units_per_ms (ms) at history time `time`,
// give or take skew_ms — the most any server's clock may be off. The
// checker lets an operation take effect at any clock time from its call's
// minus skew_ms to its return's plus skew_ms, never going back.
struct ClockModel {
    std::int64_t units_per_ms = 1;  // > 0
    std::int64_t origin_ms = 0;
    std::int64_t skew_ms = 0;  // >= 0
    bool operator==(const ClockModel&) const = default;
};

struct History {
    TimeUnit time_unit = TimeUnit::kNanoseconds;
    std::optional<ClockModel> clock;  // needed by any operation with expire_at_ms
    std::vector<Operation> ops;       // in any order; the checker sorts by time
    bool operator==(const History&) const = default;
};

// Format version written on the first line: 2 when the history has a clock
// (expiry), else 1. A reader takes both and rejects any other.
inline constexpr int kHistoryFormatVersion = 2;
// Longest line a reader accepts (a key or value may be large, escaped).
inline constexpr std::size_t kHistoryLineBytesMax = 64u << 20;

std::string_view op_kind_name(OpKind kind);      // "get", "set", ...
std::string_view outcome_name(Outcome outcome);  // "ok", "failed", "unknown"

// Checks what the format promises: a reply only for kOk and of a kind that
// fits the operation (get: value or nil; set: ok; incr: integer or
// not-applied; cas: ok or not-applied; del: integer 0 or 1), return_time >=
// call_time, kNeverReturned only for unknown outcomes, expire_at_ms only on
// set and cas and only with a clock. kInvalid names the
// operation's position (0-based).
Status validate_history(const History& history);

// Parses the text format. `source` names the input in errors:
// "history.txt:7: unknown outcome 'okay' (want ok, failed or unknown)".
// The result passes validate_history.
Result<History> parse_history(std::string_view text, std::string_view source = "history");
Result<History> read_history_file(const std::filesystem::path& path);

// The text format; parse_history(format_history(h)) == h for a valid h.
std::string format_history(const History& history);
Status write_history_file(const std::filesystem::path& path, const History& history);

// One operation as its line in the format, without the line break:
// `7 100 250 ok cas "k" nil "v" -> not-applied`. Reports use it too.
std::string format_operation(const Operation& op);
// A value as the format writes it: nil, or a quoted string with escapes.
std::string format_value(const Value& value);

}  // namespace raftkv::sim
