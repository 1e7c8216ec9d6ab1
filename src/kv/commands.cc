// commands.cc — the kv command table and the data-independent checks.
//
// Semantics follow Redis 7 (reply types, error texts), plus SET's IFEQ from
// Redis 8.4, compared with the Redis command docs. Deliberate differences are
// in the summaries and in docs/command_format.md: no key expiry, and the
// tutorial's `delete` and `data`.
#include "kv/commands.h"

#include <fmt/format.h>

#include <array>
#include <limits>

#include "base/assert.h"

namespace raftkv::kv {
namespace {

using enum CommandClass;
using enum CommandId;

constexpr std::array<CommandInfo, 21> kTable = {{
    // Writes.
    {"set", -3, kWrite, "write denyoom", 1, 1, 1,
     "Set a key to a string value; NX/XX make it conditional on the key's existence, IFEQ on "
     "its current value (compare-and-set), GET returns the old value; KEEPTTL is accepted and "
     "does nothing, expiry options (EX PX EXAT PXAT) are not supported",
     "key value [NX | XX | IFEQ match-value] [GET] [KEEPTTL]", kSet},
    {"del", -2, kWrite, "write", 1, -1, 1, "Delete keys; replies with how many existed",
     "key [key ...]", kDel},
    {"mset", -3, kWrite, "write denyoom", 1, -1, 2, "Set several keys at once, atomically",
     "key value [key value ...]", kMset},
    {"incr", 2, kWrite, "write denyoom fast", 1, 1, 1,
     "Add 1 to the 64-bit integer in a key (a missing key counts as 0)", "key", kIncr},
    {"incrby", 3, kWrite, "write denyoom fast", 1, 1, 1,
     "Add an amount to the 64-bit integer in a key (a missing key counts as 0)", "key increment",
     kIncrby},
    {"decr", 2, kWrite, "write denyoom fast", 1, 1, 1,
     "Subtract 1 from the 64-bit integer in a key (a missing key counts as 0)", "key", kDecr},
    {"decrby", 3, kWrite, "write denyoom fast", 1, 1, 1,
     "Subtract an amount from the 64-bit integer in a key (a missing key counts as 0)",
     "key decrement", kDecrby},
    {"append", 3, kWrite, "write denyoom fast", 1, 1, 1,
     "Append to a key's value (creating it); replies with the new length", "key value", kAppend},
    {"getdel", 2, kWrite, "write fast", 1, 1, 1, "Get a key's value and delete the key", "key",
     kGetdel},
    {"flushall", -1, kWrite, "write", 0, 0, 0,
     "Delete every key; ASYNC and SYNC are accepted and mean the same", "[ASYNC | SYNC]",
     kFlushall},
    {"delete", -2, kWrite, "write", 1, -1, 1, "Alias of DEL, from the tutorial raftkv grew from",
     "key [key ...]", kDel},
    {"raftkv.address", -3, kWrite, "write admin", 0, 0, 0,
     "Internal: record (or REMOVE) a server's client and peer address in the replicated "
     "address table; not part of the key space",
     "node-id host port peer-port | node-id REMOVE", kAddress},
    {"session", -2, kWrite, "write", 0, 0, 0,
     "Exactly-once writes: REGISTER a client session (replies with its id); RUN applies a "
     "command once per session and sequence number, and replays its reply to a retry",
     "REGISTER | RUN id seq command [arg ...]", kSession},
    // Reads.
    {"get", 2, kRead, "readonly fast", 1, 1, 1, "Get a key's value (nil if missing)", "key", kGet},
    {"exists", -2, kRead, "readonly fast", 1, -1, 1,
     "Count how many of the keys exist; a key named twice counts twice", "key [key ...]", kExists},
    {"mget", -2, kRead, "readonly fast", 1, -1, 1, "Get the values of several keys",
     "key [key ...]", kMget},
    {"strlen", 2, kRead, "readonly fast", 1, 1, 1, "Length of a key's value (0 if missing)", "key",
     kStrlen},
    {"dbsize", 1, kRead, "readonly fast", 0, 0, 0, "Number of keys", "", kDbsize},
    {"keys", 2, kRead, "readonly", 0, 0, 0,
     "Keys matching a glob pattern (* ? [abc] [^a] [a-z] \\x)", "pattern", kKeys},
    {"scan", -2, kRead, "readonly", 0, 0, 0,
     "Iterate over keys with a cursor; every key present for the whole scan is returned",
     "cursor [MATCH pattern] [COUNT count] [TYPE type]", kScan},
    {"data", 1, kRead, "readonly", 0, 0, 0,
     "The whole store as one JSON object {\"key\": \"value\", ...}, keys in byte order; "
     "\" \\ and control characters escaped, valid UTF-8 as is, any other byte as \\u00XX",
     "", kData},
}};

constexpr std::string_view kSyntaxError = "ERR syntax error";
constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// `word` is lower case.
bool equals_nocase(std::string_view s, std::string_view word) {
    if (s.size() != word.size()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (lower(s[i]) != word[i]) return false;
    }
    return true;
}

// MSET's pairs are part of its arity, as in Redis; RAFTKV.ADDRESS has two forms.
bool arity_ok(const CommandInfo& info, std::size_t argc) {
    if (info.id == kMset && argc % 2 == 0) return false;
    if (info.id == kAddress && argc != 3 && argc != 5) return false;
    if (info.arity >= 0) return argc == static_cast<std::size_t>(info.arity);
    return argc >= static_cast<std::size_t>(-info.arity);
}

std::string_view check_flushall(std::span<const std::string> args) {
    if (args.size() == 1) return {};
    if (args.size() == 2 && (equals_nocase(args[1], "async") || equals_nocase(args[1], "sync"))) {
        return {};
    }
    return kSyntaxError;
}

// The data-independent error of a command whose arity is right, or "".
std::string_view syntax_error(const CommandInfo& info, std::span<const std::string> args) {
    switch (info.id) {
        case kSet: {
            SetOptions opts;
            return parse_set_options(args, &opts);
        }
        case kIncr:
        case kIncrby:
        case kDecr:
        case kDecrby: {
            std::int64_t delta = 0;
            return parse_increment(info.id, args, &delta);
        }
        case kFlushall:
            return check_flushall(args);
        case kScan: {
            ScanOptions opts;
            return parse_scan_options(args, &opts);
        }
        case kAddress: {
            AddressChange change;
            return parse_address_change(args, &change);
        }
        default:
            return {};
    }
}

// SESSION's own checks; writes the error and returns false, as check().
bool check_session(std::span<const std::string> args, resp::ReplyWriter& out) {
    if (equals_nocase(args[1], "register")) {
        if (args.size() == 2) return true;
        out.error("ERR wrong number of arguments for 'session|register' command");
        return false;
    }
    if (!equals_nocase(args[1], "run")) {
        out.error(fmt::format("ERR unknown subcommand '{}'. Try SESSION REGISTER or SESSION RUN.",
                              std::string_view(args[1]).substr(0, 128)));
        return false;
    }
    if (args.size() < 5) {
        out.error("ERR wrong number of arguments for 'session|run' command");
        return false;
    }
    std::optional<std::uint64_t> id = parse_u64(args[2]);
    std::optional<std::uint64_t> seq = parse_u64(args[3]);
    if (!id || *id == 0 || !seq || *seq == 0) {
        out.error("ERR SESSION RUN session id and sequence must be positive integers");
        return false;
    }
    const CommandInfo* inner = find_command(args[4]);
    if (inner == nullptr) {
        out.error(fmt::format("ERR unknown command '{}' in SESSION RUN",
                              std::string_view(args[4]).substr(0, 128)));
        return false;
    }
    if (inner->id == kSession) {
        out.error("ERR SESSION RUN cannot run SESSION");
        return false;
    }
    return check(*inner, args.subspan(4), out);
}

}  // namespace

bool parse_session(std::span<const std::string> args, SessionRun* run) {
    RAFTKV_ASSERT(args.size() >= 2);
    if (equals_nocase(args[1], "register")) return false;
    RAFTKV_ASSERT(args.size() >= 5);
    std::optional<std::uint64_t> id = parse_u64(args[2]);
    std::optional<std::uint64_t> seq = parse_u64(args[3]);
    RAFTKV_ASSERT(id && seq, "check() passed a bad SESSION RUN");
    *run = SessionRun{.id = *id, .seq = *seq, .command = args.subspan(4)};
    return true;
}

const CommandInfo* find_command(std::string_view name) {
    for (const CommandInfo& info : kTable) {
        if (equals_nocase(name, info.name)) return &info;
    }
    return nullptr;
}

std::span<const CommandInfo> all_commands() { return kTable; }

bool check(const CommandInfo& info, std::span<const std::string> args, resp::ReplyWriter& out) {
    RAFTKV_ASSERT(!args.empty());
    RAFTKV_DEBUG_ASSERT(find_command(args[0]) == &info, "'{}' is not '{}'", args[0], info.name);
    if (!arity_ok(info, args.size())) {
        out.error(fmt::format("ERR wrong number of arguments for '{}' command", info.name));
        return false;
    }
    if (info.id == kSession) return check_session(args, out);
    if (std::string_view err = syntax_error(info, args); !err.empty()) {
        out.error(err);
        return false;
    }
    return true;
}

std::optional<std::int64_t> parse_i64(std::string_view s) {
    bool negative = !s.empty() && s[0] == '-';
    std::string_view digits = negative ? s.substr(1) : s;
    std::optional<std::uint64_t> magnitude = parse_u64(digits);
    if (!magnitude) return std::nullopt;
    constexpr std::uint64_t kMaxPositive = std::numeric_limits<std::int64_t>::max();
    if (negative) {
        if (*magnitude == 0 || *magnitude > kMaxPositive + 1) return std::nullopt;  // "-0"
        return static_cast<std::int64_t>(0 - *magnitude);
    }
    if (*magnitude > kMaxPositive) return std::nullopt;
    return static_cast<std::int64_t>(*magnitude);
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
    if (s.empty() || s.size() > 20) return std::nullopt;
    if (s[0] == '0' && s.size() > 1) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
        v = v * 10 + digit;
    }
    return v;
}

std::string_view parse_set_options(std::span<const std::string> args, SetOptions* opts) {
    RAFTKV_ASSERT(args.size() >= 3);
    *opts = SetOptions{};
    for (std::size_t i = 3; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (equals_nocase(a, "nx") && !opts->xx && !opts->ifeq) {
            opts->nx = true;
        } else if (equals_nocase(a, "xx") && !opts->nx && !opts->ifeq) {
            opts->xx = true;
        } else if (equals_nocase(a, "ifeq") && i + 1 < args.size() && !opts->nx && !opts->xx &&
                   !opts->ifeq) {
            opts->ifeq = std::string_view(args[++i]);
        } else if (equals_nocase(a, "get")) {
            opts->get = true;
        } else if (equals_nocase(a, "keepttl")) {
            // Keys never expire here, so keeping the TTL is what always happens.
        } else if (equals_nocase(a, "ex")) {
            return "ERR raftkv does not support key expiry (EX)";
        } else if (equals_nocase(a, "px")) {
            return "ERR raftkv does not support key expiry (PX)";
        } else if (equals_nocase(a, "exat")) {
            return "ERR raftkv does not support key expiry (EXAT)";
        } else if (equals_nocase(a, "pxat")) {
            return "ERR raftkv does not support key expiry (PXAT)";
        } else {
            return kSyntaxError;
        }
    }
    return {};
}

std::string_view parse_scan_options(std::span<const std::string> args, ScanOptions* opts) {
    RAFTKV_ASSERT(args.size() >= 2);
    *opts = ScanOptions{};
    std::optional<std::uint64_t> cursor = parse_u64(args[1]);
    // Redis accepts leading zeros in a cursor ("00" is 0); so do we.
    if (!cursor && !args[1].empty() && args[1].find_first_not_of('0') == std::string::npos) {
        cursor = 0;
    }
    if (!cursor) return "ERR invalid cursor";
    opts->cursor = *cursor;
    for (std::size_t i = 2; i < args.size(); i += 2) {
        if (i + 1 >= args.size()) return kSyntaxError;
        const std::string& value = args[i + 1];
        if (equals_nocase(args[i], "count")) {
            std::optional<std::int64_t> n = parse_i64(value);
            if (!n) return kNotInteger;
            if (*n < 1) return kSyntaxError;
            opts->count = static_cast<std::uint64_t>(*n);
        } else if (equals_nocase(args[i], "match")) {
            opts->pattern = value;
        } else if (equals_nocase(args[i], "type")) {
            // Redis 7 returns no keys for a type name it does not know.
            opts->type_matches = equals_nocase(value, "string");
        } else {
            return kSyntaxError;
        }
    }
    return {};
}

bool is_valid_address_host(std::string_view host) {
    if (host.empty() || host.size() > kAddressHostBytesMax) return false;
    for (char c : host) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == ':' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

namespace {

// A TCP port 1..65535 in strict decimal, or nullopt.
std::optional<std::uint16_t> parse_port(std::string_view s) {
    std::optional<std::uint64_t> v = parse_u64(s);
    if (!v || *v == 0 || *v > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(*v);
}

}  // namespace

std::string_view parse_address_change(std::span<const std::string> args, AddressChange* change) {
    RAFTKV_ASSERT(args.size() == 3 || args.size() == 5, "{} arguments", args.size());
    *change = AddressChange{};
    std::optional<std::uint64_t> id = parse_u64(args[1]);
    if (!id || *id == 0) return "ERR RAFTKV.ADDRESS node id must be a positive integer";
    change->node_id = *id;
    if (args.size() == 3) {
        if (!equals_nocase(args[2], "remove")) return kSyntaxError;
        change->is_remove = true;
        return {};
    }
    if (!is_valid_address_host(args[2])) {
        return "ERR RAFTKV.ADDRESS host must be 1 to 255 bytes of letters, digits and . : _ -";
    }
    std::optional<std::uint16_t> port = parse_port(args[3]);
    std::optional<std::uint16_t> peer_port = parse_port(args[4]);
    if (!port || !peer_port) return "ERR RAFTKV.ADDRESS ports must be integers from 1 to 65535";
    if (*port == *peer_port) return "ERR RAFTKV.ADDRESS client and peer ports must differ";
    change->host = args[2];
    change->port = *port;
    change->peer_port = *peer_port;
    return {};
}

std::string_view parse_increment(CommandId id, std::span<const std::string> args,
                                 std::int64_t* delta) {
    switch (id) {
        case kIncr:
            *delta = 1;
            return {};
        case kDecr:
            *delta = -1;
            return {};
        case kIncrby:
        case kDecrby: {
            RAFTKV_ASSERT(args.size() >= 3);
            std::optional<std::int64_t> n = parse_i64(args[2]);
            if (!n) return kNotInteger;
            if (id == kIncrby) {
                *delta = *n;
                return {};
            }
            if (*n == std::numeric_limits<std::int64_t>::min()) {
                return "ERR decrement would overflow";
            }
            *delta = -*n;
            return {};
        }
        default:
            RAFTKV_ASSERT(false, "not an increment command: {}", static_cast<int>(id));
            return {};
    }
}

}  // namespace raftkv::kv
