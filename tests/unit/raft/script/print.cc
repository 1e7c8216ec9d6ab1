// print.cc — see print.h.
#include "script/print.h"

#include <fmt/format.h>

#include <map>
#include <optional>
#include <string_view>
#include <type_traits>

#include "raft/membership.h"
#include "script/reflect.h"

namespace raftkv::raft::script {
namespace {

template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};
template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
struct IsStrongU64 : std::false_type {};
template <class Tag>
struct IsStrongU64<StrongU64<Tag>> : std::true_type {};

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u >= 0x7f) {
            out += fmt::format("\\x{:02x}", u);
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string_view entry_type_name(EntryType t) {
    switch (t) {
        case EntryType::kCommand:
            return "command";
        case EntryType::kNoop:
            return "noop";
        case EntryType::kConfig:
            return "config";
    }
    return "unknown";
}

std::string position(Term term, Index index) {
    return fmt::format("{}/{}", term.value, index.value);
}

template <class T>
std::string format_value(const T& v);

// Every field as name=value, separated by spaces.
template <class T>
std::string format_fields(const T& v) {
    std::string out;
    reflect::for_each_field(v, [&](std::string_view name, const auto& field) {
        if (!out.empty()) out += ' ';
        out += fmt::format("{}={}", name, format_value(field));
    });
    return out;
}

template <class T>
std::string format_value(const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
        return v ? "true" : "false";
    } else if constexpr (IsStrongU64<T>::value) {
        return std::to_string(v.value);
    } else if constexpr (std::is_integral_v<T>) {
        return std::to_string(v);
    } else if constexpr (std::is_same_v<T, std::string>) {
        return quote(v);
    } else if constexpr (std::is_same_v<T, MessageType>) {
        return std::string(message_type_name(v));
    } else if constexpr (std::is_same_v<T, Role>) {
        return std::string(role_name(v));
    } else if constexpr (std::is_same_v<T, EntryType>) {
        return std::string(entry_type_name(v));
    } else if constexpr (std::is_same_v<T, Entry>) {
        return format_entry(v);
    } else if constexpr (std::is_same_v<T, Message>) {
        return format_message(v);
    } else if constexpr (std::is_same_v<T, HardState>) {
        return format_hard_state(v);
    } else if constexpr (std::is_same_v<T, SnapshotMeta>) {
        return format_snapshot_meta(v);
    } else if constexpr (std::is_same_v<T, ConflictHint>) {
        return position(v.term, v.index);
    } else if constexpr (std::is_same_v<T, Membership>) {
        return "{" + to_string(v) + "}";
    } else if constexpr (std::is_same_v<T, std::map<NodeId, Index>>) {
        std::string out;
        for (const auto& [id, index] : v) {
            out += fmt::format("{}{}:{}", out.empty() ? "" : " ", id.value, index.value);
        }
        return "{" + out + "}";
    } else if constexpr (IsOptional<T>::value) {
        return v ? format_value(*v) : std::string("none");
    } else if constexpr (IsVector<T>::value) {
        std::string out;
        for (const auto& item : v) out += (out.empty() ? "" : " ") + format_value(item);
        return "[" + out + "]";
    } else if constexpr (std::is_aggregate_v<T>) {
        return format_fields(v);
    } else {
        static_assert(!sizeof(T), "format_value: no printer for this type");
    }
}

}  // namespace

std::string format_entry(const Entry& e) {
    static_assert(reflect::kFieldCount<Entry> == 4, "Entry gained a field: print it here");
    std::string out = position(e.term, e.index) + " " + std::string(entry_type_name(e.type));
    if (e.type == EntryType::kConfig) {
        const std::optional<Membership> m = decode_membership(e.data);
        out += m ? " " + to_string(*m) : " undecodable " + quote(e.data);
    } else if (!e.data.empty()) {
        out += " " + quote(e.data);
    }
    return out;
}

std::string format_message(const Message& m) {
    std::string out = fmt::format("{}->{} {}", m.from.value, m.to.value, message_type_name(m.type));
    reflect::for_each_field(m, [&](std::string_view name, const auto& field) {
        using F = std::remove_cvref_t<decltype(field)>;
        if (name == "from" || name == "to" || name == "type") return;
        if (field == F{}) return;
        if constexpr (std::is_same_v<F, bool>) {
            out += fmt::format(" {}", name);
        } else if constexpr (std::is_same_v<F, std::vector<Entry>>) {
            std::string list;
            for (const Entry& e : field) {
                list += (list.empty() ? "" : " ") + position(e.term, e.index);
            }
            out += fmt::format(" {}=[{}]", name, list);
        } else {
            out += fmt::format(" {}={}", name, format_value(field));
        }
    });
    return out;
}

std::string format_hard_state(const HardState& hs) { return format_fields(hs); }

std::string format_snapshot_meta(const SnapshotMeta& meta) {
    static_assert(reflect::kFieldCount<SnapshotMeta> == 3, "SnapshotMeta gained a field");
    return position(meta.term, meta.index) + " " + to_string(meta.membership);
}

std::string format_status(const NodeStatus& s) { return format_fields(s); }

std::vector<std::string> format_ready(const Ready& rd, const std::string& indent) {
    std::vector<std::string> lines;
    reflect::for_each_field(rd, [&](std::string_view name, const auto& field) {
        using F = std::remove_cvref_t<decltype(field)>;
        if (field == F{}) return;
        if constexpr (IsVector<F>::value) {
            lines.push_back(fmt::format("{}{}:", indent, name));
            for (const auto& item : field) {
                lines.push_back(fmt::format("{}  {}", indent, format_value(item)));
            }
        } else {
            lines.push_back(fmt::format("{}{}: {}", indent, name, format_value(field)));
        }
    });
    return lines;
}

}  // namespace raftkv::raft::script
