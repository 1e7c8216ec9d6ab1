// state_machine.cc — the kv commands, and snapshot/restore of the key space.
//
// Reply types and error texts follow Redis 7 (see commands.cc). Snapshot
// layout: docs/kv_snapshot_format.md.
#include "kv/state_machine.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <vector>

#include "base/checksum.h"
#include "base/coding.h"
#include "kv/glob.h"
#include "kv/json.h"

namespace raftkv::kv {
namespace {

constexpr std::string_view kSnapshotMagic = "RKVS";
// magic, version, record count; then records; then the checksum.
constexpr std::size_t kSnapshotHeaderBytes = 4 + 1 + 8;
constexpr std::size_t kSnapshotTrailerBytes = 8;
// The smallest record: key and value lengths (versions 1-3), and from
// version 4 on the deadline.
constexpr std::size_t kSnapshotRecordBytesMin = 4 + 4;
constexpr std::size_t kSnapshotRecordBytesMinV4 = 4 + 4 + 8;
// The version that added per-key deadlines.
constexpr std::uint8_t kSnapshotVersionDeadlines = 4;
static_assert(kSnapshotHeaderBytes == 13);

// Redis's text; like Redis, it quotes at most about 128 bytes of arguments.
void reply_unknown(std::span<const std::string> args, resp::ReplyWriter& out) {
    constexpr std::size_t kQuotedBytesMax = 128;
    std::string_view name = args.empty() ? std::string_view() : std::string_view(args[0]);
    std::string msg = fmt::format("ERR unknown command '{}', with args beginning with: ",
                                  name.substr(0, kQuotedBytesMax));
    std::size_t quoted = 0;
    for (std::size_t i = 1; i < args.size() && quoted < kQuotedBytesMax; ++i) {
        std::string_view arg = std::string_view(args[i]).substr(0, kQuotedBytesMax - quoted);
        msg += fmt::format("'{}' ", arg);
        quoted += arg.size();
    }
    out.error(msg);
}

Status corrupt(std::string message) {
    return Status::error(Code::kCorruption, "kv snapshot: " + std::move(message));
}

// The smallest address record: node id, host length, a 1-byte host, two ports.
constexpr std::size_t kAddressRecordBytesMin = 8 + 4 + 1 + 4 + 4;

void write_addresses(const std::map<std::uint64_t, ServerAddress>& addresses, std::string* image) {
    RAFTKV_ASSERT(addresses.size() <= kAddressCountMax);
    put_u32(image, static_cast<std::uint32_t>(addresses.size()));
    for (const auto& [id, a] : addresses) {
        RAFTKV_ASSERT(id != 0);
        RAFTKV_ASSERT(is_valid_address_host(a.host), "bad host of node {}", id);
        put_u64(image, id);
        put_u32(image, static_cast<std::uint32_t>(a.host.size()));
        image->append(a.host);
        put_u32(image, a.port);
        put_u32(image, a.peer_port);
    }
}

// Reads the address section (version 2 on) from `in`, a cursor into `body`.
Status read_addresses(std::string_view body, ByteReader& in,
                      std::map<std::uint64_t, ServerAddress>* addresses) {
    const auto offset = [&] { return body.size() - in.remaining(); };
    std::uint32_t count = 0;
    if (!in.get_u32(&count)) {
        return corrupt(fmt::format("address count at offset {} runs past the end", offset()));
    }
    if (count > kAddressCountMax) {
        return corrupt(fmt::format("address count {} at offset {} exceeds {}", count, offset() - 4,
                                   kAddressCountMax));
    }
    if (count > in.remaining() / kAddressRecordBytesMin) {
        return corrupt(fmt::format("address count {} cannot fit in the remaining {} bytes", count,
                                   in.remaining()));
    }
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::size_t at = offset();
        std::uint64_t id = 0;
        std::uint32_t host_bytes = 0;
        std::string_view host;
        std::uint32_t port = 0;
        std::uint32_t peer_port = 0;
        if (!in.get_u64(&id) || !in.get_u32(&host_bytes) || !in.get_bytes(host_bytes, &host) ||
            !in.get_u32(&port) || !in.get_u32(&peer_port)) {
            return corrupt(
                fmt::format("address {} of {} at offset {} runs past the end", i, count, at));
        }
        if (id == 0 || !is_valid_address_host(host) || port == 0 || port > 65535 ||
            peer_port == 0 || peer_port > 65535 || port == peer_port) {
            return corrupt(
                fmt::format("address {} at offset {}: invalid (node {}, {} host bytes, "
                            "ports {} and {})",
                            i, at, id, host.size(), port, peer_port));
        }
        if (!addresses->empty() && addresses->rbegin()->first >= id) {
            return corrupt(fmt::format("address {} at offset {}: node {} out of order", i, at, id));
        }
        addresses->emplace_hint(addresses->end(), id,
                                ServerAddress{.host = std::string(host),
                                              .port = static_cast<std::uint16_t>(port),
                                              .peer_port = static_cast<std::uint16_t>(peer_port)});
    }
    return Status::ok();
}

}  // namespace

StateMachine::StateMachine(SessionLimits limits) : sessions_(limits) {}

void StateMachine::apply(std::span<const std::string> args, resp::ReplyWriter& out) {
    apply(EntryInfo{.index = index_ + 1, .time_ms = std::nullopt}, args, out);
}

void StateMachine::apply(const EntryInfo& entry, std::span<const std::string> args,
                         resp::ReplyWriter& out) {
    RAFTKV_ASSERT(entry.index > index_, "applying index {} after {}", entry.index, index_);
    index_ = entry.index;
    if (entry.time_ms && *entry.time_ms > log_time_ms_) log_time_ms_ = *entry.time_ms;
    sessions_.expire(log_time_ms_);
    run_command(args, out);
}

void StateMachine::run_command(std::span<const std::string> args, resp::ReplyWriter& out) {
    const CommandInfo* info = args.empty() ? nullptr : find_command(args[0]);
    if (info == nullptr) {
        reply_unknown(args, out);
        return;
    }
    if (!check(*info, args, out)) return;
    if (info->cls == CommandClass::kRead) {
        run_read(*info, args, log_time_ms_, out);
    } else {
        run_write(*info, args, out);
    }
}

void StateMachine::read(std::span<const std::string> args, resp::ReplyWriter& out) const {
    read(args, log_time_ms_, out);
}

void StateMachine::read(std::span<const std::string> args, std::uint64_t now_ms,
                        resp::ReplyWriter& out) const {
    RAFTKV_ASSERT(!args.empty());
    const CommandInfo* info = find_command(args[0]);
    RAFTKV_ASSERT(info != nullptr, "read() of unknown command '{}'", args[0]);
    RAFTKV_ASSERT(info->cls == CommandClass::kRead, "read() of write command '{}'", info->name);
    if (!check(*info, args, out)) return;
    run_read(*info, args, std::max(now_ms, log_time_ms_), out);
}

void StateMachine::run_write(const CommandInfo& info, std::span<const std::string> args,
                             resp::ReplyWriter& out) {
    switch (info.id) {
        case CommandId::kSet:
            return set(args, out);
        case CommandId::kDel:
            return del(args, out);
        case CommandId::kMset:
            return mset(args, out);
        case CommandId::kIncr:
        case CommandId::kIncrby:
        case CommandId::kDecr:
        case CommandId::kDecrby:
            return incr_by(info, args, out);
        case CommandId::kAppend:
            return append(args, out);
        case CommandId::kGetdel:
            return getdel(args, out);
        case CommandId::kFlushall:
            return flushall(out);
        case CommandId::kAddress:
            return address(args, out);
        case CommandId::kSession:
            return session(args, out);
        case CommandId::kSetex:
        case CommandId::kPsetex:
            return setex(info, args, out);
        case CommandId::kGetex:
            return getex(args, out);
        case CommandId::kExpire:
        case CommandId::kPexpire:
        case CommandId::kExpireat:
        case CommandId::kPexpireat:
            return expire(info, args, out);
        case CommandId::kPersist:
            return persist(args, out);
        case CommandId::kExpireDue:
            return expire_due(args, out);
        case CommandId::kClock:
            return out.simple("OK");  // the entry's time moved the log time
        default:
            RAFTKV_ASSERT(false, "'{}' is not a write", info.name);
    }
}

void StateMachine::run_read(const CommandInfo& info, std::span<const std::string> args,
                            std::uint64_t now_ms, resp::ReplyWriter& out) const {
    switch (info.id) {
        case CommandId::kGet: {
            const KeyTable::Entry* e = find_live(args[1], now_ms);
            if (e == nullptr) return out.null_bulk();
            return out.bulk(e->value);
        }
        case CommandId::kExists: {
            std::int64_t n = 0;
            for (std::size_t i = 1; i < args.size(); ++i)
                n += find_live(args[i], now_ms) != nullptr;
            return out.integer(n);
        }
        case CommandId::kMget: {
            out.array_header(args.size() - 1);
            for (std::size_t i = 1; i < args.size(); ++i) {
                const KeyTable::Entry* e = find_live(args[i], now_ms);
                if (e == nullptr) {
                    out.null_bulk();
                } else {
                    out.bulk(e->value);
                }
            }
            return;
        }
        case CommandId::kStrlen: {
            const KeyTable::Entry* e = find_live(args[1], now_ms);
            return out.integer(e == nullptr ? 0 : static_cast<std::int64_t>(e->value.size()));
        }
        case CommandId::kDbsize:
            return out.integer(static_cast<std::int64_t>(table_.size() - expired_count(now_ms)));
        case CommandId::kKeys:
            return keys(args, now_ms, out);
        case CommandId::kScan:
            return scan(args, now_ms, out);
        case CommandId::kData:
            return data(now_ms, out);
        case CommandId::kTtl:
        case CommandId::kPttl:
        case CommandId::kExpiretime:
        case CommandId::kPexpiretime:
            return ttl(info, args, now_ms, out);
        default:
            RAFTKV_ASSERT(false, "'{}' is not a read", info.name);
    }
}

const KeyTable::Entry* StateMachine::find_live(std::string_view key, std::uint64_t now_ms) const {
    const KeyTable::Entry* e = table_.find(key);
    if (e == nullptr || e->is_expired_at(now_ms)) return nullptr;
    return e;
}

KeyTable::Entry* StateMachine::find_live(std::string_view key) {
    KeyTable::Entry* e = table_.find(key);
    if (e != nullptr && e->is_expired_at(log_time_ms_)) {
        erase(key);
        return nullptr;
    }
    return e;
}

KeyTable::Entry* StateMachine::put(std::string_view key, std::string_view value) {
    auto [e, inserted] = table_.find_or_insert(key);
    if (inserted) data_bytes_ += key.size();
    data_bytes_ -= e->value.size();
    e->value.assign(value);
    data_bytes_ += value.size();
    return e;
}

bool StateMachine::erase(std::string_view key) {
    std::unique_ptr<KeyTable::Entry> e = table_.extract(key);
    if (e == nullptr) return false;
    data_bytes_ -= e->key.size() + e->value.size();
    if (e->expires_at_ms != 0) deadlines_.erase({e->expires_at_ms, std::string_view(e->key)});
    return true;
}

void StateMachine::set_deadline(KeyTable::Entry& e, std::uint64_t at_ms) {
    if (e.expires_at_ms == at_ms) return;
    if (e.expires_at_ms != 0) deadlines_.erase({e.expires_at_ms, std::string_view(e.key)});
    e.expires_at_ms = at_ms;
    if (at_ms != 0) deadlines_.emplace(at_ms, std::string_view(e.key));
}

void StateMachine::set(std::span<const std::string> args, resp::ReplyWriter& out) {
    SetOptions opts;
    if (args.size() > 3) {
        std::string_view err = parse_set_options(args, &opts);
        RAFTKV_ASSERT(err.empty(), "check() passed a bad SET: {}", err);
    }
    using Kind = ExpireOption::Kind;
    std::uint64_t deadline = 0;  // 0: SET clears the TTL (or keeps it: KEEPTTL)
    if (opts.expire.kind == Kind::kRelative || opts.expire.kind == Kind::kAbsolute) {
        const std::optional<std::uint64_t> at = deadline_of(opts.expire);
        if (!at) return out.error("ERR invalid expire time in 'set' command");
        deadline = *at;
    }
    if (!opts.nx && !opts.xx && !opts.ifeq && !opts.get && opts.expire.kind == Kind::kNone) {
        set_deadline(*put(args[1], args[2]), 0);  // the hot path
        return out.simple("OK");
    }
    KeyTable::Entry* e = find_live(args[1]);
    // Every key holds a string, so IFEQ never meets Redis's WRONGTYPE case.
    bool do_set = !(opts.nx && e != nullptr) && !(opts.xx && e == nullptr) &&
                  !(opts.ifeq && (e == nullptr || e->value != *opts.ifeq));
    if (opts.get) {
        // Reply before the value changes: GET returns the old value.
        if (e == nullptr) {
            out.null_bulk();
        } else {
            out.bulk(e->value);
        }
    }
    if (do_set) {
        e = put(args[1], args[2]);
        if (opts.expire.kind != Kind::kKeepTtl) set_deadline(*e, deadline);
        // EXAT/PXAT in the past: set, and expired at once.
        if (deadline != 0 && deadline <= log_time_ms_) erase(args[1]);
    }
    if (opts.get) return;
    if (do_set) return out.simple("OK");
    out.null_bulk();
}

void StateMachine::del(std::span<const std::string> args, resp::ReplyWriter& out) {
    std::int64_t n = 0;
    for (std::size_t i = 1; i < args.size(); ++i)
        n += find_live(args[i]) != nullptr && erase(args[i]);
    out.integer(n);
}

void StateMachine::mset(std::span<const std::string> args, resp::ReplyWriter& out) {
    RAFTKV_ASSERT(args.size() % 2 == 1);
    for (std::size_t i = 1; i < args.size(); i += 2) set_deadline(*put(args[i], args[i + 1]), 0);
    out.simple("OK");
}

void StateMachine::incr_by(const CommandInfo& info, std::span<const std::string> args,
                           resp::ReplyWriter& out) {
    std::int64_t delta = 0;
    std::string_view err = parse_increment(info.id, args, &delta);
    RAFTKV_ASSERT(err.empty(), "check() passed a bad {}: {}", info.name, err);
    std::int64_t old = 0;
    if (const KeyTable::Entry* e = find_live(args[1]); e != nullptr) {
        std::optional<std::int64_t> v = parse_i64(e->value);
        if (!v) return out.error("ERR value is not an integer or out of range");
        old = *v;
    }
    std::int64_t result = 0;
    if (__builtin_add_overflow(old, delta, &result)) {
        return out.error("ERR increment or decrement would overflow");
    }
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), result);
    RAFTKV_ASSERT(ec == std::errc());
    put(args[1], std::string_view(buf, static_cast<std::size_t>(end - buf)));  // keeps the TTL
    out.integer(result);
}

void StateMachine::append(std::span<const std::string> args, resp::ReplyWriter& out) {
    const KeyTable::Entry* e = find_live(args[1]);
    std::uint64_t old_bytes = e == nullptr ? 0 : e->value.size();
    if (old_bytes + args[2].size() > kValueBytesMax) {
        return out.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    auto [entry, inserted] = table_.find_or_insert(args[1]);
    if (inserted) data_bytes_ += entry->key.size();
    entry->value.append(args[2]);
    data_bytes_ += args[2].size();
    out.integer(static_cast<std::int64_t>(entry->value.size()));
}

void StateMachine::getdel(std::span<const std::string> args, resp::ReplyWriter& out) {
    const KeyTable::Entry* e = find_live(args[1]);
    if (e == nullptr) return out.null_bulk();
    out.bulk(e->value);
    erase(args[1]);
}

void StateMachine::flushall(resp::ReplyWriter& out) {
    table_.clear();
    deadlines_.clear();
    data_bytes_ = 0;
    out.simple("OK");
}

void StateMachine::address(std::span<const std::string> args, resp::ReplyWriter& out) {
    AddressChange change;
    std::string_view err = parse_address_change(args, &change);
    RAFTKV_ASSERT(err.empty(), "check() passed a bad RAFTKV.ADDRESS: {}", err);
    if (change.is_remove) return out.integer(addresses_.erase(change.node_id) ? 1 : 0);
    auto it = addresses_.find(change.node_id);
    if (it == addresses_.end() && addresses_.size() >= kAddressCountMax) {
        return out.error(
            fmt::format("ERR the address table is full ({} servers)", kAddressCountMax));
    }
    addresses_[change.node_id] = ServerAddress{
        .host = std::string(change.host), .port = change.port, .peer_port = change.peer_port};
    out.simple("OK");
}

void StateMachine::session(std::span<const std::string> args, resp::ReplyWriter& out) {
    SessionRun run;
    if (!parse_session(args, &run)) {  // REGISTER
        RAFTKV_ASSERT(index_ <=
                      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
        sessions_.add(index_, log_time_ms_);
        return out.integer(static_cast<std::int64_t>(index_));
    }
    Session* s = sessions_.find(run.id);
    if (s == nullptr) {
        return out.error(fmt::format(
            "ERR SESSIONEXPIRED session {} is unknown or has expired; register a new session "
            "(a write retried in the old one may or may not have been applied)",
            run.id));
    }
    sessions_.touch(*s, log_time_ms_);
    if (run.seq == s->last_seq) return out.raw(s->reply);  // a retry: the saved reply
    if (run.seq < s->last_seq) {
        return out.error(fmt::format("ERR session {} sequence {} already superseded by {}", run.id,
                                     run.seq, s->last_seq));
    }
    std::string reply;
    resp::ReplyWriter w(&reply);
    run_command(run.command, w);
    out.raw(reply);
    sessions_.set_reply(*s, run.seq, std::move(reply));
}

void StateMachine::keys(std::span<const std::string> args, std::uint64_t now_ms,
                        resp::ReplyWriter& out) const {
    std::vector<std::string_view> found;
    table_.for_each([&](const KeyTable::Entry& e) {
        if (!e.is_expired_at(now_ms) && glob_match(args[1], e.key)) found.push_back(e.key);
    });
    out.array_header(found.size());
    for (std::string_view k : found) out.bulk(k);
}

void StateMachine::scan(std::span<const std::string> args, std::uint64_t now_ms,
                        resp::ReplyWriter& out) const {
    ScanOptions opts;
    std::string_view err = parse_scan_options(args, &opts);
    RAFTKV_ASSERT(err.empty(), "check() passed a bad SCAN: {}", err);
    std::vector<std::string_view> found;
    std::uint64_t next = table_.scan(opts.cursor, opts.count, [&](const KeyTable::Entry& e) {
        if (!opts.type_matches || e.is_expired_at(now_ms)) return;
        if (opts.pattern && !glob_match(*opts.pattern, e.key)) return;
        found.push_back(e.key);
    });
    out.array_header(2);
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), next);
    RAFTKV_ASSERT(ec == std::errc());
    out.bulk(std::string_view(buf, static_cast<std::size_t>(end - buf)));
    out.array_header(found.size());
    for (std::string_view k : found) out.bulk(k);
}

void StateMachine::data(std::uint64_t now_ms, resp::ReplyWriter& out) const {
    // Byte order of keys, for people reading it; the table order is a hash order.
    std::vector<const KeyTable::Entry*> entries;
    entries.reserve(table_.size());
    table_.for_each([&](const KeyTable::Entry& e) {
        if (!e.is_expired_at(now_ms)) entries.push_back(&e);
    });
    std::sort(entries.begin(), entries.end(),
              [](const KeyTable::Entry* a, const KeyTable::Entry* b) { return a->key < b->key; });
    std::string json = "{";
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) json += ", ";
        append_json_string(&json, entries[i]->key);
        json += ": ";
        append_json_string(&json, entries[i]->value);
    }
    json += "}";
    out.bulk(json);
}

std::string StateMachine::snapshot() const {
    // Without deadlines, version 3: a server of the build before can still
    // install it (a rolling upgrade; docs/kv_snapshot_format.md).
    const bool deadlines = !deadlines_.empty();
    std::string image;
    image.reserve(kSnapshotHeaderBytes + kSnapshotTrailerBytes +
                  table_.size() *
                      (deadlines ? kSnapshotRecordBytesMinV4 : kSnapshotRecordBytesMin) +
                  data_bytes_);
    image.append(kSnapshotMagic);
    put_u8(&image, deadlines ? kSnapshotVersion : kSnapshotVersionDeadlines - 1);
    put_u64(&image, table_.size());
    table_.for_each([&](const KeyTable::Entry& e) {
        RAFTKV_ASSERT(e.key.size() <= std::numeric_limits<std::uint32_t>::max());
        RAFTKV_ASSERT(e.value.size() <= std::numeric_limits<std::uint32_t>::max());
        put_u32(&image, static_cast<std::uint32_t>(e.key.size()));
        image.append(e.key);
        put_u32(&image, static_cast<std::uint32_t>(e.value.size()));
        image.append(e.value);
        if (deadlines) put_u64(&image, e.expires_at_ms);
    });
    write_addresses(addresses_, &image);
    put_u64(&image, index_);
    put_u64(&image, log_time_ms_);
    sessions_.encode(&image);
    put_u64(&image, checksum(image));
    return image;
}

Status StateMachine::restore(std::string_view image) {
    constexpr std::size_t kBytesMin = kSnapshotHeaderBytes + kSnapshotTrailerBytes;
    if (image.size() < kBytesMin) {
        return corrupt(fmt::format("image is {} bytes, less than the {}-byte minimum", image.size(),
                                   kBytesMin));
    }
    if (image.substr(0, kSnapshotMagic.size()) != kSnapshotMagic) {
        return corrupt("bad magic at offset 0 (not a kv snapshot image)");
    }
    std::uint8_t version = static_cast<std::uint8_t>(image[kSnapshotMagic.size()]);
    if (version < 1 || version > kSnapshotVersion) {
        return corrupt(fmt::format("unsupported version {} at offset 4 (this build reads 1 to {})",
                                   version, kSnapshotVersion));
    }
    std::string_view body = image.substr(0, image.size() - kSnapshotTrailerBytes);
    std::uint64_t stored = decode_u64(image.data() + body.size());
    std::uint64_t computed = checksum(body);
    if (stored != computed) {
        return corrupt(fmt::format(
            "checksum mismatch at offset {}: stored {:#018x}, computed {:#018x} over {} bytes",
            body.size(), stored, computed, body.size()));
    }
    ByteReader in(body.substr(kSnapshotMagic.size() + 1));
    std::uint64_t count = 0;
    bool has_count = in.get_u64(&count);
    RAFTKV_ASSERT(has_count);  // the size check above covers the header
    const std::size_t record_min =
        version >= kSnapshotVersionDeadlines ? kSnapshotRecordBytesMinV4 : kSnapshotRecordBytesMin;
    if (count > in.remaining() / record_min) {
        return corrupt(fmt::format("record count {} cannot fit in the {} bytes of records", count,
                                   in.remaining()));
    }
    KeyTable table;
    // Records come in hash order; without room for all of them up front,
    // they would crowd the low slots of a table sized for fewer keys and
    // each insert would walk a long run (quadratic: 8 s for 650k keys).
    table.reserve(static_cast<std::size_t>(count));
    std::uint64_t data_bytes = 0;
    std::set<std::pair<std::uint64_t, std::string_view>> deadlines;
    for (std::uint64_t i = 0; i < count; ++i) {
        std::size_t offset = body.size() - in.remaining();
        std::uint32_t key_bytes = 0;
        std::uint32_t value_bytes = 0;
        std::string_view key;
        std::string_view value;
        std::uint64_t expires_at_ms = 0;  // version 4 on
        if (!in.get_u32(&key_bytes) || !in.get_bytes(key_bytes, &key) ||
            !in.get_u32(&value_bytes) || !in.get_bytes(value_bytes, &value) ||
            (version >= kSnapshotVersionDeadlines && !in.get_u64(&expires_at_ms))) {
            return corrupt(
                fmt::format("record {} of {} at offset {} runs past the end", i, count, offset));
        }
        if (value.size() > kValueBytesMax) {
            return corrupt(fmt::format("record {} at offset {}: value of {} bytes exceeds {}", i,
                                       offset, value.size(), kValueBytesMax));
        }
        auto [e, inserted] = table.find_or_insert(key);
        if (!inserted) {
            return corrupt(fmt::format("record {} at offset {}: duplicate key", i, offset));
        }
        e->value.assign(value);
        if (expires_at_ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return corrupt(fmt::format("record {} at offset {}: deadline {} is out of range", i,
                                       offset, expires_at_ms));
        }
        e->expires_at_ms = expires_at_ms;
        if (expires_at_ms != 0) deadlines.emplace(expires_at_ms, std::string_view(e->key));
        data_bytes += key.size() + value.size();
    }
    std::map<std::uint64_t, ServerAddress> addresses;
    if (version >= 2) RAFTKV_RETURN_IF_ERROR(read_addresses(body, in, &addresses));
    std::uint64_t index = 0;
    std::uint64_t log_time_ms = 0;
    SessionTable sessions(sessions_.limits());
    if (version >= 3) {
        if (!in.get_u64(&index) || !in.get_u64(&log_time_ms)) {
            return corrupt(fmt::format("index and log time at offset {} run past the end",
                                       body.size() - in.remaining()));
        }
        RAFTKV_RETURN_IF_ERROR(sessions.decode(body, in, index, log_time_ms));
    }
    if (in.remaining() != 0) {
        return corrupt(fmt::format("{} bytes after the last section, at offset {}", in.remaining(),
                                   body.size() - in.remaining()));
    }
    table_ = std::move(table);
    deadlines_ = std::move(deadlines);
    data_bytes_ = data_bytes;
    addresses_ = std::move(addresses);
    index_ = index;
    log_time_ms_ = log_time_ms;
    sessions_ = std::move(sessions);
    return Status::ok();
}

bool StateMachine::operator==(const StateMachine& other) const {
    if (table_.size() != other.table_.size() || data_bytes_ != other.data_bytes_) return false;
    if (addresses_ != other.addresses_) return false;
    if (log_time_ms_ != other.log_time_ms_ || !(sessions_ == other.sessions_)) return false;
    bool equal = true;
    table_.for_each([&](const KeyTable::Entry& e) {
        const KeyTable::Entry* o = equal ? other.table_.find(e.key) : nullptr;
        equal = o != nullptr && o->value == e.value && o->expires_at_ms == e.expires_at_ms;
    });
    return equal;
}

}  // namespace raftkv::kv
