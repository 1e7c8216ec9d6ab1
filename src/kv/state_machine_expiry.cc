// state_machine_expiry.cc — the key expiry commands of the StateMachine
// (state_machine.h): SETEX, PSETEX, GETEX, EXPIRE, PEXPIRE, EXPIREAT,
// PEXPIREAT, PERSIST, TTL, PTTL, EXPIRETIME, PEXPIRETIME and the leader's
// RAFTKV.EXPIRE. Writes run at the log time; semantics and reply values as
// Redis 7.2's command pages, with the log time where Redis has its clock
// (docs/expiry.md).
#include <limits>

#include "kv/state_machine.h"

namespace raftkv::kv {

namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

}  // namespace

std::optional<std::uint64_t> StateMachine::next_deadline_ms() const {
    if (deadlines_.empty()) return std::nullopt;
    return deadlines_.begin()->first;
}

std::size_t StateMachine::expired_count(std::uint64_t now_ms) const {
    std::size_t n = 0;
    for (auto it = deadlines_.begin(); it != deadlines_.end() && it->first < now_ms; ++it) ++n;
    return n;
}

std::optional<std::uint64_t> StateMachine::deadline_of(const ExpireOption& expire) const {
    using Kind = ExpireOption::Kind;
    RAFTKV_ASSERT(expire.kind == Kind::kRelative || expire.kind == Kind::kAbsolute);
    RAFTKV_ASSERT(expire.ms > 0, "check() passed an expiry of {} ms", expire.ms);
    if (expire.kind == Kind::kAbsolute) return static_cast<std::uint64_t>(expire.ms);
    // Redis refuses a relative time that overflows from now.
    if (log_time_ms_ > static_cast<std::uint64_t>(kInt64Max) ||
        expire.ms > kInt64Max - static_cast<std::int64_t>(log_time_ms_)) {
        return std::nullopt;
    }
    return log_time_ms_ + static_cast<std::uint64_t>(expire.ms);
}

void StateMachine::setex(const CommandInfo& info, std::span<const std::string> args,
                         resp::ReplyWriter& out) {
    ExpireOption expire;
    std::string_view err = parse_setex(info.id, args, &expire);
    RAFTKV_ASSERT(err.empty(), "check() passed a bad {}: {}", info.name, err);
    const std::optional<std::uint64_t> at = deadline_of(expire);
    if (!at) return out.error(fmt::format("ERR invalid expire time in '{}' command", info.name));
    set_deadline(*put(args[1], args[3]), *at);
    out.simple("OK");
}

void StateMachine::getex(std::span<const std::string> args, resp::ReplyWriter& out) {
    ExpireOption expire;
    // check() passed the syntax; a bad time is an error only for a key that
    // exists (Redis looks the key up first).
    const std::string_view err = parse_getex_options(args, &expire);
    KeyTable::Entry* e = find_live(args[1]);
    if (e == nullptr) return out.null_bulk();
    if (!err.empty()) return out.error(err);
    using Kind = ExpireOption::Kind;
    std::uint64_t at = 0;
    if (expire.kind == Kind::kRelative || expire.kind == Kind::kAbsolute) {
        const std::optional<std::uint64_t> d = deadline_of(expire);
        if (!d) return out.error("ERR invalid expire time in 'getex' command");
        at = *d;
    }
    out.bulk(e->value);
    if (expire.kind == Kind::kPersist) {
        set_deadline(*e, 0);
    } else if (at != 0 && at <= log_time_ms_) {
        erase(args[1]);  // a deadline already past deletes the key
    } else if (at != 0) {
        set_deadline(*e, at);
    }
}

void StateMachine::expire(const CommandInfo& info, std::span<const std::string> args,
                          resp::ReplyWriter& out) {
    ExpireArgs a;
    std::string_view err = parse_expire(info.id, args, &a);
    RAFTKV_ASSERT(err.empty(), "check() passed a bad {}: {}", info.name, err);
    // The deadline, as a signed time: a negative EXPIRE is already past.
    const std::int64_t base =
        a.absolute ? 0
                   : static_cast<std::int64_t>(std::min<std::uint64_t>(log_time_ms_, kInt64Max));
    if (a.ms > 0 && a.ms > kInt64Max - base) {
        return out.error(fmt::format("ERR invalid expire time in '{}' command", info.name));
    }
    const std::int64_t when = base + a.ms;
    KeyTable::Entry* e = find_live(args[1]);
    if (e == nullptr) return out.integer(0);
    // The conditions compare with the current deadline; none counts as an
    // infinite TTL (Redis's EXPIRE page).
    const bool has = e->expires_at_ms != 0;
    const auto current = static_cast<std::int64_t>(e->expires_at_ms);
    if ((a.nx && has) || (a.xx && !has) || (a.gt && (!has || when <= current)) ||
        (a.lt && has && when >= current)) {
        return out.integer(0);
    }
    if (when <= static_cast<std::int64_t>(std::min<std::uint64_t>(log_time_ms_, kInt64Max))) {
        erase(args[1]);
    } else {
        set_deadline(*e, static_cast<std::uint64_t>(when));
    }
    out.integer(1);
}

void StateMachine::persist(std::span<const std::string> args, resp::ReplyWriter& out) {
    KeyTable::Entry* e = find_live(args[1]);
    if (e == nullptr || e->expires_at_ms == 0) return out.integer(0);
    set_deadline(*e, 0);
    out.integer(1);
}

void StateMachine::expire_due(std::span<const std::string> args, resp::ReplyWriter& out) {
    std::uint64_t max = 0;
    std::string_view err = parse_expire_due(args, &max);
    RAFTKV_ASSERT(err.empty(), "check() passed a bad RAFTKV.EXPIRE: {}", err);
    std::int64_t n = 0;
    while (static_cast<std::uint64_t>(n) < max && !deadlines_.empty() &&
           deadlines_.begin()->first < log_time_ms_) {
        const std::string key(deadlines_.begin()->second);  // erase() frees the view's key
        const bool erased = erase(key);
        RAFTKV_ASSERT(erased, "deadline index names a missing key");
        ++n;
    }
    out.integer(n);
}

void StateMachine::ttl(const CommandInfo& info, std::span<const std::string> args,
                       std::uint64_t now_ms, resp::ReplyWriter& out) const {
    const KeyTable::Entry* e = find_live(args[1], now_ms);
    if (e == nullptr) return out.integer(-2);
    if (e->expires_at_ms == 0) return out.integer(-1);
    const std::uint64_t at = e->expires_at_ms;
    const std::uint64_t left = at - now_ms;  // >= 0: the key is live
    switch (info.id) {
        case CommandId::kTtl:
            return out.integer(static_cast<std::int64_t>((left + 500) / 1000));
        case CommandId::kPttl:
            return out.integer(static_cast<std::int64_t>(left));
        case CommandId::kExpiretime:
            return out.integer(static_cast<std::int64_t>(at / 1000));
        case CommandId::kPexpiretime:
            return out.integer(static_cast<std::int64_t>(at));
        default:
            RAFTKV_ASSERT(false, "'{}' is not a TTL read", info.name);
    }
}

}  // namespace raftkv::kv
