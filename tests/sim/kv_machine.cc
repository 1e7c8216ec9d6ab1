// kv_machine.cc — see kv_machine.h.
#include "sim/kv_machine.h"

#include <fmt/format.h>

#include <charconv>
#include <vector>

#include "base/assert.h"
#include "resp/reply_parser.h"
#include "resp/reply_writer.h"

namespace raftkv::sim {
namespace {

constexpr char kSep = '|';

char kind_code(OpKind kind) {
    switch (kind) {
        case OpKind::kGet:
            return 'g';
        case OpKind::kSet:
            return 's';
        case OpKind::kIncr:
            return 'i';
        case OpKind::kCas:
            return 'c';
        case OpKind::kDel:
            return 'd';
    }
    return '?';
}

std::optional<OpKind> kind_of(std::string_view code) {
    if (code == "g") return OpKind::kGet;
    if (code == "s") return OpKind::kSet;
    if (code == "i") return OpKind::kIncr;
    if (code == "c") return OpKind::kCas;
    if (code == "d") return OpKind::kDel;
    return std::nullopt;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    for (;;) {
        const std::size_t at = s.find(sep);
        out.push_back(s.substr(0, at));
        if (at == std::string_view::npos) return out;
        s.remove_prefix(at + 1);
    }
}

template <typename T>
std::optional<T> parse_number(std::string_view s) {
    T v{};
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

void check_field(std::string_view field) {
    RAFTKV_ASSERT(
        field.find(kSep) == std::string_view::npos && field.find('\n') == std::string_view::npos,
        "simulation key or value with a separator: '{}'", field);
}

}  // namespace

std::string encode_command(const KvCommand& c) {
    check_field(c.key);
    check_field(c.value);
    if (c.expected) check_field(*c.expected);
    // kind|client|op|key|value|has_expected|expected|delta
    return fmt::format("{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}", kind_code(c.kind), kSep, c.client, kSep,
                       c.op, kSep, c.key, kSep, c.value, kSep, c.expected ? "1" : "0", kSep,
                       c.expected.value_or(""), kSep, c.delta);
}

std::optional<KvCommand> decode_command(std::string_view bytes) {
    const std::vector<std::string_view> f = split(bytes, kSep);
    if (f.size() != 8) return std::nullopt;
    const std::optional<OpKind> kind = kind_of(f[0]);
    const auto client = parse_number<std::uint64_t>(f[1]);
    const auto op = parse_number<std::uint64_t>(f[2]);
    const auto delta = parse_number<std::int64_t>(f[7]);
    if (!kind || !client || !op || !delta || (f[5] != "0" && f[5] != "1")) return std::nullopt;
    KvCommand c{.kind = *kind,
                .client = *client,
                .op = *op,
                .key = std::string(f[3]),
                .value = std::string(f[4]),
                .expected = std::nullopt,
                .delta = *delta};
    if (f[5] == "1") c.expected = std::string(f[6]);
    return c;
}

namespace {

// The command a client would send for `c`.
std::vector<std::string> command_args(const KvCommand& c) {
    switch (c.kind) {
        case OpKind::kGet:
            return {"GET", c.key};
        case OpKind::kSet:
            return {"SET", c.key, c.value};
        case OpKind::kIncr:
            return {"INCRBY", c.key, fmt::format("{}", c.delta)};
        case OpKind::kCas:
            if (c.expected) return {"SET", c.key, c.value, "IFEQ", *c.expected};
            return {"SET", c.key, c.value, "NX"};
        case OpKind::kDel:
            return {"DEL", c.key};
    }
    RAFTKV_ASSERT(false, "unknown op kind {}", static_cast<int>(c.kind));
    return {};
}

resp::Reply parse_one(const std::string& bytes) {
    resp::ReplyParser parser;
    resp::Reply r;
    std::size_t consumed = 0;
    const resp::ParseStatus status = parser.parse(bytes, &consumed, &r);
    RAFTKV_ASSERT(status == resp::ParseStatus::kComplete && consumed == bytes.size(),
                  "the state machine wrote a reply that is not one RESP value: {:?}", bytes);
    return r;
}

// A RESP reply of the state machine as the history has it.
Reply history_reply(OpKind kind, const std::string& bytes) {
    const resp::Reply r = parse_one(bytes);
    using T = resp::Reply::Type;
    switch (kind) {
        case OpKind::kGet:
            if (r.type == T::kNil) return Reply{.kind = ReplyKind::kNil};
            if (r.type == T::kBulk) return Reply{.kind = ReplyKind::kValue, .bytes = r.str};
            break;
        case OpKind::kSet:
            if (r.type == T::kSimple && r.str == "OK") return Reply{.kind = ReplyKind::kOk};
            break;
        case OpKind::kCas:
            if (r.type == T::kSimple && r.str == "OK") return Reply{.kind = ReplyKind::kOk};
            if (r.type == T::kNil) return Reply{.kind = ReplyKind::kNotApplied};
            break;
        case OpKind::kIncr:
            if (r.type == T::kInteger)
                return Reply{.kind = ReplyKind::kInteger, .integer = r.integer};
            // Not an integer, or the sum overflows: nothing changed.
            if (r.type == T::kError) return Reply{.kind = ReplyKind::kNotApplied};
            break;
        case OpKind::kDel:
            if (r.type == T::kInteger)
                return Reply{.kind = ReplyKind::kInteger, .integer = r.integer};
            break;
    }
    RAFTKV_ASSERT(false, "unexpected state machine reply {:?} to a {} command", bytes,
                  static_cast<int>(kind));
    return {};
}

}  // namespace

Reply KvMachine::apply(const KvCommand& c) {
    const std::vector<std::string> args = command_args(c);
    std::string out;
    resp::ReplyWriter w(&out);
    state_.apply(args, w);
    return history_reply(c.kind, out);
}

Reply KvMachine::get(const std::string& key) const {
    const std::vector<std::string> args = {"GET", key};
    std::string out;
    resp::ReplyWriter w(&out);
    state_.read(args, w);
    return history_reply(OpKind::kGet, out);
}

std::map<std::string, std::string> KvMachine::data() const {
    const std::vector<std::string> keys_args = {"KEYS", "*"};
    std::string out;
    resp::ReplyWriter w(&out);
    state_.read(keys_args, w);
    const resp::Reply keys = parse_one(out);
    std::map<std::string, std::string> data;
    for (const resp::Reply& k : keys.elements) {
        const Reply v = get(k.str);
        RAFTKV_ASSERT(v.kind == ReplyKind::kValue, "KEYS listed {}, which has no value", k.str);
        data.emplace(k.str, v.bytes);
    }
    return data;
}

}  // namespace raftkv::sim
