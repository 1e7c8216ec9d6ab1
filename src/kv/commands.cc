// commands.cc — the kv command table and the data-independent checks.
//
// Semantics follow Redis 7 (reply types, error texts), plus SET's IFEQ from
// Redis 8.4, compared with the Redis command docs. Deliberate differences are
// in the summaries and in docs/command_format.md: expiry is decided by the
// log's time (docs/expiry.md), and the tutorial's `delete` and `data`.
#include "kv/commands.h"

#include <fmt/format.h>

#include <array>
#include <limits>

#include "base/assert.h"

namespace raftkv::kv {
namespace {

using enum CommandClass;
using enum CommandId;

constexpr std::array<CommandInfo, 35> kTable = {{
    // Writes.
    {"set", -3, kWrite, "write denyoom", 1, 1, 1,
     "Set a key to a string value; NX/XX make it conditional on the key's existence, IFEQ on "
     "its current value (compare-and-set), GET returns the old value; EX/PX/EXAT/PXAT give it "
     "a time to live, KEEPTTL keeps the one it had (otherwise SET clears it)",
     "key value [NX | XX | IFEQ match-value] [GET] [EX seconds | PX milliseconds | "
     "EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]",
     kSet},
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
    {"setex", 4, kWrite, "write denyoom", 1, 1, 1,
     "Set a key's value and its time to live in seconds", "key seconds value", kSetex},
    {"psetex", 4, kWrite, "write denyoom", 1, 1, 1,
     "Set a key's value and its time to live in milliseconds", "key milliseconds value", kPsetex},
    {"getex", -2, kWrite, "write fast", 1, 1, 1,
     "Get a key's value and set (EX PX EXAT PXAT) or remove (PERSIST) its time to live",
     "key [EX seconds | PX milliseconds | EXAT unix-time-seconds | "
     "PXAT unix-time-milliseconds | PERSIST]",
     kGetex},
    {"expire", -3, kWrite, "write fast", 1, 1, 1,
     "Set a key's time to live in seconds; NX/XX/GT/LT make it conditional on the current one",
     "key seconds [NX | XX | GT | LT]", kExpire},
    {"pexpire", -3, kWrite, "write fast", 1, 1, 1,
     "Set a key's time to live in milliseconds; NX/XX/GT/LT as EXPIRE",
     "key milliseconds [NX | XX | GT | LT]", kPexpire},
    {"expireat", -3, kWrite, "write fast", 1, 1, 1,
     "Make a key expire at a Unix time in seconds; NX/XX/GT/LT as EXPIRE",
     "key unix-time-seconds [NX | XX | GT | LT]", kExpireat},
    {"pexpireat", -3, kWrite, "write fast", 1, 1, 1,
     "Make a key expire at a Unix time in milliseconds; NX/XX/GT/LT as EXPIRE",
     "key unix-time-milliseconds [NX | XX | GT | LT]", kPexpireat},
    {"persist", 2, kWrite, "write fast", 1, 1, 1, "Remove a key's time to live; 1 if it had one",
     "key", kPersist},
    {"raftkv.expire", 2, kWrite, "write admin", 0, 0, 0,
     "Internal: the leader's active expiry, deleting up to max keys whose deadline has passed "
     "in the log's time",
     "max", kExpireDue},
    {"raftkv.clock", 1, kWrite, "write admin", 0, 0, 0,
     "Internal: carries the leader's clock into the log before it hands over the leadership; "
     "changes nothing else",
     "", kClock},
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
    {"ttl", 2, kRead, "readonly fast", 1, 1, 1,
     "A key's time to live in seconds (-1: none, -2: no such key)", "key", kTtl},
    {"pttl", 2, kRead, "readonly fast", 1, 1, 1,
     "A key's time to live in milliseconds (-1: none, -2: no such key)", "key", kPttl},
    {"expiretime", 2, kRead, "readonly fast", 1, 1, 1,
     "The Unix time in seconds at which a key expires (-1: never, -2: no such key)", "key",
     kExpiretime},
    {"pexpiretime", 2, kRead, "readonly fast", 1, 1, 1,
     "The Unix time in milliseconds at which a key expires (-1: never, -2: no such key)", "key",
     kPexpiretime},
}};

constexpr std::string_view kSyntaxError = "ERR syntax error";
constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";
constexpr std::string_view kUnsupportedOption = "ERR Unsupported option";

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
        case kSetex:
        case kPsetex: {
            ExpireOption expire;
            return parse_setex(info.id, args, &expire);
        }
        case kGetex: {
            // Only the syntax: Redis checks GETEX's time after finding the
            // key (a missing key is nil whatever the time), so apply does.
            ExpireOption expire;
            const std::string_view err = parse_getex_options(args, &expire);
            return err == kSyntaxError ? err : std::string_view();
        }
        case kExpire:
        case kPexpire:
        case kExpireat:
        case kPexpireat: {
            ExpireArgs parsed;
            return parse_expire(info.id, args, &parsed);
        }
        case kExpireDue: {
            std::uint64_t max = 0;
            return parse_expire_due(args, &max);
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
    if (inner != nullptr && is_internal(*inner)) {
        out.error(internal_command_error(args[4]));
        return false;
    }
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

bool is_internal(const CommandInfo& info) { return info.name.starts_with("raftkv."); }

const CommandInfo* find_client_command(std::string_view name) {
    const CommandInfo* info = find_command(name);
    return info != nullptr && is_internal(*info) ? nullptr : info;
}

std::string internal_command_error(std::string_view name) {
    return fmt::format(
        "ERR '{}' is internal to raftkv: only its servers propose it, clients cannot send it",
        name.substr(0, 128));
}

bool check(const CommandInfo& info, std::span<const std::string> args, resp::ReplyWriter& out) {
    RAFTKV_ASSERT(!args.empty());
    RAFTKV_DEBUG_ASSERT(find_command(args[0]) == &info, "'{}' is not '{}'", args[0], info.name);
    if (!arity_ok(info, args.size())) {
        out.error(fmt::format("ERR wrong number of arguments for '{}' command", info.name));
        return false;
    }
    if (info.id == kSession) return check_session(args, out);
    if (std::string_view err = syntax_error(info, args); !err.empty()) {
        if (err == kUnsupportedOption) {
            // EXPIRE's: Redis names the first option it does not know.
            for (std::size_t i = 3; i < args.size(); ++i) {
                const std::string& a = args[i];
                if (!equals_nocase(a, "nx") && !equals_nocase(a, "xx") && !equals_nocase(a, "gt") &&
                    !equals_nocase(a, "lt")) {
                    out.error(fmt::format("{} {}", err, std::string_view(a).substr(0, 128)));
                    return false;
                }
            }
        }
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

namespace {

// Redis's error for an expiry that is not positive or does not fit, named
// after the command (static storage: parsers return string_views).
std::string_view invalid_expire_time(CommandId id) {
    switch (id) {
        case kSet:
            return "ERR invalid expire time in 'set' command";
        case kSetex:
            return "ERR invalid expire time in 'setex' command";
        case kPsetex:
            return "ERR invalid expire time in 'psetex' command";
        case kGetex:
            return "ERR invalid expire time in 'getex' command";
        case kExpire:
            return "ERR invalid expire time in 'expire' command";
        case kPexpire:
            return "ERR invalid expire time in 'pexpire' command";
        case kExpireat:
            return "ERR invalid expire time in 'expireat' command";
        case kPexpireat:
            return "ERR invalid expire time in 'pexpireat' command";
        default:
            RAFTKV_ASSERT(false, "no expiry in command {}", static_cast<int>(id));
            return {};
    }
}

// The value of an EX/PX/EXAT/PXAT option (or SETEX's): a positive integer
// that fits in milliseconds.
std::string_view parse_expire_value(CommandId id, std::string_view text, bool seconds,
                                    std::int64_t* ms) {
    std::optional<std::int64_t> v = parse_i64(text);
    if (!v) return kNotInteger;
    if (*v <= 0 || (seconds && *v > std::numeric_limits<std::int64_t>::max() / 1000)) {
        return invalid_expire_time(id);
    }
    *ms = seconds ? *v * 1000 : *v;
    return {};
}

// One of EX PX EXAT PXAT at args[*i] (its value after it); false if args[*i]
// is none of them.
bool take_expire_option(CommandId id, std::span<const std::string> args, std::size_t* i,
                        ExpireOption* expire, std::string_view* err) {
    const std::string& a = args[*i];
    const bool ex = equals_nocase(a, "ex");
    const bool px = equals_nocase(a, "px");
    const bool exat = equals_nocase(a, "exat");
    const bool pxat = equals_nocase(a, "pxat");
    if (!ex && !px && !exat && !pxat) return false;
    const std::string_view option = ex ? "ex" : px ? "px" : exat ? "exat" : "pxat";
    const bool other = expire->kind != ExpireOption::Kind::kNone && expire->option != option;
    if (other || *i + 1 >= args.size()) {
        *err = kSyntaxError;
        return true;
    }
    expire->option = option;
    expire->kind = ex || px ? ExpireOption::Kind::kRelative : ExpireOption::Kind::kAbsolute;
    *err = parse_expire_value(id, args[++*i], ex || exat, &expire->ms);
    return true;
}

}  // namespace

std::string_view parse_set_options(std::span<const std::string> args, SetOptions* opts) {
    RAFTKV_ASSERT(args.size() >= 3);
    *opts = SetOptions{};
    // Redis reports a syntax error before a bad expiry value, wherever each is.
    std::string_view value_error;
    for (std::size_t i = 3; i < args.size(); ++i) {
        const std::string& a = args[i];
        std::string_view err;
        if (equals_nocase(a, "nx") && !opts->xx && !opts->ifeq) {
            opts->nx = true;
        } else if (equals_nocase(a, "xx") && !opts->nx && !opts->ifeq) {
            opts->xx = true;
        } else if (equals_nocase(a, "ifeq") && i + 1 < args.size() && !opts->nx && !opts->xx &&
                   !opts->ifeq) {
            opts->ifeq = std::string_view(args[++i]);
        } else if (equals_nocase(a, "get")) {
            opts->get = true;
        } else if (equals_nocase(a, "keepttl") &&
                   (opts->expire.kind == ExpireOption::Kind::kNone ||
                    opts->expire.kind == ExpireOption::Kind::kKeepTtl)) {
            opts->expire.kind = ExpireOption::Kind::kKeepTtl;
        } else if (take_expire_option(kSet, args, &i, &opts->expire, &err)) {
            if (err == kSyntaxError) return err;
            value_error = err;  // only the last value counts, as in Redis
        } else {
            return kSyntaxError;
        }
    }
    return value_error;
}

std::string_view parse_getex_options(std::span<const std::string> args, ExpireOption* expire) {
    RAFTKV_ASSERT(args.size() >= 2);
    *expire = ExpireOption{};
    std::string_view value_error;
    for (std::size_t i = 2; i < args.size(); ++i) {
        std::string_view err;
        if (equals_nocase(args[i], "persist") && (expire->kind == ExpireOption::Kind::kNone ||
                                                  expire->kind == ExpireOption::Kind::kPersist)) {
            expire->kind = ExpireOption::Kind::kPersist;
        } else if (take_expire_option(kGetex, args, &i, expire, &err)) {
            if (err == kSyntaxError) return err;
            value_error = err;  // only the last value counts, as in Redis
        } else {
            return kSyntaxError;
        }
    }
    return value_error;
}

std::string_view parse_setex(CommandId id, std::span<const std::string> args,
                             ExpireOption* expire) {
    RAFTKV_ASSERT(args.size() == 4 && (id == kSetex || id == kPsetex));
    *expire = ExpireOption{.kind = ExpireOption::Kind::kRelative};
    return parse_expire_value(id, args[2], id == kSetex, &expire->ms);
}

std::string_view parse_expire(CommandId id, std::span<const std::string> args, ExpireArgs* parsed) {
    RAFTKV_ASSERT(args.size() >= 3);
    *parsed = ExpireArgs{};
    for (std::size_t i = 3; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (equals_nocase(a, "nx")) {
            parsed->nx = true;
        } else if (equals_nocase(a, "xx")) {
            parsed->xx = true;
        } else if (equals_nocase(a, "gt")) {
            parsed->gt = true;
        } else if (equals_nocase(a, "lt")) {
            parsed->lt = true;
        } else {
            return kUnsupportedOption;  // check() adds the option's name
        }
    }
    if (parsed->nx && (parsed->xx || parsed->gt || parsed->lt)) {
        return "ERR NX and XX, GT or LT options at the same time are not compatible";
    }
    if (parsed->gt && parsed->lt)
        return "ERR GT and LT options at the same time are not compatible";
    std::optional<std::int64_t> v = parse_i64(args[2]);
    if (!v) return kNotInteger;
    const bool seconds = id == kExpire || id == kExpireat;
    parsed->absolute = id == kExpireat || id == kPexpireat;
    if (seconds) {
        if (*v > std::numeric_limits<std::int64_t>::max() / 1000 ||
            *v < std::numeric_limits<std::int64_t>::min() / 1000) {
            return invalid_expire_time(id);
        }
        *v *= 1000;
    }
    parsed->ms = *v;
    return {};
}

std::string_view parse_expire_due(std::span<const std::string> args, std::uint64_t* max) {
    RAFTKV_ASSERT(args.size() == 2);
    std::optional<std::uint64_t> v = parse_u64(args[1]);
    if (!v || *v == 0 || *v > kExpireBatchMax) {
        return "ERR RAFTKV.EXPIRE max must be an integer from 1 to 10000";
    }
    *max = *v;
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
