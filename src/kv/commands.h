// commands.h — the table of kv commands, and the checks that need no data.
//
// One entry per command the state machine runs: its Redis arity, whether it
// reads or writes, the Redis COMMAND metadata (flags, key positions) and a
// one-line summary for COMMAND DOCS and the shell's help. check() validates
// everything that does not depend on the data (arity, options, integer
// arguments) so that the server can reject a bad write before it is logged.
// The same parsers are used again when the command runs, so a command that
// passed check() can only fail on the data (a value that is not an integer).
// Does not run commands: state_machine.h does. Wire form of a logged command:
// docs/command_format.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "resp/reply_writer.h"

namespace raftkv::kv {

enum class CommandClass { kRead, kWrite };

// Which handler runs a command; `delete` shares kDel with `del`.
enum class CommandId : std::uint8_t {
    kSet,
    kDel,
    kMset,
    kIncr,
    kIncrby,
    kDecr,
    kDecrby,
    kAppend,
    kGetdel,
    kFlushall,
    kAddress,
    kSession,
    kSetex,
    kPsetex,
    kGetex,
    kExpire,
    kPexpire,
    kExpireat,
    kPexpireat,
    kPersist,
    kExpireDue,
    kClock,
    kGet,
    kExists,
    kMget,
    kStrlen,
    kDbsize,
    kKeys,
    kScan,
    kData,
    kTtl,
    kPttl,
    kExpiretime,
    kPexpiretime,
};

struct CommandInfo {
    std::string_view name;  // lower case, e.g. "set"
    int arity;              // Redis convention: N exact (including the name), -N at least N
    CommandClass cls;
    std::string_view flags;             // Redis COMMAND flags, space separated: "write denyoom"
    int first_key, last_key, key_step;  // Redis key positions, for the COMMAND reply
    std::string_view summary;           // one line, for COMMAND DOCS and the shell's help
    std::string_view syntax;  // arguments after the name, e.g. "key value [NX | XX] [GET]"
    CommandId id;             // the handler in StateMachine
};

// Case-insensitive; nullptr if `name` is not a kv command. The pointer is to
// static storage.
const CommandInfo* find_command(std::string_view name);
// Every command, in table order (writes first), internal ones included.
std::span<const CommandInfo> all_commands();

// Internal commands are the entries only servers propose: the replicated
// address table (RAFTKV.ADDRESS), active expiry (RAFTKV.EXPIRE) and the
// clock (RAFTKV.CLOCK). Their names start with "raftkv.". A client that
// could send one could rewrite the cluster's addresses, so the client
// protocol never reaches them: find_client_command() does not know them,
// COMMAND and the shell's help do not list them, and SESSION RUN refuses
// them. The state machine still applies them from the log.
bool is_internal(const CommandInfo& info);
// find_command() for a name a client sent: nullptr for internal commands too.
const CommandInfo* find_client_command(std::string_view name);
// The error reply for a client that sent an internal command by name.
std::string internal_command_error(std::string_view name);

// Validates arity and syntax that does not depend on the data (options,
// integer arguments), before a write is logged. `args[0]` is the command name
// and must name `info`. On failure writes the Redis error reply to `out` and
// returns false; on success writes nothing.
// Arity error text exactly as Redis: "ERR wrong number of arguments for 'set' command".
bool check(const CommandInfo& info, std::span<const std::string> args, resp::ReplyWriter& out);

// The longest string value raftkv stores, as Redis's default proto-max-bulk-len.
inline constexpr std::uint64_t kValueBytesMax = 512ull * 1024 * 1024;

// --- Argument parsers shared by check() and the state machine. -------------
// Each returns an empty string_view on success, else the error reply text
// (static storage).

// A signed 64-bit decimal in Redis's strict form (string2ll): optional '-',
// no '+', no spaces, no leading zeros, "-0" rejected.
std::optional<std::int64_t> parse_i64(std::string_view s);
// An unsigned 64-bit decimal: digits only, no leading zeros.
std::optional<std::uint64_t> parse_u64(std::string_view s);

// An expiry as a command gives it (EX, PX, EXAT, PXAT, KEEPTTL, PERSIST),
// in milliseconds. A relative one becomes a deadline at apply, from the log
// time (state_machine.h); that it is positive and fits in milliseconds is
// checked before it is logged, as Redis does.
struct ExpireOption {
    enum class Kind : std::uint8_t {
        kNone,      // the command clears any TTL (SET) or leaves it (GETEX)
        kRelative,  // EX, PX: ms from the log time
        kAbsolute,  // EXAT, PXAT: a Unix time in ms
        kKeepTtl,   // SET ... KEEPTTL
        kPersist,   // GETEX ... PERSIST
    };
    Kind kind = Kind::kNone;
    std::int64_t ms = 0;  // kRelative, kAbsolute: > 0
    // Which option gave it ("ex", "px", "exat", "pxat"): Redis accepts the
    // same one again (the last value counts), not another.
    std::string_view option;
};

struct SetOptions {
    bool nx = false;   // only set if the key does not exist
    bool xx = false;   // only set if the key exists
    bool get = false;  // reply with the old value
    // IFEQ (Redis 8.4): only set if the key exists and its value equals these
    // bytes exactly. Borrows from args.
    std::optional<std::string_view> ifeq;
    ExpireOption expire;
};
// SET key value [NX | XX | IFEQ match-value] [GET] [EX s | PX ms | EXAT t |
// PXAT t | KEEPTTL]; the conditions exclude each other, as do the expiry
// options (a second one is a syntax error, as is IFEQ without its value).
std::string_view parse_set_options(std::span<const std::string> args, SetOptions* opts);
// GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST].
std::string_view parse_getex_options(std::span<const std::string> args, ExpireOption* expire);
// SETEX key seconds value, PSETEX key ms value.
std::string_view parse_setex(CommandId id, std::span<const std::string> args, ExpireOption* expire);

// EXPIRE key seconds [NX | XX | GT | LT] and PEXPIRE, EXPIREAT, PEXPIREAT.
struct ExpireArgs {
    std::int64_t ms = 0;    // the time in ms (any sign; EXPIRE's seconds * 1000)
    bool absolute = false;  // EXPIREAT, PEXPIREAT
    bool nx = false, xx = false, gt = false, lt = false;
};
std::string_view parse_expire(CommandId id, std::span<const std::string> args, ExpireArgs* parsed);

// RAFTKV.EXPIRE <max>: the leader's active expiry, deleting up to max keys
// whose deadline has passed in log time. 1 <= max <= kExpireBatchMax.
inline constexpr std::uint64_t kExpireBatchMax = 10'000;
std::string_view parse_expire_due(std::span<const std::string> args, std::uint64_t* max);

struct ScanOptions {
    std::uint64_t cursor = 0;
    std::uint64_t count = 10;                 // work hint: keys examined per call
    std::optional<std::string_view> pattern;  // MATCH; borrows from args
    bool type_matches = true;                 // false when TYPE names a type other than string
};
// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
std::string_view parse_scan_options(std::span<const std::string> args, ScanOptions* opts);

// RAFTKV.ADDRESS <node-id> <host> <port> <peer-port>, or
// RAFTKV.ADDRESS <node-id> REMOVE: a change to the replicated table of server
// addresses (state_machine.h, addresses()).
struct AddressChange {
    std::uint64_t node_id = 0;
    bool is_remove = false;
    std::string_view host;  // borrows from args; empty for REMOVE
    std::uint16_t port = 0;
    std::uint16_t peer_port = 0;
};
// Limits of the address table: a host name or IP literal of at most 255 bytes
// of [A-Za-z0-9.:_-], and at most kAddressCountMax servers.
inline constexpr std::size_t kAddressHostBytesMax = 255;
inline constexpr std::size_t kAddressCountMax = 256;
// Requires args.size() == 3 or 5. Node ids are positive; ports 1..65535 and
// the two ports differ.
std::string_view parse_address_change(std::span<const std::string> args, AddressChange* change);
// True if `host` is 1..kAddressHostBytesMax bytes of [A-Za-z0-9.:_-].
bool is_valid_address_host(std::string_view host);

// SESSION REGISTER | SESSION RUN <id> <seq> <command> [args...]
// (sessions.h). check() validates RUN's command as if it came alone; RUN
// cannot wrap SESSION.
struct SessionRun {
    std::uint64_t id = 0;
    std::uint64_t seq = 0;
    std::span<const std::string> command;  // borrows from args
};
// For SESSION RUN fills *run and returns true; for SESSION REGISTER returns
// false. Requires a command that passed check().
bool parse_session(std::span<const std::string> args, SessionRun* run);

// The amount INCR/INCRBY/DECR/DECRBY add (args[2] parsed, negated for DECRBY).
std::string_view parse_increment(CommandId id, std::span<const std::string> args,
                                 std::int64_t* delta);

}  // namespace raftkv::kv
