// kv_machine.cc — see kv_machine.h.
#include "sim/kv_machine.h"

#include <fmt/format.h>

#include <charconv>
#include <vector>

#include "base/assert.h"

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

// Redis's strict integer form, as the checker's model has it
// (linearizability.h): what fmt prints back.
std::optional<std::int64_t> strict_integer(const std::string& s) {
    const std::optional<std::int64_t> v = parse_number<std::int64_t>(s);
    if (!v || fmt::format("{}", *v) != s) return std::nullopt;
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

Reply KvMachine::get(const std::string& key) const {
    const auto it = data_.find(key);
    if (it == data_.end()) return Reply{.kind = ReplyKind::kNil};
    return Reply{.kind = ReplyKind::kValue, .bytes = it->second};
}

Reply KvMachine::apply(const KvCommand& c) {
    const auto it = data_.find(c.key);
    const Value current = it == data_.end() ? Value() : Value(it->second);
    switch (c.kind) {
        case OpKind::kGet:
            return get(c.key);
        case OpKind::kSet:
            data_[c.key] = c.value;
            return Reply{.kind = ReplyKind::kOk};
        case OpKind::kDel:
            data_.erase(c.key);
            return Reply{.kind = ReplyKind::kInteger, .integer = current ? 1 : 0};
        case OpKind::kIncr: {
            const std::optional<std::int64_t> v =
                current ? strict_integer(*current) : std::optional<std::int64_t>(0);
            std::int64_t sum = 0;
            if (!v || __builtin_add_overflow(*v, c.delta, &sum)) {
                return Reply{.kind = ReplyKind::kNotApplied};
            }
            data_[c.key] = fmt::format("{}", sum);
            return Reply{.kind = ReplyKind::kInteger, .integer = sum};
        }
        case OpKind::kCas:
            if (current != c.expected) return Reply{.kind = ReplyKind::kNotApplied};
            data_[c.key] = c.value;
            return Reply{.kind = ReplyKind::kOk};
    }
    return Reply{};
}

std::string KvMachine::encode_snapshot() const {
    std::string out = "kv\n";
    for (const auto& [k, v] : data_) out += fmt::format("{}{}{}\n", k, kSep, v);
    return out;
}

bool KvMachine::load_snapshot(std::string_view image) {
    if (!image.starts_with("kv\n")) return false;
    image.remove_prefix(3);
    std::map<std::string, std::string> data;
    while (!image.empty()) {
        const std::size_t end = image.find('\n');
        if (end == std::string_view::npos) return false;
        const std::string_view line = image.substr(0, end);
        const std::size_t sep = line.find(kSep);
        if (sep == std::string_view::npos) return false;
        data.emplace(std::string(line.substr(0, sep)), std::string(line.substr(sep + 1)));
        image.remove_prefix(end + 1);
    }
    data_ = std::move(data);
    return true;
}

}  // namespace raftkv::sim
